"""PredictionView draws what a ``prediction`` event carries and follows its slider.

Predictions are synthetic arrays in the layout of ``compute._prediction.predict_mse``,
so every drawn value can be checked against the number it must show.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nkwidgets.compute import Event
from nkwidgets.data import digits
from nkwidgets.widgets._log_ticks import MAX_LOG_TICKS, log_ticks
from nkwidgets.widgets._prediction_view import PredictionView, time_label

N_CLASSES = 10


@pytest.fixture(scope="module")
def dataset():
    return digits(train=30, test=20, seed=0)


def _predictions(ds, with_std=True):
    rng = np.random.default_rng(0)
    t = np.append(np.geomspace(1.0, 1e4, 9), math.inf)
    probes = np.array([0, 4, 9])
    out = {}
    for g in ("nngp", "ntk"):
        p = {
            "t": t[[0, 4, -1]],
            "t_curve": t,
            "probe_index": probes,
            "probe_mean": rng.normal(size=(len(t), len(probes), N_CLASSES)),
        }
        for key in ("accuracy", "mse", "train_accuracy", "train_mse"):
            p[f"curve_{key}"] = rng.uniform(size=len(t))
        if with_std:
            p["probe_std"] = rng.uniform(0.1, 1.0, size=(len(t), len(probes)))
        out[g] = p
    return out


def test_empty_state_waits_for_kernels(dataset):
    view = PredictionView(("nngp", "ntk"), dataset)
    assert view.slider.disabled and view.probe_select.disabled
    assert "waiting" in view.loss_fig.title and "waiting" in view.probe_fig.title
    assert all(not m.visible for m in view.markers)


def test_curves_show_train_and_test_for_each_kernel(dataset):
    preds = _predictions(dataset)
    view = PredictionView(("nngp", "ntk"), dataset)
    view.on_event(Event("prediction", {"predictions": preds}))
    lines = [m for m in view.acc_fig.marks if m not in view.markers]
    assert len(lines) == 4  # {nngp, ntk} x {test, train}
    finite = np.isfinite(preds["ntk"]["t_curve"])
    drawn = {m.labels[0]: m for m in lines}
    np.testing.assert_array_equal(
        drawn["NTK train"].y, preds["ntk"]["curve_train_accuracy"][finite]
    )
    np.testing.assert_array_equal(
        drawn["NNGP test"].x, preds["nngp"]["t_curve"][finite]
    )


def test_slider_moves_marker_and_probe_bands(dataset):
    preds = _predictions(dataset)
    view = PredictionView(("nngp", "ntk"), dataset)
    view.show(preds)
    t = preds["ntk"]["t_curve"]
    for k in (2, 7):
        view.slider.value = k
        for marker in view.markers:
            assert list(marker.x) == [t[k], t[k]] and marker.visible
        bands = [m for m in view.probe_fig.marks if m.y.ndim == 2]
        ntk_band = bands[1]
        mean = preds["ntk"]["probe_mean"][k, 0]
        std = preds["ntk"]["probe_std"][k, 0]
        np.testing.assert_allclose(ntk_band.y[:, 0], mean - 2 * std)
        np.testing.assert_allclose(ntk_band.y[:, 1], mean + 2 * std)
        assert f"t = {time_label(t[k])}" in view.probe_fig.title
    # t = inf parks the marker at the largest finite time and says so.
    view.slider.value = len(t) - 1
    assert list(view.markers[0].x) == [t[-2], t[-2]]
    assert "t = ∞" in view.probe_fig.title


def test_probe_selection_switches_point_and_picture(dataset):
    preds = _predictions(dataset)
    view = PredictionView(("nngp", "ntk"), dataset)
    view.show(preds)
    view.probe_select.value = 2
    test_index = int(preds["ntk"]["probe_index"][2])
    assert f"#{test_index} " in view.probe_fig.title
    np.testing.assert_allclose(
        view.picture.heatmap.color.ravel(), dataset.x_test[test_index].astype(float)
    )
    targets = view.probe_fig.marks[-1]
    np.testing.assert_array_equal(targets.y, dataset.y_test[test_index])


def test_fixed_output_range_across_times(dataset):
    preds = _predictions(dataset)
    view = PredictionView(("nngp", "ntk"), dataset)
    view.show(preds)
    ranges = set()
    for k in range(len(preds["ntk"]["t_curve"])):
        view.slider.value = k
        ranges.add((view.output_scale.min, view.output_scale.max))
    assert len(ranges) == 1


def test_means_without_std_are_labelled(dataset):
    view = PredictionView(("ntk",), dataset)
    view.show({"ntk": _predictions(dataset, with_std=False)["ntk"]})
    labels = [m.labels[0] for m in view.probe_fig.marks if m.labels]
    assert "NTK (mean only)" in labels


def test_failure_is_shown(dataset):
    view = PredictionView(("nngp",), dataset)
    view.on_event(Event("failed", {"error": RuntimeError("eigh <did not> converge")}))
    assert "RuntimeError: eigh &lt;did not&gt; converge" in view.message.value


def test_time_axes_are_labelled_by_decades(dataset):
    """One label per power of ten (1e0 ... 1e4 here), not bqplot's 1-2-5 ticks."""
    view = PredictionView(("nngp", "ntk"), dataset)
    view.show(_predictions(dataset))
    for fig in (view.loss_fig, view.acc_fig):
        np.testing.assert_allclose(fig.axes[0].tick_values, [1, 10, 100, 1e3, 1e4])


def test_log_ticks_thin_wide_ranges_and_keep_narrow_ones_labelled():
    wide = log_ticks(np.array([0.0, 3e-3, 2e7, math.inf]))
    assert len(wide) <= MAX_LOG_TICKS
    assert all(3e-3 <= t <= 2e7 for t in wide)
    assert all(math.log10(t).is_integer() for t in wide)
    np.testing.assert_allclose(log_ticks(np.array([25.0, 800.0])), [50, 100, 200, 500])
    np.testing.assert_allclose(log_ticks(np.array([8e-3, 5.5e-2])), [1e-2, 2e-2, 5e-2])
    np.testing.assert_allclose(log_ticks(np.array([3.0, 4.5])), [3, 4])
    assert log_ticks(np.array([0.0, math.inf])) == []
