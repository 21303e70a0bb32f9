"""Scripts written for Neural Tangents 0.6.5 run here after changing imports only.

Each snippet is NT-style usage (the README's kernel and prediction examples and a
residual network with batching), written for this test. The test replaces
``neural_tangents`` with ``nkwidgets`` in the text, runs it, and checks the
results against independent computations.
"""

from __future__ import annotations

import numpy as np

from .kernels.test_fc_closed_forms import _arccos1, _reference_fc

SNIPPET_KERNELS = """
from jax import random
from neural_tangents import stax

init_fn, apply_fn, kernel_fn = stax.serial(
    stax.Dense(512), stax.Relu(),
    stax.Dense(512), stax.Relu(),
    stax.Dense(1)
)
key1, key2 = random.split(random.PRNGKey(1))
x1 = random.normal(key1, (10, 100))
x2 = random.normal(key2, (20, 100))
kernel = kernel_fn(x1, x2, 'nngp')
both = kernel_fn(x1, x2, ('nngp', 'ntk'))
_, params = init_fn(key1, x1.shape)
y = apply_fn(params, x1)
"""

SNIPPET_PREDICT = """
from jax import random
import neural_tangents as nt
from neural_tangents import stax

init_fn, apply_fn, kernel_fn = stax.serial(
    stax.Dense(512, W_std=1.5, b_std=0.05), stax.Erf(), stax.Dense(1, W_std=1.5, b_std=0.05))
k1, k2, k3 = random.split(random.PRNGKey(0), 3)
x_train = random.normal(k1, (20, 8))
y_train = random.normal(k2, (20, 1))
x_test = random.normal(k3, (5, 8))
predict_fn = nt.predict.gradient_descent_mse_ensemble(kernel_fn, x_train, y_train, diag_reg=1e-4)
y_test_nngp = predict_fn(x_test=x_test, get='nngp')
y_test_ntk, ntk_covariance = predict_fn(x_test=x_test, get='ntk', compute_cov=True)
"""

SNIPPET_RESNET_BATCHED = """
import neural_tangents as nt
from neural_tangents import stax
from jax import random

ResBlock = stax.serial(
    stax.FanOut(2),
    stax.parallel(stax.serial(stax.Erf(), stax.Dense(256, W_std=1.1)), stax.Identity()),
    stax.FanInSum())
init_fn, apply_fn, kernel_fn = stax.serial(stax.Dense(256), ResBlock, ResBlock, stax.Erf(), stax.Dense(1))
x = random.normal(random.PRNGKey(3), (12, 16))
batched_kernel_fn = nt.batch(kernel_fn, batch_size=4)
k_batched = batched_kernel_fn(x, None, 'ntk')
k_direct = kernel_fn(x, None, 'ntk')
"""


def _run_ported(snippet: str) -> dict:
    ported = snippet.replace("neural_tangents", "nkwidgets")
    assert "neural_tangents" not in ported
    namespace: dict = {}
    exec(compile(ported, "<ported NT script>", "exec"), namespace)  # noqa: S102
    return namespace


def test_readme_kernels_port():
    ns = _run_ported(SNIPPET_KERNELS)
    assert ns["kernel"].shape == (10, 20)
    np.testing.assert_allclose(ns["both"].nngp, ns["kernel"], rtol=1e-6)
    assert ns["both"].ntk.shape == (10, 20)
    assert ns["y"].shape == (10, 1)
    # Independent arc-cosine recursion (float64 NumPy), float32 tolerance.
    x1, x2 = np.asarray(ns["x1"], np.float64), np.asarray(ns["x2"], np.float64)
    nngp, ntk = _reference_fc(x1, x2, depth=2, W_std=1.0, b_std=0.0, dual=_arccos1)
    np.testing.assert_allclose(
        ns["both"].nngp, nngp, rtol=2e-4, atol=2e-4 * abs(nngp).max()
    )
    np.testing.assert_allclose(
        ns["both"].ntk, ntk, rtol=2e-4, atol=2e-4 * abs(ntk).max()
    )


def test_readme_prediction_ports():
    ns = _run_ported(SNIPPET_PREDICT)
    assert ns["y_test_nngp"].shape == (5, 1)
    mean, cov = ns["y_test_ntk"], ns["ntk_covariance"]
    assert mean.shape == (5, 1) and cov.shape == (5, 5)
    # NTK-GP posterior covariance: symmetric and positive semi-definite.
    np.testing.assert_allclose(cov, cov.T, rtol=1e-4, atol=1e-6)
    assert np.linalg.eigvalsh(np.asarray(cov, np.float64)).min() > -1e-4


def test_residual_network_with_batching_ports():
    ns = _run_ported(SNIPPET_RESNET_BATCHED)
    np.testing.assert_allclose(ns["k_batched"], ns["k_direct"], rtol=1e-5, atol=1e-6)
    assert ns["k_batched"].shape == (12, 12)
