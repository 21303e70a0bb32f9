"""Kernels computed block by block across devices: a drop-in for ``nt.batch``.

Example:
    >>> from nkwidgets import stax
    >>> from nkwidgets.batching import batch
    >>> _, _, kernel_fn = stax.serial(stax.Dense(512), stax.Relu(), stax.Dense(1))
    >>> kernel_fn = batch(kernel_fn, batch_size=100)  # all local devices
"""

from .compute._batching import batch as batch
