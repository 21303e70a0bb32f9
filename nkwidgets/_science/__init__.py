"""Kernel science (floor 2): dataset distillation, spectra and scaling, parameterizations.

Private modules; the public faces are ``nkwidgets.kip``, ``nkwidgets.spectrum``
and ``nkwidgets.parameterization``. Nothing here imports the compute floor or
Jupyter: long runs report progress to any object with ``emit(kind, **data)``
(a :class:`nkwidgets.compute.Job`'s context in notebooks).
"""
