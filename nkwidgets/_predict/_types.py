"""Result and state containers shared by the predictors, and their type aliases."""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import jax
from jax.typing import ArrayLike

Axes = int | Sequence[int]
"""Output axes, e.g. ``trace_axes=(-1,)``; negative values count from the end."""

GetName = Literal["nngp", "ntk"]
"""Which infinite-width kernel a prediction uses."""

Get = GetName | Sequence[GetName] | None
"""One kernel name, several, or ``None`` for ``("nngp", "ntk")``."""

TimeLike = ArrayLike | None
"""Training time[s]: a scalar, an array of any shape, or ``None`` for infinity."""


class Gaussian(NamedTuple):
    """A ``(mean, covariance)`` pair, as Neural Tangents' ``predict.Gaussian``."""

    mean: jax.Array
    """``t.shape + output shape``: mean of the outputs (trace axes included)."""
    covariance: jax.Array
    """``t.shape + kernel shape``: covariance over the non-trace axes, zipped
    like the kernel (``(N, N)`` for ``trace_axes=(-1,)``); it is the same for
    every entry along the trace axes."""


class ODEState(NamedTuple):
    """Function-space state of `gradient_descent`, as Neural Tangents' ``ODEState``.

    Pass one as ``fx_train_or_state_0`` to get one back: useful to read the
    momentum variables or to resume training from a saved state. Build a fresh
    one as ``ODEState(fx_train_0, fx_test_0)``.
    """

    fx_train: jax.Array | None = None
    """``t.shape + y_train.shape``: outputs on the training set."""
    fx_test: jax.Array | None = None
    """``t.shape + test output shape``: outputs on the test set."""
    qx_train: jax.Array | None = None
    """Like ``fx_train``: velocity ``d fx_train / dt`` (momentum only)."""
    qx_test: jax.Array | None = None
    """Like ``fx_test``: velocity ``d fx_test / dt`` (momentum only)."""

    def replace(self, **changes: Any) -> ODEState:
        """A copy with ``changes`` applied (NT's dataclass spelling of ``_replace``)."""
        return self._replace(**changes)


@functools.cache
def _results_type(name: str, fields: tuple[str, ...]) -> type:
    # Cached so equal `get`s give the same class (results compare and pickle).
    return collections.namedtuple(name, fields)


def canonicalize_get(get: Get) -> tuple[bool, tuple[str, ...]]:
    """Normalise `get` to ``(was_a_single_string, names)``; ``None`` means both."""
    if get is None:
        return False, ("nngp", "ntk")
    single = isinstance(get, str)
    names = (get,) if single else tuple(get)
    if not names:
        raise ValueError("`get` must name at least one kernel, got an empty tuple.")
    names = tuple(str(g).lower() for g in names)
    if len(set(names)) != len(names):
        raise ValueError(f"`get` must not repeat a kernel, got {get!r}.")
    return single, names


def pack_by_get(values: dict[str, Any], single: bool, names: tuple[str, ...]) -> Any:
    """NT's return convention: one value for a string `get`, else a namedtuple.

    The namedtuple is called ``Gaussians`` and its fields follow `names`.
    """
    if single:
        return values[names[0]]
    return _results_type("Gaussians", names)(*(values[g] for g in names))
