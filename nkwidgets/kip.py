"""Dataset distillation by Kernel Inducing Points: ``nkwidgets.kip``.

* :func:`kip`: learn a few support images (and labels) whose kernel ridge
  regression predicts a dataset well, with gradients through ``kernel_fn``.
* :func:`kernel_ridge_accuracy`: score any support set the way KIP does.
* :class:`KipResult`, :class:`ScienceError`.

In a notebook, run it as a ``Job`` and watch it with
``nkwidgets.widgets.KipView``::

    job = Job(lambda ctx: kip(kernel_fn, x, y, 10, 300, 0.01, context=ctx))

References:
  Nguyen, Chen, Lee, `Dataset Meta-Learning from Kernel Ridge-Regression
  <https://arxiv.org/abs/2011.00050>`_, ICLR 2021.
"""

from nkwidgets._science._errors import ScienceError as ScienceError
from nkwidgets._science._kip import KipResult as KipResult
from nkwidgets._science._kip import kernel_ridge_accuracy as kernel_ridge_accuracy
from nkwidgets._science._kip import kip as kip
