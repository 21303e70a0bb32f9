"""Predictions reported by an experiment: means, train scores and probe uncertainty.

The ensemble's means are checked against ``predict.gradient_descent_mse`` (an
independent code path: no ensemble, no index lookup), its standard deviations
against the closed-form covariance evaluated with ``scipy.linalg.expm`` in
float64.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
import scipy.linalg

from nkwidgets import predict, stax
from nkwidgets.compute import Experiment, PredictSettings
from nkwidgets.compute._prediction import curve_times, predict_mse, probe_indices
from nkwidgets.data import digits

#: float64 end to end; the two paths differ only by round-off of O(n) flops.
FLOAT64_TOL = 1e-8

NET = stax.serial(
    stax.Dense(256, W_std=1.5, b_std=0.05),
    stax.Relu(),
    stax.Dense(10, W_std=1.5, b_std=0.05),
)


@pytest.fixture(scope="module")
def kernels_and_data():
    ds = digits(train=40, test=12, seed=3)
    with jax.enable_x64(True):
        x_tr = ds.x_train.astype(np.float64)
        x_te = ds.x_test.astype(np.float64)
        kernels = {
            g: {
                "train_train": np.asarray(NET.kernel_fn(x_tr, None, g)),
                "test_train": np.asarray(NET.kernel_fn(x_te, x_tr, g)),
            }
            for g in ("nngp", "ntk")
        }
        probe_nngp_full = np.asarray(NET.kernel_fn(x_te, None, "nngp"))
    return kernels, ds, probe_nngp_full


def _settings(**kw):
    return PredictSettings(
        t=(0.5, 5.0, 50.0, math.inf), diag_reg=0.0, curve_points=7, **kw
    )


def test_means_match_gradient_descent_mse(kernels_and_data):
    kernels, ds, _ = kernels_and_data
    settings = _settings()
    with jax.enable_x64(True):
        out = predict_mse(kernels, ds, settings)
        for g, k in kernels.items():
            fn = predict.gradient_descent_mse(
                k["train_train"], ds.y_train.astype(np.float64)
            )
            fx_train, fx_test = fn(
                t=np.asarray(settings.t),
                fx_train_0=0.0,
                fx_test_0=0.0,
                k_test_train=k["test_train"],
            )
            np.testing.assert_allclose(out[g]["fx_test"], fx_test, atol=FLOAT64_TOL)
            acc = (np.asarray(fx_train).argmax(-1) == ds.labels_train).mean(-1)
            np.testing.assert_array_equal(out[g]["train_accuracy"], acc)
            # The user's times are points of the dense curve.
            at = np.searchsorted(out[g]["t_curve"], settings.t)
            np.testing.assert_array_equal(out[g]["curve_mse"][at], out[g]["mse"])
    # Without a ridge the converged network interpolates its training set.
    assert out["ntk"]["train_accuracy"][-1] == 1.0
    assert out["ntk"]["train_mse"][-1] < 1e-10


def _expected_std(kernels, ds, mode, probe, probe_nngp, t, lr=1.0):
    """sqrt(diag Sigma_t) from the closed form, by matrix exponentials."""
    k = kernels["nngp"]["train_train"]
    theta = kernels[mode]["train_train"]
    k_star = kernels["nngp"]["test_train"][probe]
    theta_star = kernels[mode]["test_train"][probe]
    n_outputs = ds.y_train.size
    out = []
    for ti in t:
        if np.isinf(ti):
            flow = np.eye(len(k))
        else:
            flow = np.eye(len(k)) - scipy.linalg.expm(-lr * ti * theta / n_outputs)
        a = theta_star @ np.linalg.solve(theta, flow)
        cov = probe_nngp + a @ k @ a.T - (a @ k_star.T + k_star @ a.T)
        out.append(np.sqrt(np.clip(np.diag(cov), 0, None)))
    return np.array(out)


@pytest.mark.parametrize("mode", ["nngp", "ntk"])
def test_probe_std_matches_closed_form_covariance(kernels_and_data, mode):
    kernels, ds, probe_nngp_full = kernels_and_data
    settings = _settings(probe_points=(0, 3, 7))
    probe = probe_indices(ds, settings)
    with jax.enable_x64(True):
        out = predict_mse(kernels, ds, settings, probe_nngp_full[np.ix_(probe, probe)])[
            mode
        ]
    expected = _expected_std(
        kernels, ds, mode, probe, probe_nngp_full[np.ix_(probe, probe)], out["t_curve"]
    )
    # Both are float64; the eigenbasis route and expm differ by conditioning of
    # the 40x40 train kernel (~1e5) times machine epsilon.
    np.testing.assert_allclose(out["probe_std"], expected, rtol=1e-6, atol=1e-7)
    # Uncertainty shrinks as training fits the data: more at t=0.5 than at inf.
    assert (out["probe_std"][0] > out["probe_std"][-1]).all()


def test_ntk_alone_reports_means_without_std(kernels_and_data):
    kernels, ds, probe_nngp_full = kernels_and_data
    only_ntk = {"ntk": kernels["ntk"]}
    with jax.enable_x64(True):
        out = predict_mse(only_ntk, ds, _settings(), None)
    assert "probe_std" not in out["ntk"]
    n_probes = len(set(ds.labels_test.tolist()))  # one per class present
    assert out["ntk"]["probe_mean"].shape == (len(out["ntk"]["t_curve"]), n_probes, 10)


def test_curve_times_merge_user_times_and_keep_infinity_last():
    t = curve_times(PredictSettings(t=(3.0, 1.0, 700.0, math.inf), curve_points=5))
    assert t[-1] == math.inf
    finite = t[:-1]
    assert (np.diff(finite) > 0).all()
    assert {1.0, 3.0, 700.0} <= set(finite.tolist())
    assert finite[0] == 1.0 and finite[-1] == 700.0


def test_default_probes_are_one_test_point_per_class():
    ds = digits(train=50, test=60, seed=1)
    idx = probe_indices(ds, PredictSettings())
    assert sorted(ds.labels_test[idx].tolist()) == sorted(set(ds.labels_test.tolist()))


def test_probe_points_outside_the_test_set_name_the_fix():
    ds = digits(train=20, test=10)
    with pytest.raises(ValueError, match=r"outside the 10 test points.*0 … 9"):
        probe_indices(ds, PredictSettings(probe_points=(2, 10)))


def test_experiment_reports_probe_std_for_both_kernels():
    ds = digits(train=60, test=30, seed=2)
    result = Experiment(NET, ds, predict=_settings(), block_size=60).job().run_here()
    for g in ("nngp", "ntk"):
        p = result.predictions[g]
        assert p["probe_std"].shape == (len(p["t_curve"]), len(p["probe_index"]))
        assert np.isfinite(p["probe_std"]).all()
