"""Learning curves of kernel regression: test loss against training set size.

Bahri et al. (2021) explain neural scaling laws in the resolution-limited
regime by the kernel's spectrum: with eigenvalues decaying like ``k^-alpha``
and a target as rough as a draw from the kernel's own GP, the test loss of
kernel regression falls like ``D^-(alpha - 1)`` in the training set size ``D``.
The NNGP and the NTK of one network have different spectra, hence different
curves; :func:`learning_curve` measures both on the same subsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from jax.typing import ArrayLike

from ._errors import ScienceError
from ._kip import DEFAULT_REG
from ._krr import krr_predict_host
from ._spectrum import PowerLaw, fit_power_law


class LearningCurve(NamedTuple):
    """Test loss (and accuracy) of kernel regression per kernel and training size."""

    sizes: np.ndarray  # (n_sizes,) training set sizes D
    test_mse: dict[str, np.ndarray]  # kernel -> (n_sizes,) mean over repeats
    test_mse_std: dict[str, np.ndarray]  # kernel -> (n_sizes,) std over repeats
    test_accuracy: (
        dict[str, np.ndarray] | None
    )  # kernel -> (n_sizes,); None for 1 output
    fits: dict[str, PowerLaw]  # kernel -> power law of test_mse against sizes


def learning_curve(
    kernel_fn: Callable[..., Any],
    x_train: ArrayLike,
    y_train: ArrayLike,
    x_test: ArrayLike,
    y_test: ArrayLike,
    sizes: Sequence[int],
    *,
    get: str | Sequence[str] = ("nngp", "ntk"),
    reg: float = DEFAULT_REG,
    n_repeats: int = 3,
    seed: int = 0,
    fit_min: float | None = None,
    fit_max: float | None = None,
) -> LearningCurve:
    r"""Test MSE of converged kernel regression for growing training subsets.

    The kernels of the whole training pool and of the test set against it are
    computed once per ``get``; each size ``D`` then draws ``n_repeats`` random
    subsets of the pool (the same subsets for every kernel) and predicts

    .. math:: \hat y = K_{*D}\left(K_{DD} + \lambda\tfrac{\mathrm{tr}K_{DD}}{D}I\right)^{-1} y_D .

    A power law :math:`\mathrm{MSE} = A D^{-\alpha_D}` is fitted over
    ``[fit_min, fit_max]`` (default: all sizes).

    Args:
      kernel_fn: ``kernel_fn(x1, x2, get)``; ``x2=None`` means ``x1``.
      x_train: the pool of training inputs ``(n_pool, ...)``.
      y_train: its targets ``(n_pool, n_outputs)`` or ``(n_pool,)``.
      x_test: test inputs; y_test: their targets, shaped like ``y_train``'s.
      sizes: training set sizes, each at most ``n_pool``.
      get: kernels to compare, ``"nngp"`` and/or ``"ntk"``.
      reg: ridge relative to the mean diagonal of the training kernel.
      n_repeats: random subsets per size (averaged).
      seed: seed of the subset draws.
      fit_min: smallest size in the exponent fit.
      fit_max: largest size in the exponent fit.

    Returns:
      A :class:`LearningCurve`.

    References:
      Bahri, Dyer, Kaplan, Lee, Sharma, `Explaining Neural Scaling Laws
      <https://arxiv.org/abs/2102.06701>`_, 2021.
    """
    gets = (get,) if isinstance(get, str) else tuple(get)
    for g in gets:
        if g not in ("nngp", "ntk"):
            raise ScienceError(f"`get` entries must be 'nngp' or 'ntk', not {g!r}.")
    x_tr, y_tr, x_te, y_te = (np.asarray(a) for a in (x_train, y_train, x_test, y_test))
    y_tr = y_tr[:, None] if y_tr.ndim == 1 else y_tr
    y_te = y_te[:, None] if y_te.ndim == 1 else y_te
    if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise ScienceError(
            f"Inputs and targets differ in length (train {len(x_tr)} vs "
            f"{len(y_tr)}, test {len(x_te)} vs {len(y_te)}). Fix: pass matching pairs."
        )
    size_arr = np.asarray(sorted(set(int(s) for s in sizes)))
    if size_arr.size < 2 or size_arr[0] < 1 or size_arr[-1] > len(x_tr):
        raise ScienceError(
            f"`sizes={list(sizes)!r}` must hold at least two sizes between 1 and "
            f"the pool size {len(x_tr)}. Fix: e.g. sizes=[25, 50, 100, 200]."
        )
    if not isinstance(n_repeats, int) or n_repeats < 1:
        raise ScienceError(f"`n_repeats={n_repeats!r}` must be a positive integer.")

    rng = np.random.RandomState(seed)
    subsets = [
        [rng.choice(len(x_tr), d, replace=False) for _ in range(n_repeats)]
        for d in size_arr
    ]
    classify = y_tr.shape[1] > 1
    mse: dict[str, np.ndarray] = {}
    mse_std: dict[str, np.ndarray] = {}
    acc: dict[str, np.ndarray] = {}
    fits: dict[str, PowerLaw] = {}
    labels = np.argmax(y_te, axis=1)
    for g in gets:
        k_train = np.asarray(kernel_fn(x_tr, None, g))
        k_test = np.asarray(kernel_fn(x_te, x_tr, g))
        errors = np.empty((len(size_arr), n_repeats))
        hits = np.empty((len(size_arr), n_repeats))
        for i, rows in enumerate(subsets):
            for r, idx in enumerate(rows):
                fx = krr_predict_host(
                    k_train[np.ix_(idx, idx)], k_test[:, idx], y_tr[idx], reg
                )
                errors[i, r] = np.mean((fx - y_te) ** 2)
                hits[i, r] = np.mean(np.argmax(fx, axis=1) == labels)
        mse[g] = errors.mean(axis=1)
        mse_std[g] = errors.std(axis=1)
        acc[g] = hits.mean(axis=1)
        fits[g] = fit_power_law(mse[g], size_arr, x_min=fit_min, x_max=fit_max)
    return LearningCurve(
        sizes=size_arr,
        test_mse=mse,
        test_mse_std=mse_std,
        test_accuracy=acc if classify else None,
        fits=fits,
    )
