"""The status line of ``%%nk``'s live view (nkwidgets/widgets/_experiment_view.py)."""

from __future__ import annotations

from types import SimpleNamespace

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm

from nkwidgets.compute import Event
from nkwidgets.widgets._experiment_view import ExperimentView


class _Recorder(BaseComm):
    """Keeps what a widget publishes instead of sending it."""

    def __init__(self, **kwargs):
        self.messages = []
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.messages.append(data or {})


@pytest.fixture(autouse=True)
def _recorded_comms(monkeypatch):
    monkeypatch.setattr(comm, "create_comm", _Recorder)


def _sent(widget) -> list:
    return [m for m in widget.comm.messages if m.get("method") == "update"]


def _view(max_updates_per_s: float = 1e9) -> ExperimentView:
    experiment = SimpleNamespace(
        dataset=SimpleNamespace(
            name="toy", x_train=np.zeros((4, 3)), labels_train=np.arange(4)
        ),
        compute=("ntk",),
        predict=None,
        dtype="float32",
    )
    # Unthrottled unless a test says otherwise: each event's text is checked.
    return ExperimentView(experiment, max_updates_per_s=max_updates_per_s)


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


def test_a_flood_of_blocks_redraws_the_status_a_few_times_and_ends_on_the_last():
    view = _view(max_updates_per_s=10)
    view.on_event(_started(5000, cached=0))
    before = len(_sent(view.status)), len(_sent(view.progress))
    for done in range(1, 5001):
        view.on_event(
            Event("progress", {"done": done, "total": 5000, "elapsed": 1e-4 * done})
        )
    # Well under a second of events: the first redraw, perhaps one more, and a
    # trailing one still pending (the timer's), not 5000 of each.
    assert len(_sent(view.status)) - before[0] <= 3
    assert len(_sent(view.progress)) - before[1] <= 3
    view.on_event(Event("done", {"result": None}))
    assert view.progress.value == 5000
    assert view.status.value.startswith("&nbsp;5000 / 5000 blocks")
