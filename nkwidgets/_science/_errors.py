"""The error the science tools raise for arguments they cannot work with."""

from __future__ import annotations

from nkwidgets.errors import NKError


class ScienceError(NKError, ValueError):
    """An argument of a science tool (KIP, spectra, parameterization sweeps) is unusable.

    The message names the argument, its value, what was expected and a fix.
    """
