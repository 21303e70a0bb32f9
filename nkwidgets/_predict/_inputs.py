"""Arguments of the `predict_fn`s: times, initial outputs, NT's consistency checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._linalg import as_float, is_concrete
from ._types import TimeLike


def canonical_times(
    t: TimeLike, scale: float, dtype: jnp.dtype
) -> tuple[jax.Array, tuple[int, ...]]:
    """Flatten `t` into absolute times and remember its shape.

    Args:
      t: time[s] in training steps; ``None`` means infinity and adds no axis.
      scale: factor turning steps into the ODE's time (the learning rate, or
        its square root for momentum).
      dtype: float dtype of the computation.

    Returns:
      ``(times, t_shape)``: a 1-D array of ``prod(t_shape)`` times (``inf``
      allowed) and the leading shape the results get.

    Raises:
      ValueError: a concrete `t` has a NaN or a negative entry.
    """
    if t is None:
        return jnp.full((1,), jnp.inf, dtype), ()
    times = as_float(t, dtype)
    if is_concrete(times):
        host = np.asarray(times)
        if np.any(np.isnan(host)) or np.any(host < 0):
            raise ValueError(
                f"`t` must hold non-negative times (training steps), got {host!r}."
            )
    return times.reshape(-1) * scale, tuple(times.shape)


def check_inputs(fx_train_0: object, fx_test_0: object, k_test_train: object) -> None:
    """NT's argument checks shared by the `predict_fn`s of gd-mse and gd."""
    if fx_train_0 is None and fx_test_0 is None:
        raise ValueError(
            "Both `fx_train_0` and `fx_test_0` are None, so there is nothing to "
            "predict. Pass the initial train outputs (0. for a zero-mean network) "
            "and/or the initial test outputs."
        )
    if fx_test_0 is not None and k_test_train is None:
        raise ValueError(
            "`fx_test_0` was given without `k_test_train`: test predictions need "
            "the test-train kernel. Pass `k_test_train=kernel_fn(x_test, x_train)`."
        )


def broadcast_outputs(
    fx: ArrayLike, shape: tuple[int, ...], dtype: jnp.dtype, name: str
) -> jax.Array:
    """`fx` as a `dtype` array of `shape`; scalars broadcast, other shapes raise."""
    fx = as_float(fx, dtype)
    try:
        return jnp.broadcast_to(fx, shape)
    except ValueError:
        raise ValueError(
            f"`{name}` has shape {tuple(fx.shape)}, which does not broadcast to the "
            f"output shape {shape}."
        ) from None
