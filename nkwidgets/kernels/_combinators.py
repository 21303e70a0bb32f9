"""Combinators: networks built from layers (serial, parallel branches, fan-in/out).

A combinator's kernel transform calls its children's transforms; when a child
fails, the error gains the child's position (``serial[2]``) so a user can find
the offending layer in a deep network.
"""

from __future__ import annotations

from typing import Any

import jax

from ..errors import LayerError
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer, requirements_of


def _transform_of(kernel_fn: Any) -> Any:
    # Layers from other libraries (or hand-written kernel_fns) accept a Kernel
    # directly, which is all a combinator needs.
    return getattr(kernel_fn, "transform", kernel_fn)


def _check_layers(name: str, layers: tuple[Any, ...]) -> None:
    for i, layer in enumerate(layers):
        if not (isinstance(layer, tuple) and len(layer) == 3 and all(map(callable, layer))):
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
    init_fns, apply_fns, kernel_fns = zip(*layers, strict=True) if layers else ((), (), ())

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, list[Any]]:
        params = []
        for init in init_fns:
            key, sub = jax.random.split(key)
            input_shape, p = init(sub, input_shape)
            params.append(p)
        return input_shape, params

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> Any:
        rng = kwargs.pop("rng", None)
        rngs = (
            jax.random.split(rng, len(apply_fns)) if rng is not None else [None] * len(apply_fns)
        )
        for apply, p, r in zip(apply_fns, params, rngs, strict=True):
            inputs = apply(p, inputs, rng=r, **kwargs)
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
    )


def parallel(*layers: Layer) -> Layer:
    """Apply the i-th layer to the i-th of a list of inputs (after ``FanOut``)."""
    _check_layers("parallel", layers)
    init_fns, apply_fns, kernel_fns = zip(*layers, strict=True)

    def init_fn(key: jax.Array, input_shapes: Any) -> tuple[list[Any], list[Any]]:
        keys = jax.random.split(key, len(init_fns))
        outs = [init(k, s) for init, k, s in zip(init_fns, keys, input_shapes, strict=True)]
        return [o[0] for o in outs], [o[1] for o in outs]

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> list[Any]:
        rng = kwargs.pop("rng", None)
        rngs = jax.random.split(rng, len(apply_fns)) if rng is not None else [None] * len(apply_fns)
        return [
            apply(p, x, rng=r, **kwargs)
            for apply, p, x, r in zip(apply_fns, params, inputs, rngs, strict=True)
        ]

    def kernel_transform(ks: Any, **kwargs: Any) -> list[Kernel]:
        if not isinstance(ks, list | tuple) or len(ks) != len(kernel_fns):
            raise LayerError(
                "parallel",
                f"expects a list of {len(kernel_fns)} inputs, one per branch.",
                f"put FanOut({len(kernel_fns)}) before parallel(...).",
            )
        out = []
        for i, (kernel_fn, k) in enumerate(zip(kernel_fns, ks, strict=True)):
            try:
                out.append(_transform_of(kernel_fn)(k, **kwargs))
            except LayerError as e:
                raise e.inside(f"parallel[{i}]") from None
        return out

    req = requirements_of(kernel_fns[0])
    for kernel_fn in kernel_fns[1:]:
        req = req.then(requirements_of(kernel_fn))
    return make_layer(
        "parallel",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        requirements=req,
        tracks_shapes=False,
    )


def FanOut(num: int) -> Layer:
    """Copy the input into a list of ``num`` identical inputs for ``parallel``."""
    if not isinstance(num, int) or num < 1:
        raise LayerError("FanOut", f"`num={num!r}` must be a positive integer.", "e.g. FanOut(2).")

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
    )


def _require_list(name: str, ks: Any) -> list[Kernel]:
    if not isinstance(ks, list | tuple) or not ks:
        raise LayerError(
            name,
            "expects a list of branch outputs.",
            f"use it after FanOut(n) and parallel(...), e.g. serial(FanOut(2), "
            f"parallel(a, b), {name}()).",
        )
    return list(ks)


def _require_same_shapes(name: str, shapes: list[Any]) -> None:
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
        _require_same_shapes("FanInSum", list(input_shapes))
        return input_shapes[0], ()

    def apply_fn(params: Any, inputs: Any, **kwargs: Any) -> Any:
        del params, kwargs
        return sum(inputs[1:], inputs[0])

    def kernel_transform(ks: Any, **kwargs: Any) -> Kernel:
        del kwargs
        ks = _require_list("FanInSum", ks)
        _require_same_shapes("FanInSum", [k.shape1 for k in ks])
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
        "Identity", init_fn=init_fn, apply_fn=apply_fn, kernel_transform=kernel_transform
    )

