"""Closed-form gradient flow on the MSE loss: `gradient_descent_mse`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Protocol

import jax
import jax.scipy.linalg as jsl
from jax.typing import ArrayLike

from ._inputs import broadcast_outputs, canonical_times, check_inputs
from ._layout import OutputLayout, make_2d
from ._linalg import (
    LazyFactors,
    apply_flow,
    as_float,
    call_with_blas_limit,
    flow_expm1,
    flow_growth,
)
from ._types import Axes, TimeLike


class PredictFn(Protocol):
    """Signature of the function `gradient_descent_mse` returns."""

    def __call__(
        self,
        t: TimeLike = None,
        fx_train_0: ArrayLike | None = 0.0,
        fx_test_0: ArrayLike | None = None,
        k_test_train: ArrayLike | None = None,
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Train [and test] outputs at time[s] `t`."""
        ...


@functools.partial(
    jax.jit, static_argnames=("layout", "t_shape", "train_nt", "test_nt", "n_outputs")
)
def _predict(
    evals,
    evecs,
    y_flat,
    fx_train_0,
    fx_test_0,
    k_test_train,
    times,
    *,
    layout: OutputLayout,
    t_shape: tuple[int, ...],
    train_nt: tuple[int, ...],
    test_nt: tuple[int, ...],
    n_outputs: int,
):
    # NT's convention: without train outputs the flow starts from f(X) = 0.
    f0 = 0.0 if fx_train_0 is None else layout.flatten(fx_train_0)
    residual = evecs.T @ (f0 - y_flat)

    def finish(flat0, delta, nt_shape):
        out = flat0[None] + delta
        out = out.reshape(t_shape + out.shape[1:])
        return layout.unflatten(out, nt_shape)

    fx_train = fx_test = None
    if fx_train_0 is not None:
        delta = apply_flow(evecs, flow_expm1(evals, times, n_outputs), residual, None)
        fx_train = finish(layout.flatten(fx_train_0), delta, train_nt)
    if fx_test_0 is not None:
        growth = flow_growth(evals, times, n_outputs)
        delta = -apply_flow(evecs, growth, residual, make_2d(k_test_train))
        fx_test = finish(layout.flatten(fx_test_0), delta, test_nt)
    return fx_train, fx_test


@functools.partial(jax.jit, static_argnames=("layout", "test_nt"))
def _predict_converged(
    lower, y, y_flat, fx_train_0, fx_test_0, k_test_train, *, layout, test_nt
):
    """``t=None``: kernel ridge regression by Cholesky solve, as NT computes it."""
    # Trained to convergence on the (regularised) kernel, the train outputs are
    # the targets whatever the regulariser; NT returns them as such.
    fx_train = None if fx_train_0 is None else y
    fx_test = None
    if fx_test_0 is not None:
        f0 = 0.0 if fx_train_0 is None else layout.flatten(fx_train_0)
        alpha = jsl.cho_solve((lower, True), y_flat - f0)
        delta = layout.unflatten(make_2d(k_test_train) @ alpha, test_nt)
        fx_test = fx_test_0 + delta
    return fx_train, fx_test


def gradient_descent_mse(
    k_train_train: ArrayLike,
    y_train: ArrayLike,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    trace_axes: Axes = (-1,),
) -> PredictFn:
    r"""Outputs of a network trained by gradient flow on MSE, in closed form.

    The linearised network (or an infinitely wide one, with its NTK) trained by
    continuous-time gradient descent on
    :math:`L = \frac{1}{2N}\|f(X) - Y\|^2`, ``N = y_train.size``, follows

    .. math::

        f_t(X) = Y + e^{-\eta \Theta t / N} (f_0(X) - Y), \qquad
        f_t(x) = f_0(x) - \Theta(x, X)\, \Theta^{-1}
                 (I - e^{-\eta \Theta t / N}) (f_0(X) - Y),

    with :math:`\Theta` the regularised train-train kernel. ``t=None`` is the
    converged solution, kernel ridge regression, computed with a Cholesky solve
    as in Neural Tangents. Any other ``t`` (an array of any shape, ``inf``
    allowed) is evaluated for all times at once from one eigendecomposition of
    the kernel. Each factorisation is made on the first call that needs it and
    reused by every later call. Times are in steps: absolute time is
    ``learning_rate * t``.

    Eigenvalues at or below zero (round-off of a PSD kernel) are clipped to zero:
    those directions do not move. On a singular PSD kernel, which has no
    Cholesky factor, ``t=None`` therefore falls back to the eigendecomposition
    and gives the limit of the flow (a pseudo-inverse) instead of NaN.

    Computation runs in the kernel's dtype: float32 by default, float64 for a
    float64 kernel under ``jax_enable_x64``.

    Args:
      k_train_train: train-train kernel, shape ``zip(y_train.shape,
        y_train.shape)`` with the trace axes left out (``(N, N)`` for
        ``y_train`` of shape ``(N, C)`` and ``trace_axes=(-1,)``).
      y_train: training targets.
      learning_rate: step size; only the product ``learning_rate * t`` matters.
      diag_reg: ridge added to the kernel's diagonal before factorising it.
      diag_reg_absolute_scale: ``True`` to add ``diag_reg`` as is, ``False`` to
        add ``diag_reg * mean(diag(k_train_train))``.
      trace_axes: output axes along which the kernel is ``Theta ⊗ I`` (left out
        of the kernel); must match those the kernel was computed with.

    Returns:
      ``predict_fn(t=None, fx_train_0=0., fx_test_0=None, k_test_train=None)``.
      It returns ``fx_train_t``, or ``fx_test_t`` when ``fx_train_0 is None``,
      or ``(fx_train_t, fx_test_t)`` when both initial outputs are given; each
      has ``t``'s shape as leading axes. ``fx_train_0=None`` skips train
      outputs (the flow then starts from ``f_0(X) = 0``); test outputs need
      ``k_test_train``, the zipped test-train kernel.

    Raises:
      NotPositiveDefiniteError: from `predict_fn`, when `k_train_train` (with
        `diag_reg`) has a clearly negative eigenvalue or non-finite entries;
        the message suggests a `diag_reg`.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from nkwidgets import predict
      >>> k = jnp.array([[2.0, 1.0], [1.0, 2.0]])
      >>> y = jnp.array([[1.0], [-1.0]])
      >>> predict_fn = predict.gradient_descent_mse(k, y)
      >>> fx_train_t = predict_fn(t=jnp.array([0.0, 1.0, jnp.inf]), fx_train_0=0.0)
      >>> print(np.asarray(fx_train_t[:, :, 0]).round(4))  # (times, examples)
      [[ 0.      0.    ]
       [ 0.3935 -0.3935]
       [ 1.     -1.    ]]

    References:
      Jacot, Gabriel, Hongler, `Neural Tangent Kernel: Convergence and
      Generalization in Neural Networks <https://arxiv.org/abs/1806.07572>`_,
      2018.

      Lee et al., `Wide Neural Networks of Any Depth Evolve as Linear Models
      Under Gradient Descent <https://arxiv.org/abs/1902.06720>`_, 2019 (closed form of the linearised MSE flow).
    """
    k = as_float(k_train_train)
    dtype = k.dtype
    y = as_float(y_train, dtype)
    layout = OutputLayout.of(y.shape, trace_axes)
    train_nt = layout.non_trace_shape(y.shape)
    layout.check_kernel(k, "k_train_train", rows=train_nt, cols=train_nt)
    factors = LazyFactors(
        make_2d(k), diag_reg, diag_reg_absolute_scale, name="k_train_train"
    )
    y_flat = layout.flatten(y)

    def predict_fn(
        t: TimeLike = None,
        fx_train_0: ArrayLike | None = 0.0,
        fx_test_0: ArrayLike | None = None,
        k_test_train: ArrayLike | None = None,
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        """Train [and test] outputs at time[s] `t`; see `gradient_descent_mse`."""
        check_inputs(fx_train_0, fx_test_0, k_test_train)
        f_train = ktd = f_test = None
        test_nt: Sequence[int] = ()
        if fx_train_0 is not None:
            f_train = broadcast_outputs(fx_train_0, y.shape, dtype, "fx_train_0")
        if fx_test_0 is not None:
            ktd = as_float(k_test_train, dtype)
            layout.check_kernel(ktd, "k_test_train", rows=None, cols=train_nt)
            test_nt = tuple(ktd.shape[::2])
            f_test = broadcast_outputs(
                fx_test_0, layout.output_shape(test_nt), dtype, "fx_test_0"
            )
        fx_train_t = fx_test_t = None
        factor = factors.cholesky if t is None else None
        if factor is not None:
            fx_train_t, fx_test_t = call_with_blas_limit(
                factor.lower.shape[0],
                _predict_converged,
                factor.lower,
                y,
                y_flat,
                f_train,
                f_test,
                ktd,
                layout=layout,
                test_nt=tuple(test_nt),
            )
            return _pack(fx_train_t, fx_test_t)
        times, t_shape = canonical_times(t, learning_rate, dtype)
        basis = factors.eigen
        fx_train_t, fx_test_t = _predict(
            basis.evals,
            basis.evecs,
            y_flat,
            f_train,
            f_test,
            ktd,
            times,
            layout=layout,
            t_shape=t_shape,
            train_nt=train_nt,
            test_nt=tuple(test_nt),
            n_outputs=y.size,
        )
        return _pack(fx_train_t, fx_test_t)

    return predict_fn


def _pack(fx_train_t, fx_test_t):
    """NT's return convention: whichever outputs were asked for, train first."""
    if fx_test_t is None:
        return fx_train_t
    if fx_train_t is None:
        return fx_test_t
    return fx_train_t, fx_test_t
