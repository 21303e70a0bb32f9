"""The three NTK implementations agree (``nkwidgets/_empirical/_implementations.py``).

Covers ``_jacobian.py``, ``_ntk_vector.py``, ``_structured.py``,
``_contract.py`` and ``_symmetric.py`` through their common entry point: on
every test model (dense, convolutional in two layouts, attention, residual,
tied weights, flax.linen, equinox), for ``trace_axes`` ``()`` and ``(-1,)``,
with and without ``diagonal_axes``, with and without ``vmap_axes``, the
implementations agree to ``IMPLEMENTATION_RTOL`` (float64; see
``_tolerances.py``) with a reference Jacobian contraction computed here with
``jax.jacrev`` directly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import empirical as nt
from nkwidgets._empirical._implementations import Options, PlanCache, make_call

from ._models import MODELS, model_inputs, rel_err
from ._tolerances import IMPLEMENTATION_RTOL

IMPLS = (1, 2, 3)


def reference_ntk(f, params, x1, x2, trace_axes, diagonal_axes):
    """``J1 J2^T`` from ``jax.jacrev`` of the outputs, then NT's layout, by ``np.einsum``."""

    @jax.jit
    def full_ntk(params, x1, x2):
        j1 = jax.jacrev(lambda p: f(p, x1))(params)
        j2 = jax.jacrev(lambda p: f(p, x2))(params)
        nd = f(params, x1).ndim
        return sum(
            jnp.tensordot(a, b, (tuple(range(nd, a.ndim)), tuple(range(nd, b.ndim))))
            for a, b in zip(
                jax.tree_util.tree_leaves(j1),
                jax.tree_util.tree_leaves(j2),
                strict=True,
            )
        )

    out1 = jax.eval_shape(f, params, x1)
    full = np.asarray(full_ntk(params, x1, x2))
    nd = out1.ndim
    trace = sorted({a % nd for a in trace_axes})
    diag = sorted({a % nd for a in diagonal_axes})
    s1 = [f"{i}" if (i in trace or i in diag) else f"{i}a" for i in range(nd)]
    s2 = [f"{i}" if (i in trace or i in diag) else f"{i}b" for i in range(nd)]
    out = []
    for i in range(nd):
        if i not in trace:
            out += [f"{i}"] if i in diag else [f"{i}a", f"{i}b"]
    sym = {n: chr(ord("a") + k) for k, n in enumerate(sorted(set(s1 + s2)))}
    spec = "".join(sym[s] for s in s1 + s2) + "->" + "".join(sym[s] for s in out)
    size = int(np.prod([out1.shape[i] for i in trace]))
    return np.einsum(spec, full) / size


# (trace_axes, diagonal_axes, pass x2?): the layouts every implementation must produce.
CONFIGS = [((), (), True), ((-1,), (), True), ((), (0,), False), ((-1,), (0,), False)]


def _check_all(f, params, x1, x2, config, ref=None, impls=IMPLS):
    """Implementations ``impls`` against ``ref`` (default: implementation 1 itself)."""
    trace_axes, diagonal_axes, with_x2 = config
    if ref is None:
        ref = nt.empirical_ntk_fn(f, trace_axes, diagonal_axes, 0, implementation=1)(
            x1, x2 if with_x2 else None, params
        )
    # vmap_axes=0 for two implementations, None for the third: both paths run.
    for impl, vmap_axes in zip(IMPLS, (None, None, 0), strict=True):
        if impl not in impls:
            continue
        fn = nt.empirical_ntk_fn(
            f, trace_axes, diagonal_axes, vmap_axes, implementation=impl
        )
        ntk = fn(x1, x2 if with_x2 else None, params)
        assert ntk.shape == ref.shape, (impl, ntk.shape, ref.shape)
        assert rel_err(ntk, ref) < IMPLEMENTATION_RTOL, (
            impl,
            config,
            rel_err(ntk, ref),
        )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_implementations_agree(name, x64):
    """Every model, one layout each (rotating through ``CONFIGS``); the
    reference is implementation 1 with ``vmap_axes=0``, itself checked
    against ``reference_ntk`` below and against Neural Tangents."""
    f, params, x1, x2 = model_inputs(name)
    # NTK-vector products are plain autodiff whatever the model; half the
    # models suffice for them, structured derivatives run on all.
    impls = IMPLS if name in ("mlp", "cnn", "attention", "flax_cnn") else (1, 3)
    _check_all(
        f,
        params,
        x1,
        x2,
        CONFIGS[sorted(MODELS).index(name) % len(CONFIGS)],
        impls=impls,
    )


@pytest.mark.parametrize("config", CONFIGS[1:], ids=str)
def test_implementations_agree_on_every_layout(config, x64):
    """The MLP through the remaining layouts, against the independent reference."""
    f, params, x1, x2 = model_inputs("mlp")
    trace_axes, diagonal_axes, with_x2 = config
    ref = reference_ntk(f, params, x1, x2 if with_x2 else x1, trace_axes, diagonal_axes)
    _check_all(f, params, x1, x2, config, ref)


@pytest.mark.parametrize(("name", "vmap_axes"), [("mlp", 0), ("cnn", None)])
def test_symmetric_blocks(name, vmap_axes, small_blocks, x64):
    """``x2=None`` computes only the upper block triangle; the mirror must be exact."""
    f, params, x1, _ = model_inputs(name, n1=7)
    ref = reference_ntk(f, params, x1, x1, (), ())
    for impl in IMPLS:
        ntk = nt.empirical_ntk_fn(f, (), (), vmap_axes, implementation=impl)(
            x1, None, params
        )
        assert rel_err(ntk, ref) < IMPLEMENTATION_RTOL, impl


def test_every_rule_fires_on_the_test_models(x64):
    """No test model needs the per-parameter fallback: the rules cover them."""
    for name in sorted(MODELS):
        f, params, x1, _ = model_inputs(name)
        opts = Options((), (), 0)
        plan = PlanCache(opts).plan(make_call(f, x1, None, params, {}, opts).p1, params)
        assert plan.fallbacks == {}, (name, plan.fallbacks)


def test_fallback_for_primitives_without_rules(x64):
    """An embedding lookup (gather) and a concatenation have no rule: the
    parameter is probed at itself, the result is still exact, and the plan
    says which primitive stopped it."""
    key = jax.random.PRNGKey(3)
    params = {
        "emb": jax.random.normal(key, (7, 3)),
        "w": jax.random.normal(key, (6, 2)),
    }

    def f(p, x):
        e = p["emb"][x]  # gather
        h = jnp.concatenate([e, jnp.tanh(e)], axis=-1)
        return h @ p["w"]

    x1 = jnp.array([0, 3, 6, 3])
    x2 = jnp.array([1, 3])
    ref = reference_ntk(f, params, x1, x2, (), ())
    for impl in IMPLS:
        ntk = nt.empirical_ntk_fn(f, (), (), 0, implementation=impl)(x1, x2, params)
        assert rel_err(ntk, ref) < IMPLEMENTATION_RTOL
    opts = Options((), (), 0)
    plan = PlanCache(opts).plan(make_call(f, x1, None, params, {}, opts).p1, params)
    leaves = jax.tree_util.tree_leaves(params)
    emb = next(i for i, v in enumerate(leaves) if v.shape == (7, 3))
    assert emb in plan.fallbacks and plan.fallbacks[emb]


@pytest.mark.parametrize(
    "flags",
    [dict(_j_rules=False), dict(_s_rules=False), dict(_fwd=True)],
    ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()),
)
def test_debug_flags_do_not_change_the_result(flags, x64):
    f, params, x1, x2 = model_inputs("cnn")
    ref = reference_ntk(f, params, x1, x2, (-1,), ())
    ntk = nt.empirical_ntk_fn(f, (-1,), (), 0, implementation=3, **flags)(
        x1, x2, params
    )
    assert rel_err(ntk, ref) < IMPLEMENTATION_RTOL


def test_pytree_outputs_give_one_kernel_per_leaf(x64):
    """As in Neural Tangents: no cross terms between output leaves."""
    f0, params, x1, x2 = model_inputs("mlp")

    def f(p, x):
        out = f0(p, x)
        return {"a": out, "b": jnp.sin(out[:, :2])}

    k = nt.empirical_ntk_fn(f, (), (), 0, implementation=3)(x1, x2, params)
    assert set(k) == {"a", "b"}
    for leaf in ("a", "b"):
        ref = reference_ntk(
            lambda p, x, leaf=leaf: f(p, x)[leaf], params, x1, x2, (), ()
        )
        assert rel_err(k[leaf], ref) < IMPLEMENTATION_RTOL


def test_rng_is_split_between_x1_and_x2(x64):
    """A stochastic ``f`` sees one key for ``x2=None`` and two keys otherwise."""
    f0, params, x1, _ = model_inputs("mlp")

    def f(p, x, rng=None):
        return f0(p, x * jax.random.bernoulli(rng, 0.7, x.shape))

    rng = jax.random.PRNGKey(5)
    fn = nt.empirical_ntk_fn(f, (-1,), (), None, implementation=3)
    x2 = x1[::-1]
    got = fn(x1, x2, params, rng=rng)
    np.testing.assert_allclose(
        fn(x1, None, params, rng=rng),
        fn(x1, x1, params, rng=rng),
        rtol=IMPLEMENTATION_RTOL,
    )

    @jax.jit
    def ref(params):
        # Neural Tangents' split: x1 keeps the key, x2 (different) gets fold_in(key, 1).
        j1 = jax.jacrev(lambda p: f(p, x1, rng=rng))(params)
        j2 = jax.jacrev(lambda p: f(p, x2, rng=jax.random.fold_in(rng, 1)))(params)
        pairs = zip(
            jax.tree_util.tree_leaves(j1), jax.tree_util.tree_leaves(j2), strict=True
        )
        return sum(jnp.einsum("ic...,jc...->ij", a, b) for a, b in pairs) / 3

    assert rel_err(got, ref(params)) < IMPLEMENTATION_RTOL


def test_kernel_fn_get_convention(x64):
    f, params, x1, x2 = model_inputs("mlp")
    kernel_fn = nt.empirical_kernel_fn(f, vmap_axes=0)
    both = kernel_fn(x1, x2, None, params)
    assert type(both).__name__ == "EmpiricalKernel" and both._fields == ("nngp", "ntk")
    assert kernel_fn(x1, x2, ("ntk",), params)._fields == ("ntk",)
    np.testing.assert_allclose(
        kernel_fn(x1, x2, "ntk", params), both.ntk, rtol=IMPLEMENTATION_RTOL
    )
    out1, out2 = f(params, x1), f(params, x2)
    np.testing.assert_allclose(
        both.nngp, out1 @ out2.T / out1.shape[-1], rtol=IMPLEMENTATION_RTOL
    )
    with pytest.raises(ValueError, match="get"):
        kernel_fn(x1, x2, "cov1", params)


def test_bad_arguments_are_named():
    f, params, x1, _ = model_inputs("mlp")
    with pytest.raises(ValueError, match="implementation=7"):
        nt.empirical_ntk_fn(f, implementation=7)
    with pytest.raises(ValueError, match="trace_axes"):
        nt.empirical_ntk_fn(f, trace_axes=(-1,), diagonal_axes=(-1,))(x1, None, params)
    with pytest.raises(ValueError, match="out of range"):
        nt.empirical_ntk_fn(f, trace_axes=(5,))(x1, None, params)


def test_vmap_axes_triple_with_mapped_and_static_kwargs(x64):
    """``vmap_axes=(in, out, kwargs)`` with examples on axis 1, a mapped kwarg
    split per side as a pair, and a string kwarg that must stay static."""
    key = jax.random.PRNGKey(0)
    params = {"w": jax.random.normal(key, (4, 3)), "b": jnp.ones(3)}

    def f(p, x, scale=None, mode="a"):
        y = jnp.tanh(p["w"].T @ x + p["b"][:, None]) * scale[None, :]
        return y * (2.0 if mode == "b" else 1.0)

    x1 = jax.random.normal(key, (4, 5))
    x2 = jax.random.normal(jax.random.PRNGKey(1), (4, 3))
    kwargs = dict(scale=(jnp.arange(5.0) + 1, jnp.arange(3.0) + 1), mode="b")
    ref = nt.empirical_ntk_fn(f, (0,), (), None, implementation=1)(
        x1, x2, params, **kwargs
    )
    for impl in (2, 3):
        fn = nt.empirical_ntk_fn(f, (0,), (), (1, 1, {"scale": 0}), implementation=impl)
        assert rel_err(fn(x1, x2, params, **kwargs), ref) < IMPLEMENTATION_RTOL
