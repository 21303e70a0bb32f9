"""Exact GP posteriors with the NNGP / NTK / NTK-GP covariance: `gp_inference`."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._layout import OutputLayout, make_2d, zip_axes
from ._linalg import LazyFactors, as_float, call_with_blas_limit, cho_solve
from ._types import Axes, Gaussian, Get, canonicalize_get, pack_by_get

_KERNEL_NAMES = ("nngp", "ntk")
_GP_MODES = ("nngp", "ntk", "ntkgp")


def kernel_part(k: Any, g: str) -> Any:
    """The `g` kernel of `k`: an array is every kernel, a namedtuple has fields."""
    if k is None or hasattr(k, "shape"):
        return k
    if not hasattr(k, g):
        raise ValueError(
            f"The kernel has no `{g}` part (type {type(k).__name__}); pass a "
            f"namedtuple or `Kernel` with `nngp` and `ntk` fields, or an array."
        )
    return getattr(k, g)


def _first_kernel(k: Any) -> jax.Array:
    if hasattr(k, "shape"):
        return k
    for g in _KERNEL_NAMES:
        v = getattr(k, g, None)
        if v is not None:
            return v
    raise ValueError(f"The kernel {type(k).__name__} holds neither `nngp` nor `ntk`.")


@functools.partial(jax.jit, static_argnames="mode")
def _posterior_cov(mode, factor, k_dd_nngp, k_td, k_td_init, k_tt):
    """Posterior covariance on the test set, all kernels as 2-D matrices.

    `k_td` is the kernel the mode trains / conditions with, `k_td_init` and
    `k_tt` the prior covariance of the outputs (NNGP, or NTK for "ntkgp").
    """
    a = cho_solve(factor, k_td_init.T)  # K^{-1} K_{X*}, K the conditioning kernel
    if mode in ("nngp", "ntkgp"):
        return k_tt - k_td @ a
    # NTK ensemble: f = f_0 + Theta_*X Theta^{-1} (y - f_0(X)), f_0 ~ GP(0, K).
    b = cho_solve(factor, k_td.T)  # Theta^{-1} Theta_X*
    cross = k_td @ a  # Theta_*X Theta^{-1} K_X*
    return b.T @ k_dd_nngp @ b - cross - cross.T + k_tt


@jax.jit
def _posterior_mean(k_td, k_inv_y):
    return k_td @ k_inv_y


def gp_inference(
    k_train_train: Any,
    y_train: ArrayLike,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    trace_axes: Axes = (-1,),
):
    r"""Posterior of the NNGP, the infinite NTK ensemble, or the NTK-GP.

    * ``"nngp"``: exact posterior of an infinitely wide Bayesian network,
      :math:`\mathcal N(K_{*X} K^{-1} Y,\; K_{**} - K_{*X} K^{-1} K_{X*})`.
    * ``"ntk"``: outputs of an infinite ensemble of infinitely wide networks
      trained to convergence by gradient flow on MSE: mean
      :math:`\Theta_{*X}\Theta^{-1}Y`, covariance
      :math:`K_{**} + \Theta_{*X}\Theta^{-1}K\Theta^{-1}\Theta_{X*}
      - (\Theta_{*X}\Theta^{-1}K_{X*} + \text{h.c.})`.
    * ``"ntkgp"``: the GP posterior with the NTK as covariance.

    Each regularised train-train kernel (``nngp``, ``ntk``) is
    Cholesky-factorised by the first call that needs it and reused afterwards;
    solves are cheap and differentiable, which kernel-inducing-point style
    optimisation needs.
    Computation runs in the kernel's dtype: float32 by default, float64 for
    float64 kernels under ``jax_enable_x64``.

    Args:
      k_train_train: train-train kernel: an array (used for every mode), or a
        namedtuple / ``Kernel`` with ``nngp`` and/or ``ntk`` fields. The NTK
        posterior covariance needs both.
      y_train: training targets.
      diag_reg: ridge added to the kernel's diagonal before factorising.
      diag_reg_absolute_scale: ``True`` to add ``diag_reg`` as is, ``False`` to
        add ``diag_reg * mean(diag(k))``.
      trace_axes: output axes along which kernels are ``K ⊗ I`` (left out of
        the kernels); must match those the kernels were computed with.

    Returns:
      ``predict_fn(get=None, k_test_train=None, k_test_test=None)``. `get` is
      ``"nngp"``, ``"ntk"``, ``"ntkgp"`` or a tuple (``None``: ``("nngp",
      "ntk")``). Each mode gives the posterior mean, or a :class:`Gaussian`
      when `k_test_test` is given; a string `get` returns that value alone, a
      tuple a ``Gaussians`` namedtuple with one field per mode. Without
      `k_test_train` the train set is predicted (``N(y_train, 0)``); pass
      ``k_test_train=k_train_train`` for regularised train predictions.

    Raises:
      NotPositiveDefiniteError: from `predict_fn`, when a train-train kernel
        (with `diag_reg`) has no Cholesky factor; the message suggests a
        `diag_reg`.

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from nkwidgets import predict
      >>> k = jnp.array([[1.0, 0.5], [0.5, 1.0]])
      >>> y = jnp.array([[1.0], [0.0]])
      >>> predict_fn = predict.gp_inference(k, y)
      >>> out = predict_fn("nngp", jnp.array([[0.8, 0.3]]), jnp.array([[1.0]]))
      >>> print(np.asarray(out.mean).round(4), np.asarray(out.covariance).round(4))
      [[0.8667]] [[0.3467]]

    References:
      Lee et al., `Deep Neural Networks as Gaussian Processes
      <https://arxiv.org/abs/1711.00165>`_, 2018.

      Lee et al., `Wide Neural Networks of Any Depth Evolve as Linear Models
      Under Gradient Descent <https://arxiv.org/abs/1902.06720>`_, 2019 (mean and covariance of the trained ensemble).

      He, Lakshminarayanan, Teh, `Bayesian Deep Ensembles via the Neural
      Tangent Kernel <https://arxiv.org/abs/2007.05864>`_, 2020 (NTK-GP).
    """
    first = as_float(_first_kernel(k_train_train))
    dtype = first.dtype
    y = as_float(y_train, dtype)
    layout = OutputLayout.of(y.shape, trace_axes)
    train_nt = layout.non_trace_shape(y.shape)
    y_flat = layout.flatten(y)

    is_array = hasattr(k_train_train, "shape")
    # An array stands for every kernel; it is factorised once, filed as "nngp".
    k_dd: dict[str, jax.Array] = {}
    factors: dict[str, LazyFactors] = {}
    for g in ("nngp",) if is_array else _KERNEL_NAMES:
        part = first if is_array else getattr(k_train_train, g, None)
        if part is None:
            continue
        part = as_float(part, dtype)
        layout.check_kernel(part, "k_train_train", rows=train_nt, cols=train_nt)
        k_dd[g] = part
        factors[g] = LazyFactors(
            make_2d(part),
            diag_reg,
            diag_reg_absolute_scale,
            name="k_train_train" if is_array else f"k_train_train.{g}",
        )

    @functools.cache
    def k_inv_y(key: str) -> jax.Array:
        factor = factors[key].require_cholesky()
        return call_with_blas_limit(factor.lower.shape[0], cho_solve, factor, y_flat)

    def lookup(g: str) -> str:
        key = "nngp" if is_array else g
        if key not in factors:
            raise ValueError(
                f"`get` asks for `{g}`, but `k_train_train` has no `{g}` kernel."
            )
        return key

    def predict_fn(get: Get = None, k_test_train: Any = None, k_test_test: Any = None):
        """Posterior on the test (or train) set; see `gp_inference`."""
        single, modes = canonicalize_get(get)
        for g in modes:
            if g not in _GP_MODES:
                raise ValueError(
                    f"`get` entries must be one of {_GP_MODES}, got {g!r}."
                )
        out = {}
        for g in modes:
            kind = "ntk" if g == "ntkgp" else g
            key = lookup(kind)
            k_td = kernel_part(k_test_train, kind)
            if k_td is None:
                mean = y
                test_nt = train_nt
            else:
                k_td = as_float(k_td, dtype)
                layout.check_kernel(k_td, "k_test_train", rows=None, cols=train_nt)
                test_nt = tuple(k_td.shape[::2])
                mean_flat = _posterior_mean(make_2d(k_td), k_inv_y(key))
                mean = layout.unflatten(mean_flat, test_nt)
            if k_test_test is None:
                out[g] = mean
                continue
            if k_td is None:
                out[g] = Gaussian(mean, jnp.zeros_like(k_dd[key]))
                continue
            if g == "ntk" and (
                is_array
                or "nngp" not in k_dd
                or getattr(k_test_train, "nngp", None) is None
            ):
                raise ValueError(
                    "The NTK posterior covariance (`'ntk' in get` with "
                    "`k_test_test` given) needs both NNGP and NTK kernels: pass "
                    "`k_train_train`, `k_test_train` and `k_test_test` as "
                    "namedtuples / `Kernel`s with `nngp` and `ntk` fields."
                )
            init = "ntk" if g == "ntkgp" else "nngp"
            k_td_init = as_float(kernel_part(k_test_train, init), dtype)
            k_tt = as_float(kernel_part(k_test_test, init), dtype)
            factor = factors[key].require_cholesky()
            cov = call_with_blas_limit(
                factor.lower.shape[0],
                _posterior_cov,
                g,
                factor,
                make_2d(k_dd["nngp"]) if g == "ntk" else None,
                make_2d(k_td),
                make_2d(k_td_init),
                make_2d(k_tt),
            )
            cov = zip_axes(cov.reshape(tuple(test_nt) * 2))
            out[g] = Gaussian(mean, cov)
        return pack_by_get(out, single, modes)

    return predict_fn
