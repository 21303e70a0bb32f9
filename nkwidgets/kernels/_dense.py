"""Dense (fully connected) layers in the NTK and the standard parameterization."""

from __future__ import annotations

from typing import Any, Literal

import jax
import jax.numpy as jnp

from ..errors import LayerError
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer
from ._masking import KEEP_REMASK

Parameterization = Literal["ntk", "standard"]


def _affine(cov: jax.Array | None, W_std: float, b_std: float | None) -> Any:
    if cov is None:
        return None
    return W_std**2 * cov + (0.0 if b_std is None else b_std**2)


def Dense(
    out_dim: int,
    W_std: float = 1.0,
    b_std: float | None = None,
    batch_axis: int = 0,
    channel_axis: int = -1,
    parameterization: Parameterization = "ntk",
    s: tuple[int, int] = (1, 1),
) -> Layer:
    r"""Fully connected layer acting on the channel axis.

    NTK parameterization (Jacot et al. 2018, p. 3): :math:`W_{ij}, b_i \sim
    \mathcal N(0, 1)` and

    .. math:: z_i = \frac{\sigma_W}{\sqrt{n_{in}}} \sum_j W_{ij} x_j + \sigma_b b_i .

    Its kernel transform is :math:`K' = \sigma_W^2 K + \sigma_b^2` and
    :math:`\Theta' = K' + \sigma_W^2 \Theta`, independent of the width.

    Standard parameterization (Sohl-Dickstein et al. 2020, "On the infinite width
    limit of neural networks with a standard parameterization", eq. 3):
    :math:`W_{ij} \sim \mathcal N(0, \sigma_W^2 s_0 / n_{in})`,
    :math:`b_i \sim \mathcal N(0, \sigma_b^2)`,
    :math:`z = W x / \sqrt{s_0} + b`, with ``n_in = s[0] * in_dim`` and
    ``s[1] * out_dim`` outputs. The NNGP is the same as in the NTK
    parameterization; the NTK becomes
    :math:`\Theta' = (n_{in}/s_0) K + \sigma_W^2 \Theta + [\sigma_b \ne \mathrm{None}]`,
    so it depends on the layer widths through ``s``.

    Args:
      out_dim: output channels. Ignored by ``kernel_fn`` under ``"ntk"``.
      W_std: weight standard deviation :math:`\sigma_W` (> 0).
      b_std: bias standard deviation :math:`\sigma_b`; ``None`` means no bias.
      batch_axis: batch axis of the inputs.
      channel_axis: axis the layer mixes.
      parameterization: ``"ntk"`` or ``"standard"``.
      s: ``(s_in, s_out)`` width multipliers of the standard parameterization;
        the first layer has ``s_in = 1`` and each layer's ``s_in`` equals the
        previous layer's ``s_out``.

    Returns:
      ``(init_fn, apply_fn, kernel_fn)``.
    """
    name = f"Dense({out_dim})"
    parameterization = _check_dense_args(
        name, out_dim, W_std, b_std, parameterization, s
    )

    def shape_fn(input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape:
            return input_shape
        axis = channel_axis % len(input_shape)
        width = out_dim * (s[1] if parameterization == "standard" else 1)
        return tuple(input_shape[:axis]) + (width,) + tuple(input_shape[axis + 1 :])

    def init_fn(key: jax.Array, input_shape: tuple[int, ...]) -> tuple[Any, Any]:
        output_shape = shape_fn(tuple(input_shape))
        axis = channel_axis % len(input_shape)
        n_in, n_out = input_shape[axis], output_shape[axis]
        k_w, k_b = jax.random.split(key)
        W = jax.random.normal(k_w, (n_in, n_out))
        b = None
        if b_std is not None:
            b_shape = [1] * len(input_shape)
            b_shape[axis] = n_out
            b = jax.random.normal(k_b, tuple(b_shape))
        if parameterization == "standard":
            W = W * (W_std / (n_in / s[0]) ** 0.5)
            b = None if b is None else b * b_std
        return output_shape, (W, b)

    def apply_fn(params: Any, inputs: jax.Array, **kwargs: Any) -> jax.Array:
        del kwargs
        W, b = params
        axis = channel_axis % inputs.ndim
        product = jnp.moveaxis(jnp.tensordot(inputs, W, (axis, 0)), -1, axis)
        if parameterization == "ntk":
            out = (W_std / inputs.shape[axis] ** 0.5) * product
            return out if b is None else out + b_std * b
        out = product / s[0] ** 0.5
        return out if b is None else out + b

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        ntk = k.ntk
        if parameterization == "ntk":
            nngp = _affine(k.nngp, W_std, b_std)
            if ntk is not None:
                ntk = nngp + W_std**2 * ntk
        else:
            n_in = k.shape1[channel_axis % len(k.shape1)] / s[0]
            if ntk is not None:
                ntk = n_in * k.nngp + W_std**2 * ntk + (0.0 if b_std is None else 1.0)
            nngp = _affine(k.nngp, W_std, b_std)
        return k.replace(
            nngp=nngp,
            ntk=ntk,
            cov1=_affine(k.cov1, W_std, b_std),
            cov2=_affine(k.cov2, W_std, b_std),
            is_gaussian=True,
            is_input=False,
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        requirements=Requirements(batch_axis=batch_axis, channel_axis=channel_axis),
        masking=KEEP_REMASK,
    )


def _check_dense_args(
    name: str,
    out_dim: Any,
    W_std: Any,
    b_std: Any,
    parameterization: Any,
    s: Any,
) -> Parameterization:
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1:
        raise LayerError(
            name,
            f"`out_dim={out_dim!r}` must be a positive integer.",
            "e.g. Dense(512).",
        )
    if not isinstance(W_std, int | float) or not W_std > 0:
        raise LayerError(
            name,
            f"`W_std={W_std!r}` must be a positive number: it is the weight standard "
            "deviation, and a zero or negative value makes the layer output constant.",
            "use e.g. W_std=1.5 (about sqrt(2) keeps ReLU networks' variance stable).",
        )
    if b_std is not None and (not isinstance(b_std, int | float) or b_std < 0):
        raise LayerError(
            name,
            f"`b_std={b_std!r}` must be None (no bias) or a non-negative number.",
            "use e.g. b_std=0.05.",
        )
    p = str(parameterization).lower()
    if p not in ("ntk", "standard"):
        raise LayerError(
            name,
            f"`parameterization={parameterization!r}` is not known.",
            "use 'ntk' or 'standard'.",
        )
    if (
        not isinstance(s, tuple | list)
        or len(s) != 2
        or not all(isinstance(v, int) and v > 0 for v in s)
    ):
        raise LayerError(
            name, f"`s={s!r}` must be a pair of positive integers.", "e.g. s=(1, 2)."
        )
    return p  # type: ignore[return-value]
