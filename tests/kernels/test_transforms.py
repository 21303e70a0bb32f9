"""kernel_fn under JAX transformations: jit, vmap and grad.

Tests that the Kernel pytree and the layer assembly in
nkwidgets/kernels/_layer.py, _kernel.py and the layers in _elementwise.py,
_activations.py, _polynomial.py, _combinators.py let ``kernel_fn`` be
compiled, batched and differentiated with respect to its inputs. Values are
compared in float64 at CLOSED_FORM_RTOL; gradients by
``jax.test_util.check_grads`` (order 1, reverse mode, float64) at GRAD_RTOL.
The inputs contain x2 rows equal to x1 rows (correlation exactly 1) and
``kernel_fn(x1, None)`` has correlation 1 on its diagonal: the arccos/sqrt
guards must keep those gradients finite.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from nkwidgets import stax

from .._tolerances import CLOSED_FORM_RTOL, GRAD_RTOL

RTOL = CLOSED_FORM_RTOL["float64"]


def _inputs(n1=4, n2=3, d=5, seed=0):
    rs = np.random.RandomState(seed)
    x1, x2 = rs.randn(n1, d), rs.randn(n2, d)
    x2[0] = x1[0]
    x2[1] = -x1[1]
    return x1, x2


def _fc(act):
    return stax.serial(stax.Dense(64, 1.5, 0.05), act, stax.Dense(1, 1.5, 0.05))


def _residual():
    block = stax.serial(
        stax.Dense(64, 1.5, 0.05), stax.Relu(), stax.Dense(64, 1.5, 0.05)
    )
    return stax.serial(
        stax.Dense(64, 1.5, 0.05),
        stax.FanOut(2),
        stax.parallel(block, stax.Identity()),
        stax.FanInSum(),
        stax.Relu(),
        stax.Dense(1, 1.5, 0.05),
    )


NETWORKS = {
    "relu": lambda: _fc(stax.Relu()),
    "erf": lambda: _fc(stax.Erf()),
    "residual": _residual,
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_jit_with_static_get(x64, name):
    kernel_fn = NETWORKS[name]().kernel_fn
    x1, x2 = _inputs()
    compiled = jax.jit(kernel_fn, static_argnames="get")
    for get in ("nngp", "ntk", ("nngp", "ntk")):
        got, want = compiled(x1, x2, get=get), kernel_fn(x1, x2, get=get)
        for g, w in zip(
            jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True
        ):
            np.testing.assert_allclose(g, w, rtol=RTOL)
    whole = compiled(x1, None, get=None)  # the Kernel pytree itself crosses jit
    np.testing.assert_allclose(whole.ntk, kernel_fn(x1, None).ntk, rtol=RTOL)
    assert whole.cov2 is None and whole.x1_is_x2


@pytest.mark.parametrize("name", list(NETWORKS))
def test_vmap_over_stacked_batches(x64, name):
    kernel_fn = NETWORKS[name]().kernel_fn
    pairs = [_inputs(seed=s) for s in range(3)]
    x1s = np.stack([p[0] for p in pairs])  # (3, 4, 5)
    x2s = np.stack([p[1] for p in pairs])  # (3, 3, 5)
    batched = jax.vmap(lambda a, b: kernel_fn(a, b, ("nngp", "ntk")))(x1s, x2s)
    for i, (x1, x2) in enumerate(pairs):
        want = kernel_fn(x1, x2, ("nngp", "ntk"))
        np.testing.assert_allclose(batched.nngp[i], want.nngp, rtol=RTOL)
        np.testing.assert_allclose(batched.ntk[i], want.ntk, rtol=RTOL)


@pytest.mark.parametrize("get", ["nngp", "ntk"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_grad_wrt_x1_matches_finite_differences(x64, name, get):
    kernel_fn = NETWORKS[name]().kernel_fn
    x1, x2 = _inputs()
    weights = np.random.RandomState(1).randn(len(x1), len(x2))

    def cross(a):
        return jnp.sum(kernel_fn(a, x2, get) * weights)

    def self_kernel(a):
        return jnp.sum(kernel_fn(a, None, get) * np.outer(weights[:, 0], weights[:, 0]))

    for f in (cross, self_kernel):
        g = jax.grad(f)(jnp.asarray(x1))
        assert np.all(np.isfinite(g)), f"NaN/inf gradient in {f.__name__}"
        tol = GRAD_RTOL["float64"]
        # jit: the finite differences evaluate f many times; compiled once is
        # faster than op-by-op dispatch.
        check_grads(
            jax.jit(f), (jnp.asarray(x1),), order=1, modes=["rev"], atol=tol, rtol=tol
        )


ACTIVATIONS = [
    stax.Gelu(),
    stax.Sin(1.1, 0.9, 0.3),
    stax.Rbf(0.7),
    stax.Sign(),
    stax.Exp(1.0, 0.3),
    stax.Gaussian(1.0, -0.5),
    stax.ExpNormalized(),
    stax.Monomial(3),
    stax.RectifiedMonomial(0),
    stax.RectifiedMonomial(2),
    stax.Polynomial([0.1, 0.5, 0.3]),
    stax.ElementwiseNumerical(jnp.tanh, 10),
    stax.Abs(),
]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: a.kernel_fn.layer_name)
def test_gradients_finite_at_unit_correlation(x64, act):
    """Every activation stays differentiable where correlations are exactly ±1."""
    kernel_fn = _fc(act).kernel_fn
    x1, x2 = _inputs()
    for x2_or_none in (x2, None):

        def total(a, b=x2_or_none):
            return jnp.sum(kernel_fn(a, b, "ntk"))

        g = jax.jit(jax.grad(total))(jnp.asarray(x1))
        assert np.all(np.isfinite(g))
