"""What the infinite network predicts once an experiment's kernels are known.

One infinite ensemble per experiment (``predict.gradient_descent_mse_ensemble``,
one eigendecomposition per kernel) gives everything a reader asks of the
training run: test and train accuracy and MSE at every training time, on the
user's times and on a dense log grid a time slider can move along, and for a
few *probe* test points the per-class mean with its standard deviation over
random initialisations (the ensemble covariance).

The kernels were computed blockwise already; the ensemble is fed them through
:class:`_Precomputed`, a ``kernel_fn`` over row indices, so nothing is computed
twice.
"""

from __future__ import annotations

import dataclasses
import math
from collections import namedtuple
from typing import Any

import numpy as np

from ..data import Dataset

#: Default points of the dense time grid drawn by the prediction view.
CURVE_POINTS = 41


@dataclasses.dataclass(frozen=True)
class PredictSettings:
    """Predictions of the infinite network trained by gradient descent on MSE.

    ``t`` are training times (``math.inf`` = converged); ``diag_reg`` is added to
    the train kernel's diagonal relative to its mean diagonal, as in Neural
    Tangents. The default 1e-4 keeps float32 solves stable at ``t = inf``.
    ``probe_points`` are test indices whose per-class predictions are reported
    with their ensemble standard deviation (None: the first test point of each
    class); ``curve_points`` is the size of the dense log grid of times between
    the smallest and largest finite ``t``.
    """

    t: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, math.inf)
    learning_rate: float = 1.0
    diag_reg: float = 1e-4
    probe_points: tuple[int, ...] | None = None
    curve_points: int = CURVE_POINTS


def probe_indices(ds: Dataset, settings: PredictSettings) -> np.ndarray:
    """Test points whose predictions are shown with uncertainty."""
    n_test = len(ds.x_test)
    if settings.probe_points is not None:
        idx = np.asarray(settings.probe_points, dtype=int)
        bad = idx[(idx < 0) | (idx >= n_test)]
        if bad.size:
            raise ValueError(
                f"probe_points {bad.tolist()} are outside the {n_test} test points. "
                f"Fix: use indices 0 … {n_test - 1}."
            )
        return idx
    # One per class, so the view can show every class being learned.
    _, first = np.unique(ds.labels_test, return_index=True)
    return np.sort(first)[:10]


def curve_times(settings: PredictSettings) -> np.ndarray:
    """The user's times merged with a dense log grid between their finite extremes.

    Infinity, when asked for, stays the last entry.
    """
    t = np.asarray(settings.t, dtype=float)
    finite = t[np.isfinite(t) & (t > 0)]
    lo, hi = (finite.min(), finite.max()) if finite.size >= 2 else (1.0, 1e4)
    if hi <= lo:
        hi = lo * 1e4
    dense = np.geomspace(lo, hi, settings.curve_points)
    grid = np.union1d(dense, t[np.isfinite(t)])
    if np.isinf(t).any():
        grid = np.append(grid, math.inf)
    return grid


class _Precomputed:
    """A ``kernel_fn`` over index arrays that reads kernels computed earlier.

    Inputs are ``(n, 1)`` integer arrays: train rows are ``0 … n_train-1``, test
    rows ``n_train + i``; only the pairs the ensemble asks for exist.
    """

    def __init__(
        self,
        kernels: dict[str, dict[str, np.ndarray]],
        n_train: int,
        probe: np.ndarray,
        probe_nngp: np.ndarray | None,
    ):
        self.kernels = kernels
        self.n_train = n_train
        self.probe_pos = {int(i): p for p, i in enumerate(probe)}
        self.probe_nngp = probe_nngp

    def __call__(self, x1: Any, x2: Any, get: Any = None, **_: Any) -> Any:
        rows = np.asarray(x1)[:, 0]
        get_tuple = (get,) if isinstance(get, str) else tuple(get or ("nngp", "ntk"))
        parts = {g: self._part(g, rows, x2) for g in get_tuple}
        if isinstance(get, str):
            return parts[get]
        return namedtuple("Kernel", get_tuple)(*(parts[g] for g in get_tuple))

    def _part(self, g: str, rows: np.ndarray, x2: Any) -> np.ndarray | None:
        if g not in self.kernels:
            return None
        k = self.kernels[g]
        if x2 is None and rows[0] < self.n_train:
            return k["train_train"]
        if x2 is None:
            # Test x test: only the probes' NNGP prior is ever needed.
            pos = [self.probe_pos[int(r) - self.n_train] for r in rows]
            return (
                None if self.probe_nngp is None else self.probe_nngp[np.ix_(pos, pos)]
            )
        return k["test_train"][rows - self.n_train]


def predict_mse(
    kernels: dict[str, dict[str, np.ndarray]],
    ds: Dataset,
    settings: PredictSettings,
    probe_nngp: np.ndarray | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Predictions of gradient descent on MSE for each kernel in `kernels`.

    Args:
      kernels: ``{"nngp"|"ntk": {"train_train", "test_train"}}``.
      ds: the data the kernels belong to.
      settings: times, learning rate, ridge, probes.
      probe_nngp: NNGP among the probe points (``probe_indices``), ``(k, k)``;
        None: no standard deviations.

    Returns:
      Per kernel: at the user's times ``t``: ``fx_test (T, n_test, C)``,
      ``accuracy``, ``mse``, ``train_accuracy``, ``train_mse``; on the dense grid
      ``t_curve``: ``curve_accuracy``, ``curve_mse``, ``curve_train_accuracy``,
      ``curve_train_mse``; for the probes ``probe_index (k,)``, ``probe_mean
      (Tc, k, C)`` and, when the ensemble covariance is available (the NTK's needs
      the NNGP too), ``probe_std (Tc, k)``.
    """
    from .. import predict

    dtype = next(iter(kernels.values()))["train_train"].dtype
    n_train, n_test = len(ds.x_train), len(ds.x_test)
    probe = probe_indices(ds, settings)
    lookup = _Precomputed(kernels, n_train, probe, probe_nngp)
    train_rows = np.arange(n_train)[:, None]
    test_rows = n_train + np.arange(n_test)[:, None]
    probe_rows = n_train + probe[:, None]
    ensemble = predict.gradient_descent_mse_ensemble(
        lookup,
        train_rows,
        ds.y_train.astype(dtype),
        learning_rate=settings.learning_rate,
        diag_reg=settings.diag_reg,
    )
    t_user = np.asarray(settings.t, dtype=float)
    t_curve = curve_times(settings)
    at_user = np.searchsorted(t_curve, t_user)
    times = t_curve.astype(dtype)

    out: dict[str, dict[str, np.ndarray]] = {}
    for g in kernels:
        fx_test = np.asarray(ensemble(times, test_rows, g))
        fx_train = np.asarray(ensemble(times, None, g))
        test_acc, test_mse = _scores(fx_test, ds.labels_test, ds.y_test)
        train_acc, train_mse = _scores(fx_train, ds.labels_train, ds.y_train)
        result = {
            "t": t_user,
            "fx_test": fx_test[at_user],
            "accuracy": test_acc[at_user],
            "mse": test_mse[at_user],
            "train_accuracy": train_acc[at_user],
            "train_mse": train_mse[at_user],
            "t_curve": t_curve,
            "curve_accuracy": test_acc,
            "curve_mse": test_mse,
            "curve_train_accuracy": train_acc,
            "curve_train_mse": train_mse,
            "probe_index": probe,
            "probe_mean": fx_test[:, probe],
        }
        if probe_nngp is not None and "nngp" in kernels:
            gaussian = ensemble(times, probe_rows, g, compute_cov=True)
            cov = np.asarray(gaussian.covariance)
            variance = np.diagonal(cov, axis1=-2, axis2=-1)
            # Round-off can push a vanishing variance slightly below zero.
            result["probe_std"] = np.sqrt(np.clip(variance, 0.0, None))
        out[g] = result
    return out


def _scores(
    fx: np.ndarray, labels: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and MSE (mean over points and classes) at every time."""
    accuracy = (fx.argmax(-1) == labels[None, :]).mean(-1)
    mse = ((fx - y[None]) ** 2).mean((-2, -1))
    return accuracy, mse
