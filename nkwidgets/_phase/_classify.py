"""Phase labels from recorded curves, and the learning rates where phases change.

Everything here is a pure function of a run's loss curve and top-eigenvalue
curve, with every threshold named in :class:`Thresholds`, so a label can be
recomputed (or re-thresholded) from saved curves without training again.

References:
  Lewkowycz, Bahri, Dyer, Sohl-Dickstein, Gur-Ari, `The large learning rate
  phase of deep learning: the catapult mechanism
  <https://arxiv.org/abs/2003.02218>`_, 2020, section 2 (the three phases).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..errors import InputError

Phase = Literal["lazy", "catapult", "divergent", "unresolved"]
PHASES: tuple[Phase, ...] = ("lazy", "catapult", "divergent", "unresolved")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The named thresholds that turn curves into phase labels.

    Attributes:
      divergence_factor: a run whose loss exceeds ``divergence_factor`` times
        its initial loss (or is not finite) has diverged and is stopped. A
        catapult's peak grows with width (about width times the initial loss
        at most, Lewkowycz et al. section 2.2): 1e6 leaves room for widths up
        to ~1e5 while catching real divergence within a few steps, as it
        grows geometrically.
      rise: the loss "rose" if its peak exceeds ``(1 + rise)`` times the
        initial loss. Lazy runs below :math:`2/\\lambda_0` decrease
        monotonically up to finite-width wiggles far below 5 %; a catapult's
        peak is several times the initial loss.
      lambda_drift: a lazy run's final top eigenvalue stays within
        ``lambda_drift`` of :math:`\\lambda_0` (relative). Wide networks
        move it by O(1/sqrt(width)); 20 % only rules out networks so narrow
        that features move at any learning rate.
    """

    divergence_factor: float = 1e6
    rise: float = 0.05
    lambda_drift: float = 0.2

    def __post_init__(self) -> None:
        for name in ("divergence_factor", "rise", "lambda_drift"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise InputError(
                    f"`Thresholds({name}={value!r})` must be a positive finite number."
                )
        if self.divergence_factor <= 1 + self.rise:
            raise InputError(
                f"`Thresholds(divergence_factor={self.divergence_factor!r})` must "
                f"exceed 1 + rise = {1 + self.rise}: a divergence threshold below "
                "the rise threshold would call every rising run divergent."
            )


def classify_run(
    loss: np.ndarray,
    lambdas: np.ndarray,
    lambda0: float,
    diverged: bool,
    thresholds: Thresholds = Thresholds(),
) -> Phase:
    """The phase of one run.

    * ``divergent``: the run was stopped (``diverged``), or its loss is not
      finite or ran past ``divergence_factor`` times the initial loss.
    * ``lazy``: the loss never rose above ``(1 + rise)`` times its initial
      value and the last top eigenvalue is within ``lambda_drift`` of
      ``lambda0``.
    * ``catapult``: the loss rose above ``(1 + rise)`` times its initial
      value and came back below the initial value by the last step.
    * ``unresolved``: anything else, e.g. a loss still on its way up or
      down when the step budget ran out (near :math:`2/\\lambda_0` or near
      the divergence point the phases take longest to show).

    Args:
      loss: the loss at every step, initial loss first.
      lambdas: the top eigenvalue where recorded; the last entry counts.
      lambda0: the top eigenvalue at initialization.
      diverged: whether training stopped the run for diverging.
      thresholds: the thresholds above.
    """
    loss = np.asarray(loss, np.float64)
    lambdas = np.asarray(lambdas, np.float64)
    if loss.ndim != 1 or loss.size < 2:
        raise InputError(
            f"`loss` must be a 1-D curve with the initial loss and at least one "
            f"step; got shape {loss.shape}."
        )
    initial = loss[0]
    if diverged or not np.all(np.isfinite(loss)):
        return "divergent"
    peak = loss.max()
    if peak > thresholds.divergence_factor * initial:
        return "divergent"
    rose = peak > (1.0 + thresholds.rise) * initial
    final_lambda = lambdas[-1] if lambdas.size else np.nan
    if not rose:
        drift = abs(final_lambda / lambda0 - 1.0)
        return "lazy" if drift <= thresholds.lambda_drift else "unresolved"
    return "catapult" if loss[-1] < initial else "unresolved"


def phase_boundaries(
    eta_lambda0: Sequence[float] | np.ndarray, phases: Sequence[str]
) -> tuple[float, float]:
    """Where the lazy phase ends and where divergence starts, in units of :math:`1/\\lambda_0`.

    Each boundary is the geometric mean of the two neighbouring grid points
    that straddle it (the grid is logarithmic): the end of the lazy phase lies
    between the last lazy rate below the first non-lazy one and that rate;
    divergence starts between the last non-divergent rate below the first
    divergent one and that rate. ``nan`` where the grid does not straddle a
    boundary.

    Args:
      eta_lambda0: the learning rates times :math:`\\lambda_0`.
      phases: the phase of each run.

    Returns:
      ``(lazy_end, divergence)``.

    Examples:
      >>> from nkwidgets.phase import phase_boundaries
      >>> phase_boundaries([1.0, 4.0, 9.0], ["lazy", "catapult", "divergent"])
      (2.0, 6.0)
    """
    rates = np.asarray(eta_lambda0, np.float64)
    if rates.ndim != 1 or rates.size != len(phases):
        raise InputError(
            f"`eta_lambda0` (shape {rates.shape}) and `phases` ({len(phases)} "
            "labels) must describe the same runs."
        )
    order = np.argsort(rates)
    rates = rates[order]
    labels = [phases[i] for i in order]

    def straddle(inside: set[str]) -> float:
        for i, label in enumerate(labels):
            if label not in inside:
                if i == 0:
                    return float("nan")
                return float(np.sqrt(rates[i - 1] * rates[i]))
        return float("nan")

    return straddle({"lazy"}), straddle({"lazy", "catapult", "unresolved"})
