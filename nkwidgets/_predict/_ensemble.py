"""Mean and covariance of an infinite ensemble of wide networks trained on MSE.

`gradient_descent_mse_ensemble` marginalises the random initialisation out of
the closed-form MSE flow of `gradient_descent_mse`: with ``f_0 ~ GP(0, K)``
(NNGP ``K``) and training kernel ``Theta`` (the NTK, or ``K`` itself for the
"nngp" mode, i.e. training only the readout layer), the outputs at time ``t``
are Gaussian.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._gp import gp_inference, kernel_part
from ._inputs import canonical_times
from ._layout import OutputLayout, make_2d, zip_axes
from ._linalg import (
    EigenBasis,
    LazyFactors,
    apply_flow,
    as_float,
    flow_decay,
    flow_expm1,
    flow_growth,
)
from ._types import Axes, Gaussian, Get, TimeLike, canonicalize_get, pack_by_get

KernelFn = Callable[..., Any]
"""``kernel_fn(x1, x2, get, **kwargs)`` returning an array for a string `get`
and a namedtuple / ``Kernel`` with ``nngp`` / ``ntk`` fields for a tuple."""

_MODES = ("nngp", "ntk")


def _needed_kernels(modes: tuple[str, ...], compute_cov: bool) -> tuple[str, ...]:
    """Kernels a request depends on: the NTK covariance also needs the NNGP."""
    for g in modes:
        if g not in _MODES:
            raise ValueError(
                f"`get` entries must be 'nngp' or 'ntk' for ensemble predictions, "
                f"got {g!r}."
            )
    needed = ()
    if "nngp" in modes or ("ntk" in modes and compute_cov):
        needed += ("nngp",)
    if "ntk" in modes:
        needed += ("ntk",)
    return needed


def _is_array_tree(x: Any) -> bool:
    leaves = jax.tree_util.tree_leaves(x)
    return bool(leaves) and all(isinstance(v, np.ndarray | jax.Array) for v in leaves)


def merge_kernel_kwargs(
    train: Mapping[str, Any], test: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword arguments for the test-train and test-test kernel calls.

    NT's rule: test values override train ones; a pair of arrays ``(a1, a2)``
    (per-argument values for ``x1`` and ``x2``) becomes ``(test[0], train[0])``
    for the test-train call; any other non-array value must match.

    Raises:
      ValueError: a non-array keyword differs between train and test.
    """
    kwargs_td = dict(train)
    kwargs_tt = dict(train)
    for key, v_tt in test.items():
        if key not in train:
            v_td = v_tt
        else:
            v_dd = train[key]
            if _is_array_tree(v_dd) and _is_array_tree(v_tt):
                pairs = all(isinstance(v, tuple) and len(v) == 2 for v in (v_dd, v_tt))
                v_td = (v_tt[0], v_dd[0]) if pairs else v_tt
            elif v_dd != v_tt:
                raise ValueError(
                    f"Keyword argument `{key}` of `kernel_fn` is {v_dd!r} for the "
                    f"train-train kernel but {v_tt!r} for the test kernels; a "
                    f"non-array argument must be the same for all three calls."
                )
            else:
                v_td = v_tt
        kwargs_td[key] = v_td
        kwargs_tt[key] = v_tt
    return kwargs_td, kwargs_tt


@functools.partial(
    jax.jit,
    static_argnames=("mode", "layout", "t_shape", "nt_shape", "n_outputs"),
)
def _moments(
    evals,
    evecs,
    y_tilde,
    times,
    k_td,
    k_td_nngp,
    k_tt,
    nngp_in_basis,
    *,
    mode: str,
    layout: OutputLayout,
    t_shape: tuple[int, ...],
    nt_shape: tuple[int, ...],
    n_outputs: int,
):
    """Mean and (if `k_tt` is given) covariance for one mode, all times at once.

    Args:
      evals: eigenvalues of the regularised training kernel, ``(n,)``.
      evecs: its eigenvectors, ``(n, n)``.
      y_tilde: targets in that eigenbasis, ``(n, c)``.
      times: ``(T,)`` absolute times, ``inf`` allowed.
      k_td: test-train training kernel ``(m, n)``, ``None`` for the train set.
      k_td_nngp: test-train NNGP ``(m, n)`` (NTK covariance on a test set).
      k_tt: prior covariance of the predicted outputs ``(m, m)`` (the NNGP), or
        ``None`` for the mean only; on the train set the train NNGP.
      nngp_in_basis: ``V^T K V`` for the NTK covariance.
      mode: ``"nngp"`` or ``"ntk"``.
      layout: trace-axes layout of the outputs.
      t_shape: leading shape of the results (the shape of ``t``).
      nt_shape: non-trace shape of the predicted outputs.
      n_outputs: ``y_train.size``, the loss normalisation.

    Returns:
      ``(mean, covariance)``, covariance ``None`` without `k_tt`.
    """
    want_cov = k_tt is not None
    if k_td is None:
        mean = -apply_flow(evecs, flow_expm1(evals, times, n_outputs), y_tilde, None)
    else:
        growth = flow_growth(evals, times, n_outputs)
        mean = apply_flow(evecs, growth, y_tilde, k_td)
    mean = layout.unflatten(mean.reshape(t_shape + mean.shape[1:]), nt_shape)
    if not want_cov:
        return mean, None

    if k_td is None and mode == "nngp":
        # K - K K^{-1}(I - e^{-2Kt/N}) K = K e^{-2Kt/N} on the train set.
        lam = jnp.where(evals > 0, evals, 0)
        w = lam[None] * flow_decay(evals, 2 * times, n_outputs)
        cov = jnp.einsum("ij,tj,kj->tik", evecs, w, evecs)
    elif k_td is None:
        # f_t(X) = y + e^{-Theta t/N}(f_0(X) - y): covariance E K E.
        d = flow_decay(evals, times, n_outputs)
        inner = d[:, :, None] * nngp_in_basis[None] * d[:, None, :]
        cov = jnp.einsum("ij,tjk,lk->til", evecs, inner, evecs)
    elif mode == "nngp":
        p = k_td @ evecs
        g2 = flow_growth(evals, 2 * times, n_outputs)
        cov = k_tt[None] - jnp.einsum("ij,tj,kj->tik", p, g2, p)
    else:
        p = k_td @ evecs
        pg = p[None] * flow_growth(evals, times, n_outputs)[:, None, :]  # (T, m, n)
        q = evecs.T @ k_td_nngp.T  # (n, m)
        term_init = jnp.einsum("tij,jk,tlk->til", pg, nngp_in_basis, pg)
        cross = pg @ q
        cov = term_init - cross - jnp.swapaxes(cross, 1, 2) + k_tt[None]
    cov = cov.reshape(t_shape + tuple(nt_shape) * 2)
    return mean, zip_axes(cov, len(t_shape))


def gradient_descent_mse_ensemble(
    kernel_fn: KernelFn,
    x_train: Any,
    y_train: ArrayLike,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    trace_axes: Axes = (-1,),
    **kernel_fn_train_train_kwargs: Any,
):
    r"""Gaussian outputs of an infinite ensemble of wide networks trained on MSE.

    With NNGP :math:`K`, training kernel :math:`\Theta` (the NTK for
    ``get="ntk"``, :math:`K` for ``get="nngp"``) and
    :math:`A_t = \Theta_{*X}\Theta^{-1}(I - e^{-\eta\Theta t/N})`,
    ``N = y_train.size``, the test outputs at time ``t`` are Gaussian with

    .. math::

        \mu_t = A_t Y, \qquad
        \Sigma_t = K_{**} + A_t K A_t^\top - (A_t K_{X*} + K_{*X} A_t^\top),

    which for ``"nngp"`` simplifies to
    :math:`K_{**} - K_{*X}K^{-1}(I - e^{-2\eta K t/N})K_{X*}`. On the train set
    (``x_test=None``) :math:`\mu_t = (I - e^{-\eta\Theta t/N})Y` and
    :math:`\Sigma_t = e^{-\eta\Theta t/N} K e^{-\eta\Theta t/N}`.

    The factory calls ``kernel_fn(x_train, None, ("nngp", "ntk"))`` once.
    ``t=None`` is the converged ensemble, computed by :func:`gp_inference`
    (Cholesky solves) as in Neural Tangents; other times (any shape, ``inf``
    allowed) are evaluated all at once from one eigendecomposition per
    regularised train-train kernel. Each factorisation is made by the first
    call that needs it and reused afterwards. Eigenvalues at or below zero are
    clipped to zero, as Neural Tangents does.
    Computation runs in the kernels' dtype: float32 by default, float64 under
    ``jax_enable_x64`` for a float64 kernel.

    Args:
      kernel_fn: ``kernel_fn(x1, x2, get, **kwargs)`` with ``x2=None`` meaning
        ``x1``; returns an array for a string `get` and a namedtuple /
        ``Kernel`` with ``nngp`` and ``ntk`` fields for a tuple, like a
        ``stax`` kernel function. It should be (an approximation of) the
        infinite-width kernel for the result to mean what is described above.
      x_train: training inputs.
      y_train: training targets.
      learning_rate: step size; only ``learning_rate * t`` matters.
      diag_reg: ridge added to each train-train kernel's diagonal.
      diag_reg_absolute_scale: ``True`` to add ``diag_reg`` as is, ``False`` to
        add ``diag_reg * mean(diag(k))``.
      trace_axes: output axes along which kernels are ``K ⊗ I``; must match the
        kernel function's output channel axis.
      **kernel_fn_train_train_kwargs: passed to `kernel_fn` for the train-train
        kernel, and by default for the test kernels too (see `predict_fn`).

    Returns:
      ``predict_fn(t=None, x_test=None, get=None, compute_cov=False,
      **kernel_fn_test_test_kwargs)``. For each mode in `get` (``"nngp"``,
      ``"ntk"``, a tuple, or ``None`` for both) it returns the mean, or a
      :class:`Gaussian` ``(mean, covariance)`` with ``compute_cov=True``, with
      ``t``'s shape as leading axes; a string `get` returns that value alone, a
      tuple a ``Gaussians`` namedtuple. ``x_test=None`` predicts on the train
      set (unregularised); pass ``x_test=x_train`` for regularised train
      predictions. Test keyword arguments override the train ones; pairs of
      arrays ``(for_x1, for_x2)`` are combined as
      ``(test[0], train[0])`` for the test-train kernel.

    Raises:
      NotPositiveDefiniteError: from `predict_fn`, when a train-train kernel
        (with `diag_reg`) it needs is not positive definite (``t=None``) or
        has a clearly negative eigenvalue or non-finite entries (other ``t``).

    Examples:
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> from nkwidgets import predict
      >>> def kernel_fn(x1, x2, get, **kwargs):
      ...     x2 = x1 if x2 is None else x2
      ...     nngp = jnp.exp(-((x1[:, None, 0] - x2[None, :, 0]) ** 2))
      ...     kernels = predict.Gaussian(nngp, 2 * nngp)  # any (nngp, ntk) pair
      ...     fields = dict(nngp=kernels[0], ntk=kernels[1])
      ...     if isinstance(get, str):
      ...         return fields[get]
      ...     from collections import namedtuple
      ...     return namedtuple("Kernel", get)(*(fields[g] for g in get))
      >>> x = jnp.array([[0.0], [1.0]])
      >>> y = jnp.array([[1.0], [-1.0]])
      >>> predict_fn = predict.gradient_descent_mse_ensemble(kernel_fn, x, y)
      >>> out = predict_fn(None, jnp.array([[0.25]]), "ntk", compute_cov=True)
      >>> print(np.asarray(out.mean).round(4), np.asarray(out.covariance).round(4))
      [[0.5847]] [[0.0594]]

    References:
      Lee et al., `Wide Neural Networks of Any Depth Evolve as Linear Models
      Under Gradient Descent <https://arxiv.org/abs/1902.06720>`_, 2019
      (NTK-ensemble mean and covariance, and the readout-only NNGP case).
    """
    k_dd = kernel_fn(x_train, None, _MODES, **kernel_fn_train_train_kwargs)
    parts = {g: kernel_part(k_dd, g) for g in _MODES}
    present = {g: k for g, k in parts.items() if k is not None}
    if not present:
        raise ValueError(
            "`kernel_fn(x_train, None, ('nngp', 'ntk'))` returned no kernel."
        )
    dtype = as_float(next(iter(present.values()))).dtype
    y = as_float(y_train, dtype)
    layout = OutputLayout.of(y.shape, trace_axes)
    train_nt = layout.non_trace_shape(y.shape)
    y_flat = layout.flatten(y)

    k2d: dict[str, jax.Array] = {}
    factors: dict[str, LazyFactors] = {}
    for g, k in present.items():
        k = as_float(k, dtype)
        layout.check_kernel(
            k, f"kernel_fn(x_train, None).{g}", rows=train_nt, cols=train_nt
        )
        k2d[g] = make_2d(k)
        factors[g] = LazyFactors(
            k2d[g], diag_reg, diag_reg_absolute_scale, name=f"kernel_fn(x_train).{g}"
        )

    @functools.cache
    def converged():
        # t=None is the posterior of `gp_inference` on the same kernels, exactly
        # as Neural Tangents computes it (Cholesky solves).
        return gp_inference(k_dd, y, diag_reg, diag_reg_absolute_scale, trace_axes)

    @functools.cache
    def eigen(g: str) -> tuple[EigenBasis, jax.Array]:
        if g not in factors:
            raise ValueError(
                f"`get` asks for `{g}`, but `kernel_fn` returned no `{g}` kernel."
            )
        basis = factors[g].eigen
        return basis, basis.evecs.T @ y_flat

    @functools.cache
    def nngp_in_ntk_basis() -> jax.Array:
        # The NTK covariance sandwiches the (unregularised) NNGP between NTK flows.
        if "nngp" not in k2d:
            raise ValueError(
                "The NTK ensemble covariance needs the NNGP too, but `kernel_fn` "
                "returned no `nngp` kernel."
            )
        v = eigen("ntk")[0].evecs
        return v.T @ k2d["nngp"] @ v

    def predict_fn(
        t: TimeLike = None,
        x_test: Any = None,
        get: Get = None,
        compute_cov: bool = False,
        **kernel_fn_test_test_kwargs: Any,
    ):
        """Ensemble mean [and covariance] at time[s] `t`; see the factory."""
        single, modes = canonicalize_get(get)
        needed = _needed_kernels(modes, compute_cov)
        k_td = k_tt = None
        if x_test is not None:
            kwargs_td, kwargs_tt = merge_kernel_kwargs(
                kernel_fn_train_train_kwargs, kernel_fn_test_test_kwargs
            )
            k_td = kernel_fn(x_test, x_train, needed, **kwargs_td)
            if compute_cov:
                k_tt = kernel_fn(x_test, None, "nngp", **kwargs_tt)

        if t is None:
            # NT's convention: any non-None k_test_test asks for train covariances.
            k_test_test = k_tt if x_test is not None else (compute_cov or None)
            res = converged()(modes, k_td, k_test_test)
            return pack_by_get({g: getattr(res, g) for g in modes}, single, modes)

        times, t_shape = canonical_times(t, learning_rate, dtype)
        nt_shape = train_nt
        out = {}
        for g in modes:
            basis, y_tilde = eigen(g)
            td = td_nngp = None
            if k_td is not None:
                part = as_float(kernel_part(k_td, g), dtype)
                layout.check_kernel(
                    part, f"kernel_fn(x_test, x_train).{g}", rows=None, cols=train_nt
                )
                nt_shape = tuple(part.shape[::2])
                td = make_2d(part)
                if compute_cov and g == "ntk":
                    td_nngp = make_2d(as_float(kernel_part(k_td, "nngp"), dtype))
            cov_prior = None
            if compute_cov and k_td is not None:
                cov_prior = make_2d(as_float(kernel_part(k_tt, "nngp"), dtype))
            elif compute_cov:
                cov_prior = k2d["nngp"]
            mean, cov = _moments(
                basis.evals,
                basis.evecs,
                y_tilde,
                times,
                td,
                td_nngp,
                cov_prior,
                nngp_in_ntk_basis() if compute_cov and g == "ntk" else None,
                mode=g,
                layout=layout,
                t_shape=t_shape,
                nt_shape=tuple(nt_shape),
                n_outputs=y.size,
            )
            out[g] = Gaussian(mean, cov) if compute_cov else mean
        return pack_by_get(out, single, modes)

    return predict_fn
