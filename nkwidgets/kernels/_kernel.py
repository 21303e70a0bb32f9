"""The `Kernel` pytree: covariances of a layer's outputs in the infinite-width limit.

Layout (``diagonal_batch=True``, the default for every layer that does not mix
examples):

* ``nngp``: ``(N1, N2, *S)`` — covariance between outputs for ``x1[i]`` and
  ``x2[j]``. ``S`` are the spatial axes: empty for fully connected layers, one
  axis per spatial dimension when ``diagonal_spatial`` (only same-position
  covariances are kept), two interleaved axes per dimension
  (``H1, H2, W1, W2``) otherwise.
* ``ntk``: same shape as ``nngp``, or ``None`` when the NTK is not requested.
* ``cov1``: ``(N1, *S)`` — the variances of ``x1``'s outputs (the diagonal of
  the ``x1``-``x1`` kernel). ``cov2`` likewise for ``x2``; ``None`` when
  ``x2`` is ``x1``.

Everything that is not an array is static pytree metadata, so `Kernel` flows
through ``jax.jit``, ``jax.vmap`` and ``jax.grad``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax


@dataclasses.dataclass(frozen=True)
class Kernel:
    """Infinite-width covariances of a layer's outputs, plus facts about them.

    Field names and meanings follow Neural Tangents' ``Kernel`` so ported code
    that reads ``k.nngp`` or ``k.cov1`` keeps working.
    """

    nngp: jax.Array
    """``(N1, N2, *S)`` NNGP covariance between outputs of x1 and x2."""
    ntk: jax.Array | None
    """``(N1, N2, *S)`` neural tangent kernel, or None when not requested."""
    cov1: jax.Array
    """``(N1, *S)`` variances of outputs on x1."""
    cov2: jax.Array | None
    """``(N2, *S)`` variances of outputs on x2; None when x2 is x1."""
    mask1: jax.Array | None = None
    """Boolean mask of x1 positions that must not influence the kernel."""
    mask2: jax.Array | None = None
    """Boolean mask of x2 positions that must not influence the kernel."""
    x1_is_x2: bool = False
    """True for ``kernel_fn(x1, None)``, or ``x2`` equal to ``x1`` (all entries
    within 1e-12, Neural Tangents' rule; decided outside ``jit`` only). Then
    ``nngp[i, i]`` pairs an example with itself, which Dropout needs to know."""
    is_gaussian: bool = False
    """True once an affine layer made the pre-activations Gaussian."""
    is_reversed: bool = False
    """True when x1 and x2 roles were swapped (kept for NT compatibility)."""
    is_input: bool = False
    """True for the kernel of raw inputs, before any layer."""
    diagonal_batch: bool = True
    """True: cov1/cov2 hold only per-example variances, not (N, N) blocks."""
    diagonal_spatial: bool = False
    """True: only same-position spatial covariances are kept."""
    shape1: tuple[int, ...] = ()
    """Shape of a finite network's output on x1 (channel size as given)."""
    shape2: tuple[int, ...] = ()
    """Shape of a finite network's output on x2."""
    batch_axis: int = 0
    """Batch axis of the finite outputs."""
    channel_axis: int = -1
    """Channel axis of the finite outputs."""

    def replace(self, **changes: Any) -> Kernel:
        """A copy with ``changes`` applied (Kernel is immutable)."""
        return dataclasses.replace(self, **changes)

    @property
    def n_spatial(self) -> int:
        """Number of spatial dimensions of the layer outputs."""
        return max(len(self.shape1) - 2, 0)


jax.tree_util.register_dataclass(
    Kernel,
    data_fields=["nngp", "ntk", "cov1", "cov2", "mask1", "mask2"],
    meta_fields=[
        "x1_is_x2",
        "is_gaussian",
        "is_reversed",
        "is_input",
        "diagonal_batch",
        "diagonal_spatial",
        "shape1",
        "shape2",
        "batch_axis",
        "channel_axis",
    ],
)
