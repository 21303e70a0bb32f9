"""Implementation of :mod:`nkwidgets.predict`; import from there, not from here."""
