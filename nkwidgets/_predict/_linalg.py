"""Factorisations of train-train kernels, checked, and functions of their spectra.

Predictors factorise each train-train kernel at most once per kind (Cholesky
for ``t=None``, eigendecomposition for other times), on the first call that
needs it (`LazyFactors`). A factorisation runs compiled; whether it succeeded
is decided afterwards, on the host, from one flag, so a bad kernel surfaces as a
:class:`NotPositiveDefiniteError` that says what to do, never as an XLA error.
Inside a user's ``jit`` (traced kernels) the same test runs through
``equinox.error_if``. Outside it, factorisations and Cholesky solves run with
the BLAS threads capped at the cores free at that moment (`_threads`), since
OpenBLAS stalls when its threads outnumber them.

Gradient flow on ``L = |f(X) - y|^2 / (2 N)`` moves each eigendirection of the
kernel independently: with eigenvalue ``lam`` and time ``t`` the residual is
multiplied by ``exp(-lam t / N)``. The helpers below evaluate the two spectral
functions the closed forms need, with the eigenvalues clipped at zero the way
Neural Tangents clips them (a direction with ``lam <= 0`` never moves).
"""

from __future__ import annotations

import functools
import math
from typing import Final, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Float

from ._errors import NotPositiveDefiniteError
from ._threads import blas_threads_for

# How far below zero an eigenvalue may sit and still count as round-off: the
# backward-error bound of a symmetric eigensolver is about n * eps * |lambda_max|;
# the factor 10 covers the few more roundings that produced the kernel itself.
ROUNDOFF_SAFETY: Final = 10.0


def default_float() -> jnp.dtype:
    """float64 when ``jax_enable_x64`` is on, float32 otherwise."""
    return jnp.zeros(()).dtype


def as_float(x: ArrayLike, dtype: jnp.dtype | None = None) -> jax.Array:
    """`x` as a floating JAX array: of `dtype` if given, else its own float dtype.

    Integer and boolean inputs become the default float. Explicit casts keep the
    predictors usable under ``jax.numpy_dtype_promotion('strict')``.
    """
    x = jnp.asarray(x)
    if dtype is not None:
        return x.astype(dtype)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return x.astype(default_float())
    return x


def is_concrete(*xs: object) -> bool:
    """True when none of `xs` is a tracer, i.e. host-side checks are possible."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def regularize(
    k2d: Float[Array, "n n"], diag_reg: float, absolute: bool
) -> Float[Array, "n n"]:
    """``k2d + r I`` with ``r = diag_reg`` (absolute) or ``diag_reg * mean(diag)``."""
    n = k2d.shape[0]
    scale = 1.0 if absolute else jnp.trace(k2d) / n
    return k2d + (diag_reg * scale) * jnp.eye(n, dtype=k2d.dtype)


class EigenBasis(NamedTuple):
    """Eigendecomposition of a regularised train-train kernel."""

    evals: Float[Array, " n"]
    """Eigenvalues, ascending (negative round-off values kept as computed)."""
    evecs: Float[Array, "n n"]
    """Orthonormal eigenvectors, one per column."""


class CholeskyFactor(NamedTuple):
    """Lower Cholesky factor of a regularised train-train kernel."""

    lower: Float[Array, "n n"]
    """``L`` with ``L @ L.T`` the regularised kernel."""


@functools.partial(jax.jit, static_argnames="absolute")
def _eigh(k2d, diag_reg, absolute):
    reg = regularize(k2d, diag_reg, absolute)
    evals, evecs = jnp.linalg.eigh(reg, symmetrize_input=True)
    # The verdict is computed here, compiled, so the host reads back one flag.
    bad = ~jnp.all(jnp.isfinite(evals)) | (jnp.min(evals) < -negative_tolerance(evals))
    return evals, evecs, jnp.trace(k2d) / k2d.shape[0], bad


@functools.partial(jax.jit, static_argnames="absolute")
def _cholesky(k2d, diag_reg, absolute):
    reg = regularize(k2d, diag_reg, absolute)
    # Only the lower triangle is read (as jax.scipy's cho_factor, which NT
    # used): symmetrising first would cost a full pass over the kernel.
    lower = jnp.linalg.cholesky(reg, symmetrize_input=False)
    return lower, ~jnp.all(jnp.isfinite(lower))


@functools.partial(jax.jit, static_argnames="absolute")
def _eigvalsh(k2d, diag_reg, absolute):
    return jnp.linalg.eigvalsh(regularize(k2d, diag_reg, absolute))


def negative_tolerance(evals: jax.Array) -> jax.Array:
    """Largest |negative eigenvalue| still attributed to round-off."""
    n = evals.shape[-1]
    eps = jnp.finfo(evals.dtype).eps
    return ROUNDOFF_SAFETY * n * eps * jnp.max(jnp.abs(evals))


def _raise_not_psd(name, evals, mean_diag, diag_reg, absolute, factorization, dtype):
    evals = np.asarray(evals, dtype=np.float64)
    finite = bool(np.all(np.isfinite(evals))) and math.isfinite(mean_diag)
    raise NotPositiveDefiniteError(
        name,
        min_eigenvalue=float(evals.min()) if finite else math.nan,
        max_eigenvalue=float(evals.max()) if finite else math.nan,
        mean_diagonal=float(mean_diag) if finite else math.nan,
        diag_reg=float(diag_reg),
        diag_reg_absolute_scale=absolute,
        eps=float(np.finfo(dtype).eps),
        factorization=factorization,
    )


def psd_eigh(
    k2d: Float[Array, "n n"],
    diag_reg: float,
    absolute: bool,
    *,
    name: str = "k_train_train",
) -> EigenBasis:
    """Eigendecomposition of ``k2d + reg``, refusing kernels that are not PSD.

    Eigenvalues down to ``-ROUNDOFF_SAFETY * n * eps * max|lambda|`` count as
    round-off and are accepted (the spectral functions treat them as zero).

    Raises:
      NotPositiveDefiniteError: the kernel has non-finite entries or a clearly
        negative eigenvalue; the message suggests a `diag_reg`.
    """
    if is_concrete(k2d, diag_reg):
        # Read the verdict back inside the limit: dispatch is asynchronous, and
        # the factorisation must not finish on the unlimited pool.
        with blas_threads_for(k2d.shape[0]):
            evals, evecs, mean_diag, bad = _eigh(k2d, diag_reg, absolute)
            bad = bool(bad)
        if bad:
            _raise_not_psd(
                name,
                evals,
                float(mean_diag),
                diag_reg,
                absolute,
                "eigendecomposition",
                k2d.dtype,
            )
        return EigenBasis(evals, evecs)
    evals, evecs, _, bad = _eigh(k2d, diag_reg, absolute)
    evals = eqx.error_if(
        evals,
        bad,
        f"`{name}` is not positive semi-definite (or has NaN entries); "
        "raise `diag_reg`.",
    )
    return EigenBasis(evals, evecs)


def try_cholesky(
    k2d: Float[Array, "n n"],
    diag_reg: float,
    absolute: bool,
    *,
    name: str = "k_train_train",
) -> CholeskyFactor | None:
    """Cholesky factor of ``k2d + reg``, or ``None`` if it does not exist.

    Inside a user's ``jit`` there is no ``None`` to return: a failure raises
    through ``equinox.error_if`` instead.
    """
    if is_concrete(k2d, diag_reg):
        with blas_threads_for(k2d.shape[0]):
            lower, bad = _cholesky(k2d, diag_reg, absolute)
            return None if bool(bad) else CholeskyFactor(lower)
    lower, bad = _cholesky(k2d, diag_reg, absolute)
    lower = eqx.error_if(
        lower,
        bad,
        f"`{name}` is not positive definite (Cholesky failed); raise `diag_reg`.",
    )
    return CholeskyFactor(lower)


def psd_cholesky(
    k2d: Float[Array, "n n"],
    diag_reg: float,
    absolute: bool,
    *,
    name: str = "k_train_train",
) -> CholeskyFactor:
    """Cholesky factor of ``k2d + reg``, with an actionable error on failure.

    Raises:
      NotPositiveDefiniteError: the factorisation failed (kernel not positive
        definite or non-finite); the message reports the extreme eigenvalues
        and suggests a `diag_reg`.
    """
    factor = try_cholesky(k2d, diag_reg, absolute, name=name)
    if factor is None:
        _raise_cholesky_failure(k2d, diag_reg, absolute, name)
    return factor


def _raise_cholesky_failure(k2d, diag_reg, absolute, name):
    # The spectrum, only computed on failure, makes the message actionable.
    with blas_threads_for(k2d.shape[0]):
        evals = np.asarray(_eigvalsh(k2d, diag_reg, absolute))
    mean_diag = float(jnp.trace(k2d) / k2d.shape[0])
    _raise_not_psd(
        name, evals, mean_diag, diag_reg, absolute, "Cholesky factor", k2d.dtype
    )


class LazyFactors:
    """One regularised train-train kernel, factorised on demand, each way once.

    Predictors need a Cholesky factor for ``t=None`` (kernel ridge regression,
    as cheap as Neural Tangents) and an eigendecomposition for finite times
    (all times share it); a user who asks only one kind of question never pays
    for the other. Failures surface on first use, as the checked errors of
    `psd_eigh` / `psd_cholesky`.
    """

    def __init__(
        self, k2d: Float[Array, "n n"], diag_reg: float, absolute: bool, *, name: str
    ):
        self.k2d = k2d
        self.diag_reg = diag_reg
        self.absolute = absolute
        self.name = name

    @functools.cached_property
    def eigen(self) -> EigenBasis:
        """Eigendecomposition; raises `NotPositiveDefiniteError` if not PSD."""
        return psd_eigh(self.k2d, self.diag_reg, self.absolute, name=self.name)

    @functools.cached_property
    def cholesky(self) -> CholeskyFactor | None:
        """Cholesky factor, ``None`` when the kernel is not positive definite."""
        return try_cholesky(self.k2d, self.diag_reg, self.absolute, name=self.name)

    def require_cholesky(self) -> CholeskyFactor:
        """Cholesky factor; raises `NotPositiveDefiniteError` if there is none."""
        factor = self.cholesky
        if factor is None:
            _raise_cholesky_failure(self.k2d, self.diag_reg, self.absolute, self.name)
        return factor


def cho_solve(factor: CholeskyFactor, b: jax.Array) -> jax.Array:
    """``(L L^T)^{-1} b`` for `b` of shape ``(n, ...)``."""
    return jsl.cho_solve((factor.lower, True), b)


def call_with_blas_limit(n: int, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, finished under `blas_threads_for` ``(n)``.

    For computations that run BLAS/LAPACK on an order-`n` matrix (triangular
    solves through OpenBLAS's ``?trsm`` stall under CPU contention like the
    factorisations do). The result is waited for, so that the limit covers the
    whole computation; traced arguments (a user's ``jit``) are passed through.
    """
    if not is_concrete(*jax.tree.leaves((args, kwargs))):
        return fn(*args, **kwargs)
    with blas_threads_for(n):
        return jax.block_until_ready(fn(*args, **kwargs))


def flow_expm1(
    evals: Float[Array, " n"], times: Float[Array, " T"], n_outputs: int
) -> Float[Array, "T n"]:
    """``exp(-lam t / N) - 1``: relative change of each residual direction.

    ``-1`` at ``t = inf`` for ``lam > 0``; ``0`` for ``lam <= 0`` at any time.
    """
    positive = evals > 0
    lam = jnp.where(positive, evals, 1)
    # t = inf is the limit -1, set directly: through expm1 its gradient with
    # respect to the kernel would be 0 * inf = NaN.
    finite = jnp.isfinite(times)[:, None]
    t = jnp.where(finite, times[:, None], 0)
    x = jnp.where(finite, jnp.expm1(-lam[None, :] * t / n_outputs), -1)
    return jnp.where(positive[None, :], x, 0)


def flow_decay(
    evals: Float[Array, " n"], times: Float[Array, " T"], n_outputs: int
) -> Float[Array, "T n"]:
    """``exp(-lam t / N)``, 1 for directions with ``lam <= 0``."""
    return 1 + flow_expm1(evals, times, n_outputs)


def flow_growth(
    evals: Float[Array, " n"], times: Float[Array, " T"], n_outputs: int
) -> Float[Array, "T n"]:
    """``(1 - exp(-lam t / N)) / lam``: the kernel-inverse factor of the flow.

    Tends to ``1 / lam`` as ``t -> inf`` (the ridge solution) and is 0 for
    ``lam <= 0``, Neural Tangents' convention for clipped eigenvalues.
    """
    positive = evals > 0
    lam = jnp.where(positive, evals, 1)
    return -flow_expm1(evals, times, n_outputs) / lam[None, :]


def apply_flow(basis_vecs, coeffs, rhs, rows):
    """``rows @ V @ (coeffs * rhs)`` for every time, in the cheaper order.

    Args:
      basis_vecs: eigenvectors ``V``, ``(n, n)``.
      coeffs: spectral factors, ``(T, n)``.
      rhs: residual in the eigenbasis, ``(n, c)``.
      rows: ``(m, n)`` kernel rows mapping train to the outputs asked for, or
        ``None`` for the identity (train outputs).

    Returns:
      ``(T, m, c)``.
    """
    weighted = coeffs[:, :, None] * rhs[None, :, :]  # (T, n, c)
    if rows is None:
        return jnp.einsum("ij,tjc->tic", basis_vecs, weighted)
    m = rows.shape[0]
    t_c = weighted.shape[0] * weighted.shape[2]
    # rows @ V costs m n^2 once; V @ weighted costs n^2 T c: pick the smaller.
    if m <= t_c:
        return jnp.einsum("ij,tjc->tic", rows @ basis_vecs, weighted)
    return jnp.einsum(
        "ij,tjc->tic", rows, jnp.einsum("ij,tjc->tic", basis_vecs, weighted)
    )
