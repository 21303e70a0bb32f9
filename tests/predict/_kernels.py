"""Closed-form kernels written independently of ``nkwidgets.stax`` for tests.

* `toy_kernel_fn`: an RBF NNGP and a different PSD NTK (RBF plus a linear
  kernel), honouring NT's ``kernel_fn(x1, x2, get)`` contract.
* `relu_kernel_fn`: NNGP and NTK of the one-hidden-layer ReLU network
  ``f(x) = W2 relu(W1 x / sqrt(d) + b1) / sqrt(n) + b2`` in NTK
  parameterisation (weights scaled by ``w_std``, biases by ``b_std``), from the
  arc-cosine formulas of Cho & Saul (2009): with pre-activation covariance
  ``s12`` and variances ``s11``, ``s22``,
  ``E[relu(u) relu(v)] = sqrt(s11 s22) (sin a + (pi - a) cos a) / (2 pi)`` and
  ``E[relu'(u) relu'(v)] = (pi - a) / (2 pi)``, ``a = arccos(s12 / sqrt(s11 s22))``.
"""

from __future__ import annotations

from collections import namedtuple

import jax.numpy as jnp

_KERNEL_TYPES: dict = {}


def _pack(parts: dict, get):
    if isinstance(get, str):
        return parts[get]
    get = tuple(get)
    if get not in _KERNEL_TYPES:
        _KERNEL_TYPES[get] = namedtuple("Kernel", get)
    return _KERNEL_TYPES[get](*(parts[g] for g in get))


def toy_kernel_fn(x1, x2, get, *, length_scale=1.0):
    """RBF NNGP and RBF-plus-linear NTK on rows of `x1`, `x2` (``x2=None``: `x1`)."""
    x2 = x1 if x2 is None else x2
    d2 = jnp.sum((x1[:, None, :] - x2[None, :, :]) ** 2, axis=-1)
    nngp = jnp.exp(-d2 / (2 * length_scale**2))
    ntk = 1.5 * nngp + 0.5 * (x1 @ x2.T) / x1.shape[1]
    return _pack({"nngp": nngp, "ntk": ntk}, get)


def relu_layer_kernels(x1, x2, *, w1_std, b1_std, w2_std, b2_std):
    """(NNGP, NTK) of the one-hidden-layer ReLU network, see the module docstring."""
    x2 = x1 if x2 is None else x2
    d = x1.shape[1]
    s12 = w1_std**2 * (x1 @ x2.T) / d + b1_std**2
    s11 = w1_std**2 * jnp.sum(x1**2, axis=1) / d + b1_std**2
    s22 = w1_std**2 * jnp.sum(x2**2, axis=1) / d + b1_std**2
    norm = jnp.sqrt(s11[:, None] * s22[None, :])
    angle = jnp.arccos(jnp.clip(s12 / norm, -1.0, 1.0))
    e_relu = norm * (jnp.sin(angle) + (jnp.pi - angle) * jnp.cos(angle)) / (2 * jnp.pi)
    e_step = (jnp.pi - angle) / (2 * jnp.pi)
    nngp = w2_std**2 * e_relu + b2_std**2
    # First layer: Theta_1 = s12 (weights and bias of layer 1); the readout adds
    # its own NNGP contribution.
    ntk = w2_std**2 * s12 * e_step + nngp
    return nngp, ntk


def relu_kernel_fn(w1_std=1.0, b1_std=0.0, w2_std=1.0, b2_std=0.0):
    """An NT-style ``kernel_fn`` for the one-hidden-layer ReLU network."""

    def kernel_fn(x1, x2, get, **kwargs):
        del kwargs
        nngp, ntk = relu_layer_kernels(
            x1, x2, w1_std=w1_std, b1_std=b1_std, w2_std=w2_std, b2_std=b2_std
        )
        return _pack({"nngp": nngp, "ntk": ntk}, get)

    return kernel_fn
