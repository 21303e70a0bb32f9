"""Scoring predictions: accuracy, MSE, Gaussian NLL, calibration, `diag_reg` choice.

All functions accept leading axes in the predictions (e.g. the time axes of a
``predict_fn(t=ts, ...)`` result) and reduce only over the axes of the targets,
so ``accuracy(fx_test_t, y_test)`` gives one accuracy per time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Final, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from ._errors import NotPositiveDefiniteError
from ._layout import OutputLayout, make_2d
from ._linalg import ROUNDOFF_SAFETY, as_float, call_with_blas_limit
from ._types import Axes

_LOG_2PI: Final = math.log(2 * math.pi)


def _labels(y: jax.Array) -> jax.Array:
    """Integer labels from integer labels or one-hot / soft targets (argmax)."""
    if jnp.issubdtype(y.dtype, jnp.integer):
        return y
    return jnp.argmax(y, axis=-1)


def accuracy(fx: ArrayLike, y: ArrayLike) -> jax.Array:
    """Fraction of examples whose largest output is the target class.

    Args:
      fx: outputs, ``(*lead, *batch, C)``.
      y: targets, one-hot ``(*batch, C)`` or integer labels ``(*batch,)``.

    Returns:
      ``(*lead,)`` accuracies.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets import predict
      >>> fx = jnp.array([[[0.9, 0.1], [0.2, 0.8]], [[0.9, 0.1], [0.7, 0.3]]])
      >>> predict.accuracy(fx, jnp.array([[1.0, 0.0], [0.0, 1.0]]))
      Array([1. , 0.5], dtype=float32)
    """
    fx = jnp.asarray(fx)
    labels = _labels(jnp.asarray(y))
    pred = jnp.argmax(fx, axis=-1)
    hits = pred == jnp.broadcast_to(labels, pred.shape)
    axes = tuple(range(pred.ndim - labels.ndim, pred.ndim))
    return jnp.mean(hits.astype(as_float(fx).dtype), axis=axes)


def mean_squared_error(fx: ArrayLike, y: ArrayLike) -> jax.Array:
    """Mean of ``(fx - y)**2`` over the target's axes.

    Args:
      fx: outputs, ``(*lead, *y.shape)``.
      y: targets.

    Returns:
      ``(*lead,)`` mean squared errors (no factor 1/2).

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets import predict
      >>> predict.mean_squared_error(jnp.array([1.0, 3.0]), jnp.array([0.0, 0.0]))
      Array(5., dtype=float32)
    """
    fx = as_float(fx)
    y = as_float(y, fx.dtype)
    axes = tuple(range(fx.ndim - y.ndim, fx.ndim))
    return jnp.mean((fx - jnp.broadcast_to(y, fx.shape)) ** 2, axis=axes)


def _variances(mean: jax.Array, covariance: jax.Array) -> jax.Array:
    """Per-example variances ``(*lead, N)`` from ``(*lead, N, N)`` or ``(*lead, N)``."""
    if covariance.ndim == mean.ndim:
        return jnp.diagonal(covariance, axis1=-2, axis2=-1)
    if covariance.ndim == mean.ndim - 1:
        return covariance
    raise ValueError(
        f"`covariance` of shape {covariance.shape} does not fit `mean` of shape "
        f"{mean.shape}: expected (*lead, N, N) (a `Gaussian.covariance` with "
        f"`trace_axes=(-1,)`) or per-example variances (*lead, N)."
    )


def gaussian_nll(
    mean: ArrayLike,
    covariance: ArrayLike,
    y: ArrayLike,
    *,
    noise: float = 0.0,
) -> jax.Array:
    r"""Mean negative log-likelihood of targets under marginal Gaussian predictions.

    Each target entry :math:`y_{ic}` is scored under
    :math:`\mathcal N(\mu_{ic}, \sigma_i^2 + \text{noise})` with
    :math:`\sigma_i^2` the diagonal of the predictive covariance (shared by the
    output channels, as with ``trace_axes=(-1,)``):
    :math:`\frac12\log 2\pi s + \frac{(y - \mu)^2}{2 s}`, averaged.

    Args:
      mean: predictive mean ``(*lead, N, C)``, e.g. ``Gaussian.mean``.
      covariance: ``(*lead, N, N)`` (``Gaussian.covariance``) or variances
        ``(*lead, N)``.
      y: targets ``(N, C)``.
      noise: observation-noise variance added to every predictive variance
        (keyword only); posterior variances of a noise-free GP are 0 on the
        training points.

    Returns:
      ``(*lead,)`` average NLL per target entry, in nats.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets import predict
      >>> mean = jnp.zeros((2, 1))
      >>> round(float(predict.gaussian_nll(mean, jnp.eye(2), jnp.ones((2, 1)))), 4)
      1.4189
    """
    mean = as_float(mean)
    dtype = mean.dtype
    var = _variances(mean, as_float(covariance, dtype)) + noise
    y = jnp.broadcast_to(as_float(y, dtype), mean.shape)
    var = var[..., None]
    nll = 0.5 * (_LOG_2PI + jnp.log(var)) + (y - mean) ** 2 / (2 * var)
    return jnp.mean(nll, axis=(-2, -1))


def posterior_class_probabilities(
    mean: ArrayLike,
    covariance: ArrayLike,
    *,
    key: jax.Array,
    n_samples: int = 1000,
    temperature: float = 1.0,
) -> jax.Array:
    r"""Class probabilities of a Gaussian posterior over logits, by Monte Carlo.

    :math:`p_{ic} = \mathbb E\,\mathrm{softmax}(f_i / T)_c` with
    :math:`f_{ic} \sim \mathcal N(\mu_{ic}, \sigma_i^2)` independent across
    classes (the posterior of a kernel with ``trace_axes=(-1,)``). The Monte
    Carlo error of each probability is at most ``0.5 / sqrt(n_samples)``.

    Args:
      mean: posterior mean of the logits ``(*lead, N, C)``.
      covariance: ``(*lead, N, N)`` or variances ``(*lead, N)``.
      key: PRNG key (keyword only).
      n_samples: Monte Carlo samples.
      temperature: divides the logits before the softmax; tune it on held-out
        data as usual for calibration.

    Returns:
      ``(*lead, N, C)`` probabilities, each row summing to 1.
    """
    mean = as_float(mean)
    var = jnp.maximum(_variances(mean, as_float(covariance, mean.dtype)), 0)
    noise = jax.random.normal(key, (n_samples,) + mean.shape, mean.dtype)
    logits = mean[None] + jnp.sqrt(var)[None, ..., None] * noise
    return jnp.mean(jax.nn.softmax(logits / temperature, axis=-1), axis=0)


def expected_calibration_error(
    probabilities: ArrayLike, y: ArrayLike, *, n_bins: int = 10
) -> jax.Array:
    r"""Expected calibration error of classifier confidences.

    Examples are binned by confidence (the largest probability) into
    `n_bins` equal-width bins on [0, 1];
    :math:`\mathrm{ECE} = \sum_b \frac{|B_b|}{N}\,|\mathrm{acc}(B_b) -
    \mathrm{conf}(B_b)|`. For the NNGP posterior, pass
    ``posterior_class_probabilities(g.mean, g.covariance, key=key)`` with
    ``g = gp_inference(...)("nngp", k_test_train, k_test_test)``.

    Args:
      probabilities: ``(*lead, N, C)`` class probabilities.
      y: one-hot ``(N, C)`` or integer labels ``(N,)``.
      n_bins: number of confidence bins (keyword only).

    Returns:
      ``(*lead,)`` ECE values in [0, 1].

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets import predict
      >>> p = jnp.array([[0.9, 0.1], [0.6, 0.4]])
      >>> round(float(predict.expected_calibration_error(p, jnp.array([0, 1]))), 4)
      0.35

    References:
      Guo, Pleiss, Sun, Weinberger, `On Calibration of Modern Neural Networks
      <https://arxiv.org/abs/1706.04599>`_, 2017.
    """
    p = as_float(probabilities)
    labels = _labels(jnp.asarray(y))
    conf = jnp.max(p, axis=-1)
    hits = (jnp.argmax(p, axis=-1) == jnp.broadcast_to(labels, conf.shape)).astype(
        p.dtype
    )
    bins = jnp.clip(jnp.floor(conf * n_bins).astype(jnp.int32), 0, n_bins - 1)
    member = jax.nn.one_hot(bins, n_bins, dtype=p.dtype)  # (*lead, N, B)
    gap = jnp.einsum("...nb,...n->...b", member, hits - conf)
    return jnp.sum(jnp.abs(gap), axis=-1) / conf.shape[-1]


class DiagRegSelection(NamedTuple):
    """Result of :func:`select_diag_reg`."""

    diag_reg: float
    """The best candidate, in the units the candidates were given in."""
    candidates: np.ndarray
    """``(K,)`` the candidates, as given."""
    scores: np.ndarray
    """``(K,)`` score of each candidate (lower is better; ``inf`` when the
    regularised kernel is not positive definite)."""
    method: str
    """``"loo"`` (mean squared leave-one-out residual) or
    ``"marginal_likelihood"`` (negative log marginal likelihood per output)."""


@functools.partial(jax.jit, static_argnames="method")
def _scores(evals, evecs, y_flat, ridges, method):
    n, c = y_flat.shape
    y_tilde = evecs.T @ y_flat
    floor = ROUNDOFF_SAFETY * n * jnp.finfo(evals.dtype).eps * jnp.max(jnp.abs(evals))

    def score(ridge):
        lam = evals + ridge
        valid = jnp.min(lam) > floor
        inv = 1 / jnp.where(lam > floor, lam, 1)
        if method == "loo":
            alpha = evecs @ (inv[:, None] * y_tilde)  # (K + r)^{-1} y
            diag = (evecs**2) @ inv  # diag((K + r)^{-1})
            value = jnp.mean((alpha / diag[:, None]) ** 2)
        else:
            fit = jnp.sum(inv[:, None] * y_tilde**2)
            logdet = jnp.sum(jnp.log(jnp.where(lam > floor, lam, 1)))
            value = (0.5 * fit + 0.5 * c * logdet) / (n * c) + 0.5 * _LOG_2PI
        return jnp.where(valid, value, jnp.inf)

    return jax.vmap(score)(ridges)


def select_diag_reg(
    k_train_train: ArrayLike,
    y_train: ArrayLike,
    candidates: Sequence[float] | ArrayLike,
    method: Literal["loo", "marginal_likelihood"] = "loo",
    *,
    diag_reg_absolute_scale: bool = False,
    trace_axes: Axes = (-1,),
) -> DiagRegSelection:
    r"""Choose `diag_reg` by leave-one-out error or GP marginal likelihood.

    One eigendecomposition :math:`K = V \Lambda V^\top` serves every candidate
    ridge :math:`r`, with :math:`A = K + rI`:

    * ``"loo"``: kernel-ridge leave-one-out residuals in closed form,
      :math:`e_{ic} = (A^{-1}Y)_{ic} / (A^{-1})_{ii}`; score
      :math:`\mathrm{mean}\, e^2`.
    * ``"marginal_likelihood"``: negative log evidence of a GP with covariance
      ``K`` and noise variance ``r``, per output,
      :math:`\frac{1}{NC}\big[\tfrac12\sum_c y_c^\top A^{-1}y_c +
      \tfrac C2\log|A|\big] + \tfrac12\log 2\pi`.

    Candidates with a non-positive-definite :math:`A` score ``inf``. Runs in the
    kernel's dtype: float32 by default, float64 under ``jax_enable_x64``.

    Args:
      k_train_train: train-train kernel (zipped, trace axes left out).
      y_train: training targets.
      candidates: `diag_reg` values to try.
      method: ``"loo"`` or ``"marginal_likelihood"``.
      diag_reg_absolute_scale: as in :func:`gradient_descent_mse`: ``False``
        reads candidates relative to the mean diagonal (keyword only).
      trace_axes: output axes the kernel leaves out (keyword only).

    Returns:
      A :class:`DiagRegSelection` with the best candidate and all scores.

    Raises:
      NotPositiveDefiniteError: no candidate makes the kernel positive definite.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets import predict
      >>> x = jnp.linspace(-1, 1, 20)
      >>> k = jnp.exp(-((x[:, None] - x[None]) ** 2) / 0.1)
      >>> y = jnp.sin(3 * x)[:, None]
      >>> predict.select_diag_reg(k, y, [1e-6, 1e-3, 1.0]).diag_reg
      0.001

    References:
      Rasmussen, Williams, `Gaussian Processes for Machine Learning
      <http://gaussianprocess.org/gpml/>`_, 2006, sec. 5.4.1-5.4.2.
    """
    if method not in ("loo", "marginal_likelihood"):
        raise ValueError(
            f"`method` must be 'loo' or 'marginal_likelihood', got {method!r}."
        )
    k = as_float(k_train_train)
    dtype = k.dtype
    y = as_float(y_train, dtype)
    layout = OutputLayout.of(y.shape, trace_axes)
    train_nt = layout.non_trace_shape(y.shape)
    layout.check_kernel(k, "k_train_train", rows=train_nt, cols=train_nt)
    k2d = make_2d(k)
    cands = np.asarray(candidates, dtype=np.float64).reshape(-1)
    if cands.size == 0:
        raise ValueError("`candidates` is empty; pass at least one `diag_reg` value.")
    scale = 1.0 if diag_reg_absolute_scale else float(jnp.trace(k2d)) / k2d.shape[0]
    evals, evecs = call_with_blas_limit(k2d.shape[0], jnp.linalg.eigh, k2d)
    scores = np.asarray(
        _scores(
            evals, evecs, layout.flatten(y), jnp.asarray(cands * scale, dtype), method
        )
    )
    if not np.isfinite(scores).any():
        host = np.asarray(evals, np.float64)
        raise NotPositiveDefiniteError(
            "k_train_train",
            min_eigenvalue=float(host.min() + cands.max() * scale),
            max_eigenvalue=float(host.max() + cands.max() * scale),
            mean_diagonal=float(jnp.trace(k2d)) / k2d.shape[0],
            diag_reg=float(cands.max()),
            diag_reg_absolute_scale=diag_reg_absolute_scale,
            eps=float(np.finfo(np.dtype(dtype)).eps),
        )
    best = int(np.argmin(np.where(np.isfinite(scores), scores, np.inf)))
    return DiagRegSelection(float(cands[best]), cands, scores, method)
