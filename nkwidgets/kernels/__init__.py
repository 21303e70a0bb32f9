"""The kernel engine (floor 1): layers with finite-width apply and infinite-width kernels.

Users import layers from :mod:`nkwidgets.stax`; this package holds the
implementation in private modules, one layer family each.
"""
