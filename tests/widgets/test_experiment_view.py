"""The status line of ``%%nk``'s live view (nkwidgets/widgets/_experiment_view.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from nkwidgets.compute import Event
from nkwidgets.widgets._experiment_view import ExperimentView


def _view() -> ExperimentView:
    experiment = SimpleNamespace(
        dataset=SimpleNamespace(
            name="toy", x_train=np.zeros((4, 3)), labels_train=np.arange(4)
        ),
        compute=("ntk",),
        predict=None,
        dtype="float32",
    )
    return ExperimentView(experiment)


def _started(total: int, cached: int) -> Event:
    data = {"total": total, "cached": cached, "train_blocks": 1, "block_size": 4}
    return Event("started", data)


def _progress(view: ExperimentView, done: int, total: int, elapsed: float) -> str:
    view.on_event(Event("progress", {"done": done, "total": total, "elapsed": elapsed}))
    return view.status.value


def test_time_left_follows_the_pace_of_computed_blocks():
    view = _view()
    view.on_event(_started(20, cached=4))
    # Cached blocks come at once; the first computed one carries the compile.
    for done in range(1, 5):
        assert "left" not in _progress(view, done, 20, 0.01 * done)
    assert "left" not in _progress(view, 5, 20, 3.0)  # first computed block
    assert "left" not in _progress(view, 6, 20, 3.5)
    # 2 blocks in 1 s after the first: 0.5 s a block, 13 blocks to go.
    assert _progress(view, 7, 20, 4.0).endswith("· about 6.5 s left")
    assert "7 / 20 blocks · 4.0 s" in view.status.value
    # A slow block lengthens the estimate: 12 s a block over 3 blocks, 1992 to go.
    assert _progress(view, 8, 2000, 39.0).endswith("about 6.6 h left")
    assert "left" not in _progress(view, 20, 20, 9.0)  # finished


@pytest.mark.parametrize("cached", [0, 20])
def test_no_estimate_when_nothing_is_left_to_compute(cached):
    view = _view()
    view.on_event(_started(20, cached))
    texts = [_progress(view, d, 20, 0.1 * d) for d in range(1, 21)]
    assert ("left" in " ".join(texts)) == (cached == 0)
    assert "left" not in texts[-1]
