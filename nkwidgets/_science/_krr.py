"""Kernel ridge regression with a ridge scaled to the kernel's own size.

KIP and the learning curves both predict with the converged (``t = inf``)
kernel regressor. The ridge is ``reg * mean(diag K)``, as in Nguyen, Chen, Lee
(2021): kernels of different networks (or NTK vs NNGP, or the standard
parameterization, whose NTK grows with width) differ in scale by orders of
magnitude, and a relative ridge means the same regularization for all of them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jaxtyping import Array, Float

from ._errors import ScienceError


def relative_ridge(k_ss: Float[Array, "n n"], reg: float) -> jax.Array:
    """The ridge ``reg * trace(K) / n`` added to the diagonal of ``k_ss``."""
    return reg * jnp.trace(k_ss) / k_ss.shape[0]


def krr_predict(
    k_ss: Float[Array, "n n"],
    k_qs: Float[Array, "q n"],
    y_s: Float[Array, "n c"],
    reg: float,
) -> Float[Array, "q c"]:
    r"""Kernel ridge regression prediction at query points.

    .. math:: \hat y_q = K_{qs} \left(K_{ss} + \lambda \tfrac{\mathrm{tr} K_{ss}}{n} I\right)^{-1} y_s

    A Cholesky solve: differentiable (KIP takes gradients through it) and
    twice as cheap as a general solve.
    """
    n = k_ss.shape[0]
    k_reg = k_ss + relative_ridge(k_ss, reg) * jnp.eye(n, dtype=k_ss.dtype)
    factor = jax.scipy.linalg.cho_factor(k_reg, lower=True)
    return k_qs @ jax.scipy.linalg.cho_solve(factor, y_s)


def krr_predict_host(
    k_ss: np.ndarray, k_qs: np.ndarray, y_s: np.ndarray, reg: float
) -> np.ndarray:
    """:func:`krr_predict` in float64 numpy, for kernels already on the host.

    Learning curves solve hundreds of systems on sub-blocks of one kernel,
    with ridges small enough that float32 Cholesky pivots go negative.
    """
    k_ss = np.asarray(k_ss, dtype=np.float64)
    ridge = reg * np.trace(k_ss) / k_ss.shape[0]
    try:
        factor = scipy.linalg.cho_factor(
            k_ss + ridge * np.eye(k_ss.shape[0]), lower=True
        )
    except np.linalg.LinAlgError as e:
        raise ScienceError(
            f"The training kernel ({k_ss.shape[0]} examples) with the ridge "
            f"reg={reg:g} x mean diagonal is not positive definite. Fix: raise "
            "`reg` (e.g. by 100x), or compute the kernel in float64."
        ) from e
    return np.asarray(k_qs, dtype=np.float64) @ scipy.linalg.cho_solve(factor, y_s)
