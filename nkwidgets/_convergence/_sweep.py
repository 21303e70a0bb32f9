r"""The empirical NTK of finite networks against the infinite-width NTK, width by width.

At initialisation the empirical NTK :math:`\hat\Theta_n` of a network of width
:math:`n` fluctuates around the infinite-width NTK :math:`\Theta` with a
standard deviation of order :math:`n^{-1/2}` (Jacot et al. 2018), and its mean
differs from :math:`\Theta` by :math:`O(n^{-1})`. For each width the sweep
draws ``n_samples`` networks and keeps two Monte Carlo estimates:

* the mean relative Frobenius error of one network,
  :math:`E\,\|\hat\Theta_n - \Theta\|_F / \|\Theta\|_F \propto n^{-1/2}`, with
  its standard error over networks: the quantity whose slope on log-log axes
  is :math:`-1/2`;
* the running mean kernel :math:`\bar\Theta_n` (what the heatmap shows) and its
  relative error. Averaging ``s`` networks shrinks the fluctuation to
  :math:`(s n)^{-1/2}` until the :math:`O(n^{-1})` bias remains, so this error
  falls with both samples and width and is not a clean power of width.

Network ``s`` of width ``n`` is initialised like ``monte_carlo_kernel_fn``'s
``s``-th network with key ``jax.random.fold_in(key, n)``, so the running mean
kernel equals that estimator's mean.

This module is floor 2 (science): a generator of plain records; the Job that
publishes them as events is :mod:`._job`.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Generator, Sequence
from typing import Any, Final, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from nkwidgets._empirical._ntk import empirical_ntk_fn
from nkwidgets._empirical._types import NtkImplementation
from nkwidgets.errors import InputError, NKError

from ._fit import PowerLawFit, fit_power_law

Network = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]
NetworkAtWidth = Callable[[int], Network]

MSG_NOT_A_NETWORK: Final = (
    "`network_at_width({width})` returned {got}, not an `(init_fn, apply_fn, "
    "kernel_fn)` triple. Fix: pass a function of the width that builds the "
    "network, e.g. `lambda n: stax.serial(stax.Dense(n), stax.Relu(), "
    "stax.Dense(1))`."
)
MSG_KERNEL_SHAPE: Final = (
    "The infinite NTK of `x` at width {width} has shape {shape}, but the sweep "
    "compares {n} x {n} matrices (one entry per pair of examples). Fix: end the "
    "network with a readout to a vector per example (e.g. `stax.Flatten()` or "
    "`stax.GlobalAvgPool()` then `stax.Dense(k)`)."
)
MSG_ZERO_KERNEL: Final = (
    "The infinite NTK of `x` at width {width} is zero, so a relative error is "
    "undefined. Fix: use inputs that are not all zero, or a network with "
    "non-zero weight variance."
)


class SweepError(NKError, ValueError):
    """A width sweep was asked for something it cannot measure."""


class WidthPoint(NamedTuple):
    """The Monte Carlo estimates at one width after ``n_samples`` networks."""

    width: int
    n_samples: int
    error: float
    """Mean over networks of ``||K_emp - K_inf||_F / ||K_inf||_F``."""
    stderr: float
    """Standard error of ``error``; NaN for one network."""
    mean_kernel_error: float
    """``||mean(K_emp) - K_inf||_F / ||K_inf||_F``: error of the averaged kernel."""


class WidthStart(NamedTuple):
    """The sweep moved on to a width; ``infinite`` is its ``kernel_fn`` NTK."""

    width: int
    index: int
    infinite: np.ndarray  # (N, N) float64


class SampleStep(NamedTuple):
    """One more network at ``point.width``; ``mean_kernel`` is the running mean."""

    point: WidthPoint
    sample_error: float
    """This network's relative error."""
    mean_kernel: np.ndarray  # (N, N) float64; the sweep's buffer, copy to keep


class WidthEnd(NamedTuple):
    """A width is finished; ``fit`` is over every finished width (None below two)."""

    point: WidthPoint
    fit: PowerLawFit | None


Step = WidthStart | SampleStep | WidthEnd


@dataclasses.dataclass(frozen=True)
class ConvergenceResult:
    """Errors of finite networks against the infinite NTK, per width, and the fit.

    Arrays are ordered as ``widths``. ``fit`` is the power law of ``errors``
    against ``widths`` weighted by ``stderrs``; theory: slope ``-1/2``.
    """

    widths: np.ndarray  # (k,) int
    errors: np.ndarray  # (k,) mean relative Frobenius error of one network
    stderrs: np.ndarray  # (k,) standard errors of `errors`
    mean_kernel_errors: np.ndarray  # (k,) relative error of the averaged kernel
    n_samples: int
    fit: PowerLawFit | None
    mean_kernels: dict[int, np.ndarray]  # width -> (N, N) mean empirical NTK
    infinite_kernels: dict[int, np.ndarray]  # width -> (N, N) infinite NTK

    @property
    def slope(self) -> float:
        """Fitted exponent of the error in the width (NaN without a fit)."""
        return math.nan if self.fit is None else self.fit.slope

    @property
    def slope_stderr(self) -> float:
        """Standard error of :attr:`slope`."""
        return math.nan if self.fit is None else self.fit.slope_stderr

    def __repr__(self) -> str:
        rows = ", ".join(
            f"{w}: {e:.3g}±{s:.2g}"
            for w, e, s in zip(self.widths, self.errors, self.stderrs, strict=True)
        )
        return (
            f"ConvergenceResult(n_samples={self.n_samples}, errors={{{rows}}}, "
            f"slope={self.slope:.3f}±{self.slope_stderr:.3f})"
        )


def summarize(
    points: Sequence[WidthPoint],
    n_samples: int,
    mean_kernels: dict[int, np.ndarray],
    infinite_kernels: dict[int, np.ndarray],
) -> ConvergenceResult:
    """Collect finished widths into a :class:`ConvergenceResult` (a partial one too)."""
    return ConvergenceResult(
        widths=np.array([p.width for p in points], np.int64),
        errors=np.array([p.error for p in points], np.float64),
        stderrs=np.array([p.stderr for p in points], np.float64),
        mean_kernel_errors=np.array([p.mean_kernel_error for p in points], np.float64),
        n_samples=n_samples,
        fit=fit_points(points),
        mean_kernels=dict(mean_kernels),
        infinite_kernels=dict(infinite_kernels),
    )


def fit_points(points: Sequence[WidthPoint]) -> PowerLawFit | None:
    """The power law through the widths' errors, or None below two widths."""
    if len(points) < 2:
        return None
    return fit_power_law(
        [p.width for p in points], [p.error for p in points], [p.stderr for p in points]
    )


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """Validated inputs of a sweep; building it checks everything checkable up front."""

    networks: dict[int, Network]
    x: jax.Array
    n_samples: int
    key: jax.Array
    implementation: NtkImplementation | int
    vmap_axes: Any

    @property
    def widths(self) -> list[int]:
        return list(self.networks)

    @property
    def total(self) -> int:
        return len(self.networks) * self.n_samples

    @classmethod
    def build(
        cls,
        network_at_width: NetworkAtWidth,
        x: npt.ArrayLike,
        widths: Sequence[int],
        n_samples: int,
        key: jax.Array,
        implementation: NtkImplementation | int,
        vmap_axes: Any,
    ) -> SweepPlan:
        if not callable(network_at_width):
            raise SweepError(
                f"`network_at_width={network_at_width!r}` must be a function of the "
                "width, e.g. `lambda n: stax.serial(stax.Dense(n), stax.Relu(), "
                "stax.Dense(1))`."
            )
        checked = _check_widths(widths)
        if (
            isinstance(n_samples, bool)
            or not isinstance(n_samples, int | np.integer)
            or n_samples < 1
        ):
            raise SweepError(
                f"`n_samples={n_samples!r}` must be a positive integer, e.g. 8 "
                "(networks drawn per width; 2 or more give standard errors)."
            )
        array = _check_inputs(x)
        networks = {}
        for width in checked:
            network = network_at_width(width)
            if not (
                isinstance(network, tuple)
                and len(network) == 3
                and all(callable(f) for f in network)
            ):
                raise SweepError(
                    MSG_NOT_A_NETWORK.format(width=width, got=_brief(network))
                )
            networks[width] = network
        return cls(networks, array, int(n_samples), key, implementation, vmap_axes)


def _check_widths(widths: Sequence[int]) -> list[int]:
    try:
        values = [operator.index(w) for w in widths]
    except TypeError:
        raise SweepError(
            f"`widths={widths!r}` must be a sequence of positive integers, e.g. "
            "[64, 256, 1024]."
        ) from None
    if len(values) < 2 or len(set(values)) != len(values) or min(values) < 1:
        raise SweepError(
            f"`widths={values}` must hold at least two different positive integers "
            "(a slope needs two widths), e.g. [64, 256, 1024]."
        )
    return values


def _check_inputs(x: npt.ArrayLike) -> jax.Array:
    array = jnp.asarray(x)
    if array.ndim < 2 or array.shape[0] < 1:
        raise InputError(
            f"`x` has shape {array.shape}; expected (examples, features...) with at "
            "least one example, e.g. `digits(train=64).x_train`."
        )
    if not jnp.issubdtype(array.dtype, jnp.floating):
        array = array.astype(jnp.result_type(float))
    if not bool(jnp.all(jnp.isfinite(array))):
        raise InputError("`x` holds NaN or inf values; clean or impute them first.")
    return array


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _relative_error(kernel: np.ndarray, infinite: np.ndarray, norm: float) -> float:
    return float(np.linalg.norm(kernel - infinite) / norm)


def sweep(plan: SweepPlan) -> Generator[Step, None, None]:
    """Yield a :class:`WidthStart`, then a :class:`SampleStep` per network, then a
    :class:`WidthEnd`, for every width of ``plan`` in order.

    Accumulation is in NumPy float64 whatever the network's dtype, so running
    means of thousands of networks do not drift.
    """
    x = plan.x
    points: list[WidthPoint] = []
    for index, (width, (init_fn, apply_fn, kernel_fn)) in enumerate(
        plan.networks.items()
    ):
        infinite = np.asarray(kernel_fn(x, None, "ntk"), np.float64)
        n = x.shape[0]
        if infinite.shape != (n, n):
            raise SweepError(
                MSG_KERNEL_SHAPE.format(width=width, shape=infinite.shape, n=n)
            )
        norm = float(np.linalg.norm(infinite))
        if norm == 0.0:
            raise SweepError(MSG_ZERO_KERNEL.format(width=width))
        yield WidthStart(width, index, infinite)

        ntk_fn = empirical_ntk_fn(
            apply_fn, vmap_axes=plan.vmap_axes, implementation=plan.implementation
        )
        # The parameters' shapes depend on the width only, so one compiled
        # init serves every network of this width.
        init = jax.jit(lambda k, init_fn=init_fn: init_fn(k, x.shape)[1])
        key = jax.random.fold_in(plan.key, width)
        mean = np.zeros((n, n))
        errors: list[float] = []
        point = None
        for s in range(1, plan.n_samples + 1):
            # monte_carlo_kernel_fn's key schedule: split, then the init half.
            key, split = jax.random.split(key)
            init_key, _ = jax.random.split(split)
            kernel = np.asarray(ntk_fn(x, None, init(init_key)), np.float64)
            if kernel.shape != (n, n):
                raise SweepError(
                    MSG_KERNEL_SHAPE.format(width=width, shape=kernel.shape, n=n)
                )
            mean += (kernel - mean) / s
            errors.append(_relative_error(kernel, infinite, norm))
            stderr = float(np.std(errors, ddof=1) / math.sqrt(s)) if s > 1 else math.nan
            point = WidthPoint(
                width,
                s,
                float(np.mean(errors)),
                stderr,
                _relative_error(mean, infinite, norm),
            )
            yield SampleStep(point, errors[-1], mean)
        assert point is not None  # n_samples >= 1
        points.append(point)
        yield WidthEnd(point, fit_points(points))
