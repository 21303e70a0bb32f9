"""Implementation of :mod:`nkwidgets.convergence`; import from there, not from here."""
