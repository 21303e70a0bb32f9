"""Eigen-spectra of kernel matrices and power-law fits on log-log axes.

The eigenvalues of ``K / n`` on ``n`` samples estimate the eigenvalues of the
kernel's integral operator on the data distribution (Nyström); their power-law
decay ``lambda_k ~ k^-alpha`` sets the exponent of the learning curve of kernel
regression (Bahri, Dyer, Kaplan, Lee, Sharma 2021).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from jax.typing import ArrayLike

from ._errors import ScienceError

# A kernel matrix from a float32 kernel_fn is symmetric only to rounding; a
# relative asymmetry above this is a different matrix, not noise.
SYMMETRY_RTOL = 1e-4


class PowerLaw(NamedTuple):
    r"""A fitted power law :math:`y = A\,x^{-\alpha}` (``exponent`` is :math:`\alpha`)."""

    exponent: float  # alpha: positive for a decaying law
    amplitude: float  # A
    x_min: float  # the fitted range, inclusive
    x_max: float
    n_points: int  # points inside the range that entered the fit

    def __call__(self, x: ArrayLike) -> np.ndarray:
        """The fitted law at ``x``."""
        return self.amplitude * np.asarray(x, dtype=float) ** -self.exponent


def spectrum(
    kernel: Any, get: str | None = None, *, normalize: bool = True
) -> np.ndarray:
    r"""Eigenvalues of a kernel matrix, largest first.

    Args:
      kernel: an ``(n, n)`` kernel matrix of ``x`` with itself, or a
        ``Kernel`` / kernel namedtuple (then ``get`` picks the matrix).
      get: ``"nngp"`` or ``"ntk"`` when ``kernel`` holds both.
      normalize: divide by ``n``, so the values estimate the eigenvalues of the
        kernel's integral operator and compare across sample sizes.

    Returns:
      ``(n,)`` float64 eigenvalues, descending. Round-off can leave the
      smallest slightly negative; they are kept, not clipped.

    Examples:
      >>> import numpy as np
      >>> from nkwidgets.spectrum import spectrum
      >>> spectrum(np.diag([1.0, 4.0]), normalize=False)
      array([4., 1.])

    References:
      Bahri, Dyer, Kaplan, Lee, Sharma, `Explaining Neural Scaling Laws
      <https://arxiv.org/abs/2102.06701>`_, 2021 (Section 3).
    """
    k = _as_matrix(kernel, get)
    eigenvalues = np.linalg.eigvalsh((k + k.T) / 2)[::-1]
    return eigenvalues / k.shape[0] if normalize else eigenvalues


def fit_power_law(
    y: ArrayLike,
    x: ArrayLike | None = None,
    *,
    x_min: float | None = None,
    x_max: float | None = None,
) -> PowerLaw:
    r"""Least-squares fit of :math:`\log y = \log A - \alpha \log x` over a range.

    Args:
      y: positive values, e.g. :func:`spectrum` eigenvalues or test losses.
      x: where they were measured; ``None`` means ranks ``1, 2, ..., len(y)``
        (the eigenvalue index).
      x_min: smallest ``x`` in the fit (default: the smallest given).
      x_max: largest ``x`` in the fit (default: the largest given).

    Returns:
      A :class:`PowerLaw`; ``exponent`` is :math:`\alpha` (positive = decay).

    Examples:
      >>> import numpy as np
      >>> from nkwidgets.spectrum import fit_power_law
      >>> k = np.arange(1, 101)
      >>> round(fit_power_law(3.0 * k**-1.5).exponent, 6)
      1.5
    """
    y_arr = np.asarray(y, dtype=float)
    if y_arr.ndim != 1 or y_arr.size < 2:
        raise ScienceError(
            f"`y` has shape {y_arr.shape}; a power-law fit needs a 1-D array of at "
            "least two values."
        )
    x_arr = (
        np.arange(1, y_arr.size + 1, dtype=float) if x is None else np.asarray(x, float)
    )
    if x_arr.shape != y_arr.shape:
        raise ScienceError(
            f"`x` has shape {x_arr.shape} but `y` has {y_arr.shape}. Fix: one x per y."
        )
    lo = float(np.min(x_arr)) if x_min is None else float(x_min)
    hi = float(np.max(x_arr)) if x_max is None else float(x_max)
    inside = (x_arr >= lo) & (x_arr <= hi)
    if inside.sum() < 2:
        raise ScienceError(
            f"The range x_min={lo:g}, x_max={hi:g} holds {int(inside.sum())} of the "
            f"points (x from {x_arr.min():g} to {x_arr.max():g}); a fit needs two. "
            "Fix: widen the range."
        )
    bad = inside & ~((y_arr > 0) & (x_arr > 0) & np.isfinite(y_arr))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ScienceError(
            f"A log-log fit needs positive finite values, but y[{first}] = "
            f"{y_arr[first]:.3g} at x = {x_arr[first]:g} lies in the range. Kernel "
            "eigenvalues below round-off come out zero or negative. Fix: lower "
            f"`x_max` below {x_arr[first]:g}, or compute the kernel in float64."
        )
    slope, intercept = np.polyfit(np.log(x_arr[inside]), np.log(y_arr[inside]), 1)
    return PowerLaw(
        exponent=float(-slope),
        amplitude=float(np.exp(intercept)),
        x_min=lo,
        x_max=hi,
        n_points=int(inside.sum()),
    )


def _as_matrix(kernel: Any, get: str | None) -> np.ndarray:
    if hasattr(kernel, "_fields") or hasattr(kernel, "ntk"):
        if get not in ("nngp", "ntk"):
            raise ScienceError(
                f"`kernel` holds several matrices; `get={get!r}` must pick one: "
                "'nngp' or 'ntk'."
            )
        kernel = getattr(kernel, get)
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ScienceError(
            f"`kernel` has shape {k.shape}; a spectrum needs the square (n, n) "
            "kernel of x with itself. Fix: `kernel_fn(x, None, 'ntk')` (output "
            "axes traced, no spatial axes)."
        )
    if not np.all(np.isfinite(k)):
        raise ScienceError("`kernel` contains NaN or infinite entries.")
    scale = np.max(np.abs(k))
    if scale > 0 and np.max(np.abs(k - k.T)) > SYMMETRY_RTOL * scale:
        raise ScienceError(
            "`kernel` is not symmetric, so it is not the kernel of a dataset with "
            "itself. Fix: pass `kernel_fn(x, None, get)`, not a test x train block."
        )
    return k
