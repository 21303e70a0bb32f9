"""Errors a user can cause with the kernel engine: what, where, and the fix.

Tests the messages raised by nkwidgets/kernels/ (``LayerError`` from
_layer.py, _elementwise.py, _activations.py, _combinators.py, _branching.py,
_dropout.py; ``InputError`` for data). Every error raised while a network runs
names the layer by its position (``serial[2] > parallel[1] > Relu``), says
what was wrong and gives a ``Fix:``; none surfaces as an XLA or tracer
traceback (``__cause__`` is cut). Errors in a factory's arguments are raised
when the layer is built, before it has a position, so they name the layer and
the argument instead.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.errors import InputError, LayerError, NKError

X1 = np.random.RandomState(0).randn(4, 5)
X2 = np.random.RandomState(1).randn(3, 5)


def _raises(error, call, *fragments):
    """Run ``call``; its error must contain each fragment (regex) and a Fix."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert re.search(fragment, message), f"{fragment!r} not in: {message}"
    assert "Fix:" in message or isinstance(info.value, InputError), message
    assert info.value.__cause__ is None, "the user sees our error, not JAX's"
    return message


def _opaque_arcsine(cov12, var1, var2):
    # A host callback: vmap works, autodiff cannot (no JVP rule).
    def host(c, a, b):
        return 2 / np.pi * np.arcsin(2 * c / np.sqrt((1 + 2 * a) * (1 + 2 * b)))

    shape = jax.ShapeDtypeStruct(jnp.shape(cov12), jnp.result_type(cov12))
    return jax.pure_callback(host, shape, cov12, var1, var2, vmap_method="expand_dims")


def test_ntk_without_derivative_names_position_and_fix():
    net = stax.serial(
        stax.Dense(8, 1.5), stax.Elementwise(jax.scipy.special.erf, _opaque_arcsine)
    )
    assert net.kernel_fn(X1, X2, "nngp").shape == (4, 3)  # the NNGP still works
    _raises(
        LayerError,
        lambda: net.kernel_fn(X1, X2, "ntk"),
        r"^serial\[1\] > Elementwise\(erf\):",
        "derivative",
        "could not differentiate `nngp_fn`",
        "d_nngp_fn=",
        "get='nngp'",
    )


def test_elementwise_without_nngp_fn():
    net = stax.serial(stax.Dense(8), stax.Elementwise(fn=jnp.tanh))
    _raises(
        LayerError,
        lambda: net.kernel_fn(X1, X2),
        r"serial\[1\] > Elementwise\(tanh\)",
        "no `nngp_fn`",
        "ElementwiseNumerical",
    )
    _raises(LayerError, lambda: stax.Elementwise(), "neither `fn`")


def test_kernel_only_layer_has_no_apply():
    net = stax.serial(stax.Dense(8), stax.ExpNormalized())
    _, params = net.init_fn(jax.random.PRNGKey(0), X1.shape)
    _raises(
        LayerError,
        lambda: net.apply_fn(params, X1),
        r"serial\[1\] > ExpNormalized",
        "no finite-width function",
    )


@pytest.mark.parametrize("fan_in", [stax.FanInSum, stax.FanInProd])
def test_fan_in_shape_mismatch(fan_in):
    net = stax.serial(
        stax.FanOut(2), stax.parallel(stax.Dense(8), stax.Dense(16)), fan_in()
    )
    _raises(
        LayerError,
        lambda: net.kernel_fn(X1, X2),
        r"serial\[2\] > FanIn(Sum|Prod)",
        r"shapes differ.*\(4, 8\).*\(4, 16\)",
        "same output width",
    )
    _raises(
        LayerError,
        lambda: net.init_fn(jax.random.PRNGKey(0), X1.shape),
        r"serial\[2\] > FanIn",
    )


def test_fan_in_sum_of_non_gaussian_branches():
    branch = stax.serial(stax.Dense(8), stax.Relu())
    net = stax.serial(stax.FanOut(2), stax.parallel(branch, branch), stax.FanInSum())
    _raises(
        LayerError,
        lambda: net.kernel_fn(X1, X2),
        r"serial\[2\] > FanInSum",
        r"branches \[0, 1\] do not end in an affine layer",
        "Dense",
    )


def test_fan_in_prod_of_two_raw_input_branches():
    net = stax.serial(
        stax.FanOut(2),
        stax.parallel(stax.Identity(), stax.Identity()),
        stax.FanInProd(),
    )
    _raises(
        LayerError,
        lambda: net.kernel_fn(X1, X2),
        r"serial\[2\] > FanInProd",
        "raw inputs",
    )


def test_fan_in_concat_non_channel_axis():
    net = stax.serial(
        stax.FanOut(2),
        stax.parallel(stax.Dense(8), stax.Dense(8)),
        stax.FanInConcat(axis=0),
    )
    _raises(
        LayerError,
        lambda: net.kernel_fn(X1, X2),
        r"serial\[2\] > FanInConcat\(axis=0\)",
        "not the channel axis",
        "not supported by kernel_fn yet",
        "axis=-1",
    )


@pytest.mark.parametrize(
    "build,fragments",
    [
        (lambda: stax.Dense(8, W_std=0.0), (r"Dense\(8\)", "`W_std=0.0`", "positive")),
        (
            lambda: stax.Dense(8, W_std=-1),
            (
                r"Dense\(8\)",
                "`W_std=-1`",
            ),
        ),
        (lambda: stax.Dropout(1.5), (r"Dropout\(1.5\)", "keep probability")),
        (
            lambda: stax.Dropout(0.5, mode="eval"),
            ("`mode='eval'`", "'train' or 'test'"),
        ),
        (lambda: stax.Monomial(-1), (r"Monomial", "non-negative integer")),
        (lambda: stax.ElementwiseNumerical(jnp.tanh, 0), ("`deg=0`",)),
        (lambda: stax.Polynomial([[1.0]]), ("flat sequence",)),
        (lambda: stax.repeat(stax.Relu(), -1), ("`n=-1`",)),
        (lambda: stax.Flatten(batch_axis_out=2), ("`batch_axis_out=2`",)),
    ],
)
def test_bad_factory_arguments_raise_when_built(build, fragments):
    _raises(LayerError, build, *fragments)


@pytest.mark.parametrize(
    "build,position",
    [
        (lambda: stax.serial(stax.Dense(8), stax.Relu), r"serial\[1\]"),
        (lambda: stax.parallel(stax.Dense(8), stax.Erf), r"parallel\[1\]"),
        (lambda: stax.repeat(stax.Relu, 2), r"repeat\[0\]"),
    ],
)
def test_layer_passed_uncalled(build, position):
    _raises(LayerError, build, position, "not a layer", r"Relu\(\) rather than Relu")


def test_nonlinearity_before_any_dense():
    _raises(
        LayerError,
        lambda: stax.serial(stax.Gelu(), stax.Dense(1)).kernel_fn(X1, X2),
        r"^serial\[0\] > Gelu:",
        "not Gaussian",
        r"put a Dense\(\.\.\.\) layer before Gelu",
    )


def test_nested_position_path():
    inner = stax.serial(stax.Dense(8), stax.FanInConcat(), stax.Relu())
    net = stax.serial(
        stax.Dense(8),
        stax.FanOut(2),
        stax.parallel(stax.Dense(8), inner),
        stax.FanInSum(),
    )
    _raises(
        LayerError,
        lambda: net.kernel_fn(X1, X2),
        r"^serial\[2\] > parallel\[1\] > serial\[1\] > FanInConcat\(axis=-1\):",
        "list of branch outputs",
    )


def test_dropout_apply_without_rng():
    net = stax.serial(stax.Dense(8), stax.Relu(), stax.Dropout(0.8))
    _, params = net.init_fn(jax.random.PRNGKey(0), X1.shape)
    _raises(
        LayerError,
        lambda: net.apply_fn(params, X1),
        r"serial\[2\] > Dropout\(0.8\)",
        "PRNG key",
        "rng=",
        "mode='test'",
    )


def test_repeat_of_width_changing_block():
    net = stax.serial(stax.repeat(stax.serial(stax.Dense(8), stax.Relu()), 3))
    _raises(
        LayerError,
        lambda: net.init_fn(jax.random.PRNGKey(0), X1.shape),
        r"serial\[0\] > repeat",
        r"maps shape \(4, 5\) to \(4, 8\)",
        r"serial\(block, repeat\(block, n - 1\)\)",
    )


def test_input_errors_say_what_and_how():
    net = stax.serial(stax.Dense(8), stax.Relu())
    bad = X1.copy()
    bad[2, 3] = np.nan
    _raises(
        InputError,
        lambda: net.kernel_fn(bad, X2),
        "`x1` contains NaN",
        r"\[2, 3\]",
        "Fix:",
    )
    _raises(
        InputError,
        lambda: net.kernel_fn(X1, X2[:, :4]),
        r"\(4, 5\).*\(3, 4\)",
        "same number of features",
    )
    _raises(InputError, lambda: net.kernel_fn(X1, X2, "ntks"), "ntks", "nngp", "Fix:")
    _raises(InputError, lambda: net.kernel_fn(X1[0], None), "batch axis", "Fix:")
    same_axis = stax.Dense(8, batch_axis=1, channel_axis=-1)
    _raises(
        InputError,
        lambda: same_axis.kernel_fn(X1, None),
        "both name axis 1",
        r"batch_axis=1, channel_axis=0",
    )


def test_every_error_is_an_nkerror():
    assert issubclass(LayerError, NKError) and issubclass(InputError, NKError)
    # Neural Tangents raised ValueError for most of these; ported `except
    # ValueError` blocks keep working.
    assert issubclass(LayerError, ValueError) and issubclass(InputError, ValueError)
