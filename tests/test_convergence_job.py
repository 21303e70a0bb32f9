"""Tests of ``nkwidgets/convergence.py`` (``nkwidgets/_convergence/``): the width sweep Job.

The science check follows ``tests/empirical/test_convergence.py`` (Jacot et al.
2018: empirical NTK fluctuations shrink as ``width^-1/2``), here through the
Job, its events and its fitted slope. The running mean kernel is checked
against an independent estimator, ``monte_carlo_kernel_fn``, and the fit
against ``numpy.polyfit``.
"""

from __future__ import annotations

import math
import threading

import jax
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.compute import Event, JobCancelled
from nkwidgets.convergence import (
    SweepError,
    fit_power_law,
    run_width_convergence,
    width_convergence,
)
from nkwidgets.errors import InputError
from nkwidgets.monte_carlo import monte_carlo_kernel_fn

WIDTHS = [32, 256, 2048]
N_SAMPLES = 5

# Theory: -1/2. Five networks per width give each mean error a ~15 %
# standard error (observed 13-26 %), which moves a slope fitted over a factor
# 64 in width (log 64 = 4.2) by about 0.05; the band allows four times that
# plus the O(1/width) bias at width 32, as in tests/empirical/test_convergence.py.
SLOPE_RANGE = (-0.75, -0.3)
# The reported slope error must describe the scatter: the fitted slope lies
# within this many of its standard errors of -1/2 (a Gaussian leaves it only
# 0.3 % of the time, so a failure means the error bar is too small).
SLOPE_Z_MAX = 3.0
# float64 sums of five 6 x 6 kernels in two orders (running mean here, Welford
# in monte_carlo_kernel_fn): agreement to rounding, a few ulps of the entries.
MEAN_KERNEL_RTOL = 1e-12


def _mlp(width: int):
    return stax.serial(
        stax.Dense(width, W_std=1.5, b_std=0.05),
        stax.Relu(),
        stax.Dense(width, W_std=1.5, b_std=0.05),
        stax.Relu(),
        stax.Dense(1, W_std=1.5, b_std=0.05),
    )


def _x():
    return jax.random.normal(jax.random.PRNGKey(0), (6, 3))


@pytest.fixture(scope="module")
def sweep():
    """One float64 sweep shared by the tests below, with every event it published."""
    events: list[Event] = []
    with jax.enable_x64(True):
        job = width_convergence(
            _mlp,
            _x(),
            WIDTHS,
            N_SAMPLES,
            jax.random.PRNGKey(1),
            vmap_axes=0,
            # No throttling by time: only the first and last network of a
            # width carry the kernel, which makes the event stream exact.
            kernel_event_interval_s=1e9,
        )
        job.subscribe(events.append)
        result = job.run_here()
    return result, events


def test_error_falls_as_width_to_the_minus_half(sweep):
    result, _ = sweep
    assert result.widths.tolist() == WIDTHS
    assert np.all(np.diff(result.errors) < 0), result
    assert SLOPE_RANGE[0] <= result.slope <= SLOPE_RANGE[1], result
    assert abs(result.slope + 0.5) <= SLOPE_Z_MAX * result.slope_stderr, result
    # Averaging networks removes most of the fluctuation: the averaged
    # kernel is closer to the infinite NTK than one network is.
    assert np.all(result.mean_kernel_errors < result.errors), result


def test_running_mean_is_the_monte_carlo_estimate(sweep, x64):
    result, _ = sweep
    width = WIDTHS[0]
    init_fn, apply_fn, kernel_fn = _mlp(width)
    x = _x()
    key = jax.random.fold_in(jax.random.PRNGKey(1), width)
    mc = monte_carlo_kernel_fn(init_fn, apply_fn, key, N_SAMPLES, vmap_axes=0)
    expected = np.asarray(mc.estimate(x, None, "ntk").mean)
    np.testing.assert_allclose(
        result.mean_kernels[width], expected, rtol=MEAN_KERNEL_RTOL, atol=0
    )
    infinite = np.asarray(kernel_fn(x, None, "ntk"))
    np.testing.assert_allclose(result.infinite_kernels[width], infinite, rtol=1e-12)
    error = np.linalg.norm(expected - infinite) / np.linalg.norm(infinite)
    assert result.mean_kernel_errors[0] == pytest.approx(error, rel=1e-10)


def test_events_follow_the_documented_order(sweep):
    result, events = sweep
    kinds = [e.kind for e in events]
    per_width = ["width_started"] + ["sample"] * N_SAMPLES + ["width_done"]
    assert kinds == ["started"] + per_width * len(WIDTHS) + ["done"]
    assert events[0].data == {
        "widths": WIDTHS,
        "n_samples": N_SAMPLES,
        "n_examples": 6,
        "total": len(WIDTHS) * N_SAMPLES,
    }
    samples = [e.data for e in events if e.kind == "sample"]
    assert [s["done"] for s in samples] == list(range(1, len(samples) + 1))
    # The kernel rides on a width's first and last network only (time
    # throttling is off), and the last one is the result's mean kernel.
    carried = [s["point"].n_samples for s in samples if s["kernel"] is not None]
    assert carried == [1, N_SAMPLES] * len(WIDTHS)
    last = samples[N_SAMPLES - 1]
    np.testing.assert_array_equal(last["kernel"], result.mean_kernels[WIDTHS[0]])
    # The running error after all networks is the result's, and its standard
    # error is the sample standard deviation of the per-network errors.
    errors = [s["sample_error"] for s in samples[:N_SAMPLES]]
    assert last["point"].error == pytest.approx(np.mean(errors), rel=1e-12)
    assert last["point"].stderr == pytest.approx(
        np.std(errors, ddof=1) / math.sqrt(N_SAMPLES), rel=1e-12
    )
    assert math.isnan(samples[0]["point"].stderr)  # one network: no spread yet
    fits = [e.data["fit"] for e in events if e.kind == "width_done"]
    assert fits[0] is None and fits[-1] == result.fit
    assert events[-1].data["result"] is result


def test_fit_matches_numpy_polyfit():
    widths = np.array([64.0, 256.0, 1024.0, 4096.0])
    errors = 3.0 * widths**-0.5 * np.array([1.05, 0.97, 1.02, 0.99])
    stderrs = errors * np.array([0.05, 0.04, 0.08, 0.03])
    fit = fit_power_law(widths, errors, stderrs)
    sigma = stderrs / errors
    coef, cov = np.polyfit(
        np.log(widths), np.log(errors), 1, w=1 / sigma, cov="unscaled"
    )
    _, cov_scaled = np.polyfit(np.log(widths), np.log(errors), 1, w=1 / sigma, cov=True)
    assert fit.slope == pytest.approx(coef[0], rel=1e-12)
    assert fit.intercept == pytest.approx(coef[1], rel=1e-12)
    # The larger of the two: the Monte Carlo errors, or the scatter when the
    # points disagree with a straight line more than those errors allow.
    expected = math.sqrt(max(cov[0, 0], cov_scaled[0, 0]))
    assert fit.slope_stderr == pytest.approx(expected, rel=1e-10)

    exact = fit_power_law(widths, 2.0 * widths**-0.5)
    assert exact.slope == pytest.approx(-0.5, abs=1e-12)
    assert exact(16.0) == pytest.approx(0.5, rel=1e-12)
    # One network per width gives no standard errors: unweighted fit, error
    # from the residuals (numpy's scaled covariance).
    unweighted = fit_power_law(widths, errors, [math.nan] * 4)
    coef, cov = np.polyfit(np.log(widths), np.log(errors), 1, cov=True)
    assert unweighted.slope == pytest.approx(coef[0], rel=1e-12)
    assert unweighted.slope_stderr == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"widths": [64]}, SweepError, "at least two"),
        ({"widths": [64, 64]}, SweepError, "at least two"),
        ({"widths": [64, 0]}, SweepError, "positive"),
        ({"widths": [64.5, 128]}, SweepError, "sequence of positive integers"),
        ({"n_samples": 0}, SweepError, "`n_samples=0`"),
        ({"x": np.full((3, 2), np.nan)}, InputError, "NaN"),
        ({"x": np.ones(3)}, InputError, "(examples, features"),
        ({"network_at_width": 5}, SweepError, "function of the width"),
        (
            {"network_at_width": lambda n: stax.Dense(n)[:2]},
            SweepError,
            "`network_at_width(8)` returned",
        ),
    ],
)
def test_bad_input_names_the_problem_and_the_fix(kwargs, error, needle):
    args = {
        "network_at_width": _mlp,
        "x": np.ones((3, 2)),
        "widths": [8, 16],
        "n_samples": 2,
        "key": jax.random.PRNGKey(0),
        **kwargs,
    }
    with pytest.raises(error) as info:
        width_convergence(**args)
    assert needle in str(info.value)
    # Every message also says what to do: an example or a fix.
    assert any(word in str(info.value) for word in ("e.g.", "Fix", "clean")), info.value


def _fake_network(kernel_shape):
    """A network whose infinite kernel has the wrong shape: fails inside the job."""

    def init_fn(key, shape):
        return shape, jax.random.normal(key, (shape[-1], 1))

    def apply_fn(params, x, **kwargs):
        return x @ params

    def kernel_fn(x1, x2=None, get=None, **kwargs):
        return np.ones(kernel_shape)

    return init_fn, apply_fn, kernel_fn


def test_a_failure_inside_the_job_reaches_subscribers():
    job = width_convergence(
        lambda n: _fake_network((3, 3, 2)),
        np.ones((3, 2)),
        [8, 16],
        2,
        jax.random.PRNGKey(0),
    )
    events: list[Event] = []
    job.subscribe(events.append)
    with pytest.raises(SweepError, match="readout"):
        job.run_here()
    assert [e.kind for e in events] == ["started", "failed"]
    assert "shape (3, 3, 2)" in str(events[-1].data["error"])


def test_cancel_keeps_the_finished_widths():
    job = width_convergence(
        _mlp, _x(), [4, 8, 16], 2, jax.random.PRNGKey(3), vmap_axes=0
    )
    kinds: list[str] = []

    def on_event(event: Event) -> None:
        kinds.append(event.kind)
        if event.kind == "width_done":
            job.cancel()

    job.subscribe(on_event)
    job.start()
    with pytest.raises(JobCancelled) as info:
        job.result(timeout=60)
    assert kinds[-1] == "cancelled" and kinds.count("width_started") == 1
    partial = info.value.partial
    assert partial.widths.tolist() == [4] and partial.fit is None
    assert partial.mean_kernels[4].shape == (6, 6)
    assert not any(t.name == "nk-width-convergence" for t in threading.enumerate())


def test_synchronous_variant_returns_the_result(x64):
    result = run_width_convergence(
        lambda n: stax.serial(stax.Dense(n), stax.Relu(), stax.Dense(1)),
        _x()[:3],
        [4, 64],
        2,
        jax.random.PRNGKey(5),
        vmap_axes=0,
    )
    assert result.widths.tolist() == [4, 64] and result.n_samples == 2
    assert np.isfinite(result.slope) and np.isfinite(result.slope_stderr)
    assert result.mean_kernels[64].dtype == np.float64
