r"""Gradient-descent MSE predictions from features, in ``O(n D^2)``.

With features :math:`\Phi \in \mathbb R^{n \times D}` of the training set the
kernel is :math:`K = \Phi\Phi^\top`, and everything
``predict.gradient_descent_mse`` computes from the :math:`n \times n` kernel
follows from the :math:`D \times D` feature Gram :math:`G = \Phi^\top\Phi =
V \Lambda V^\top` (the non-zero eigenvalues of :math:`K` are those of
:math:`G`, with eigenvectors :math:`\Phi v_j / \sqrt{\lambda_j}`). With ridge
:math:`r`, :math:`N` = ``y_train.size`` and :math:`\tau = \eta t / N`,

.. math::
    f_t(x_*) = f_0(x_*) - \Phi_* V\,
        \mathrm{diag}\!\left(\frac{1 - e^{-(\lambda_j + r)\tau}}{\lambda_j + r}\right)
        V^\top \Phi^\top (f_0(X) - Y),

    f_t(X) = Y + e^{-r\tau}\,(f_0(X) - Y) - \Phi V\,
        \mathrm{diag}\!\left(\frac{e^{-r\tau} - e^{-(\lambda_j + r)\tau}}{\lambda_j}\right)
        V^\top \Phi^\top (f_0(X) - Y).

At :math:`t = \infty` the test formula is ridge regression in feature space,
:math:`\Phi_* (G + r I)^{-1} \Phi^\top (Y - f_0(X))`, solved by Cholesky in
:math:`O(n D^2 + D^3)` time. Only :math:`G` and :math:`\Phi^\top (Y - f_0)` are
needed, so the training set can stream through in batches
(:func:`gradient_descent_mse_streamed`): memory :math:`O(D^2)` whatever
:math:`n`.

References:
  Lee et al., `Wide Neural Networks of Any Depth Evolve as Linear Models Under
  Gradient Descent <https://arxiv.org/abs/1902.06720>`_, NeurIPS 2019 (the
  flow); Han et al., `Fast Neural Kernel Embeddings for General Activations
  <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022 (regression on features).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.linalg
from jax.typing import ArrayLike

from ..errors import InputError
from ._features import Features


class FeatureStatistics(NamedTuple):
    """What regression needs of a training set, accumulated batch by batch."""

    gram: jax.Array  # (D, D) Phi^T Phi
    cross: jax.Array  # (D, k) Phi^T (Y - f_0(X))
    n: int  # training examples
    n_outputs: int  # y_train.size, the N of the loss (1 / 2N) |f - Y|^2


@jax.jit
def _accumulate(gram, cross, phi, target):
    return gram + phi.T @ phi, cross + phi.T @ target


def on_host(a: Any) -> bool:
    """Whether ``a`` lives in host memory (NumPy, or a JAX array on the CPU).

    There the ``D x D`` algebra runs in NumPy: BLAS ``syrk`` forms
    ``Phi^T Phi`` with half the flops of XLA:CPU's general matmul, and LAPACK
    factors ``G + r I`` without compiling anything (the compilation of
    jnp.linalg's eager ops cost more than the solve at ``D ~ 2,000``).
    """
    devices = getattr(a, "devices", None)
    return devices is None or all(d.platform == "cpu" for d in devices())


def _accumulate_host(gram, cross, phi, target):
    phi, target = np.asarray(phi), np.asarray(target)
    # numpy sends `a.T @ a` of one buffer to syrk.
    gram += phi.T @ phi
    cross += phi.T @ target


def _as_2d(name: str, a: ArrayLike, dtype=None) -> jax.Array:
    a = jnp.asarray(a, dtype)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise InputError(
            f"`{name}` has shape {a.shape}; features and targets must be (n, D) "
            "and (n, k). Fix: flatten positions first (FlattenFeatures or "
            "GlobalAvgPoolFeatures) and read out with DenseFeatures."
        )
    return a


def feature_statistics(
    batches: Iterable[tuple[ArrayLike, ...]],
) -> FeatureStatistics:
    """Accumulate ``Phi^T Phi`` and ``Phi^T (Y - f_0)`` over batches of examples.

    Args:
      batches: iterable of ``(phi, y)`` or ``(phi, y, fx_0)`` with ``phi`` of
        shape ``(b, D)``, ``y`` and ``fx_0`` of shape ``(b, k)``; a generator
        that computes the features chunk by chunk (see :func:`feature_batches`)
        never holds more than one batch.
    """
    gram = cross = None
    n = n_outputs = 0
    for i, batch in enumerate(batches):
        if len(batch) not in (2, 3):
            raise InputError(
                f"batch {i} has {len(batch)} entries; expected (phi, y) or "
                "(phi, y, fx_0)."
            )
        phi = _as_2d("phi", batch[0])
        y = _as_2d("y", batch[1], phi.dtype)
        target = y if len(batch) == 2 else y - _as_2d("fx_0", batch[2], phi.dtype)
        if phi.shape[0] != y.shape[0]:
            raise InputError(
                f"batch {i}: {phi.shape[0]} feature rows but {y.shape[0]} targets."
            )
        if gram is None:
            d, k = phi.shape[1], y.shape[1]
            host = on_host(phi) and phi.dtype in (np.float32, np.float64)
            zeros = np.zeros if host else jnp.zeros
            gram = zeros((d, d), phi.dtype)
            cross = zeros((d, k), phi.dtype)
        elif phi.shape[1] != gram.shape[0] or y.shape[1] != cross.shape[1]:
            raise InputError(
                f"batch {i} has features of width {phi.shape[1]} and {y.shape[1]} "
                f"outputs; earlier batches had {gram.shape[0]} and {cross.shape[1]}. "
                "Fix: compute every batch with the same params."
            )
        if host:
            _accumulate_host(gram, cross, phi, target)
        else:
            gram, cross = _accumulate(gram, cross, phi, target)
        n += phi.shape[0]
        n_outputs += y.size
    if gram is None:
        raise InputError("`batches` was empty; pass at least one (phi, y) batch.")
    return FeatureStatistics(jnp.asarray(gram), jnp.asarray(cross), n, n_outputs)


def feature_batches(
    feature_fn: Callable[..., Features],
    params: Any,
    x: ArrayLike,
    batch_size: int,
    get: str = "ntk",
) -> Iterator[jax.Array]:
    """Features of ``x`` computed ``batch_size`` rows at a time (jitted once).

    ``x`` may be any sliceable array, a NumPy memmap included, so data that do
    not fit in memory stream through. The last, smaller batch is padded to
    ``batch_size`` so the function compiles once, and cropped.
    """
    if get not in ("nngp", "ntk"):
        raise InputError(f"`get={get!r}` must be 'nngp' or 'ntk'.")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or batch_size < 1
    ):
        raise InputError(f"`batch_size={batch_size!r}` must be a positive integer.")
    fn = jax.jit(lambda xb, p: getattr(feature_fn(xb, p), f"{get}_feat"))
    # Checks that need concrete inputs (TaylorFeatures' sphere) run here,
    # since under jit the feature map sees only tracers.
    check_inputs = getattr(feature_fn, "check_inputs", None)
    n = len(x)
    for start in range(0, n, batch_size):
        xb = np.asarray(x[start : start + batch_size])
        if check_inputs is not None:
            check_inputs(xb, first_row=start)
        rows = xb.shape[0]
        if rows < batch_size:
            xb = np.concatenate([xb, np.repeat(xb[-1:], batch_size - rows, 0)])
        phi = fn(jnp.asarray(xb), params)
        yield phi.reshape(phi.shape[0], -1)[:rows]


def _ridge(
    stats: FeatureStatistics, diag_reg: float, absolute: bool, tail: ArrayLike
) -> float:
    """The ridge of ``K = Phi Phi^T + tail I``: ``diag_reg`` (scaled) plus ``tail``.

    The tail is kernel mass the features leave out (``TaylorFeatures``' high
    degrees); it sits on the training diagonal and vanishes between distinct
    points, so it enters exactly as ridge.
    """
    if diag_reg < 0:
        raise InputError(f"`diag_reg={diag_reg}` must be >= 0.")
    tail = float(tail)
    if not tail >= 0:
        raise InputError(
            f"`diagonal_tail={tail}` must be a finite number >= 0 (the kernel "
            "mass the features leave out, e.g. TaylorFeatures' params.ntk_tail)."
        )
    if absolute:
        return float(diag_reg) + tail
    # NT's convention: scaled by the mean diagonal of K = trace(G) / n + tail.
    return float(diag_reg) * (float(jnp.trace(stats.gram)) / stats.n + tail) + tail


def _cholesky_solve(g: jax.Array, c: jax.Array, ridge: float) -> jax.Array | None:
    """``(G + r I)^{-1} c`` by Cholesky; ``None`` if ``G + r I`` is not positive definite."""
    if on_host(g):
        g = np.asarray(g)
        try:
            # SciPy's LAPACK: ~3x faster than numpy.linalg's here.
            lower = scipy.linalg.cholesky(
                g + ridge * np.eye(g.shape[0], dtype=g.dtype),
                lower=True,
                check_finite=False,
            )
        except np.linalg.LinAlgError:
            return None
        solved = scipy.linalg.cho_solve(
            (lower, True), np.asarray(c), check_finite=False
        )
        return jnp.asarray(solved)
    lower = jnp.linalg.cholesky(g + ridge * jnp.eye(g.shape[0], dtype=g.dtype))
    if not bool(jnp.all(jnp.isfinite(lower))):
        return None
    return jsl.cho_solve((lower, True), c)


class _Solver:
    """The factorisations of ``G + r I``, each made once on first use."""

    def __init__(self, stats: FeatureStatistics, ridge: float):
        self.stats = stats
        self.ridge = ridge
        self._alpha = None
        self._eigen = None

    def alpha(self) -> jax.Array:
        """``(G + r I)^+ Phi^T (Y - f_0)``: Cholesky, or eigh if singular."""
        if self._alpha is None:
            c = self.stats.cross
            self._alpha = _cholesky_solve(self.stats.gram, c, self.ridge)
            if self._alpha is None:
                evals, evecs, keep = self.eigen()
                inv = jnp.where(
                    keep, 1.0 / jnp.where(keep, evals + self.ridge, 1.0), 0.0
                )
                self._alpha = evecs @ (inv[:, None] * (evecs.T @ c))
        return self._alpha

    def converged(self, phi: jax.Array, start: jax.Array) -> jax.Array:
        """``start + phi @ alpha``: converged outputs from those at ``t = 0``.

        On the host one BLAS product, not eager jnp ops compiled on first use.
        """
        alpha = self.alpha()
        if on_host(alpha) and on_host(phi) and on_host(start):
            out = np.asarray(start) + np.asarray(phi) @ np.asarray(alpha)
            return jnp.asarray(out)
        return start + phi @ alpha

    def eigen(self):
        if self._eigen is None:
            evals, evecs = jnp.linalg.eigh(self.stats.gram)
            # Directions the data never reach (rank < D, or rounding of a PSD
            # Gram) carry no signal; numpy.linalg.pinv's cutoff.
            cutoff = jnp.finfo(evals.dtype).eps * evals.shape[0] * jnp.max(evals)
            keep = evals > cutoff
            self._eigen = (jnp.where(keep, evals, 0.0), evecs, keep)
        return self._eigen


def _times(t: ArrayLike, learning_rate: float, n_outputs: int, dtype) -> jax.Array:
    tau = jnp.asarray(t, dtype) * learning_rate / n_outputs
    if bool(jnp.any(tau < 0)):
        raise InputError(f"times must be >= 0; got t={t}.")
    return tau


def _test_flow(solver: _Solver, phi_test, tau):
    """``Phi_* V diag((1 - e^{-(lam + r) tau}) / (lam + r)) V^T c``, times leading."""
    evals, evecs, keep = solver.eigen()
    lam = evals + solver.ridge
    proj = evecs.T @ solver.stats.cross  # (D, k)
    safe = jnp.where(keep | (lam > 0), lam, 1.0)
    growth = -jnp.expm1(-lam * tau[..., None]) / safe
    growth = jnp.where(keep | (solver.ridge > 0), growth, 0.0)  # (*t, D)
    right = growth[..., :, None] * proj  # (*t, D, k)
    return jnp.einsum("nd,de,...ek->...nk", phi_test, evecs, right)


def _train_flow(solver: _Solver, phi, residual, tau):
    """``e^{-(K + r) tau} (f_0 - Y)`` through the features, times leading."""
    evals, evecs, keep = solver.eigen()
    r = solver.ridge
    proj = evecs.T @ solver.stats.cross  # V^T Phi^T (Y - f0) = -V^T Phi^T residual
    # Without ridge the null directions never move: e^{-0 * inf} is 1, not NaN.
    decay = jnp.exp(-r * tau) if r > 0 else jnp.ones_like(tau)
    base = decay[..., None, None] * residual
    diff = decay[..., None] - jnp.exp(-(evals + r) * tau[..., None])
    coef = jnp.where(keep, diff / jnp.where(keep, evals, 1.0), 0.0)  # (*t, D)
    return base + jnp.einsum(
        "nd,de,...ek->...nk", phi, evecs, coef[..., :, None] * proj
    )


def gradient_descent_mse(
    phi_train: ArrayLike,
    y_train: ArrayLike,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    diagonal_tail: float = 0.0,
):
    r"""``predict.gradient_descent_mse`` on the kernel ``phi_train @ phi_train.T``.

    Same conventions as :func:`nkwidgets.predict.gradient_descent_mse` with
    ``trace_axes=(-1,)``, but from features: ``O(n D^2)`` time and
    ``O(n D + D^2)`` memory instead of ``O(n^3)`` and ``O(n^2)``.

    Args:
      phi_train: ``(n, D)`` training features (e.g. ``Features.ntk_feat`` of a
        network read out by ``DenseFeatures``).
      y_train: ``(n, k)`` targets.
      learning_rate: step size; only ``learning_rate * t`` matters.
      diag_reg: ridge added to the kernel's diagonal.
      diag_reg_absolute_scale: ``False`` scales ``diag_reg`` by the kernel's
        mean diagonal, as ``predict`` does.
      diagonal_tail: kernel mass on the training diagonal that the features
        leave out (``TaylorFeatures``' ``params.ntk_tail``): the kernel is
        ``phi @ phi.T + diagonal_tail * I`` on the training set and
        ``phi_test @ phi.T`` across, and the tail counts in the mean diagonal
        that scales ``diag_reg``.

    Returns:
      ``predict_fn(t=None, fx_train_0=0., fx_test_0=None, phi_test=None)``
      returning train outputs, test outputs (when ``fx_train_0 is None``) or
      both, with ``t``'s shape leading. ``t=None`` is the converged network
      (ridge regression, by Cholesky); other times use one ``D x D``
      eigendecomposition, made on first use. Unlike ``predict`` (whose
      ``t=None`` returns ``y_train`` as the train outputs), a rank-deficient
      kernel (``n > D`` without ridge) gives the true limit of the flow, the
      projection of the targets on the features' span.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets import sketch
      >>> phi = jnp.array([[1.0, 0.0], [0.6, 0.8]])
      >>> y = jnp.array([[1.0], [-1.0]])
      >>> predict_fn = sketch.gradient_descent_mse(phi, y)
      >>> print(predict_fn(None, None, 0.0, jnp.array([[0.8, 0.6]])).round(3))
      [[-0.4]]
    """
    phi = _as_2d("phi_train", phi_train)
    y = _as_2d("y_train", y_train, phi.dtype)
    stats = feature_statistics([(phi, y)])
    solver = _Solver(
        stats, _ridge(stats, diag_reg, diag_reg_absolute_scale, diagonal_tail)
    )

    def predict_fn(t=None, fx_train_0=0.0, fx_test_0=None, phi_test=None):
        """Train [and test] outputs at time[s] ``t``; see ``gradient_descent_mse``."""
        train = test = None
        f0 = None
        if fx_train_0 is not None:
            f0 = jnp.broadcast_to(jnp.asarray(fx_train_0, phi.dtype), y.shape)
        local = solver
        if f0 is not None and bool(jnp.any(f0 != 0)):
            # The flow starts from f0: refit the cross term on Y - f0 (same G).
            cross = phi.T @ (y - f0)
            local = _Solver(stats._replace(cross=cross), solver.ridge)
            if t is not None:
                local._eigen = solver.eigen()  # G is unchanged: share its eigh
        if fx_test_0 is not None:
            if phi_test is None:
                raise InputError("test outputs need `phi_test`, the test features.")
            pt = _as_2d("phi_test", phi_test, phi.dtype)
            g0 = jnp.broadcast_to(
                jnp.asarray(fx_test_0, phi.dtype), (pt.shape[0], y.shape[1])
            )
            if t is None:
                test = local.converged(pt, g0)
            else:
                tau = _times(t, learning_rate, stats.n_outputs, phi.dtype)
                test = g0 + _test_flow(local, pt, tau)
        if f0 is not None:
            residual = f0 - y
            if t is None:
                train = y if solver.ridge > 0 else local.converged(phi, f0)
            else:
                tau = _times(t, learning_rate, stats.n_outputs, phi.dtype)
                train = y + _train_flow(local, phi, residual, tau)
        if test is None:
            return train
        if train is None:
            return test
        return train, test

    return predict_fn


def gradient_descent_mse_streamed(
    batches: Iterable[tuple[ArrayLike, ...]] | FeatureStatistics,
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    diagonal_tail: float = 0.0,
):
    r"""Test predictions of gradient-descent MSE from a stream of training batches.

    The training set enters only through ``Phi^T Phi`` and ``Phi^T (Y - f_0)``
    (:func:`feature_statistics`), so memory is ``O(D^2)`` whatever ``n``.

    Args:
      batches: iterable of ``(phi, y)`` / ``(phi, y, fx_0)`` batches, or the
        :class:`FeatureStatistics` they were already reduced to.
      learning_rate, diag_reg, diag_reg_absolute_scale, diagonal_tail: as
        :func:`gradient_descent_mse`.

    Returns:
      ``predict_fn(t=None, phi_test, fx_test_0=0.)``: test outputs ``(*t.shape,
      n_test, k)`` (``t=None``: converged, by Cholesky).
    """
    stats = (
        batches
        if isinstance(batches, FeatureStatistics)
        else feature_statistics(batches)
    )
    solver = _Solver(
        stats, _ridge(stats, diag_reg, diag_reg_absolute_scale, diagonal_tail)
    )
    dtype = stats.gram.dtype

    def predict_fn(t=None, phi_test=None, fx_test_0=0.0):
        """Test outputs at time[s] ``t``; see ``gradient_descent_mse_streamed``."""
        if phi_test is None:
            raise InputError("`phi_test` (test features, (n_test, D)) is required.")
        pt = _as_2d("phi_test", phi_test, dtype)
        g0 = jnp.broadcast_to(
            jnp.asarray(fx_test_0, dtype), (pt.shape[0], stats.cross.shape[1])
        )
        if t is None:
            return solver.converged(pt, g0)
        tau = _times(t, learning_rate, stats.n_outputs, dtype)
        return g0 + _test_flow(solver, pt, tau)

    return predict_fn
