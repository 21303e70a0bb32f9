"""The largest stable learning rate of (momentum) gradient descent on MSE."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax.typing import ArrayLike

from ._layout import make_2d
from ._linalg import as_float, is_concrete
from ._threads import blas_threads_for


def max_learning_rate(
    ntk_train_train: ArrayLike,
    y_train_size: int | None = None,
    momentum: float = 0.0,
    eps: float = 1e-12,
) -> float | jax.Array:
    r"""Largest learning rate for which gradient descent on MSE converges.

    For the loss :math:`\frac{1}{2 n}\|f(X) - Y\|^2`, ``n`` the number of
    outputs, a step of gradient descent multiplies the residual by
    :math:`I - \eta\,\Theta / n`, a contraction iff
    :math:`\eta < 2 n / \lambda_{\max}(\Theta)`. Heavy-ball momentum ``m``
    widens the stable range to :math:`2 (1 + m)\, n / \lambda_{\max}`
    (Goh, "Why Momentum Really Works"). For wide networks this bound also ends
    the lazy phase: above it training may "catapult" (loss spikes, then the
    NTK's top eigenvalue drops) up to about twice the bound for a two-layer
    linear network, an architecture-dependent limit otherwise; beyond that it
    diverges (Lewkowycz et al.).

    The top eigenvalue is computed on the host with LAPACK (only the largest
    one is asked for), in the kernel's dtype: float32 by default, float64 for
    a float64 kernel under ``jax_enable_x64``.

    Args:
      ntk_train_train: NTK on the training data (zipped; any trace axes left
        out).
      y_train_size: total number of training outputs ``y_train.size``; ``None``
        takes the kernel's row count, i.e. assumes ``trace_axes=()``.
      momentum: heavy-ball momentum.
      eps: added to the eigenvalue to avoid dividing by zero.

    Returns:
      The maximal learning rate, a Python float (a JAX scalar if the kernel is
      traced).

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets import predict
      >>> predict.max_learning_rate(jnp.diag(jnp.array([1.0, 4.0])))
      1.0

    References:
      Lee et al., `Wide Neural Networks of Any Depth Evolve as Linear Models
      Under Gradient Descent <https://arxiv.org/abs/1902.06720>`_, 2019 (learning-rate bound for wide networks).

      Goh, `Why Momentum Really Works <https://distill.pub/2017/momentum/>`_,
      2017.

      Lewkowycz et al., `The large learning rate phase of deep learning: the
      catapult mechanism <https://arxiv.org/abs/2003.02218>`_, 2020.
    """
    k2d = make_2d(as_float(ntk_train_train))
    n = k2d.shape[0]
    factor = n if y_train_size is None else y_train_size
    if is_concrete(k2d):
        with blas_threads_for(n):
            top = scipy.linalg.eigvalsh(
                np.asarray(k2d), subset_by_index=[n - 1, n - 1]
            )[-1]
        return float(2 * (1 + momentum) * factor / (top + eps))
    top = jnp.linalg.eigvalsh(k2d)[-1]
    return 2 * (1 + momentum) * factor / (top + eps)
