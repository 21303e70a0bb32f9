"""Monte Carlo NNGP / NTK: averages of empirical kernels over random initialisations.

The infinite-width kernels are expectations over initialisations of the
empirical kernels of one network (times ``1 / width`` corrections that vanish
as width grows). Averaging ``n`` sampled networks estimates them; the sample
standard error shrinks as ``1 / sqrt(n)``. :func:`monte_carlo_kernel_fn` keeps
Neural Tangents 0.6.5's interface and sampling (same key splits), and adds the
standard errors and :meth:`MonteCarloKernelFn.stream`, which yields the running
estimate after every step, for live "finite width converging to infinite
width" plots.
"""

from __future__ import annotations

import collections
import functools
import inspect
from collections.abc import Generator, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._ntk import empirical_kernel_fn
from ._types import ApplyFn, Axes, NtkImplementation, PyTree, VMapAxes

InitFn = Any


class MonteCarloEstimate(NamedTuple):
    """A running Monte Carlo estimate.

    ``mean`` and ``stderr`` follow Neural Tangents' ``get`` convention: an
    array for a string ``get``, else a ``MonteCarloKernel`` namedtuple (per
    output leaf for pytree outputs).
    """

    n_samples: int
    """Networks averaged so far."""
    mean: Any
    """The estimate: mean of the sampled empirical kernels."""
    stderr: Any
    """Standard error of ``mean``: sample std (``ddof=1``) over ``sqrt(n_samples)``;
    NaN while ``n_samples < 2``."""


def _canonical_n_samples(n_samples: int | Iterable[int]) -> tuple[list[int], bool]:
    if isinstance(n_samples, int) and not isinstance(n_samples, bool):
        values, generator = [n_samples], False
    elif hasattr(n_samples, "__iter__"):
        values, generator = sorted(set(n_samples)), True
    else:
        raise TypeError(
            f"`n_samples={n_samples!r}` must be an int or an iterable of ints."
        )
    if not values or any(not isinstance(n, int) or n <= 0 for n in values):
        raise ValueError(
            f"`n_samples={n_samples!r}` must hold positive integers, e.g. 100 or [1, 10, 100]."
        )
    return values, generator


def _accepts_rng(fn: Any) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind == p.VAR_KEYWORD or p.name == "rng" for p in params)


class _Welford:
    """Running mean and sum of squared deviations, leaf by leaf (numerically stable)."""

    def __init__(self, on_device: bool):
        self.n = 0
        self.mean: Any = None
        self.m2: Any = None
        self.on_device = on_device

    def add(self, sample: dict[str, PyTree]) -> None:
        if not self.on_device:
            sample = jax.tree_util.tree_map(lambda v: np.asarray(v, np.float64), sample)
        self.n += 1
        if self.mean is None:
            self.mean = sample
            self.m2 = jax.tree_util.tree_map(lambda v: v * 0, sample)
            return
        n = self.n
        delta = jax.tree_util.tree_map(lambda x, m: x - m, sample, self.mean)
        self.mean = jax.tree_util.tree_map(lambda m, d: m + d / n, self.mean, delta)
        self.m2 = jax.tree_util.tree_map(
            lambda q, d, x, m: q + d * (x - m), self.m2, delta, sample, self.mean
        )

    def stderr(self) -> dict[str, PyTree]:
        n = self.n
        if n < 2:
            return jax.tree_util.tree_map(lambda q: q * np.nan, self.m2)
        return jax.tree_util.tree_map(lambda q: (q / (n - 1) / n) ** 0.5, self.m2)


class MonteCarloKernelFn:
    """``kernel_fn(x1, x2=None, get=None, **apply_fn_kwargs)``: NT's Monte Carlo sampler.

    Also :meth:`estimate` (mean and standard error) and :meth:`stream`
    (running estimates).
    """

    def __init__(
        self,
        init_fn,
        apply_fn,
        key,
        n_samples,
        batch_size,
        device_count,
        store_on_device,
        kernel_fn,
        reduced,
    ):
        self._batch_axis_reduced = reduced
        self._init_fn = init_fn
        self._kernel_fn = kernel_fn
        self._key = key
        self._n_samples, self._generator = _canonical_n_samples(n_samples)
        self._batch_size = int(batch_size)
        devices = jax.devices()
        self._devices = (
            devices
            if device_count in (-1, None)
            else devices[: max(int(device_count), 1)]
        )
        self._store_on_device = store_on_device
        self._rng = _accepts_rng(apply_fn)
        self._one = jax.jit(self._sample, static_argnames=("get",))

    def _sample(
        self,
        x1: PyTree,
        x2: PyTree | None,
        key: jax.Array,
        kwargs: dict,
        *,
        get: tuple[str, ...],
    ) -> dict:
        init_key, dropout_key = jax.random.split(key, 2)
        shape = jax.tree_util.tree_map(lambda v: v.shape, x1)
        _, params = self._init_fn(init_key, shape)
        if self._rng:
            kwargs = {"rng": dropout_key, **kwargs}
        out = self._kernel_fn(x1, x2, get, params, **kwargs)
        return {g: getattr(out, g) for g in get}

    def _blocked(
        self,
        x1: PyTree,
        x2: PyTree | None,
        key: jax.Array,
        kwargs: dict,
        get: tuple[str, ...],
    ) -> dict:
        """One network's kernels, in ``batch_size`` blocks of the leading axis."""
        b = self._batch_size
        n1 = jax.tree_util.tree_leaves(x1)[0].shape[0]
        n2 = n1 if x2 is None else jax.tree_util.tree_leaves(x2)[0].shape[0]
        device = self._devices[0]
        if b <= 0 or (b >= n1 and b >= n2):
            return self._one(x1, x2, key, kwargs, get=get)
        if n1 % b or n2 % b:
            raise ValueError(
                f"`batch_size={b}` must divide the number of examples of `x1` ({n1}) and `x2` ({n2})."
            )
        if self._batch_axis_reduced:
            raise ValueError(
                "`batch_size` splits the example axis (axis 0) into blocks, but it is in "
                "`trace_axes` or `diagonal_axes`. Fix: use `batch_size=0`."
            )

        def rows(x: PyTree, i: int) -> PyTree:
            return jax.tree_util.tree_map(lambda v: v[i * b : (i + 1) * b], x)

        blocks = {}
        for i in range(n1 // b):
            for j in range(n2 // b):
                device = self._devices[(i * (n2 // b) + j) % len(self._devices)]
                a = jax.device_put(rows(x1, i), device)
                c = (
                    None
                    if (x2 is None and i == j)
                    else jax.device_put(rows(x1 if x2 is None else x2, j), device)
                )
                blocks[(i, j)] = self._one(a, c, key, kwargs, get=get)
        # Gather on one device: blocks computed elsewhere cannot be concatenated.
        home = self._devices[0]
        blocks = {k: jax.device_put(v, home) for k, v in blocks.items()}
        return {g: _assemble(blocks, g, n1 // b, n2 // b) for g in get}

    def _names(self, get: Any) -> tuple[bool, tuple[str, ...]]:
        single = isinstance(get, str)
        names = ("nngp", "ntk") if get is None else ((get,) if single else tuple(get))
        return single, tuple(str(g).lower() for g in names)

    def _pack(
        self, values: dict[str, PyTree], single: bool, names: tuple[str, ...]
    ) -> Any:
        if single:
            return values[names[0]]
        cls = _mc_type(names)
        return jax.tree_util.tree_map(lambda *v: cls(*v), *[values[g] for g in names])

    def stream(
        self,
        x1: PyTree,
        x2: PyTree | None = None,
        get: Any = None,
        *,
        step: int = 1,
        **apply_fn_kwargs: Any,
    ) -> Generator[MonteCarloEstimate, None, None]:
        """Yield the running estimate after every ``step`` sampled networks, up to ``max(n_samples)``.

        Samples (and so estimates) are the same as :meth:`__call__`'s: the
        n-th network always comes from the n-th key split.
        """
        if not isinstance(step, int) or step < 1:
            raise ValueError(f"`step={step!r}` must be a positive integer.")
        single, names = self._names(get)
        acc = _Welford(self._store_on_device)
        key = self._key
        total = max(self._n_samples)
        for n in range(1, total + 1):
            key, split = jax.random.split(key)
            acc.add(self._blocked(x1, x2, split, apply_fn_kwargs, names))
            if n % step == 0 or n == total:
                yield MonteCarloEstimate(
                    n,
                    self._pack(acc.mean, single, names),
                    self._pack(acc.stderr(), single, names),
                )

    def estimate(
        self,
        x1: PyTree,
        x2: PyTree | None = None,
        get: Any = None,
        **apply_fn_kwargs: Any,
    ) -> MonteCarloEstimate:
        """The estimate from ``max(n_samples)`` networks, with its standard error."""
        *_, last = self.stream(
            x1, x2, get, step=max(self._n_samples), **apply_fn_kwargs
        )
        return last

    def __call__(
        self,
        x1: PyTree,
        x2: PyTree | None = None,
        get: Any = None,
        **apply_fn_kwargs: Any,
    ) -> Any:
        """Neural Tangents' return convention: the estimate, or a generator of estimates."""
        if not self._generator:
            return self.estimate(x1, x2, get, **apply_fn_kwargs).mean
        wanted = set(self._n_samples)

        def gen() -> Generator[Any, None, None]:
            for est in self.stream(x1, x2, get, **apply_fn_kwargs):
                if est.n_samples in wanted:
                    yield est.mean

        return gen()


def _assemble(blocks: dict, g: str, n_i: int, n_j: int) -> PyTree:
    """Concatenate kernel blocks along the two example axes (kernel axes 0 and 1)."""

    def leaf(*parts: jax.Array) -> jax.Array:
        grid = [[parts[i * n_j + j] for j in range(n_j)] for i in range(n_i)]
        return jnp.concatenate([jnp.concatenate(row, axis=1) for row in grid], axis=0)

    ordered = [blocks[(i, j)][g] for i in range(n_i) for j in range(n_j)]
    return jax.tree_util.tree_map(leaf, *ordered)


@functools.cache
def _mc_type(names: tuple[str, ...]) -> type:
    # Cached so equal `get`s give one class (results compare and pickle).
    return collections.namedtuple("MonteCarloKernel", names)


def monte_carlo_kernel_fn(
    init_fn: InitFn,
    apply_fn: ApplyFn,
    key: jax.Array,
    n_samples: int | Iterable[int],
    batch_size: int = 0,
    device_count: int = -1,
    store_on_device: bool = True,
    trace_axes: Axes = (-1,),
    diagonal_axes: Axes = (),
    vmap_axes: VMapAxes = None,
    implementation: NtkImplementation | int = NtkImplementation.AUTO,
    _j_rules: bool = True,
    _s_rules: bool = True,
    _fwd: bool | None = None,
    *,
    memory_budget: int | None = None,
) -> MonteCarloKernelFn:
    r"""Monte Carlo estimates of the NNGP and NTK of a network family, with standard errors.

    .. math:: \hat K = \frac{1}{n} \sum_{s=1}^{n} K^{\mathrm{emp}}_{\theta_s},
       \qquad \theta_s \sim \mathrm{init\_fn}(\mathrm{key}_s).

    Neural Tangents 0.6.5's ``monte_carlo_kernel_fn``, with the same arguments,
    key splitting (network ``s`` uses the ``s``-th split of ``key``) and return
    convention. ``rng`` is passed to ``apply_fn`` only if it accepts it.

    Args:
      init_fn: ``init_fn(key, input_shape) -> (output_shape, params)``.
      apply_fn: ``apply_fn(params, x, **kwargs)``.
      key: PRNG key of the network samples.
      n_samples: an int (the call returns the estimate) or an iterable of ints
        (the call returns a generator of estimates at those sample counts).
      batch_size: compute each network's kernel in blocks of this many
        examples of ``x1`` and ``x2`` (must divide both); ``0``: whole.
      device_count: spread blocks over this many devices (``-1``: all).
      store_on_device: keep the running sums on the device (``False``: host
        NumPy float64, for kernels larger than device memory).
      trace_axes: as in :func:`empirical_kernel_fn`.
      diagonal_axes: as in :func:`empirical_kernel_fn`.
      vmap_axes: as in :func:`empirical_kernel_fn`.
      implementation: as in :func:`empirical_ntk_fn` (default AUTO).
      _j_rules: as in :func:`empirical_ntk_fn`.
      _s_rules: as in :func:`empirical_ntk_fn`.
      _fwd: as in :func:`empirical_ntk_fn`.
      memory_budget: as in :func:`empirical_ntk_fn`, per block.

    Returns:
      A :class:`MonteCarloKernelFn` ``kernel_fn(x1, x2=None, get=None,
      **apply_fn_kwargs)``; ``kernel_fn.estimate(...)`` adds standard errors
      and ``kernel_fn.stream(..., step=k)`` yields running estimates.

    Examples:
      >>> import jax
      >>> from nkwidgets import stax
      >>> from nkwidgets.monte_carlo import monte_carlo_kernel_fn
      >>> init_fn, apply_fn, _ = stax.serial(stax.Dense(64), stax.Relu(), stax.Dense(1))
      >>> x = jax.random.normal(jax.random.PRNGKey(0), (3, 2))
      >>> mc = monte_carlo_kernel_fn(init_fn, apply_fn, jax.random.PRNGKey(1), 8)
      >>> est = mc.estimate(x, None, "nngp")
      >>> est.n_samples, est.mean.shape, est.stderr.shape
      (8, (3, 3), (3, 3))

    References:
      Novak et al., `Neural Tangents: Fast and Easy Infinite Neural Networks in
      Python <https://arxiv.org/abs/1912.02803>`_, ICLR 2020.
    """
    kernel_fn = empirical_kernel_fn(
        apply_fn,
        trace_axes,
        diagonal_axes,
        vmap_axes,
        implementation,
        _j_rules,
        _s_rules,
        _fwd,
        memory_budget=memory_budget,
    )
    axes = [trace_axes] if isinstance(trace_axes, int) else list(trace_axes)
    axes += [diagonal_axes] if isinstance(diagonal_axes, int) else list(diagonal_axes)
    return MonteCarloKernelFn(
        init_fn,
        apply_fn,
        key,
        n_samples,
        batch_size,
        device_count,
        store_on_device,
        kernel_fn,
        0 in axes,
    )
