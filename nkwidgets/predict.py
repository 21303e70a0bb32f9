"""Predictions of infinitely wide and linearised networks: ``nkwidgets.predict``.

A drop-in for ``neural_tangents.predict`` 0.6.5 on current JAX: the same
functions, argument names, defaults and return conventions, so
``import neural_tangents as nt; nt.predict.X`` ports by changing the import.

* :func:`gradient_descent_mse`: closed-form gradient flow on MSE, any times.
* :func:`gradient_descent_mse_ensemble`: mean and covariance over random
  initialisations (NNGP / NTK ensembles), from a ``kernel_fn``.
* :func:`gp_inference`: exact NNGP / NTK / NTK-GP posteriors.
* :func:`gradient_descent`: any loss, with or without momentum, by an adaptive
  ODE solver (diffrax).
* :func:`max_learning_rate`: the largest stable MSE learning rate.

Beyond Neural Tangents: metrics for predictions (:func:`accuracy`,
:func:`mean_squared_error`, :func:`gaussian_nll`,
:func:`posterior_class_probabilities`, :func:`expected_calibration_error`) and
:func:`select_diag_reg` (leave-one-out or marginal likelihood). Kernels that
cannot be factorised raise :class:`NotPositiveDefiniteError`, which suggests a
``diag_reg``.

.. warning::
  ``trace_axes`` must match how the kernels were computed: the ``trace_axes``
  of an empirical kernel, or the output ``channel_axis`` of a ``stax`` network.
"""

from nkwidgets._predict._ensemble import (
    gradient_descent_mse_ensemble as gradient_descent_mse_ensemble,
)
from nkwidgets._predict._errors import (
    NotPositiveDefiniteError as NotPositiveDefiniteError,
)
from nkwidgets._predict._errors import ODESolverError as ODESolverError
from nkwidgets._predict._gp import gp_inference as gp_inference
from nkwidgets._predict._learning_rate import max_learning_rate as max_learning_rate
from nkwidgets._predict._metrics import DiagRegSelection as DiagRegSelection
from nkwidgets._predict._metrics import accuracy as accuracy
from nkwidgets._predict._metrics import (
    expected_calibration_error as expected_calibration_error,
)
from nkwidgets._predict._metrics import gaussian_nll as gaussian_nll
from nkwidgets._predict._metrics import mean_squared_error as mean_squared_error
from nkwidgets._predict._metrics import (
    posterior_class_probabilities as posterior_class_probabilities,
)
from nkwidgets._predict._metrics import select_diag_reg as select_diag_reg
from nkwidgets._predict._mse import gradient_descent_mse as gradient_descent_mse
from nkwidgets._predict._ode import gradient_descent as gradient_descent
from nkwidgets._predict._types import Gaussian as Gaussian
from nkwidgets._predict._types import ODEState as ODEState
