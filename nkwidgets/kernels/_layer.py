"""How a layer is assembled: init, apply and kernel transform from one definition.

Each public layer factory (``Dense``, ``Relu``, ``serial`` ...) writes three small
functions next to each other and hands them to :func:`make_layer`, which returns
the NT-style ``(init_fn, apply_fn, kernel_fn)`` triple. The wrapper owns the
cross-cutting work so layer bodies stay pure maths:

* ``kernel_fn`` accepts raw arrays *or* a :class:`Kernel` (or a list of them for
  multi-input layers), like Neural Tangents;
* raw arrays are validated and turned into the input kernel once;
* ``get`` selects what is returned, and the NTK is skipped when not asked for;
* output shapes are tracked in ``Kernel.shape1/shape2`` from the same shape rule
  that ``init_fn`` uses.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError, LayerError
from . import _masking
from ._kernel import Kernel

Shape = tuple[int, ...]
InitFn = Callable[..., tuple[Any, Any]]
ApplyFn = Callable[..., Any]
KernelFn = Callable[..., Any]

GETTABLE = ("nngp", "ntk", "cov1", "cov2")


class Layer(NamedTuple):
    """What every layer factory returns; unpacks as ``init_fn, apply_fn, kernel_fn``."""

    init_fn: InitFn
    apply_fn: ApplyFn
    kernel_fn: KernelFn


Spatial = Literal["keep", "full", "diagonal"]


@dataclasses.dataclass(frozen=True)
class Requirements:
    """What a network needs from the kernel of its raw inputs.

    Attributes:
      spatial: which spatial covariances the layer needs from its input,
        given what its own output must hold. ``"keep"``: the same as its output
        (dense, elementwise and convolution layers: same-position outputs need
        only same-position inputs); ``"full"``: covariances between all
        positions, whatever the output (pooling mixes positions);
        ``"diagonal"``: only same-position ones, whatever the output (Flatten
        reads each position against itself).
      batch_axis: batch axis of the raw inputs.
      channel_axis: channel (feature) axis of the raw inputs; ``None`` for
        layers that do not care (Flatten), meaning the last non-batch axis.
    """

    spatial: Spatial = "keep"
    batch_axis: int = 0
    channel_axis: int | None = -1

    def then(self, later: Requirements) -> Requirements:
        """Requirements of a stack where ``later`` runs after this layer.

        Axes come from the first layer (it reads the raw inputs); the need for
        spatial covariances flows backwards from ``later`` through this layer.
        """
        spatial = later.spatial if self.spatial == "keep" else self.spatial
        return dataclasses.replace(self, spatial=spatial)

    def alongside(self, other: Requirements) -> Requirements:
        """Requirements of two branches reading the same inputs (``parallel``)."""
        for need in ("full", "keep"):
            if need in (self.spatial, other.spatial):
                return dataclasses.replace(self, spatial=need)
        return self

    @property
    def diagonal_spatial(self) -> bool:
        """Whether the raw inputs' kernel may keep only same-position entries.

        A network's own output keeps every position pair (as in Neural
        Tangents: it is the kernel the user asked for), so only a layer that
        reads positions out on its own, like Flatten, allows the diagonal.
        """
        return self.spatial == "diagonal"


def make_layer(
    name: str,
    *,
    init_fn: InitFn,
    apply_fn: ApplyFn,
    kernel_transform: Callable[..., Kernel | list[Kernel]],
    shape_fn: Callable[[Any], Any] | None = None,
    requirements: Requirements = Requirements(),
    tracks_shapes: bool = True,
    masking: _masking.MaskRule | None = None,
) -> Layer:
    """Assemble a public layer.

    Args:
      name: shown in error messages, e.g. ``"Relu"``.
      init_fn: ``(key, input_shape) -> (output_shape, params)``.
      apply_fn: ``(params, inputs, **kwargs) -> outputs`` (finite width).
      kernel_transform: ``(Kernel, **kwargs) -> Kernel`` (infinite width); it
        sees ``Kernel.shape1/shape2`` of its *inputs*.
      shape_fn: input shape -> output shape; the same rule ``init_fn`` uses.
        ``None`` means shape-preserving.
      requirements: what the layer needs from the input kernel.
      tracks_shapes: False for combinators whose children already update shapes.
      masking: how the layer treats masked positions (``mask_constant``);
        ``None``: it cannot, and a masked kernel raises a LayerError.
    """

    def transform(k: Any, **kwargs: Any) -> Any:
        masked = _masking.has_mask(k)
        if masked and masking is None:
            raise _masking.unsupported(name)
        out = kernel_transform(k, **kwargs)
        if tracks_shapes and shape_fn is not None:
            out = out.replace(shape1=shape_fn(k.shape1), shape2=shape_fn(k.shape2))
        if masked:
            assert masking is not None
            out = masking.apply(k, out)
        return out

    def kernel_fn(
        x1_or_kernel: Any,
        x2: Any = None,
        get: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Any:
        mask_constant = kwargs.pop("mask_constant", None)
        if _is_kernel_like(x1_or_kernel):
            if mask_constant is not None:
                raise InputError(
                    "`mask_constant` marks padding in raw inputs, but kernel_fn got "
                    "a Kernel. Fix: pass mask_constant with the raw inputs; a "
                    "Kernel carries its masks in mask1/mask2."
                )
            return transform(x1_or_kernel, **kwargs)
        get_names = _normalize_get(get)
        compute_ntk = get_names is None or "ntk" in get_names
        k_in = inputs_to_kernel(
            x1_or_kernel, x2, requirements, compute_ntk, mask_constant
        )
        try:
            k_out = transform(k_in, **kwargs)
        except LayerError as e:
            raise e from None
        return _select(k_out, get, get_names)

    kernel_fn.transform = transform  # type: ignore[attr-defined]
    kernel_fn.requirements = requirements  # type: ignore[attr-defined]
    kernel_fn.layer_name = name  # type: ignore[attr-defined]
    return Layer(init_fn, apply_fn, kernel_fn)


def requirements_of(kernel_fn: KernelFn) -> Requirements:
    """Requirements of any layer's ``kernel_fn`` (ours always carry them)."""
    return getattr(kernel_fn, "requirements", Requirements())


def _is_kernel_like(x: Any) -> bool:
    if isinstance(x, Kernel):
        return True
    return isinstance(x, list | tuple) and len(x) > 0 and isinstance(x[0], Kernel)


def _normalize_get(get: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if get is None:
        return None
    names = (get,) if isinstance(get, str) else tuple(get)
    unknown = [g for g in names if g not in GETTABLE]
    if unknown:
        raise InputError(
            f"`get={get!r}` asks for {unknown}, which kernel_fn cannot return. "
            f"Fix: use any of {GETTABLE}, a tuple of them, or None for the Kernel."
        )
    return names


@functools.cache
def _namedtuple_for(names: tuple[str, ...]) -> type:
    # NT returns a namedtuple called "Kernel" whose fields follow `get`'s order.
    return collections.namedtuple("Kernel", names)  # type: ignore[misc]


def _finalize(k: Kernel) -> Kernel:
    # Layers that never touch the NTK (e.g. a bare nonlinearity) leave the input
    # kernel's scalar zero; users expect an array shaped like nngp.
    if k.ntk is not None and jnp.shape(k.ntk) != jnp.shape(k.nngp):
        k = k.replace(ntk=jnp.broadcast_to(k.ntk, jnp.shape(k.nngp)))
    return k


def _select(k: Any, get: Any, names: tuple[str, ...] | None) -> Any:
    if isinstance(k, list | tuple):
        return [_select(ki, get, names) for ki in k]
    k = _finalize(k)
    if names is None:
        return k
    if isinstance(get, str):
        return getattr(k, get)
    return _namedtuple_for(names)(*(getattr(k, n) for n in names))


def _check_finite(x: Any, which: str) -> None:
    # Under jit the values are unknown; NaNs then propagate to the output, which
    # the compute floor checks. Concrete inputs are checked here, where the
    # message can still name the argument.
    if isinstance(x, jax.core.Tracer):
        return
    arr = np.asarray(x)
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
        raise InputError(
            f"`{which}` contains NaN or infinite values (first at index {bad}). "
            "Fix: clean or impute the data before computing kernels."
        )


def inputs_to_kernel(
    x1: Any,
    x2: Any,
    req: Requirements,
    compute_ntk: bool,
    mask_constant: float | None = None,
) -> Kernel:
    """The kernel of raw inputs: channel-averaged inner products.

    ``nngp[i, j, *s] = <x1[i, *s, :], x2[j, *s, :]> / n_channels``, which is the
    covariance a Dense layer with unit weight variance would see. Entries equal
    to ``mask_constant`` count as zeros, and positions whose channels all equal
    it are masked (see ``_masking``).
    """
    x1 = _as_array(x1, "x1")
    x2_given = x2 is not None
    x2 = _as_array(x2, "x2") if x2_given else x1
    entries1 = entries2 = None
    if mask_constant is not None:
        _check_mask_constant(mask_constant)
        entries1 = _masking.entry_mask(x1, mask_constant)
        entries2 = _masking.entry_mask(x2, mask_constant) if x2_given else entries1
        x1 = jnp.where(entries1, jnp.zeros((), x1.dtype), x1)
        x2 = jnp.where(entries2, jnp.zeros((), x2.dtype), x2) if x2_given else x1
    _check_finite(x1, "x1")
    if x2_given:
        _check_finite(x2, "x2")
    if x1.ndim < 2:
        raise InputError(
            f"`x1` has shape {x1.shape}; kernels need a batch axis and a feature "
            "axis. Fix: reshape a single example to (1, n_features), or a batch of "
            "scalars to (n, 1)."
        )
    if x2.ndim != x1.ndim or _without_batch(x1.shape, req) != _without_batch(
        x2.shape, req
    ):
        _raise_shape_mismatch(x1.shape, x2.shape, req)

    shape1, shape2 = tuple(x1.shape), tuple(x2.shape)
    x1_is_x2 = not x2_given or _same_inputs(x1, x2)
    req = dataclasses.replace(req, channel_axis=_channel_axis(req, x1.ndim))
    x1 = _to_batch_first_channel_last(x1, req)
    x2 = _to_batch_first_channel_last(x2, req)
    mask1 = mask2 = None
    if entries1 is not None and entries2 is not None:
        mask1 = jnp.all(_to_batch_first_channel_last(entries1, req), axis=-1)
        mask2 = jnp.all(_to_batch_first_channel_last(entries2, req), axis=-1)
    n_chan = x1.shape[-1]
    hp = jax.lax.Precision.HIGHEST
    gram, variances = _input_products(x1.ndim - 2, req.diagonal_spatial)
    nngp = jnp.einsum(gram, x1, x2, precision=hp) / n_chan
    cov1 = jnp.einsum(variances, x1, x1, precision=hp) / n_chan
    cov2 = jnp.einsum(variances, x2, x2, precision=hp) / n_chan if x2_given else None
    ntk = jnp.zeros((), nngp.dtype) if compute_ntk else None
    return Kernel(
        nngp=nngp,
        ntk=ntk,
        cov1=cov1,
        cov2=cov2,
        mask1=mask1,
        mask2=mask2,
        x1_is_x2=x1_is_x2,
        is_gaussian=False,
        is_input=True,
        diagonal_batch=True,
        diagonal_spatial=req.diagonal_spatial,
        shape1=shape1,
        shape2=shape2,
        batch_axis=req.batch_axis,
        channel_axis=req.channel_axis,
    )


def _check_mask_constant(mask_constant: Any) -> None:
    if isinstance(mask_constant, bool) or not isinstance(
        mask_constant, int | float | np.integer | np.floating
    ):
        raise InputError(
            f"`mask_constant={mask_constant!r}` must be a number (the value that "
            "marks padding). Fix: e.g. mask_constant=-1e9, or float('nan')."
        )


def _input_products(n_spatial: int, diagonal_spatial: bool) -> tuple[str, str]:
    """Einsum specs of the input kernel for (N, *S, C) arrays.

    Diagonal: ``(N1, N2, *S)`` and ``(N, *S)``; full: every position pair,
    interleaved per dimension, ``(N1, N2, H, H', W, W')`` and ``(N, H, H', W, W')``.
    """
    s1 = "abdefgh"[:n_spatial]
    if diagonal_spatial:
        return f"i{s1}c,j{s1}c->ij{s1}", f"i{s1}c,i{s1}c->i{s1}"
    s2 = "ABDEFGH"[:n_spatial]
    pairs = "".join(p + q for p, q in zip(s1, s2, strict=True))
    return f"i{s1}c,j{s2}c->ij{pairs}", f"i{s1}c,i{s2}c->i{pairs}"


SAME_INPUTS_ATOL = 1e-12
"""Neural Tangents' tolerance for treating ``x2`` as the same batch as ``x1``."""


def _same_inputs(x1: jax.Array, x2: jax.Array) -> bool:
    # Only concrete arrays can be compared here: under jit, x2=x1 counts as a
    # different batch (it matters only for Dropout's same-example terms).
    if x1 is x2:
        return True
    if isinstance(x1, jax.core.Tracer) or isinstance(x2, jax.core.Tracer):
        return False
    if x1.shape != x2.shape:
        return False
    return bool(np.all(np.abs(np.asarray(x1) - np.asarray(x2)) < SAME_INPUTS_ATOL))


def _as_array(x: Any, which: str) -> jax.Array:
    if isinstance(x, jax.core.Tracer | jax.Array):
        arr = x
    else:
        try:
            arr = jnp.asarray(x)
        except TypeError as e:
            raise InputError(
                f"`{which}` of type {type(x).__name__} is not an array: {e}. "
                "Fix: pass a NumPy or JAX array of shape (n_examples, ...features)."
            ) from None
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.result_type(float))
    return arr


def _channel_axis(req: Requirements, ndim: int) -> int:
    batch = req.batch_axis % ndim
    if req.channel_axis is None:
        return ndim - 1 if batch != ndim - 1 else ndim - 2
    if not -ndim <= req.channel_axis < ndim:
        raise InputError(
            f"The first layer reads channels from axis {req.channel_axis}, but the "
            f"inputs have only {ndim} axes. Fix: give inputs the layout the first "
            "layer expects (e.g. images as (N, H, W, C)), or change its "
            "channel_axis / dimension_numbers."
        )
    channel = req.channel_axis % ndim
    if channel == batch:
        raise InputError(
            f"`batch_axis={req.batch_axis}` and `channel_axis={req.channel_axis}` "
            f"both name axis {batch} of {ndim}-dimensional inputs. Fix: give the "
            "first layer distinct axes, e.g. Dense(..., batch_axis=1, channel_axis=0) "
            "for (features, batch) inputs."
        )
    return channel


def _to_batch_first_channel_last(x: jax.Array, req: Requirements) -> jax.Array:
    batch = req.batch_axis % x.ndim
    channel = _channel_axis(req, x.ndim)
    if (batch, channel) == (0, x.ndim - 1):
        return x
    return jnp.moveaxis(x, (batch, channel), (0, -1))


def _without_batch(shape: Shape, req: Requirements) -> Shape:
    batch = req.batch_axis % len(shape)
    return tuple(shape[:batch]) + tuple(shape[batch + 1 :])


def _raise_shape_mismatch(s1: Shape, s2: Shape, req: Requirements) -> None:
    raise InputError(
        f"`x1` has shape {s1} but `x2` has shape {s2}: every axis except the "
        f"batch axis ({req.batch_axis}) must match. "
        "Fix: give both the same number of features (and spatial size)."
    )
