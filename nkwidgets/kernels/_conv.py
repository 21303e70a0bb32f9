r"""Convolutions: shared (``Conv``), transposed (``ConvTranspose``) and unshared (``ConvLocal``).

A convolution with i.i.d. filter weights of variance :math:`\sigma_W^2 / (C_{in} |F|)`
maps the covariance of its inputs to

.. math::
    K'(a, b) = \frac{\sigma_W^2}{|F|} \sum_{f \in F} K(a s + f,\; b s + f) + \sigma_b^2,

the *diagonal window sum* of :mod:`._spatial` (Novak et al. 2019, "Bayesian deep
convolutional networks with many channels are Gaussian processes", eq. 7;
Arora et al. 2019, "On exact computation with an infinitely wide neural net",
for the NTK, which follows the same rule as :class:`Dense` with the window sum in
place of the identity). Same-position entries need only same-position inputs,
so a network that never pools runs in the diagonal layout at the cost of a
fully connected one.

Without weight sharing (``ConvLocal``) filters at different output positions
are independent, so covariances between different positions vanish and the
same-position ones equal the shared case: the two kernels agree on the
diagonal, which is all a network without pooling reads out.
"""

from __future__ import annotations

import math
import string
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import LayerError
from . import _masking, _spatial
from ._dense import Parameterization, _check_dense_args
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer

DimensionNumbers = tuple[str, str, str]


def default_dimension_numbers(n_spatial: int) -> DimensionNumbers:
    """NT's default: batch first, channels last, spatial letters A, B, D, ..."""
    letters = "".join(c for c in string.ascii_uppercase if c not in "NCIO")
    spatial = letters[:n_spatial]
    lhs = "N" + spatial + "C"
    return lhs, spatial + "IO", lhs


def Conv(
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    W_std: float = 1.0,
    b_std: float | None = None,
    dimension_numbers: DimensionNumbers | None = None,
    parameterization: Parameterization = "ntk",
    s: tuple[int, int] = (1, 1),
) -> Layer:
    """Convolution with weights shared across positions (1-D, 2-D, 3-D ...).

    Arguments as Neural Tangents' ``stax.Conv``: ``filter_shape`` and
    ``strides`` follow the spatial letters of the filter spec
    (``dimension_numbers[1]``, default ``"HWIO"``-like with NHWC inputs);
    ``padding`` is ``"VALID"``, ``"SAME"`` or ``"CIRCULAR"`` (periodic); the
    parameterizations are the convolutional twins of :func:`Dense`'s, with
    fan-in ``C_in * prod(filter_shape)``.
    """
    return _conv_layer(
        "Conv",
        out_chan,
        filter_shape,
        strides,
        padding,
        W_std,
        b_std,
        dimension_numbers,
        parameterization,
        s,
        transpose=False,
        shared=True,
    )


def ConvTranspose(
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    W_std: float = 1.0,
    b_std: float | None = None,
    dimension_numbers: DimensionNumbers | None = None,
    parameterization: Parameterization = "ntk",
    s: tuple[int, int] = (1, 1),
) -> Layer:
    """Transposed convolution (``lax.conv_transpose``), arguments as :func:`Conv`.

    Its kernel is the window sum of the stride-dilated, padded input
    covariance; ``CIRCULAR`` wraps the overhang of the ``VALID`` output onto a
    periodic image of ``stride`` times the input size, as Neural Tangents does.
    """
    return _conv_layer(
        "ConvTranspose",
        out_chan,
        filter_shape,
        strides,
        padding,
        W_std,
        b_std,
        dimension_numbers,
        parameterization,
        s,
        transpose=True,
        shared=True,
    )


def ConvLocal(
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None = None,
    padding: str = "VALID",
    W_std: float = 1.0,
    b_std: float | None = None,
    dimension_numbers: DimensionNumbers | None = None,
    parameterization: Parameterization = "ntk",
    s: tuple[int, int] = (1, 1),
) -> Layer:
    """Locally connected layer: a convolution with separate filters (and
    biases) at every output position; arguments as :func:`Conv`."""
    return _conv_layer(
        "ConvLocal",
        out_chan,
        filter_shape,
        strides,
        padding,
        W_std,
        b_std,
        dimension_numbers,
        parameterization,
        s,
        transpose=False,
        shared=False,
    )


def _check_conv_args(
    name: str,
    filter_shape: Any,
    strides: Any,
    padding: Any,
    dimension_numbers: Any,
) -> tuple[tuple[int, ...], tuple[int, ...], str, DimensionNumbers]:
    filters, strides, pad = _spatial.check_window(
        name, filter_shape, strides, padding, "filter_shape"
    )
    n = len(filters)
    if dimension_numbers is None:
        dimension_numbers = default_dimension_numbers(n)
    lhs, rhs, out = (str(v) for v in dimension_numbers)
    spatial = [c for c in lhs if c not in "NC"]
    ok = (
        len(lhs) == len(rhs) == len(out) == n + 2
        and sorted(lhs) == sorted(out)
        and {"N", "C"} <= set(lhs)
        and {"I", "O"} <= set(rhs)
        and sorted(c for c in rhs if c not in "IO") == sorted(spatial)
    )
    if not ok:
        raise LayerError(
            name,
            f"`dimension_numbers={dimension_numbers!r}` does not describe a "
            f"{n}-D convolution: the input and output specs need N, C and {n} "
            f"spatial letters, the filter spec I, O and the same spatial letters.",
            f"e.g. {default_dimension_numbers(n)} (NHWC), or "
            f"('NCHW', 'OIHW', 'NCHW') for channels-first images.",
        )
    return filters, strides, pad, (lhs, rhs, out)


def _conv_layer(
    name: str,
    out_chan: int,
    filter_shape: Sequence[int],
    strides: Sequence[int] | None,
    padding: str,
    W_std: float,
    b_std: float | None,
    dimension_numbers: DimensionNumbers | None,
    parameterization: Parameterization,
    s: tuple[int, int],
    *,
    transpose: bool,
    shared: bool,
) -> Layer:
    parameterization = _check_dense_args(
        name, out_chan, W_std, b_std, parameterization, s
    )
    filters, strides, padding, dn = _check_conv_args(
        name, filter_shape, strides, padding, dimension_numbers
    )
    lhs_spec, rhs_spec, out_spec = dn
    n = len(filters)
    width = out_chan * (s[1] if parameterization == "standard" else 1)
    # The padding the finite layer applies: CIRCULAR wraps the input by hand
    # (plain convolution) or folds the VALID output (transposed one).
    lax_padding = "VALID" if padding == "CIRCULAR" else padding
    shape_padding = "SAME" if padding == "CIRCULAR" else padding
    in_spatial = [c for c in lhs_spec if c not in "NC"]
    filter_spatial = [c for c in rhs_spec if c not in "IO"]
    out_spatial = [c for c in out_spec if c not in "NC"]
    # Filter sizes and strides in the input's spatial order (the kernel's).
    to_filter = [filter_spatial.index(c) for c in in_spatial]
    filters_k = tuple(filters[i] for i in to_filter)
    strides_k = tuple(strides[i] for i in to_filter)
    out_order = [in_spatial.index(c) for c in out_spatial]
    filter_size = math.prod(filters)

    def fan_in(input_shape: Sequence[int]) -> int:
        return int(input_shape[lhs_spec.index("C")]) * filter_size

    def filter_array_shape(in_chan: int) -> tuple[int, ...]:
        it = iter(filters)
        return tuple(
            width if c == "O" else in_chan if c == "I" else next(it) for c in rhs_spec
        )

    def lax_conv(x: jax.Array, w: jax.Array, pad: str) -> jax.Array:
        if transpose:
            return jax.lax.conv_transpose(x, w, strides, pad, dimension_numbers=dn)
        if shared:
            return jax.lax.conv_general_dilated(
                x, w, strides, pad, dimension_numbers=dn
            )
        return jax.lax.conv_general_dilated_local(
            x, w, strides, pad, filters, dimension_numbers=dn
        )

    def shape_fn(input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape:
            return input_shape
        _spatial.check_rank(name, input_shape, n, "convolution")
        in_chan = input_shape[lhs_spec.index("C")]
        w_shape = filter_array_shape(in_chan)
        conv = jax.lax.conv_transpose if transpose else jax.lax.conv_general_dilated
        kw = {"strides": strides} if transpose else {"window_strides": strides}
        out = jax.eval_shape(
            lambda x, w: conv(x, w, padding=shape_padding, dimension_numbers=dn, **kw),
            jax.ShapeDtypeStruct(tuple(input_shape), jnp.float32),
            jax.ShapeDtypeStruct(w_shape, jnp.float32),
        )
        return tuple(out.shape)

    def init_fn(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[Any, Any]:
        input_shape = tuple(input_shape)
        output_shape = shape_fn(input_shape)
        in_chan = input_shape[lhs_spec.index("C")]
        k_w, k_b = jax.random.split(key)
        if shared:
            w_shape = filter_array_shape(in_chan)
        else:
            # conv_general_dilated_local: one filter per output position, the
            # input channels and window flattened into I.
            out_sizes = dict(zip(out_spec, output_shape, strict=True))
            w_shape = tuple(
                width
                if c == "O"
                else in_chan * filter_size
                if c == "I"
                else out_sizes[c]
                for c in rhs_spec
            )
        W = jax.random.normal(k_w, w_shape)
        b = None
        if b_std is not None:
            if shared:
                b_shape = tuple(width if c == "C" else 1 for c in out_spec)
            else:
                b_shape = tuple(
                    1 if c == "N" else output_shape[i] for i, c in enumerate(out_spec)
                )
            b = jax.random.normal(k_b, b_shape)
        if parameterization == "standard":
            W = W * (W_std / (fan_in(input_shape) / s[0]) ** 0.5)
            b = None if b is None else b * b_std
        return output_shape, (W, b)

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del kwargs
        W, b = params
        x = inputs
        if padding == "CIRCULAR" and not transpose:
            axes = [lhs_spec.index(c) for c in in_spatial]
            widths = [(0, 0)] * x.ndim
            for a, c in zip(axes, in_spatial, strict=True):
                i = filter_spatial.index(c)
                widths[a] = _spatial.pads_for(
                    x.shape[a], filters[i], strides[i], "SAME"
                )
            x = jnp.pad(x, widths, mode="wrap")
        out = lax_conv(x, W, lax_padding)
        if padding == "CIRCULAR" and transpose:
            for c in out_spatial:
                a = out_spec.index(c)
                period = (
                    inputs.shape[lhs_spec.index(c)] * strides[filter_spatial.index(c)]
                )
                out = _spatial.fold_circular(out, (a,), period)
        if parameterization == "ntk":
            out = (W_std / fan_in(inputs.shape) ** 0.5) * out
            return out if b is None else out + b_std * b
        out = out / s[0] ** 0.5
        return out if b is None else out + b

    def window(x: jax.Array | None, batch_ndim: int, full: bool) -> jax.Array | None:
        """The unscaled covariance map: mean over the filter window."""
        if x is None or jnp.ndim(x) == 0:
            return x
        if full and not shared:
            d = window(_spatial.diagonal(x, batch_ndim), batch_ndim, False)
            return _spatial.from_diagonal(d, batch_ndim)
        summed = _spatial.transposed_window_sum if transpose else _spatial.window_sum
        for dim in range(n):
            axes = _spatial.pair_axes(batch_ndim, dim) if full else (batch_ndim + dim,)
            x = summed(x, axes, filters_k[dim], strides_k[dim], padding)
        return x / filter_size

    def add_bias(x: jax.Array, shift: float, batch_ndim: int, full: bool) -> jax.Array:
        if shift == 0.0:
            return x
        if full and not shared:
            ones = jnp.ones(x.shape[:batch_ndim] + x.shape[batch_ndim::2], x.dtype)
            return x + shift * _spatial.from_diagonal(ones, batch_ndim)
        return x + shift

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        _spatial.check_rank(name, k.shape1, n, "convolution")
        full = not k.diagonal_spatial
        bias = 0.0 if b_std is None else b_std**2
        cov_ndim = 1 if k.diagonal_batch else 2

        def affine(x: jax.Array | None, batch_ndim: int) -> jax.Array | None:
            if x is None:
                return None
            return add_bias(
                W_std**2 * window(x, batch_ndim, full), bias, batch_ndim, full
            )

        nngp_unscaled = window(k.nngp, 2, full)
        nngp = add_bias(W_std**2 * nngp_unscaled, bias, 2, full)
        ntk = k.ntk
        if ntk is not None:
            ntk_unscaled = window(ntk, 2, full)
            if parameterization == "ntk":
                ntk = W_std**2 * ntk_unscaled + nngp
            else:
                ntk = fan_in(k.shape1) / s[0] * nngp_unscaled + W_std**2 * ntk_unscaled
                ntk = ntk if b_std is None else add_bias(ntk, 1.0, 2, full)
        out = k.replace(
            nngp=nngp,
            ntk=ntk,
            cov1=affine(k.cov1, cov_ndim),
            cov2=affine(k.cov2, cov_ndim),
            is_gaussian=True,
            is_input=False,
            batch_axis=out_spec.index("N"),
            channel_axis=out_spec.index("C"),
        )
        if out_order != sorted(out_order):
            out = out.replace(
                **_spatial.map_covariances(
                    out, lambda x, b: _spatial.permute_spatial(x, out_order, b, full)
                )
            )
        return out

    mask_rule = _masking.transposed_window_rule if transpose else _masking.window_rule
    return make_layer(
        f"{name}({out_chan}, {filters})",
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        requirements=Requirements(
            batch_axis=lhs_spec.index("N"),
            # Counted from the end when channels come last, so inputs of the
            # wrong rank reach the layer's own rank check, which names the fix.
            channel_axis=lhs_spec.index("C") - (n + 2 if lhs_spec[-1] == "C" else 0),
        ),
        masking=mask_rule(filters_k, strides_k, padding, tuple(out_order)),
    )
