"""Kernel spectra and scaling laws: ``nkwidgets.spectrum``.

* :func:`spectrum`: eigenvalues of a kernel matrix (of ``K / n``), descending.
* :func:`fit_power_law`: log-log least squares over a chosen range.
* :func:`learning_curve`: test loss of kernel regression against training set
  size, NNGP and NTK side by side, with fitted exponents.
* :class:`PowerLaw`, :class:`LearningCurve`, :class:`ScienceError`.

References:
  Bahri, Dyer, Kaplan, Lee, Sharma, `Explaining Neural Scaling Laws
  <https://arxiv.org/abs/2102.06701>`_, 2021.
"""

from nkwidgets._science._errors import ScienceError as ScienceError
from nkwidgets._science._learning_curve import LearningCurve as LearningCurve
from nkwidgets._science._learning_curve import learning_curve as learning_curve
from nkwidgets._science._spectrum import PowerLaw as PowerLaw
from nkwidgets._science._spectrum import fit_power_law as fit_power_law
from nkwidgets._science._spectrum import spectrum as spectrum
