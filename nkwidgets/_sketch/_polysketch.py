r"""Randomized Hadamard sketches: SRHT, TensorSRHT and PolySketch.

All three are *unbiased* for inner products: for any fixed inputs,
:math:`\mathbb E\langle S x, S y\rangle = \langle x, y\rangle`,
:math:`\mathbb E\langle T(x \otimes u), T(y \otimes v)\rangle = \langle x,
y\rangle \langle u, v\rangle` and :math:`\mathbb E\langle P_p(x), P_p(y)\rangle
= \langle x, y\rangle^p`, with variance falling like ``1 / sketch_dim``.

* **SRHT** (subsampled randomized Hadamard transform): random signs, the
  orthonormal Walsh–Hadamard transform (spreads every vector's mass evenly over
  the coordinates), then ``m`` coordinates sampled uniformly with replacement and
  rescaled by ``sqrt(d / m)``. ``O(d log d)`` per vector.
* **TensorSRHT**: the sketch of :math:`x \otimes u` as the elementwise product
  of two independent SRHTs without ever forming the tensor product: one
  coordinate of each, sampled jointly, is one coordinate of the transformed
  tensor product.
* **PolySketch**: :math:`x^{\otimes p}` for every ``p <= degree`` by a chain,
  :math:`P_1 = S x`, :math:`P_p = T(P_{p-1} \otimes x)` with fresh randomness at
  each level, so the expectations multiply.

Random parameters are drawn on the host (NumPy, seeded from the layer's JAX
key, see ``_features.host_rng``): a JAX-traced init of a deep sketch is hundreds
of random-bit ops that take seconds to compile, NumPy draws them in
milliseconds, and only the feature maps need to be jitted.

References:
  Ahle, Kapralov, Knudsen, Pagh, Velingker, Woodruff, Zandieh, `Oblivious
  Sketching of High-Degree Polynomial Kernels
  <https://arxiv.org/abs/1909.01410>`_, SODA 2020.

  Han et al., `Fast Neural Kernel Embeddings for General Activations
  <https://arxiv.org/abs/2209.04121>`_, NeurIPS 2022, §4.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


def _pow2(d: int) -> int:
    return 1 << max(d - 1, 0).bit_length()


# Largest Hadamard factor applied as a dense matrix: H_d is the Kronecker
# product of smaller Hadamard matrices, so the transform of a length-2^k axis is
# ceil(k / 7) small matrix products (BLAS-fast, O(d * 128) per vector) instead of
# k butterfly passes over memory, and compiles to a handful of ops.
_MAX_FACTOR_BITS = 7


@functools.lru_cache(maxsize=32)
def _sylvester(bits: int) -> np.ndarray:
    h = np.ones((1, 1))
    for _ in range(bits):
        h = np.block([[h, h], [h, -h]])
    return h


def hadamard(x: jax.Array) -> jax.Array:
    """Orthonormal Walsh–Hadamard transform of the last axis (a power of 2)."""
    d = x.shape[-1]
    bits = d.bit_length() - 1
    if d != 1 << bits:
        raise ValueError(f"hadamard needs a power-of-2 length, got {d}")
    parts = max(1, -(-bits // _MAX_FACTOR_BITS))
    sizes = [bits // parts + (i < bits % parts) for i in range(parts)]
    lead = x.shape[:-1]
    y = x.reshape(lead + tuple(1 << b for b in sizes))
    for i, b in enumerate(sizes):
        axis = len(lead) + i
        h = jnp.asarray(_sylvester(b), x.dtype)
        y = jnp.moveaxis(jnp.tensordot(y, h, axes=([axis], [0])), -1, axis)
    return y.reshape(lead + (d,)) / math.sqrt(d)


# Sampling without replacement lowers the variance by the factor (1 - m / N),
# which matters only when m is a sizeable share of the N candidates; it costs a
# permutation of all N at init, so beyond 4 m candidates coordinates are drawn
# with replacement (both are unbiased).
_WITHOUT_REPLACEMENT_RATIO = 4


def _sample(rng: np.random.Generator, n: int, m: int) -> jax.Array:
    if n <= _WITHOUT_REPLACEMENT_RATIO * m:
        rows = rng.permutation(n)[:m]
    else:
        rows = rng.integers(0, n, m)
    return jnp.asarray(rows, jnp.int32)


def _signs(rng: np.random.Generator, d: int) -> jax.Array:
    return jnp.asarray(rng.choice(np.array([-1, 1], np.int8), d))


class SRHT(NamedTuple):
    """One SRHT from ``d`` (padded to a power of 2) to ``m < d`` dims."""

    signs: jax.Array  # (d_pad,) +-1
    rows: jax.Array  # (m,) int32 sampled coordinates


def srht_dim(d: int, m: int) -> int:
    """Output width: ``m``, or ``d`` when ``m >= d`` (then nothing is sketched)."""
    return min(d, m)


def srht_init(rng: np.random.Generator, d: int, m: int) -> SRHT | None:
    """``None`` when ``m >= d``: the input is kept exactly, with no variance."""
    if m >= d:
        return None
    d_pad = _pow2(d)
    return SRHT(_signs(rng, d_pad), _sample(rng, d_pad, m))


def _rotate(signs: jax.Array, x: jax.Array) -> jax.Array:
    """``sqrt(d_pad) H D x``: every coordinate has second moment ``|x|^2``."""
    d_pad = signs.shape[0]
    pad = d_pad - x.shape[-1]
    if pad:
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)])
    return hadamard(x * signs.astype(x.dtype)) * math.sqrt(d_pad)


def srht(p: SRHT | None, x: jax.Array) -> jax.Array:
    """Sketch the last axis of ``x``, unbiased for inner products."""
    if p is None:
        return x
    m = p.rows.shape[0]
    return jnp.take(_rotate(p.signs, x), p.rows, axis=-1) / math.sqrt(m)


class TensorSRHT(NamedTuple):
    """Random signs of both factors and ``m`` sampled coordinate pairs."""

    left_signs: jax.Array  # (d1_pad,)
    right_signs: jax.Array  # (d2_pad,)
    left_rows: jax.Array  # (m,) int32
    right_rows: jax.Array  # (m,) int32


def tensor_dim(d1: int, d2: int, m: int) -> int:
    """Output width: ``m``, or ``d1 * d2`` when the product is kept exactly."""
    return d1 * d2 if m >= d1 * d2 else m


def tensor_srht_init(
    rng: np.random.Generator, d1: int, d2: int, m: int
) -> TensorSRHT | None:
    """``None`` when ``m >= d1 * d2``: the tensor product is formed exactly."""
    if m >= d1 * d2:
        return None
    p1, p2 = _pow2(d1), _pow2(d2)
    # (row, column) cells of the rotated d1 x d2 tensor product.
    cells = _sample(rng, p1 * p2, m)
    return TensorSRHT(_signs(rng, p1), _signs(rng, p2), cells // p2, cells % p2)


def tensor_srht(p: TensorSRHT | None, x: jax.Array, u: jax.Array) -> jax.Array:
    r"""Sketch of :math:`x \otimes u` (last axes), formed only when small."""
    if p is None:
        outer = x[..., :, None] * u[..., None, :]
        return outer.reshape(outer.shape[:-2] + (-1,))
    m = p.left_rows.shape[0]
    a = jnp.take(_rotate(p.left_signs, x), p.left_rows, axis=-1)
    b = jnp.take(_rotate(p.right_signs, u), p.right_rows, axis=-1)
    return a * b / math.sqrt(m)


class PolySketch(NamedTuple):
    """Sketches of the tensor powers ``1 .. degree`` of a ``d``-dim input."""

    first: SRHT | None  # None: the first power is kept exactly (d <= m)
    chain: tuple[TensorSRHT | None, ...]  # levels 2 .. degree


def polysketch_dims(d: int, m: int, degree: int) -> list[int]:
    """Widths of the sketched powers ``1 .. degree``."""
    dims = []
    width = srht_dim(d, m)
    for _ in range(degree):
        dims.append(width)
        width = tensor_dim(width, d, m)
    return dims


def polysketch_init(
    rng: np.random.Generator, d: int, m: int, degree: int
) -> PolySketch:
    dims = polysketch_dims(d, m, degree)
    first = srht_init(rng, d, m)
    chain = tuple(
        tensor_srht_init(rng, dims[p - 2], d, m) for p in range(2, degree + 1)
    )
    return PolySketch(first, chain)


def polysketch(p: PolySketch, x: jax.Array) -> list[jax.Array]:
    r"""Sketches of :math:`x^{\otimes 1}, \dots, x^{\otimes \mathrm{degree}}`."""
    power = srht(p.first, x)
    out = [power]
    for level in p.chain:
        power = tensor_srht(level, power, x)
        out.append(power)
    return out
