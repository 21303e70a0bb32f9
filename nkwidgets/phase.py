"""Phases of training and of signal propagation: ``nkwidgets.phase``.

Learning-rate phases of finite networks (Lewkowycz et al. 2020):

* :func:`ntk_top_eigenvalue`: :math:`\\lambda_0`, the top eigenvalue of
  :math:`\\Theta/n` (the full empirical NTK over all outputs divided by the
  number of training points, matching the loss
  :math:`\\frac{1}{2n}\\sum_i\\|f(x_i)-y_i\\|^2`), by Lanczos on NTK-vector
  products.
* :func:`critical_learning_rates`: :math:`2/\\lambda_0` (end of the lazy
  phase) and the paper's divergence bounds :math:`4/\\lambda_0` (two-layer
  linear network, proven) and :math:`12/\\lambda_0` (ReLU networks,
  empirical).
* :func:`learning_rate_sweep` (one model) and :func:`learning_rate_sweeps`
  (several, streaming events to a ``Job`` context for
  ``nkwidgets.widgets.PhasePlot``): train at :math:`\\eta\\lambda_0` on a
  grid, record loss and :math:`\\lambda_t`, label each run
  (:func:`classify_run`, :class:`Thresholds`) and measure where the phases
  change (:func:`phase_boundaries`).

Trainability of deep networks at initialization (Schoenholz et al. 2017;
Xiao, Pennington, Schoenholz 2020):

* :func:`order_chaos_diagram`: :math:`q^*`, :math:`\\chi_1`, depth scales
  :math:`\\xi_q, \\xi_c` and the NTK condition number at depth ``L`` on a
  :math:`(\\sigma_w^2, \\sigma_b^2)` grid, with the :math:`\\chi_1 = 1`
  line, for any activation (:class:`Activation`).

Live, in a notebook::

    job = Job(lambda ctx: learning_rate_sweeps(models, x, y, context=ctx))
    plot = PhasePlot(job)
    job.start()
"""

from nkwidgets._phase._classify import PHASES as PHASES
from nkwidgets._phase._classify import Phase as Phase
from nkwidgets._phase._classify import Thresholds as Thresholds
from nkwidgets._phase._classify import classify_run as classify_run
from nkwidgets._phase._classify import phase_boundaries as phase_boundaries
from nkwidgets._phase._order_chaos import ACTIVATIONS as ACTIVATIONS
from nkwidgets._phase._order_chaos import DIAGRAM_FIELDS as DIAGRAM_FIELDS
from nkwidgets._phase._order_chaos import Activation as Activation
from nkwidgets._phase._order_chaos import OrderChaosDiagram as OrderChaosDiagram
from nkwidgets._phase._order_chaos import order_chaos_diagram as order_chaos_diagram
from nkwidgets._phase._run import learning_rate_sweep as learning_rate_sweep
from nkwidgets._phase._run import learning_rate_sweeps as learning_rate_sweeps
from nkwidgets._phase._spectrum import CriticalRates as CriticalRates
from nkwidgets._phase._spectrum import (
    critical_learning_rates as critical_learning_rates,
)
from nkwidgets._phase._spectrum import ntk_top_eigenvalue as ntk_top_eigenvalue
from nkwidgets._phase._sweep import PhaseRun as PhaseRun
from nkwidgets._phase._sweep import PhaseSweep as PhaseSweep
