"""Finite networks converging to their infinite-width NTK: ``nkwidgets.convergence``.

* :func:`width_convergence`: a :class:`~nkwidgets.compute.Job` that draws
  networks at each width, compares their empirical NTKs with the
  infinite-width NTK and publishes running Monte Carlo estimates as events
  (drawn live by :class:`nkwidgets.widgets.EmpiricalVsInfinite`).
* :func:`run_width_convergence`: the same, synchronously, for scripts.
* :func:`fit_power_law`: the error-weighted log-log fit behind the slope
  (theory: ``-1/2``).

References:
  Jacot, Gabriel, Hongler, `Neural Tangent Kernel: Convergence and
  Generalization in Neural Networks <https://arxiv.org/abs/1806.07572>`_, 2018.
"""

from nkwidgets._convergence._fit import PowerLawFit as PowerLawFit
from nkwidgets._convergence._fit import fit_power_law as fit_power_law
from nkwidgets._convergence._job import SWEEP_EVENT_KINDS as SWEEP_EVENT_KINDS
from nkwidgets._convergence._job import (
    run_width_convergence as run_width_convergence,
)
from nkwidgets._convergence._job import width_convergence as width_convergence
from nkwidgets._convergence._sweep import ConvergenceResult as ConvergenceResult
from nkwidgets._convergence._sweep import SweepError as SweepError
from nkwidgets._convergence._sweep import WidthPoint as WidthPoint
