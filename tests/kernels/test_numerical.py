"""Gauss–Hermite quadrature duals: nkwidgets/kernels/_numerical.py.

Accuracy reached at deg=25 in float64, against the closed forms, with
unit-variance pre-activations (unit-std inputs through ``Dense(W_std=1)``, no
bias) on 6x4 inputs including correlations ±1 (max error / max entry):

* ``Erf``:  NNGP 5.3e-6, NTK 6.6e-5 (the brief's 1e-5 holds for the NNGP; the
  NTK integrand erf' is a narrow Gaussian that 25 nodes resolve less well).
  At pre-activation variance 2.25 (W_std=1.5) it degrades to 1e-3 / 1.2e-2:
  Gauss–Hermite error grows with the variance for saturating functions, so
  ``deg`` must grow with it (deg=50 gives 3e-6 / 8e-5 there).
* ``Relu`` (``jnp.maximum(x, 0)``): NNGP 1.9e-2, NTK 1.2e-1, independent of the
  variance (Relu is homogeneous); the kink converges only algebraically
  (deg=50: 5.3e-3 / 3.1e-2; deg=100: 2.6e-3 / 1.7e-2). The brief's 1e-3 at
  deg=25 is NOT reached by Neural Tangents' tensor Gauss–Hermite rule, which
  this layer reproduces for parity; the values tested are what it reaches.

The self-kernel (cov1, correlation 1) is exact for Relu at any ``deg``. Monte
Carlo of the finite network (float32, 200 networks of width 1024, 5 sigma + 2 %
of the scale as in test_activations.py) runs for tanh, which has no closed
form, in both parameterizations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import LayerError

from .._monte_carlo import check_against_monte_carlo, one_hidden_layer
from .._reference_duals import unit_inputs


def _relative_error(got, want):
    return float(
        np.max(np.abs(np.asarray(got) - np.asarray(want))) / np.max(np.abs(want))
    )


def _relu(x):
    return jnp.maximum(x, 0.0)


def _errors(numerical, closed, W_std=1.0):
    x1, x2 = unit_inputs(n1=6, n2=4, dtype=np.float64)
    num = stax.serial(stax.Dense(512, W_std), numerical).kernel_fn(x1, x2)
    ref = stax.serial(stax.Dense(512, W_std), closed).kernel_fn(x1, x2)
    return (
        _relative_error(num.nngp, ref.nngp),
        _relative_error(num.ntk, ref.ntk),
        _relative_error(num.cov1, ref.cov1),
    )


def test_erf_deg25_unit_variance(x64):
    nngp, ntk, cov1 = _errors(
        stax.ElementwiseNumerical(jax.scipy.special.erf, deg=25), stax.Erf()
    )
    assert nngp < 1e-5 and cov1 < 1e-5, (nngp, cov1)  # reached: 5.3e-6
    assert ntk < 1e-4, ntk  # reached: 6.6e-5


def test_erf_error_grows_with_variance_and_shrinks_with_deg(x64):
    at25 = _errors(
        stax.ElementwiseNumerical(jax.scipy.special.erf, 25), stax.Erf(), 1.5
    )
    at50 = _errors(
        stax.ElementwiseNumerical(jax.scipy.special.erf, 50), stax.Erf(), 1.5
    )
    assert 1e-4 < at25[0] < 2e-3  # reached: 1.0e-3
    assert at50[0] < 1e-5 and at50[1] < 2e-4  # reached: 3.1e-6, 8.0e-5


@pytest.mark.parametrize(
    "deg,nngp_bound,ntk_bound",
    [(25, 2.5e-2, 1.5e-1), (50, 7e-3, 4e-2), (100, 3.5e-3, 2.5e-2)],
)
def test_relu_converges_algebraically(x64, deg, nngp_bound, ntk_bound):
    """Reached: deg 25: 1.9e-2 / 1.2e-1; 50: 5.3e-3 / 3.1e-2; 100: 2.6e-3 / 1.7e-2."""
    nngp, ntk, cov1 = _errors(stax.ElementwiseNumerical(_relu, deg), stax.Relu())
    assert nngp < nngp_bound and ntk < ntk_bound, (nngp, ntk)
    assert cov1 < 1e-12  # relu(x)^2 = x^2 on a half line: symmetric nodes are exact


def test_explicit_derivative_is_used(x64):
    """``df`` replaces autodiff: a doubled derivative gives 4x the NTK factor."""
    x1, x2 = unit_inputs(n1=3, n2=2, dtype=np.float64)
    tanh_slope = jax.vmap(jax.grad(jnp.tanh))

    def doubled(x):
        return 2 * tanh_slope(x.reshape(-1)).reshape(x.shape)

    base = stax.serial(stax.Dense(8), stax.ElementwiseNumerical(jnp.tanh, 25))
    twice = stax.serial(stax.Dense(8), stax.ElementwiseNumerical(jnp.tanh, 25, doubled))
    np.testing.assert_allclose(
        twice.kernel_fn(x1, x2, "ntk"), 4 * base.kernel_fn(x1, x2, "ntk"), rtol=1e-12
    )


def test_non_differentiable_fn_raises_only_for_ntk(x64):
    def opaque(x):
        # A host callback has no JVP rule: autodiff is impossible.
        return jax.pure_callback(
            lambda v: np.tanh(v),
            jax.ShapeDtypeStruct(x.shape, x.dtype),
            x,
            vmap_method="broadcast_all",
        )

    x1, x2 = unit_inputs(n1=3, n2=2, dtype=np.float64)
    net = stax.serial(stax.Dense(8), stax.ElementwiseNumerical(opaque, 10))
    reference = stax.serial(stax.Dense(8), stax.ElementwiseNumerical(jnp.tanh, 10))
    np.testing.assert_allclose(
        net.kernel_fn(x1, x2, "nngp"), reference.kernel_fn(x1, x2, "nngp"), rtol=1e-12
    )
    with pytest.raises(LayerError, match=r"serial\[1\].*could not differentiate"):
        net.kernel_fn(x1, x2, "ntk")


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_monte_carlo_tanh(key, parameterization):
    x1, x2 = unit_inputs()
    net = one_hidden_layer(
        stax.ElementwiseNumerical(jnp.tanh, 25), parameterization, 1.0, 0.1
    )
    check_against_monte_carlo(net, x1, x2, key)
