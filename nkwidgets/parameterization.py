"""Standard vs NTK parameterization: ``nkwidgets.parameterization``.

* :func:`compare_parameterizations`: a width sweep of finite ReLU networks in
  both parameterizations against their infinite-width kernels: empirical vs
  analytic NTK, largest stable learning rate, test accuracy after training.
* :func:`fc_network`: the ``stax`` network the sweep uses, with optional
  standard-parameterization width multipliers ``s``.
* :class:`ParameterizationComparison`, :class:`ScienceError`.

References:
  Sohl-Dickstein, Novak, Schoenholz, Lee, `On the infinite width limit of
  neural networks with a standard parameterization
  <https://arxiv.org/abs/2001.07301>`_, 2020.
"""

from nkwidgets._science._errors import ScienceError as ScienceError
from nkwidgets._science._parameterization import (
    ParameterizationComparison as ParameterizationComparison,
)
from nkwidgets._science._parameterization import (
    compare_parameterizations as compare_parameterizations,
)
from nkwidgets._science._parameterization import fc_network as fc_network
