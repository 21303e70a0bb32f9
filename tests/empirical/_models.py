"""Small test networks for the empirical kernels, one per structure the rules must handle.

Each ``make_*`` returns ``(apply_fn, params, x_shape)``: an NT-style
``apply_fn(params, x, **kwargs)``, its parameters (float64 when x64 is on) and
one example's input shape. Sizes are tiny so that Jacobian contraction, the
reference every test compares against, stays fast.

* ``mlp``: ``stax`` Dense / Relu / Erf with biases (matmul, scalar scaling,
  broadcast bias add, custom-jvp nonlinearity).
* ``cnn``: ``lax.conv_general_dilated`` NHWC / HWIO, SAME then strided VALID,
  bias, flatten, dense (convolution rule, reshape).
* ``cnn_nchw``: the same in NCHW / OIHW with rhs dilation (patch ordering).
* ``attention``: single-head softmax self-attention with a learned positional
  embedding and mean pooling (batched dot_general, reduce, parameter added to
  the input).
* ``residual``: ``stax`` FanOut / parallel / FanInSum (a parameter's output
  reaching the output along two paths).
* ``tied``: one weight matrix used twice, once transposed (cross terms between
  uses of a parameter).
* ``flax_cnn``: ``flax.linen`` Conv / Dense (skipped without flax).
* ``equinox_mlp``: ``eqx.nn.MLP`` through ``eqx.partition`` / ``combine``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from nkwidgets import stax


def _normal(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    return jax.random.normal(key, shape, dtype=jnp.result_type(float))


def make_mlp(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    init_fn, apply_fn, _ = stax.serial(
        stax.Dense(12, W_std=1.5, b_std=0.05),
        stax.Relu(),
        stax.Dense(12, W_std=1.2, b_std=0.1),
        stax.Erf(),
        stax.Dense(3, W_std=1.0, b_std=0.2),
    )
    _, params = init_fn(key, (1, 5))
    return apply_fn, params, (5,)


def _conv_params(
    key: jax.Array, shapes: dict[str, tuple[int, ...]]
) -> dict[str, jax.Array]:
    keys = jax.random.split(key, len(shapes))
    return {k: _normal(kk, s) for kk, (k, s) in zip(keys, shapes.items(), strict=True)}


def make_cnn(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    params = _conv_params(
        key,
        {
            "c1": (3, 3, 2, 4),
            "b1": (4,),
            "c2": (3, 3, 4, 3),
            "b2": (3,),
            "d": (12, 3),
            "db": (3,),
        },
    )

    def apply_fn(p: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
        dn = ("NHWC", "HWIO", "NHWC")
        h = lax.conv_general_dilated(x, p["c1"], (1, 1), "SAME", dimension_numbers=dn)
        h = jax.nn.relu(h / 18**0.5 + p["b1"])
        h = lax.conv_general_dilated(h, p["c2"], (2, 2), "VALID", dimension_numbers=dn)
        h = jnp.tanh(h / 36**0.5 + 0.1 * p["b2"])
        h = h.reshape(h.shape[0], -1)
        return h @ p["d"] / 12**0.5 + p["db"]

    return apply_fn, params, (5, 5, 2)


def make_cnn_nchw(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    params = _conv_params(key, {"c1": (3, 2, 3, 2), "c2": (2, 3, 2, 2), "d": (12, 2)})

    def apply_fn(p: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
        dn = ("NCHW", "OIHW", "NCHW")
        h = lax.conv_general_dilated(
            x,
            p["c1"],
            (1, 1),
            ((1, 0), (0, 1)),
            rhs_dilation=(1, 2),
            dimension_numbers=dn,
        )
        h = jax.nn.gelu(h)
        h = lax.conv_general_dilated(h, p["c2"], (1, 2), "SAME", dimension_numbers=dn)
        return jnp.sin(h.reshape(h.shape[0], -1)) @ p["d"]

    return apply_fn, params, (2, 4, 5)


def make_attention(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    t, d = 4, 6
    params = _conv_params(
        key,
        {"pos": (t, d), "q": (d, d), "k": (d, d), "v": (d, d), "o": (d, 2), "ob": (2,)},
    )

    def apply_fn(p: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
        h = x + 0.5 * p["pos"]
        q = h @ p["q"] / d**0.5
        k = h @ p["k"] / d**0.5
        v = h @ p["v"] / d**0.5
        scores = jnp.einsum("ntd,nsd->nts", q, k) / d**0.5
        att = jax.nn.softmax(scores, axis=-1)
        z = jnp.einsum("nts,nsd->ntd", att, v)
        return jnp.mean(z, axis=1) @ p["o"] / d**0.5 + p["ob"]

    return apply_fn, params, (t, d)


def make_residual(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    init_fn, apply_fn, _ = stax.serial(
        stax.Dense(10, W_std=1.3, b_std=0.1),
        stax.FanOut(2),
        stax.parallel(
            stax.serial(stax.Relu(), stax.Dense(10, W_std=1.5)), stax.Identity()
        ),
        stax.FanInSum(),
        stax.Relu(),
        stax.Dense(2, b_std=0.3),
    )
    _, params = init_fn(key, (1, 4))
    return apply_fn, params, (4,)


def make_tied(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    params = {"w": _normal(key, (4, 6))}

    def apply_fn(p: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
        h = jnp.tanh(x @ p["w"] / 2.0)
        return h @ p["w"].T / 6**0.5 + 0.3 * x

    return apply_fn, params, (4,)


def make_flax_cnn(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    import flax.linen as nn

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            x = nn.Conv(4, (3, 3), padding="SAME", param_dtype=x.dtype)(x)
            x = nn.relu(x)
            x = x.reshape(x.shape[0], -1)
            x = nn.Dense(6, param_dtype=x.dtype)(x)
            x = nn.tanh(x)
            return nn.Dense(3, param_dtype=x.dtype)(x)

    net = Net()
    x_shape = (4, 4, 2)
    params = net.init(key, jnp.zeros((1, *x_shape), jnp.result_type(float)))

    def apply_fn(p: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
        return net.apply(p, x)

    return apply_fn, params, x_shape


def make_equinox_mlp(key: jax.Array) -> tuple[Callable, Any, tuple[int, ...]]:
    import equinox as eqx

    mlp = eqx.nn.MLP(4, 3, 8, 2, key=key, dtype=jnp.result_type(float))
    params, static = eqx.partition(mlp, eqx.is_inexact_array)

    def apply_fn(p: Any, x: jax.Array, **kwargs: Any) -> jax.Array:
        return jax.vmap(eqx.combine(p, static))(x)

    return apply_fn, params, (4,)


MODELS: dict[str, Callable[[jax.Array], tuple[Callable, Any, tuple[int, ...]]]] = {
    "mlp": make_mlp,
    "cnn": make_cnn,
    "cnn_nchw": make_cnn_nchw,
    "attention": make_attention,
    "residual": make_residual,
    "tied": make_tied,
    "flax_cnn": make_flax_cnn,
    "equinox_mlp": make_equinox_mlp,
}


def model_inputs(name: str, n1: int = 5, n2: int = 3, seed: int = 0):
    """``(apply_fn, params, x1, x2)`` of a test model (float64 under ``x64``)."""
    if name == "flax_cnn":
        pytest.importorskip("flax")
    apply_fn, params, x_shape = MODELS[name](jax.random.PRNGKey(seed))
    rng = np.random.RandomState(seed + 7)
    x1 = rng.standard_normal((n1, *x_shape))
    x2 = rng.standard_normal((n2, *x_shape))
    return apply_fn, params, jax.numpy.asarray(x1), jax.numpy.asarray(x2)


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))
