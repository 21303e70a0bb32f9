"""Combinators: networks built from layers (serial, parallel branches, fan-in/out).

A combinator's kernel transform calls its children's transforms; when a child
fails, the error gains the child's position (``serial[2]``) so a user can find
the offending layer in a deep network.
"""

from __future__ import annotations

import functools
from typing import Any

import jax

from ..errors import LayerError
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer, requirements_of
from ._masking import CHILDREN, KEEP


def _transform_of(kernel_fn: Any) -> Any:
    # Layers from other libraries (or hand-written kernel_fns) accept a Kernel
    # directly, which is all a combinator needs.
    return getattr(kernel_fn, "transform", kernel_fn)


def _check_layers(name: str, layers: tuple[Any, ...]) -> None:
    for i, layer in enumerate(layers):
        if not (
            isinstance(layer, tuple) and len(layer) == 3 and all(map(callable, layer))
        ):
            raise LayerError(
                f"{name}[{i}]",
                f"got {type(layer).__name__} {layer!r:.60}, not a layer.",
                "pass layers such as Dense(512) or Relu() — call the factory, "
                "e.g. Relu() rather than Relu.",
            )


def serial(*layers: Layer) -> Layer:
    """Compose layers in order: ``serial(f, g)(x) = g(f(x))``.

    ``apply_fn`` splits an ``rng`` keyword argument among the layers, so each
    stochastic layer (Dropout) gets its own key.
    """
    _check_layers("serial", layers)
    init_fns, apply_fns, kernel_fns = (
        zip(*layers, strict=True) if layers else ((), (), ())
    )

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, list[Any]]:
        params = []
        for i, init in enumerate(init_fns):
            key, sub = jax.random.split(key)
            try:
                input_shape, p = init(sub, input_shape)
            except LayerError as e:
                raise e.inside(f"serial[{i}]") from None
            params.append(p)
        return input_shape, params

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> Any:
        rng = kwargs.pop("rng", None)
        rngs = (
            jax.random.split(rng, len(apply_fns))
            if rng is not None
            else [None] * len(apply_fns)
        )
        for i, (apply, p, r) in enumerate(zip(apply_fns, params, rngs, strict=True)):
            try:
                inputs = apply(p, inputs, rng=r, **kwargs)
            except LayerError as e:
                raise e.inside(f"serial[{i}]") from None
        return inputs

    def kernel_transform(k: Any, **kwargs: Any) -> Any:
        for i, kernel_fn in enumerate(kernel_fns):
            try:
                k = _transform_of(kernel_fn)(k, **kwargs)
            except LayerError as e:
                raise e.inside(f"serial[{i}]") from None
        return k

    req = Requirements()
    if kernel_fns:
        req = requirements_of(kernel_fns[0])
        for kernel_fn in kernel_fns[1:]:
            req = req.then(requirements_of(kernel_fn))
    return make_layer(
        "serial",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        requirements=req,
        tracks_shapes=False,
        masking=CHILDREN,
    )


def parallel(*layers: Layer) -> Layer:
    """Apply the i-th layer to the i-th of a list of inputs (after ``FanOut``)."""
    _check_layers("parallel", layers)
    init_fns, apply_fns, kernel_fns = zip(*layers, strict=True)

    def check_branches(inputs: Any) -> None:
        if not isinstance(inputs, list | tuple) or len(inputs) != len(init_fns):
            raise LayerError(
                "parallel",
                f"expects a list of {len(init_fns)} inputs, one per branch.",
                f"put FanOut({len(init_fns)}) before parallel(...).",
            )

    def init_fn(key: jax.Array, input_shapes: Any) -> tuple[list[Any], list[Any]]:
        check_branches(input_shapes)
        keys = jax.random.split(key, len(init_fns))
        outs = []
        for i, (init, k, s) in enumerate(
            zip(init_fns, keys, input_shapes, strict=True)
        ):
            try:
                outs.append(init(k, s))
            except LayerError as e:
                raise e.inside(f"parallel[{i}]") from None
        return [o[0] for o in outs], [o[1] for o in outs]

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> list[Any]:
        check_branches(inputs)
        rng = kwargs.pop("rng", None)
        rngs = (
            jax.random.split(rng, len(apply_fns))
            if rng is not None
            else [None] * len(apply_fns)
        )
        outs = []
        for i, (apply, p, x, r) in enumerate(
            zip(apply_fns, params, inputs, rngs, strict=True)
        ):
            try:
                outs.append(apply(p, x, rng=r, **kwargs))
            except LayerError as e:
                raise e.inside(f"parallel[{i}]") from None
        return outs

    def kernel_transform(ks: Any, **kwargs: Any) -> list[Kernel]:
        check_branches(ks)
        out = []
        for i, (kernel_fn, k) in enumerate(zip(kernel_fns, ks, strict=True)):
            try:
                out.append(_transform_of(kernel_fn)(k, **kwargs))
            except LayerError as e:
                raise e.inside(f"parallel[{i}]") from None
        return out

    req = requirements_of(kernel_fns[0])
    for kernel_fn in kernel_fns[1:]:
        req = req.alongside(requirements_of(kernel_fn))
    return make_layer(
        "parallel",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        requirements=req,
        tracks_shapes=False,
        masking=CHILDREN,
    )


def repeat(layer: Layer, n: int) -> Layer:
    """``layer`` applied ``n`` times in a compiled loop (``jax.lax.scan``).

    The same network as ``serial(*[layer] * n)``, with parameters stacked along
    a leading axis of length ``n`` and compile time independent of ``n``. As in
    Neural Tangents, ``layer`` must map its output shape to itself: ``init_fn``
    raises otherwise, and ``kernel_fn`` (which runs the first application
    outside the loop, so a first change of width is allowed) raises if later
    applications would still change the Kernel's shapes or flags.

    Args:
      layer: the block to repeat, e.g. ``serial(Dense(512), Relu())``.
      n: number of applications (>= 0).
    """
    _check_layers("repeat", (layer,))
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise LayerError(
            "repeat",
            f"`n={n!r}` must be a non-negative integer.",
            "e.g. repeat(block, 3).",
        )
    init, apply, kernel_fn = layer
    transform = _transform_of(kernel_fn)

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, Any]:
        try:
            output_shape, _ = init(key, input_shape)
        except LayerError as e:
            raise e.inside("repeat") from None
        if tuple(output_shape) != tuple(input_shape):
            raise LayerError(
                "repeat",
                f"the repeated layer maps shape {tuple(input_shape)} to "
                f"{tuple(output_shape)}, so it cannot be applied again in a loop.",
                "put the first block, which changes the width, outside: "
                "serial(block, repeat(block, n - 1)), or use serial(*[block] * n).",
            )
        keys = jax.random.split(key, n)
        return output_shape, jax.vmap(lambda k: init(k, input_shape)[1])(keys)

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> Any:
        rng = kwargs.pop("rng", None)
        rngs = None if rng is None else jax.random.split(rng, n)

        def step(x: Any, params_and_rng: Any) -> tuple[Any, None]:
            p, r = params_and_rng
            return apply(p, x, rng=r, **kwargs), None

        try:
            out, _ = jax.lax.scan(step, inputs, (params, rngs), length=n)
        except LayerError as e:
            raise e.inside("repeat") from None
        return out

    def kernel_transform(k: Any, **kwargs: Any) -> Any:
        if n == 0:
            return k
        try:
            k = transform(k, **kwargs)
            again = jax.eval_shape(functools.partial(transform, **kwargs), k)
        except LayerError as e:
            raise e.inside("repeat") from None
        before = jax.tree_util.tree_structure(k)
        after = jax.tree_util.tree_structure(again)
        shapes = [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(k)]
        shapes_again = [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(again)]
        if before != after or shapes != shapes_again:
            raise LayerError(
                "repeat",
                "the repeated layer changes the kernel's shapes or flags each time "
                f"it is applied (e.g. shape {_shape_of(k)} -> {_shape_of(again)}), "
                "so a compiled loop cannot carry it.",
                "use serial(*[block] * n) instead of repeat(block, n).",
            )

        def step(carry: Any, _: None) -> tuple[Any, None]:
            return transform(carry, **kwargs), None

        k, _ = jax.lax.scan(step, k, None, length=n - 1)
        return k

    return make_layer(
        "repeat",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        requirements=requirements_of(kernel_fn),
        tracks_shapes=False,
        masking=CHILDREN,
    )


def _shape_of(k: Any) -> Any:
    if isinstance(k, list | tuple):
        return [_shape_of(x) for x in k]
    return getattr(k, "shape1", None)


def FanOut(num: int) -> Layer:
    """Copy the input into a list of ``num`` identical inputs for ``parallel``."""
    if not isinstance(num, int) or num < 1:
        raise LayerError(
            "FanOut", f"`num={num!r}` must be a positive integer.", "e.g. FanOut(2)."
        )

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[list[Any], tuple[()]]:
        del key
        return [input_shape] * num, ()

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> list[Any]:
        del params, kwargs
        return [inputs] * num

    def kernel_transform(k: Kernel, **kwargs: Any) -> list[Kernel]:
        del kwargs
        return [k] * num

    return make_layer(
        "FanOut",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        tracks_shapes=False,
        masking=CHILDREN,
    )


def require_list(name: str, ks: Any) -> list[Any]:
    """``ks`` as a non-empty list, or a LayerError telling how to make one."""
    if not isinstance(ks, list | tuple) or not ks:
        raise LayerError(
            name,
            "expects a list of branch outputs.",
            f"use it after FanOut(n) and parallel(...), e.g. serial(FanOut(2), "
            f"parallel(a, b), {name}()).",
        )
    return list(ks)


def require_same_shapes(name: str, shapes: list[Any]) -> None:
    """Raise a LayerError naming ``name`` unless all branch shapes are equal."""
    if any(tuple(s) != tuple(shapes[0]) for s in shapes[1:]):
        raise LayerError(
            name,
            f"branch output shapes differ: {[tuple(s) for s in shapes]}.",
            "give every branch the same output width, e.g. the same Dense(out_dim) "
            "at the end of each branch.",
        )


def _sum_optional(values: list[Any]) -> Any:
    if any(v is None for v in values):
        return None
    return sum(values[1:], values[0])


def FanInSum() -> Layer:
    """Sum a list of branch outputs (a residual connection is FanOut+parallel+this).

    Branches have independent parameters, so covariances add.
    """

    def init_fn(key: jax.Array, input_shapes: Any) -> tuple[Any, tuple[()]]:
        del key
        require_same_shapes("FanInSum", list(input_shapes))
        return input_shapes[0], ()

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> Any:
        del params, kwargs
        return sum(inputs[1:], inputs[0])

    def kernel_transform(ks: Any, **kwargs: Any) -> Kernel:
        del kwargs
        ks = require_list("FanInSum", ks)
        require_same_shapes("FanInSum", [k.shape1 for k in ks])
        require_same_shapes("FanInSum", [k.shape2 for k in ks])
        not_gaussian = [i for i, k in enumerate(ks) if not k.is_gaussian]
        if len(not_gaussian) > 1:
            raise LayerError(
                "FanInSum",
                f"branches {not_gaussian} do not end in an affine layer, so their "
                "outputs may have non-zero means (or be the same inputs) and the "
                "kernel of the sum is not the sum of the kernels.",
                "end all but one branch with a Dense layer, e.g. "
                "parallel(serial(Dense(512), Relu(), Dense(512)), Identity()).",
            )
        first = ks[0]
        return first.replace(
            nngp=_sum_optional([k.nngp for k in ks]),
            ntk=_sum_optional([k.ntk for k in ks]),
            cov1=_sum_optional([k.cov1 for k in ks]),
            cov2=_sum_optional([k.cov2 for k in ks]),
            is_gaussian=all(k.is_gaussian for k in ks),
            is_input=False,
        )

    return make_layer(
        "FanInSum",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        tracks_shapes=False,
    )


def Identity() -> Layer:
    """The identity layer: outputs equal inputs, the kernel is unchanged."""

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, tuple[()]]:
        del key
        return input_shape, ()

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> Any:
        del params, kwargs
        return inputs

    def kernel_transform(k: Any, **kwargs: Any) -> Any:
        del kwargs
        return k

    return make_layer(
        "Identity",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        masking=KEEP,
    )
