"""Errors raised by the predictors.

Kept next to the predictors for now; they derive from the project base
:class:`nkwidgets.errors.NKError`, so they can move to ``nkwidgets/errors.py``
without changing what callers catch.
"""

from __future__ import annotations

import math
from typing import Final

from nkwidgets.errors import DOCS_ERRORS_URL, NKError

MSG_NOT_PSD: Final = (
    "`{name}` is not positive definite: the smallest eigenvalue of the "
    "regularised kernel (`diag_reg={diag_reg:g}` applied) is {min_eig:.3g}, "
    "against a largest eigenvalue of {max_eig:.3g} (mean diagonal {mean_diag:.3g}). "
    "A kernel matrix must be positive semi-definite; tiny negative eigenvalues "
    "come from round-off (float32 kernels, duplicated or near-duplicated training "
    "inputs), large ones from a function that is not a valid covariance. "
    "Fix: raise `diag_reg` to about {suggested:g} ({units}), or compute the kernel "
    "in float64 with `jax.config.update('jax_enable_x64', True)`."
)

MSG_NON_FINITE: Final = (
    "`{name}` contains NaN or infinite entries, so it has no {factorization}. "
    "No `diag_reg` can fix this: check the inputs that produced the kernel (NaN "
    "features, overflowing values) and the kernel function."
)

MSG_ODE: Final = (
    "The ODE solver for `gradient_descent` stopped early: {reason}. Fix: pass a "
    "larger `max_steps` (now {max_steps}), query smaller times `t`, or, for "
    "`t=None`/`inf` with a loss that has no finite minimiser (cross-entropy), "
    "ask for a finite `t`."
)

# Aim the suggested regularisation at a condition number of 1/sqrt(eps): the
# usual compromise between stability of the solve and bias from the ridge.
_SUGGESTED_CONDITION_EXPONENT: Final = 0.5


def _round_up_two_significant(value: float) -> float:
    """Round up to two significant digits: a rough value should read as rough."""
    if value <= 0 or not math.isfinite(value):
        return value
    exponent = math.floor(math.log10(value)) - 1
    mantissa = math.ceil(value / 10**exponent - 1e-9)
    return float(f"{mantissa}e{exponent}")


def suggest_diag_reg(
    min_eig: float,
    max_eig: float,
    *,
    diag_reg: float,
    scale: float,
    eps: float,
) -> float:
    """A `diag_reg`, in the caller's units, that makes the kernel safely definite.

    Args:
      min_eig: smallest eigenvalue of the currently regularised kernel.
      max_eig: largest eigenvalue of the currently regularised kernel.
      diag_reg: the `diag_reg` already applied, in the caller's units.
      scale: what one unit of `diag_reg` adds to the diagonal (the mean diagonal
        for relative units, 1 for absolute ones).
      eps: machine epsilon of the kernel's dtype.

    Returns:
      A value rounded up to two significant digits.
    """
    reference = max(abs(max_eig), abs(min_eig), float(eps))
    target = eps**_SUGGESTED_CONDITION_EXPONENT * reference
    extra = max(target - min_eig, target)
    return _round_up_two_significant(diag_reg + extra / max(scale, eps))


class NotPositiveDefiniteError(NKError, ValueError):
    """A kernel matrix that had to be factorised is not positive (semi-)definite.

    Attributes:
      name: which argument held the kernel (e.g. ``"k_train_train"``).
      min_eigenvalue: smallest eigenvalue of the regularised kernel (NaN when the
        kernel has non-finite entries).
      max_eigenvalue: largest eigenvalue of the regularised kernel.
      suggested_diag_reg: a rough `diag_reg`, in the units the caller used, that
        makes the factorisation succeed; NaN when no regularisation helps.
    """

    def __init__(
        self,
        name: str,
        *,
        min_eigenvalue: float,
        max_eigenvalue: float,
        mean_diagonal: float,
        diag_reg: float,
        diag_reg_absolute_scale: bool,
        eps: float,
        factorization: str = "eigendecomposition",
    ):
        self.name = name
        self.min_eigenvalue = min_eigenvalue
        self.max_eigenvalue = max_eigenvalue
        finite = all(
            math.isfinite(v) for v in (min_eigenvalue, max_eigenvalue, mean_diagonal)
        )
        if finite:
            scale = 1.0 if diag_reg_absolute_scale else abs(mean_diagonal)
            self.suggested_diag_reg = suggest_diag_reg(
                min_eigenvalue,
                max_eigenvalue,
                diag_reg=diag_reg,
                scale=scale,
                eps=eps,
            )
            units = (
                "absolute units, as `diag_reg_absolute_scale=True` reads it"
                if diag_reg_absolute_scale
                else "relative to the mean diagonal, as "
                "`diag_reg_absolute_scale=False` reads it"
            )
            message = MSG_NOT_PSD.format(
                name=name,
                diag_reg=diag_reg,
                min_eig=min_eigenvalue,
                max_eig=max_eigenvalue,
                mean_diag=mean_diagonal,
                suggested=self.suggested_diag_reg,
                units=units,
            )
        else:
            self.suggested_diag_reg = math.nan
            message = MSG_NON_FINITE.format(name=name, factorization=factorization)
        super().__init__(f"{message} See {DOCS_ERRORS_URL}#not-positive-definite")


class ODESolverError(NKError, RuntimeError):
    """The adaptive ODE solver of `gradient_descent` did not reach the asked time."""

    def __init__(self, reason: str, *, max_steps: int):
        self.reason = reason
        super().__init__(
            MSG_ODE.format(reason=reason, max_steps=max_steps)
            + f" See {DOCS_ERRORS_URL}#ode-solver"
        )
