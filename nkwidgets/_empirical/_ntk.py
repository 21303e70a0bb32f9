"""``empirical_ntk_fn`` and ``empirical_kernel_fn``: Neural Tangents' factories, with AUTO that fits memory."""

from __future__ import annotations

import collections
import functools
from collections.abc import Sequence
from typing import Any

import jax

from ._auto import Decision, choose
from ._call import is_array
from ._cost import Estimate, estimate
from ._implementations import Options, PlanCache, make_call, run
from ._nngp import empirical_nngp_fn
from ._types import ApplyFn, Axes, NtkImplementation, PyTree, VMapAxes


def _implementation(value: Any) -> NtkImplementation:
    try:
        return NtkImplementation(value)
    except ValueError:
        raise ValueError(
            f"`implementation={value!r}` is not an NtkImplementation. Fix: use "
            f"NtkImplementation.AUTO (0), JACOBIAN_CONTRACTION (1), "
            f"NTK_VECTOR_PRODUCTS (2) or STRUCTURED_DERIVATIVES (3)."
        ) from None


class _Static:
    """Non-array keyword leaves, hashable so ``jit`` can treat them as static."""

    def __init__(self, treedef: Any, leaves: tuple, positions: tuple[int, ...]):
        self.treedef, self.leaves, self.positions = treedef, leaves, positions
        self._key = (treedef, leaves, positions)
        hash(self._key)  # raises TypeError for unhashable static values

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and self._key == other._key

    def rebuild(self, arrays: list[Any]) -> dict[str, Any]:
        flat = list(self.leaves)
        for i, v in zip(self.positions, arrays, strict=True):
            flat[i] = v
        return jax.tree_util.tree_unflatten(self.treedef, flat)


def _split_static(kwargs: dict[str, Any]) -> tuple[list[Any], _Static]:
    flat, treedef = jax.tree_util.tree_flatten(kwargs, is_leaf=lambda v: v is None)
    positions = tuple(i for i, v in enumerate(flat) if is_array(v))
    arrays = [flat[i] for i in positions]
    leaves = tuple(None if i in positions else v for i, v in enumerate(flat))
    return arrays, _Static(treedef, leaves, positions)


class EmpiricalNtkFn:
    """``ntk_fn(x1, x2, params, **apply_fn_kwargs)``, with what AUTO chose.

    Attributes:
      implementation: the requested implementation (``AUTO`` or a fixed one).
      chosen_implementation: the implementation the most recent call used.
      decisions: AUTO's :class:`Decision` per call signature seen so far.
    """

    def __init__(
        self,
        f: ApplyFn,
        opts: Options,
        implementation: NtkImplementation,
        memory_budget: int | None,
    ):
        self.f = f
        self.opts = opts
        self.implementation = implementation
        self.memory_budget = memory_budget
        self.chosen_implementation: NtkImplementation | None = None
        self.decisions: dict[Any, Decision] = {}
        self._cache = PlanCache(opts)
        self._jitted = jax.jit(self._core, static_argnames=("impl", "static"))

    def _core(
        self,
        params: PyTree,
        x1: PyTree,
        x2: PyTree,
        arrays: list,
        *,
        impl: NtkImplementation,
        static: _Static,
    ) -> PyTree:
        call = make_call(self.f, x1, x2, params, static.rebuild(arrays), self.opts)
        return run(impl, call, self._cache, self.opts)

    def _signature(self, x1: PyTree, x2: PyTree, params: PyTree, kwargs: dict) -> Any:
        def sd(t: PyTree) -> Any:
            leaves, tree = jax.tree_util.tree_flatten(t)
            return tree, tuple(
                (tuple(getattr(v, "shape", ())), str(getattr(v, "dtype", type(v))))
                for v in leaves
            )

        return (sd(x1), sd(x2), sd(params), sd(kwargs))

    def decide(
        self, x1: PyTree, x2: PyTree | None, params: PyTree, **apply_fn_kwargs: Any
    ) -> Decision:
        """AUTO's choice for these inputs, without computing the kernel."""
        try:
            key = self._signature(x1, x2, params, apply_fn_kwargs)
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self.decisions:
            return self.decisions[key]
        call = make_call(self.f, x1, x2, params, apply_fn_kwargs, self.opts)
        decision = choose(
            self.f, call, apply_fn_kwargs, self.opts, self._cache, self.memory_budget
        )
        if key is not None:
            self.decisions[key] = decision
        return decision

    def estimate(
        self, x1: PyTree, x2: PyTree | None, params: PyTree, **apply_fn_kwargs: Any
    ) -> dict[NtkImplementation, Estimate]:
        """Time / memory estimates of implementations 1-3 for these inputs."""
        call = make_call(self.f, x1, x2, params, apply_fn_kwargs, self.opts)
        return estimate(call, self._cache)

    def __call__(
        self, x1: PyTree, x2: PyTree | None, params: PyTree, **apply_fn_kwargs: Any
    ) -> PyTree:
        """One sample of the empirical NTK.

        Args:
          x1: first batch of inputs.
          x2: second batch of inputs; ``None`` means ``x1`` (and is faster than
            passing ``x1`` again).
          params: the parameters the NTK is taken with respect to.
          **apply_fn_kwargs: keyword arguments of ``f``; an ``rng`` key and
            pairs ``(for_x1, for_x2)`` are split between the two sides.

        Returns:
          Per output leaf, the kernel shaped "almost" ``zip(f(x1).shape,
          f(x2).shape)``: ``trace_axes`` removed, ``diagonal_axes`` once.
        """
        impl = self.implementation
        if impl == NtkImplementation.AUTO:
            impl = self.decide(x1, x2, params, **apply_fn_kwargs).implementation
        self.chosen_implementation = impl
        try:
            arrays, static = _split_static(apply_fn_kwargs)
        except TypeError:  # unhashable static kwargs: run without our jit
            call = make_call(self.f, x1, x2, params, apply_fn_kwargs, self.opts)
            return run(impl, call, self._cache, self.opts)
        return self._jitted(params, x1, x2, arrays, impl=impl, static=static)


def empirical_ntk_fn(
    f: ApplyFn,
    trace_axes: Axes = (-1,),
    diagonal_axes: Axes = (),
    vmap_axes: VMapAxes = None,
    implementation: NtkImplementation | int = NtkImplementation.AUTO,
    _j_rules: bool = True,
    _s_rules: bool = True,
    _fwd: bool | None = None,
    *,
    memory_budget: int | None = None,
) -> EmpiricalNtkFn:
    r"""A function computing one sample of the empirical NTK of ``f``.

    .. math:: \Theta(x_1, x_2) = \frac{\partial f(\theta, x_1)}{\partial \theta}
       \frac{\partial f(\theta, x_2)}{\partial \theta}^T / |\text{traced axes}| .

    A drop-in for ``neural_tangents.empirical_ntk_fn`` (0.6.5): same
    arguments, kernel layout and ``rng`` splitting, for any pure
    ``f(params, x, **kwargs)`` (``stax`` networks, ``flax.linen`` ``apply``,
    equinox modules split with ``eqx.partition``, plain functions). One
    deliberate difference: the default ``implementation`` is ``AUTO``, which
    here is reliable (Neural Tangents defaulted to ``JACOBIAN_CONTRACTION``
    because its AUTO was not); all implementations agree to float precision.

    Args:
      f: ``f(params, x, **kwargs)`` returning an array or a pytree of arrays
        (one kernel per output leaf, no cross terms).
      trace_axes: output axes to trace over (the logits by default); use ``()``
        for the full kernel, e.g. for exact linearised dynamics.
      diagonal_axes: output axes on which only the diagonal is kept.
      vmap_axes: ``None``, an int, or ``(in_axes, out_axes, kwargs_axes)``:
        certifies that ``f`` maps examples independently along these axes
        (no BatchNorm across the batch). Much faster when set; wrong results
        when claimed falsely.
      implementation: an :class:`NtkImplementation` or its value ``0``-``3``.
      _j_rules: structured derivatives only: ``False`` disables the matmul /
        convolution rules, so those Jacobians come from autodiff.
      _s_rules: structured derivatives only: ``False`` disables all rules
        (every parameter is probed at itself: Jacobian contraction).
      _fwd: structured derivatives only: ``True`` / ``False`` forces forward /
        reverse mode for ``df/dy``; ``None`` picks the cheaper.
      memory_budget: AUTO only: bytes the computation may materialise. Default:
        half the free memory of the default device at call time. AUTO raises
        :class:`MemoryBudgetError` (naming a batch size that fits) when no
        implementation fits.

    Returns:
      An :class:`EmpiricalNtkFn`: call it as ``ntk_fn(x1, x2, params,
      **apply_fn_kwargs)``; ``ntk_fn.chosen_implementation`` tells what ran.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from nkwidgets.empirical import empirical_ntk_fn
      >>> f = lambda p, x: x @ p["w"]
      >>> params = {"w": jnp.ones((3, 2))}
      >>> ntk_fn = empirical_ntk_fn(f, trace_axes=(), vmap_axes=0)
      >>> ntk_fn(jnp.eye(3), None, params).shape
      (3, 3, 2, 2)
      >>> print(empirical_ntk_fn(f)(jnp.eye(2, 3), None, params))
      [[1. 0.]
       [0. 1.]]

    References:
      Novak, Sohl-Dickstein, Schoenholz, `Fast Finite Width Neural Tangent
      Kernel <https://arxiv.org/abs/2206.08720>`_, ICML 2022.
      Jacot, Gabriel, Hongler, `Neural Tangent Kernel: Convergence and
      Generalization in Neural Networks <https://arxiv.org/abs/1806.07572>`_,
      NeurIPS 2018.
    """
    opts = Options(trace_axes, diagonal_axes, vmap_axes, _j_rules, _s_rules, _fwd)
    return EmpiricalNtkFn(f, opts, _implementation(implementation), memory_budget)


@functools.cache
def _kernel_type(fields: tuple[str, ...]) -> type:
    return collections.namedtuple("EmpiricalKernel", fields)


def empirical_kernel_fn(
    f: ApplyFn,
    trace_axes: Axes = (-1,),
    diagonal_axes: Axes = (),
    vmap_axes: VMapAxes = None,
    implementation: NtkImplementation | int = NtkImplementation.AUTO,
    _j_rules: bool = True,
    _s_rules: bool = True,
    _fwd: bool | None = None,
    *,
    memory_budget: int | None = None,
) -> Any:
    """A function computing empirical NNGP and / or NTK samples of ``f``.

    Arguments as :func:`empirical_ntk_fn` (``vmap_axes``, ``implementation``
    and the rest apply to the NTK only).

    Returns:
      ``kernel_fn(x1, x2, get, params, **apply_fn_kwargs)``: ``get`` is
      ``"nngp"``, ``"ntk"``, a tuple of them, or ``None`` for both; a string
      returns the array, otherwise an ``EmpiricalKernel`` namedtuple (per
      output leaf for pytree outputs). ``kernel_fn.ntk_fn`` is the underlying
      :class:`EmpiricalNtkFn`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets.empirical import empirical_kernel_fn
      >>> k = empirical_kernel_fn(lambda p, x: x @ p)(jnp.eye(2), None, None, jnp.ones((2, 1)))
      >>> print(k.nngp, k.ntk, sep="\\n")
      [[1. 1.]
       [1. 1.]]
      [[1. 0.]
       [0. 1.]]

    References:
      Novak et al., `Neural Tangents: Fast and Easy Infinite Neural Networks in
      Python <https://arxiv.org/abs/1912.02803>`_, ICLR 2020.
    """
    nngp_fn = empirical_nngp_fn(f, trace_axes, diagonal_axes)
    ntk_fn = empirical_ntk_fn(
        f,
        trace_axes,
        diagonal_axes,
        vmap_axes,
        implementation,
        _j_rules,
        _s_rules,
        _fwd,
        memory_budget=memory_budget,
    )
    fns = {"nngp": nngp_fn, "ntk": ntk_fn}

    def kernel_fn(
        x1: PyTree,
        x2: PyTree | None,
        get: str | Sequence[str] | None,
        params: PyTree,
        **apply_fn_kwargs: Any,
    ) -> Any:
        single = isinstance(get, str)
        names = ("nngp", "ntk") if get is None else ((get,) if single else tuple(get))
        names = tuple(str(g).lower() for g in names)
        unknown = [g for g in names if g not in fns]
        if unknown or not names or len(set(names)) != len(names):
            raise ValueError(
                f"`get={get!r}` must be 'nngp', 'ntk', a tuple of distinct ones, or None."
            )
        out = {g: fns[g](x1, x2, params, **apply_fn_kwargs) for g in names}
        if single:
            return out[names[0]]
        cls = _kernel_type(names)
        return jax.tree_util.tree_map(lambda *v: cls(*v), *[out[g] for g in names])

    kernel_fn.ntk_fn = ntk_fn  # type: ignore[attr-defined]
    return kernel_fn
