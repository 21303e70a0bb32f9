"""Structure rules and factored linear maps (``nkwidgets/_empirical/_rules.py``, ``_linmap.py``).

These tests look inside plans: where each parameter's chain of linear
primitives ends (the probe), which arrays multiply into its map, and how
reshapes regroup axes. Numerical agreement of the resulting NTKs is
``test_implementations.py``'s job; here exactness is checked only for the
reshape cases built for this file (float64, ``IMPLEMENTATION_RTOL``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from nkwidgets import empirical as nt
from nkwidgets._empirical._implementations import Options, PlanCache, make_call
from nkwidgets._empirical._linmap import LinMap, regroup

from ._models import model_inputs, rel_err
from ._tolerances import IMPLEMENTATION_RTOL


def _plan(f, params, x):
    opts = Options((), (), 0)
    return PlanCache(opts).plan(make_call(f, x, None, params, {}, opts).p1, params)


def test_regroup_splits_and_merges_atoms():
    lm = LinMap.identity((6, 4))
    lm2, groups = regroup(lm, lm.y, (2, 3, 4))
    assert [lm2.group_size(g) for g in groups] == [2, 3, 4]
    assert len(lm2.w[0]) == 2  # w's first axis now carries the two split atoms
    lm3, merged = regroup(lm2, groups, (24,))
    assert [lm3.group_size(g) for g in merged] == [24]
    bad = LinMap.identity((2, 3))
    assert regroup(bad, bad.y, (3, 2)) is None


def test_dense_layers_end_at_the_pre_activation_with_one_factor(x64):
    """stax Dense: ``W`` goes through the matmul, the scalar and the bias add;
    its probe is the pre-activation it shares with the bias, and its only
    array factor is the layer input."""
    f, params, x1, _ = model_inputs("mlp")
    plan = _plan(f, params, x1)
    leaves = jax.tree_util.tree_leaves(params)
    probes = {}
    for i, uses in enumerate(plan.uses):
        assert len(uses) == 1
        (use,) = uses
        probes.setdefault(use.probe, []).append(i)
        arrays = [fac for fac in use.lm.factors if fac.groups]
        if leaves[i].ndim == 2 and leaves[i].shape[0] > 1:  # a weight matrix
            assert use.lm.contractions == 1 and len(arrays) == 1
        else:  # a bias: scaled and broadcast, never contracted
            assert use.lm.contractions == 0 and not arrays
    assert sorted(map(len, probes.values())) == [2, 2, 2]  # (W, b) per layer


def test_convolution_kernels_use_image_patches(x64):
    f, params, x1, _ = model_inputs("cnn_nchw")
    plan = _plan(f, params, x1)
    transforms = {
        fac.transform[0] for uses in plan.uses for u in uses for fac in u.lm.factors
    }
    assert "patches" in transforms


def test_chains_stop_after_one_contraction(x64):
    """Attention: the query weight's chain ends at the projected queries, not
    at the attention scores (a second matmul would make the factors large)."""
    f, params, x1, _ = model_inputs("attention")
    plan = _plan(f, params, x1)
    graph = plan.graph
    q_index = sorted(params).index("q")  # dict leaves flatten in key order
    (use,) = plan.uses[q_index]
    assert use.lm.contractions == 1
    assert graph.shape(use.probe) == (1, 4, 6)  # (example, tokens, features)


def test_reshaped_weights_split_their_axes(x64):
    """A weight reshaped into heads before the matmul keeps exact structure."""
    params = {
        "w": jax.random.normal(jax.random.PRNGKey(0), (6, 8)),
        "u": jax.random.normal(jax.random.PRNGKey(1), (2, 4, 3)),
    }

    def f(p, x):
        h = jnp.einsum("nd,dhk->nhk", x, p["w"].reshape(6, 2, 4))
        return jnp.einsum("nhk,hkc->nc", jnp.tanh(h), p["u"]).reshape(x.shape[0], 3)

    x1 = jax.random.normal(jax.random.PRNGKey(2), (4, 6))
    x2 = jax.random.normal(jax.random.PRNGKey(3), (3, 6))
    plan = _plan(f, params, x1)
    assert plan.fallbacks == {}
    ref = nt.empirical_ntk_fn(f, (), (), 0, implementation=1)(x1, x2, params)
    sd = nt.empirical_ntk_fn(f, (), (), 0, implementation=3)(x1, x2, params)
    assert rel_err(sd, ref) < IMPLEMENTATION_RTOL
