r"""Global multi-head self-attention and its infinite-width kernels.

Hron, Bahri, Sohl-Dickstein, Novak, "Infinite attention: NNGP and NTK for deep
attention networks" (ICML 2020, arXiv:2006.10540). Every position attends to
every other one, so the kernel needs covariances between all position pairs
(the full spatial layout); positions of all spatial dimensions are flattened
into one sequence of length ``P`` for the maths and put back afterwards.

One head maps inputs :math:`x \in \mathbb R^{P \times n}` to
:math:`\phi(Q K^\top / s)\, V` with :math:`Q = x W^Q`, :math:`K = x W^K`,
:math:`V = x W^V`; heads are concatenated and mixed by :math:`W^O`. Two limits:

* ``linear_scaling=True`` (the paper's :math:`d^{-1}` scaling, sec. 3.2): the
  logits are divided by :math:`n \cdot d_k`, and the query and key weights are
  *tied* (:math:`W^Q = W^K`). As :math:`d_k \to \infty` the logits converge to
  the deterministic :math:`\sigma_{QK} K(a, b)`, the example's own input
  covariance between positions (with independent :math:`W^Q, W^K` they would
  converge to 0: uniform attention). Given these attention weights
  :math:`G = \phi(\sigma_{QK} K_{11})` the output is Gaussian with

  .. math::
      K'_{12} = \sigma_{OV}^2\, G_1 K_{12} G_2^\top + \sigma_b^2, \qquad
      \Theta'_{12} = \sigma_{OV}^2\, G_1 \Theta_{12} G_2^\top
                     + 2\sigma_{OV}^2\, G_1 K_{12} G_2^\top + \sigma_b^2,

  the factor 2 from :math:`W^V` and :math:`W^O`; the query/key weights stop
  contributing to the NTK as :math:`d_k \to \infty`.
* ``linear_scaling=False`` (standard :math:`d^{-1/2}` scaling): the logits stay
  Gaussian and the output is a Gaussian process only as the number of heads
  goes to infinity (the paper's Theorem 3). Its kernel is an expectation
  over Gaussian logits with a closed form only for ``IDENTITY``:
  :math:`K'_{12}(a, a') = \sigma_{QK}^2\sigma_{OV}^2\, \tilde K_{12}(a, a')
  \sum_{b, b'} \tilde K_{12}(b, b') K_{12}(b, b') + \sigma_b^2`.

Positional embeddings (sec. 3.3) are random, trainable and added (``SUM``)
or appended (``CONCAT``) to the inputs of the queries/keys (and values with
``val_pos_emb``): in the limit they add ``W_pos_emb_std**2 R`` to the input
covariance, ``R`` the identity or ``pos_emb_decay_fn`` of the ``p``-th power of
the L-``p`` distance between positions; ``CONCAT`` weighs both parts by their
share of channels. Masked positions (``mask_constant``) are never attended to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import LayerError
from ._kernel import Kernel
from ._layer import Layer, Requirements, make_layer
from ._masking import KEEP_REMASK

MECHANISMS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "SOFTMAX": lambda g: jax.nn.softmax(g, axis=-1),
    "IDENTITY": lambda g: g,
    "ABS": jnp.abs,
    "RELU": lambda g: jnp.maximum(g, 0.0),
}
POS_EMB_TYPES = ("NONE", "SUM", "CONCAT")


def _choice(name: str, arg: str, value: Any, options: Sequence[str]) -> str:
    text = str(getattr(value, "name", value)).upper()
    if text not in options:
        raise LayerError(
            name,
            f"`{arg}={value!r}` is not known.",
            f"use one of {', '.join(repr(o) for o in options)}.",
        )
    return text


def _positive_int(name: str, **values: Any) -> None:
    for arg, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise LayerError(
                name, f"`{arg}={v!r}` must be a positive integer.", f"e.g. {arg}=64."
            )


def _positive_number(name: str, **values: Any) -> None:
    for arg, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int | float | np.number) or v <= 0:
            raise LayerError(
                name,
                f"`{arg}={v!r}` must be a positive number.",
                f"e.g. {arg}=1.0.",
            )


def position_covariance(
    spatial: Sequence[int], p_norm: float, decay_fn: Callable[[Any], Any] | None
) -> np.ndarray:
    """``(P, P)`` covariance of positional embeddings over flattened positions.

    ``decay_fn=None``: independent embeddings (identity). Otherwise
    ``decay_fn(sum_d |a_d - b_d| ** p_norm)`` for positions ``a, b``.
    """
    size = math.prod(spatial)
    if decay_fn is None:
        return np.eye(size)
    grids = np.stack(
        [g.reshape(-1) for g in np.meshgrid(*map(np.arange, spatial), indexing="ij")],
        axis=-1,
    ).astype(float)
    if grids.size == 0:
        grids = np.zeros((size, 0))
    dist = np.sum(np.abs(grids[:, None, :] - grids[None, :, :]) ** p_norm, axis=-1)
    # Evaluated now even inside a jit trace: the covariance depends only on
    # the (static) spatial shape, and the Cholesky factor needs numbers.
    with jax.ensure_compile_time_eval():
        cov = decay_fn(dist)
    return np.asarray(cov, dtype=float).reshape(size, size)


def to_positions(x: jax.Array, batch_ndim: int) -> jax.Array:
    """Full layout ``(*B, H, H', W, W')`` -> ``(*B, P, P')`` (positions flattened)."""
    n_spatial = (x.ndim - batch_ndim) // 2
    batch = list(range(batch_ndim))
    first = [batch_ndim + 2 * d for d in range(n_spatial)]
    second = [batch_ndim + 2 * d + 1 for d in range(n_spatial)]
    size = math.prod(x.shape[a] for a in first)
    x = jnp.transpose(x, batch + first + second)
    return x.reshape(x.shape[:batch_ndim] + (size, size))


def from_positions(x: jax.Array, batch_ndim: int, spatial: Sequence[int]) -> jax.Array:
    """Inverse of :func:`to_positions` for spatial sizes ``spatial``."""
    n = len(spatial)
    x = x.reshape(x.shape[:batch_ndim] + tuple(spatial) * 2)
    order = list(range(batch_ndim))
    for d in range(n):
        order += [batch_ndim + d, batch_ndim + n + d]
    return jnp.transpose(x, order)


def _masked_weights(
    logits: jax.Array, key_mask: jax.Array | None, mechanism: str
) -> jax.Array:
    """Attention weights from logits ``(..., P, P')``; masked keys get weight 0."""
    fn = MECHANISMS[mechanism]
    if key_mask is None:
        return fn(logits)
    if mechanism == "SOFTMAX":
        # where() before exp so masked logits cannot overflow; a query whose
        # keys are all masked gets all-zero weights (its output is masked too).
        keep = ~key_mask
        shifted = logits - jnp.max(
            jnp.where(keep, logits, -jnp.inf), axis=-1, keepdims=True
        )
        e = jnp.where(keep, jnp.exp(jnp.where(keep, shifted, 0.0)), 0.0)
        total = jnp.sum(e, axis=-1, keepdims=True)
        return e / jnp.where(total > 0, total, 1.0)
    return fn(jnp.where(key_mask, jnp.zeros((), logits.dtype), logits))


def GlobalSelfAttention(
    n_chan_out: int,
    n_chan_key: int,
    n_chan_val: int,
    n_heads: int,
    linear_scaling: bool = True,
    W_key_std: float = 1.0,
    W_value_std: float = 1.0,
    W_query_std: float = 1.0,
    W_out_std: float = 1.0,
    b_std: float | None = None,
    attention_mechanism: str = "SOFTMAX",
    pos_emb_type: str = "NONE",
    pos_emb_p_norm: float = 2,
    pos_emb_decay_fn: Callable[[Any], Any] | None = None,
    n_chan_pos_emb: int | None = None,
    W_pos_emb_std: float = 1.0,
    val_pos_emb: bool = False,
    batch_axis: int = 0,
    channel_axis: int = -1,
) -> Layer:
    r"""Global scaled dot-product self-attention, as Neural Tangents' layer.

    Args:
      n_chan_out: output channels.
      n_chan_key: channels of keys and queries (:math:`d_k`).
      n_chan_val: channels of values per head.
      n_heads: number of heads.
      linear_scaling: ``True``: logits scaled by :math:`1/d_k` with tied query
        and key weights (deterministic attention in the limit, closed-form
        kernel for every mechanism); ``False``: :math:`1/\sqrt{d_k}` with
        independent weights (closed form for ``IDENTITY`` only).
      W_key_std, W_query_std: weight scales; the kernel depends only on
        their product :math:`\sigma_{QK}`.
      W_value_std, W_out_std: weight scales; only their product
        :math:`\sigma_{OV}` matters.
      b_std: output bias scale; ``None`` for no bias.
      attention_mechanism: ``"SOFTMAX"`` (over key positions), ``"IDENTITY"``,
        ``"ABS"`` or ``"RELU"`` applied to the logits.
      pos_emb_type: ``"NONE"``, ``"SUM"`` or ``"CONCAT"``.
      pos_emb_p_norm: ``p`` of the L-``p`` distance for ``pos_emb_decay_fn``.
      pos_emb_decay_fn: distance -> covariance of positional embeddings;
        ``None`` makes them independent across positions.
      n_chan_pos_emb: channels of the embeddings (``CONCAT``); ``None`` means
        as many as the inputs (required for ``SUM``).
      W_pos_emb_std: scale of the embeddings.
      val_pos_emb: also feed the embeddings to the values.
      batch_axis, channel_axis: axes of the inputs; all others are positions.

    ``apply_fn(params, x, mask=None)`` takes an optional boolean position mask
    (``True`` = padding; shaped like ``x`` with or without the channel axis):
    masked keys receive no attention.
    """
    name = "GlobalSelfAttention"
    _positive_int(
        name,
        n_chan_out=n_chan_out,
        n_chan_key=n_chan_key,
        n_chan_val=n_chan_val,
        n_heads=n_heads,
    )
    _positive_number(
        name,
        W_key_std=W_key_std,
        W_value_std=W_value_std,
        W_query_std=W_query_std,
        W_out_std=W_out_std,
        W_pos_emb_std=W_pos_emb_std,
        pos_emb_p_norm=pos_emb_p_norm,
    )
    if b_std is not None and (isinstance(b_std, bool) or not b_std >= 0):
        raise LayerError(
            name, f"`b_std={b_std!r}` must be None or >= 0.", "e.g. b_std=0.1."
        )
    mechanism = _choice(name, "attention_mechanism", attention_mechanism, MECHANISMS)
    pos_type = _choice(name, "pos_emb_type", pos_emb_type, POS_EMB_TYPES)
    if n_chan_pos_emb is not None:
        _positive_int(name, n_chan_pos_emb=n_chan_pos_emb)
    if pos_emb_decay_fn is not None and not callable(pos_emb_decay_fn):
        raise LayerError(
            name,
            f"`pos_emb_decay_fn={pos_emb_decay_fn!r}` is not callable.",
            "pass a function of the distance, e.g. lambda d: jnp.exp(-d), or None.",
        )
    qk_std = W_query_std * W_key_std
    ov_std = W_out_std * W_value_std
    b_var = 0.0 if b_std is None else b_std**2

    def axes(ndim: int) -> tuple[int, int, list[int]]:
        b, c = batch_axis % ndim, channel_axis % ndim
        return b, c, [a for a in range(ndim) if a not in (b, c)]

    def pos_channels(n_in: int) -> int:
        n_pe = n_in if n_chan_pos_emb is None else n_chan_pos_emb
        if pos_type == "SUM" and n_pe != n_in:
            raise LayerError(
                name,
                f"SUM positional embeddings are added to the inputs, so they need "
                f"the inputs' {n_in} channels, not n_chan_pos_emb={n_pe}.",
                "leave n_chan_pos_emb=None, or use pos_emb_type='CONCAT'.",
            )
        return n_pe

    def shape_fn(shape: tuple[int, ...]) -> tuple[int, ...]:
        if not shape:
            return shape
        c = channel_axis % len(shape)
        return tuple(shape[:c]) + (n_chan_out,) + tuple(shape[c + 1 :])

    def init_fn(key: jax.Array, input_shape: Any) -> tuple[Any, Any]:
        input_shape = tuple(input_shape)
        b, c, _ = axes(len(input_shape))
        n_in = input_shape[c]
        n_keys_in = n_vals_in = n_in
        pos_emb = None
        k_q, k_k, k_v, k_o, k_b, k_pe = jax.random.split(key, 6)
        if pos_type != "NONE":
            n_pe = pos_channels(n_in)
            pe_shape = list(input_shape)
            pe_shape[b], pe_shape[c] = 1, n_pe
            pos_emb = jax.random.normal(k_pe, tuple(pe_shape))
            if pos_type == "CONCAT":
                n_keys_in += n_pe
                n_vals_in += n_pe if val_pos_emb else 0
        w_k = jax.random.normal(k_k, (n_heads, n_keys_in, n_chan_key))
        w_q = (
            None
            if linear_scaling
            else jax.random.normal(k_q, (n_heads, n_keys_in, n_chan_key))
        )
        w_v = jax.random.normal(k_v, (n_heads, n_vals_in, n_chan_val))
        w_o = jax.random.normal(k_o, (n_heads * n_chan_val, n_chan_out))
        bias = None
        if b_std is not None:
            b_shape = [1] * len(input_shape)
            b_shape[c] = n_chan_out
            bias = jax.random.normal(k_b, tuple(b_shape))
        return shape_fn(input_shape), (w_q, w_k, w_v, w_o, bias, pos_emb)

    def _cholesky(spatial: Sequence[int]) -> np.ndarray:
        cov = position_covariance(spatial, pos_emb_p_norm, pos_emb_decay_fn)
        try:
            return np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise LayerError(
                name,
                "pos_emb_decay_fn gives a position covariance that is not "
                "positive definite, so finite embeddings with it cannot be drawn.",
                "use a positive definite decay, e.g. lambda d: jnp.exp(-d) with "
                "pos_emb_p_norm=1 or 2.",
            ) from None

    def apply_fn(
        params: Any, inputs: jax.Array, mask: Any = None, **kwargs: Any
    ) -> jax.Array:
        del kwargs
        w_q, w_k, w_v, w_o, bias, pos_emb = params
        b, c, spatial_axes = axes(inputs.ndim)
        spatial = [inputs.shape[a] for a in spatial_axes]
        n, size = inputs.shape[b], math.prod(spatial)
        x = jnp.moveaxis(inputs, (b, c), (0, -1)).reshape(n, size, -1)
        keep = None
        if mask is not None:
            m = jnp.asarray(mask, bool)
            if m.ndim == inputs.ndim:
                m = jnp.all(m, axis=c)
            # Without the channel axis, the batch axis moves down past it.
            m = jnp.moveaxis(m, b if b < c else b - 1, 0)
            keep = ~m.reshape(n, size)
        x_keys = x_vals = x
        if pos_emb is not None:
            pe = jnp.moveaxis(pos_emb, (b, c), (0, -1)).reshape(1, size, -1)
            if pos_emb_decay_fn is not None:
                pe = jnp.einsum("pq,nqc->npc", _cholesky(spatial).astype(pe.dtype), pe)
            pe = W_pos_emb_std * pe
            if keep is not None:
                pe = pe * keep[..., None]
            if pos_type == "SUM":
                x_keys = x + pe
            else:
                x_keys = jnp.concatenate(
                    [x, jnp.broadcast_to(pe, x.shape[:2] + pe.shape[2:])], -1
                )
            if val_pos_emb:
                x_vals = x_keys
        keys = jnp.einsum("npc,hcd->hnpd", x_keys, w_k)
        queries = keys if linear_scaling else jnp.einsum("npc,hcd->hnpd", x_keys, w_q)
        scale = x_keys.shape[-1] * (n_chan_key if linear_scaling else n_chan_key**0.5)
        logits = jnp.einsum("hnpd,hnqd->hnpq", queries, keys) * (qk_std / scale)
        weights = _masked_weights(
            logits, None if keep is None else ~keep[None, :, None, :], mechanism
        )
        values = jnp.einsum("npc,hcd->hnpd", x_vals, w_v)
        heads = jnp.einsum("hnpq,hnqd->nphd", weights, values)
        heads = heads.reshape(n, size, n_heads * n_chan_val)
        norm = ov_std / (n_chan_val * n_heads * x_vals.shape[-1]) ** 0.5
        out = norm * (heads @ w_o)
        out = out.reshape((n, *spatial, n_chan_out))
        out = jnp.moveaxis(out, (0, -1), (b, c))
        return out if bias is None else out + b_std * bias

    def kernel_transform(k: Kernel, **kwargs: Any) -> Kernel:
        del kwargs
        if not k.shape1:
            raise LayerError(
                name,
                "received a Kernel without shape information.",
                "call kernel_fn on raw inputs.",
            )
        _, c, spatial_axes = axes(len(k.shape1))
        spatial = [k.shape1[a] for a in spatial_axes]
        if spatial and k.diagonal_spatial:
            raise LayerError(
                name,
                "received only same-position covariances, but attention mixes "
                "every position with every other.",
                "call the network's kernel_fn on raw inputs (it then keeps all "
                "position pairs).",
            )
        if not linear_scaling and mechanism != "IDENTITY":
            raise LayerError(
                name,
                f"with linear_scaling=False the {mechanism} attention weights stay "
                "random in the limit, and their kernel is an integral with no "
                "closed form (Hron et al. 2020, sec. 3.1).",
                "use linear_scaling=True (1/d_k scaling, tied query/key weights), "
                "attention_mechanism='IDENTITY', or estimate the kernel with "
                "nkwidgets.monte_carlo_kernel_fn.",
            )
        n_in = k.shape1[c]
        w_in, w_pe = 1.0, W_pos_emb_std**2
        if pos_type == "CONCAT":
            n_pe = pos_channels(n_in)
            w_in, w_pe = n_in / (n_in + n_pe), w_pe * n_pe / (n_in + n_pe)
        elif pos_type == "SUM":
            pos_channels(n_in)

        dtype = k.nngp.dtype
        size = math.prod(spatial)
        n1, n2 = k.nngp.shape[:2]
        flat = bool(spatial)
        k12 = to_positions(k.nngp, 2) if flat else k.nngp[..., None, None]
        k11 = to_positions(k.cov1, 1) if flat else k.cov1[..., None, None]
        k22 = None
        if k.cov2 is not None:
            k22 = to_positions(k.cov2, 1) if flat else k.cov2[..., None, None]
        t12 = None
        if k.ntk is not None:
            t = jnp.broadcast_to(k.ntk, k.nngp.shape)
            t12 = to_positions(t, 2) if flat else t[..., None, None]
        m1 = None if k.mask1 is None else k.mask1.reshape(n1, size)
        m2 = k.mask2 if k.mask2 is not None else k.mask1
        m2 = None if m2 is None else m2.reshape(n2, size)

        r = None
        if pos_type != "NONE":
            r = jnp.asarray(
                position_covariance(spatial, pos_emb_p_norm, pos_emb_decay_fn), dtype
            )

        def interp(x: jax.Array, ma: Any, mb: Any, pair: bool) -> jax.Array:
            if r is None:
                return x
            rr = jnp.broadcast_to(r, x.shape)
            if ma is not None or mb is not None:
                ma = jnp.zeros(x.shape[:1] + (size,), bool) if ma is None else ma
                mb_ = ma if mb is None else mb
                if pair:
                    hit = ma[:, None, :, None] | mb_[None, :, None, :]
                else:
                    hit = ma[:, :, None] | ma[:, None, :]
                rr = jnp.where(hit, 0.0, rr)
            return w_in * x + w_pe * rr

        k11i = interp(k11, m1, None, False)
        k22i = None if k22 is None else interp(k22, m2, None, False)
        k12i = interp(k12, m1, m2, True)
        t12i = None if t12 is None else interp(t12, m1, m2, True)

        if linear_scaling:

            def weights(cov_i: jax.Array, m: Any) -> jax.Array:
                return _masked_weights(
                    qk_std * cov_i, None if m is None else m[:, None, :], mechanism
                )

            g1 = weights(k11i, m1)
            g2 = g1 if k22i is None else weights(k22i, m2)
            v12 = k12i if val_pos_emb else k12
            v11 = k11i if val_pos_emb else k11
            gkg = jnp.einsum("iab,ijbc,jdc->ijad", g1, v12, g2)
            nngp = ov_std**2 * gkg + b_var
            cov1 = ov_std**2 * jnp.einsum("iab,ibc,idc->iad", g1, v11, g1) + b_var
            cov2 = None
            if k22 is not None:
                v22 = k22i if val_pos_emb else k22
                cov2 = ov_std**2 * jnp.einsum("iab,ibc,idc->iad", g2, v22, g2) + b_var
            ntk = None
            if t12 is not None:
                tv = t12i if val_pos_emb else t12
                gtg = jnp.einsum("iab,ijbc,jdc->ijad", g1, tv, g2)
                ntk = ov_std**2 * (gtg + 2 * gkg) + b_var
        else:
            var = (qk_std * ov_std) ** 2

            def total(a: jax.Array, b: jax.Array) -> jax.Array:
                return jnp.sum(a * b, axis=(-2, -1), keepdims=True)

            v12 = k12i if val_pos_emb else k12
            dot12 = total(k12i, v12)
            nngp = var * dot12 * k12i + b_var
            cov1 = var * total(k11i, k11i if val_pos_emb else k11) * k11i + b_var
            cov2 = None
            if k22 is not None:
                cov2 = var * total(k22i, k22i if val_pos_emb else k22) * k22i + b_var
            ntk = None
            if t12 is not None:
                assert t12i is not None
                if val_pos_emb or pos_type == "NONE":
                    through_inputs = 2 * total(k12i, t12i)
                else:
                    through_inputs = total(k12i, t12) + total(k12, t12i)
                ntk = var * (through_inputs * k12i + dot12 * (t12i + 4 * k12i)) + b_var

        def back(x: jax.Array | None, batch_ndim: int) -> jax.Array | None:
            if x is None:
                return None
            if flat:
                return from_positions(x, batch_ndim, spatial)
            return x[..., 0, 0]

        return k.replace(
            nngp=back(nngp, 2),
            ntk=back(ntk, 2),
            cov1=back(cov1, 1),
            cov2=back(cov2, 1),
            is_gaussian=True,
            is_input=False,
        )

    return make_layer(
        name,
        init_fn=init_fn,
        apply_fn=apply_fn,
        kernel_transform=kernel_transform,
        shape_fn=shape_fn,
        requirements=Requirements(
            spatial="full", batch_axis=batch_axis, channel_axis=channel_axis
        ),
        masking=KEEP_REMASK,
    )
