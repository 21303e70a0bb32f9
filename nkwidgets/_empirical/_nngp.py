"""The empirical NNGP: the outer product of the outputs, ``f(x1) f(x2)^T``."""

from __future__ import annotations

from typing import Any

import jax

from ._layout import OutputLayout, contract_outputs
from ._types import ApplyFn, Axes, PyTree, split_kwargs


def empirical_nngp_fn(
    f: ApplyFn, trace_axes: Axes = (-1,), diagonal_axes: Axes = ()
) -> Any:
    r"""A function computing one sample of the empirical NNGP of ``f``.

    .. math:: K(x_1, x_2) = f(\theta, x_1) f(\theta, x_2)^T / |\text{traced axes}| .

    The kernel of outputs shaped ``(N1, C)`` and ``(N2, C)`` is shaped
    ``(N1, N2, C, C)`` with ``trace_axes=()``; each axis in ``trace_axes`` is
    summed over (and divided by its size), each in ``diagonal_axes`` kept once.
    Pytree outputs give a pytree of kernels, one per output leaf (no cross
    terms), as in Neural Tangents.

    Args:
      f: ``f(params, x, **kwargs)`` returning an array or a pytree of arrays.
      trace_axes: output axes to trace over (the logits axis by default).
      diagonal_axes: output axes on which to keep only the diagonal.

    Returns:
      ``nngp_fn(x1, x2, params, **apply_fn_kwargs)``; ``x2=None`` means ``x1``.
      An ``rng`` keyword is split so that ``f(x1)`` and ``f(x2)`` see different
      keys unless ``x2`` is ``None`` or equal to ``x1``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from nkwidgets.empirical import empirical_nngp_fn
      >>> f = lambda p, x: x @ p
      >>> nngp = empirical_nngp_fn(f)(jnp.eye(2), None, jnp.ones((2, 3)))
      >>> print(nngp)
      [[1. 1.]
       [1. 1.]]

    References:
      Novak et al., `Neural Tangents: Fast and Easy Infinite Neural Networks in
      Python <https://arxiv.org/abs/1912.02803>`_, ICLR 2020.
    """

    def nngp_fn(
        x1: PyTree, x2: PyTree | None, params: PyTree, **apply_fn_kwargs: Any
    ) -> PyTree:
        kw1, kw2 = split_kwargs(apply_fn_kwargs, x1, x2)
        out1 = f(params, x1, **kw1)
        out2 = out1 if x2 is None else f(params, x2, **kw2)

        def contract(a: jax.Array, b: jax.Array) -> jax.Array:
            layout = OutputLayout.make(a.ndim, trace_axes, diagonal_axes)
            layout.check(a.shape, b.shape)
            return contract_outputs(a, b, layout) / layout.trace_size(a.shape)

        return jax.tree_util.tree_map(contract, out1, out2)

    return nngp_fn
