"""A power law fitted on log-log axes, with the standard error of its exponent."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from nkwidgets.errors import InputError


class PowerLawFit(NamedTuple):
    r"""``y ≈ exp(intercept) * x ** slope``, fitted to ``log y`` against ``log x``."""

    slope: float
    """The exponent; NaN with fewer than two points."""
    slope_stderr: float
    """Standard error of ``slope``; NaN when the data cannot give one."""
    intercept: float
    """``log y`` at ``x = 1``."""

    def __call__(self, x: npt.ArrayLike) -> np.ndarray:
        """The fitted curve at ``x``."""
        return np.exp(self.intercept) * np.asarray(x, np.float64) ** self.slope


def fit_power_law(
    x: npt.ArrayLike, y: npt.ArrayLike, y_stderr: npt.ArrayLike | None = None
) -> PowerLawFit:
    r"""Least-squares line through ``(log x, log y)``, weighted by the errors of ``y``.

    With standard errors :math:`s_i` of :math:`y_i`, the error of
    :math:`\log y_i` is :math:`\sigma_i = s_i / y_i` (delta method) and the
    weights are :math:`1 / \sigma_i^2`. The slope's standard error is
    :math:`\sqrt{[(X^T W X)^{-1}]_{11}}`, scaled up by
    :math:`\sqrt{\chi^2 / (k - 2)}` when the points scatter more than their
    errors say (more than two points, :math:`\chi^2 > k - 2`): a wrong model
    then widens the error bar instead of hiding behind small Monte Carlo
    errors. Without usable errors (``None``, or any :math:`s_i` that is NaN
    or zero, as after one sample) the fit is unweighted and the error comes
    from the residuals alone (NaN for two points).

    Args:
      x: positive abscissae (widths), at least two distinct values.
      y: positive ordinates (errors), same length.
      y_stderr: standard errors of ``y``, or ``None``.

    Returns:
      A :class:`PowerLawFit`.

    Examples:
      >>> fit = fit_power_law([1.0, 4.0, 16.0], [2.0, 1.0, 0.5])
      >>> round(fit.slope, 6), round(float(fit(64.0)), 6)
      (-0.5, 0.25)
    """
    lx = _log_positive(x, "x")
    ly = _log_positive(y, "y")
    if lx.shape != ly.shape:
        raise InputError(
            f"`x` has {lx.size} values and `y` {ly.size}; pass one `y` per `x`."
        )
    if np.unique(lx).size < 2:
        raise InputError(
            f"`x={np.exp(lx).tolist()}` needs at least two distinct values to fit a slope."
        )
    sigma = None
    if y_stderr is not None:
        s = np.asarray(y_stderr, np.float64).reshape(-1)
        if s.shape != lx.shape:
            raise InputError(
                f"`y_stderr` has {s.size} values for {lx.size} points; pass one per point."
            )
        if np.all(np.isfinite(s)) and np.all(s > 0):
            sigma = s / np.exp(ly)
    weights = np.ones_like(lx) if sigma is None else sigma**-2
    design = np.stack([np.ones_like(lx), lx], axis=1)
    normal = design.T @ (weights[:, None] * design)
    intercept, slope = np.linalg.solve(normal, design.T @ (weights * ly))
    residual = ly - intercept - slope * lx
    chi2 = float(np.sum(weights * residual**2))
    dof = lx.size - 2
    scale = 1.0 if sigma is not None else np.nan
    if dof > 0:
        reduced = chi2 / dof
        scale = max(1.0, reduced) if sigma is not None else reduced
    variance = np.linalg.inv(normal)[1, 1] * scale
    return PowerLawFit(float(slope), float(np.sqrt(variance)), float(intercept))


def _log_positive(values: npt.ArrayLike, name: str) -> np.ndarray:
    v = np.asarray(values, np.float64).reshape(-1)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise InputError(
            f"`{name}={v.tolist()}` must be finite and positive: a power law is "
            "fitted on log axes."
        )
    return np.log(v)
