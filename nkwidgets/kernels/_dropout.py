r"""Dropout: random masking in training, the identity at test time."""

from __future__ import annotations

from typing import Any, Final, Literal

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LayerError
from . import _spatial
from ._elementwise import full_spatial
from ._kernel import Kernel
from ._layer import Layer, make_layer

Mode = Literal["train", "test"]

MSG_DROPOUT_NEEDS_RNG: Final = (
    "in mode='train' it draws a random mask on every call, so `apply_fn` needs a "
    "PRNG key."
)


def _same_positions(x: jax.Array, batch_ndim: int, full: bool) -> jax.Array:
    """True where both entries sit at one position: everywhere in the diagonal
    layout, on the position diagonal in the full one (masks are drawn
    independently per position, so only those entries share a mask)."""
    if not full:
        return jnp.ones((1,) * x.ndim, bool)
    ones = jnp.ones(x.shape[batch_ndim::2], x.dtype)
    return _spatial.from_diagonal(ones, 0).astype(bool)[(None,) * batch_ndim]


def _scale_batch_diagonal(
    x: jax.Array | None, factor: float, full: bool
) -> jax.Array | None:
    """Multiply the same-example, same-position entries ``x[i, i, ...]`` by ``factor``."""
    if x is None or x.ndim < 2 or x.shape[0] != x.shape[1]:
        return x
    same = jnp.eye(x.shape[0], dtype=bool).reshape(x.shape[:2] + (1,) * (x.ndim - 2))
    return jnp.where(same & _same_positions(x, 2, full), x * factor, x)


def _scale_variances(
    x: jax.Array | None, factor: float, full: bool
) -> jax.Array | None:
    if x is None:
        return None
    return jnp.where(_same_positions(x, 1, full), x * factor, x)


def Dropout(rate: float, mode: Mode = "train") -> Layer:
    r"""Dropout with *keep* probability ``rate`` (Neural Tangents' convention).

    In training each unit is kept with probability :math:`r` and scaled by
    :math:`1/r`, independently for every example. Two different examples see
    independent masks, so their covariance is unchanged; an example with itself
    sees the same mask, whose second moment is :math:`1/r`:

    .. math::
        K'_{ij} = K_{ij}\,\big(1 + [i = j]\,(\tfrac1r - 1)\big),
        \qquad \Theta' \text{ likewise},
        \qquad q' = q / r .

    The same-example entries exist only when the kernel compares inputs with
    themselves (``kernel_fn(x1, None)``, or ``x2`` equal to ``x1``, i.e.
    ``Kernel.x1_is_x2``); for ``kernel_fn(x1, x2)`` only the variances change.
    In mode ``"test"`` the layer is the identity.

    Args:
      rate: keep probability, in (0, 1]; ``rate=1`` keeps everything.
      mode: ``"train"`` or ``"test"``.

    References:
      Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, `Dropout: a
      simple way to prevent neural networks from overfitting
      <https://jmlr.org/papers/v15/srivastava14a.html>`_, JMLR 2014.
    """
    name = f"Dropout({rate!r})"
    if mode not in ("train", "test"):
        raise LayerError(
            name, f"`mode={mode!r}` is not known.", "use 'train' or 'test'."
        )
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float | np.floating)
        or not 0 < rate <= 1
    ):
        raise LayerError(
            name,
            f"`rate={rate!r}` must be a keep probability in (0, 1] (Neural "
            "Tangents' convention, unlike the drop rate of Keras or Flax).",
            "e.g. Dropout(0.9) keeps 90 % of the units.",
        )

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return input_shape, ()

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del params
        if mode == "test":
            return inputs
        rng = kwargs.get("rng")
        if rng is None:
            raise LayerError(
                name,
                MSG_DROPOUT_NEEDS_RNG,
                "call apply_fn(params, x, rng=jax.random.key(0)), or build the "
                "network with Dropout(rate, mode='test') for evaluation.",
            )
        keep = jax.random.bernoulli(rng, rate, inputs.shape)
        return jnp.where(keep, inputs / rate, 0.0)

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        if mode == "test":
            return k
        factor = 1.0 / rate
        same = factor if k.x1_is_x2 else 1.0
        full = full_spatial(k)
        return k.replace(
            nngp=_scale_batch_diagonal(k.nngp, same, full),
            ntk=_scale_batch_diagonal(k.ntk, same, full),
            cov1=_scale_variances(k.cov1, factor, full),
            cov2=_scale_variances(k.cov2, factor, full),
            is_gaussian=False,
        )

    return make_layer(
        name, init_fn=init_fn, apply_fn=apply_fn, kernel_transform=kernel_transform
    )
