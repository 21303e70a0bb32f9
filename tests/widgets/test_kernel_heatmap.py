"""Tests of ``nkwidgets/widgets/_kernel_heatmap.py`` and its serialization.

No kernel runs here: ``comm.create_comm`` is replaced by a recorder, so each
test sees exactly the messages the widget would put on the wire, and
``replay`` plays them into a front-end model the way
``src/widgets/kernel_heatmap/model.ts`` does.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import comm
import ipywidgets
import numpy as np
import pytest
import traitlets
from comm.base_comm import BaseComm

import nkwidgets
from nkwidgets.compute import Event
from nkwidgets.compute._blocks import Block
from nkwidgets.errors import InputError
from nkwidgets.widgets import KernelHeatmap, _kernel_heatmap
from nkwidgets.widgets._experiment_view import ExperimentView

REPO = Path(__file__).resolve().parents[2]
TS_MODEL = REPO / "src" / "widgets" / "kernel_heatmap" / "model.ts"


@dataclass
class Message:
    """One comm message as it would leave the kernel, with when it left."""

    msg_type: str
    data: dict[str, Any]
    buffers: list[bytes] = field(default_factory=list)
    at: float = 0.0


class RecordingComm(BaseComm):
    """A comm that keeps what it publishes instead of sending it."""

    def __init__(self, **kwargs: Any) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()
        super().__init__(**kwargs)

    def publish_msg(
        self,
        msg_type: str,
        data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        buffers: list[Any] | None = None,
        **keys: Any,
    ) -> None:
        del metadata, keys
        # Bytes now: the widget must not rely on buffers staying unchanged.
        message = Message(
            msg_type, data or {}, [bytes(b) for b in buffers or []], time.perf_counter()
        )
        with self.lock:
            self.messages.append(message)

    def of(self, method: str) -> list[Message]:
        return [m for m in self.messages if m.data.get("method") == method]

    def frames(self) -> list[Message]:
        """The custom messages carrying blocks."""
        return [
            m for m in self.of("custom") if m.data["content"].get("type") == "blocks"
        ]

    def value_syncs(self) -> list[np.ndarray]:
        """Every full ``values`` stack sent after the comm opened, flat."""
        out = []
        for m in self.of("update"):
            for path, buffer in zip(m.data["buffer_paths"], m.buffers, strict=True):
                if path == ["values"]:
                    out.append(np.frombuffer(buffer, "<f4"))
        return out


@pytest.fixture(autouse=True)
def recorded_comms(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every widget opened in a test a `RecordingComm`."""
    monkeypatch.setattr(comm, "create_comm", RecordingComm)


def sent(widget: ipywidgets.Widget) -> RecordingComm:
    """The recorder holding what ``widget`` sent."""
    assert isinstance(widget.comm, RecordingComm)
    return widget.comm


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A settable clock for the frame throttle: ``clock[0] = t``."""
    now = [1000.0]
    monkeypatch.setattr(_kernel_heatmap, "_clock", lambda: now[0])
    return now


def replay(messages: list[Message]) -> dict[str, Any]:
    """The state a front end holds after ``messages``, as model.ts builds it."""
    state: dict[str, Any] = {}
    for m in messages:
        if m.msg_type == "comm_open" or m.data.get("method") == "update":
            state.update(m.data["state"])
            for path, buffer in zip(m.data["buffer_paths"], m.buffers, strict=True):
                state[path[0]] = np.frombuffer(buffer, "<f4").copy()
        elif m.data.get("method") == "custom" and m.data["content"]["type"] == "blocks":
            shape = (len(state["kernels"]), state["n_rows"], state["n_cols"])
            values = state["values"].reshape(shape)
            for header, buffer in zip(
                m.data["content"]["blocks"], m.buffers, strict=True
            ):
                k = state["kernels"].index(header["kernel"])
                r, c, rows, cols = (
                    header[key] for key in ("row0", "col0", "rows", "cols")
                )
                values[k, r : r + rows, c : c + cols] = np.frombuffer(
                    buffer, "<f4"
                ).reshape(rows, cols)
    return state


def test_frame_carries_blocks_tagged_with_their_kernel(clock):
    heatmap = KernelHeatmap(4, 6, kernels=("nngp", "ntk"))
    heatmap.add_block(0, 0, {"nngp": np.zeros((1, 1)), "ntk": np.zeros((1, 1))})
    # The first frame carries the whole `values`; the next one, a frame
    # interval later but before the next full sync, carries just the blocks.
    clock[0] += 1.2 / _kernel_heatmap.FRAMES_PER_S
    block = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    heatmap.add_block(2, 3, block, kernel="ntk")

    (frame,) = sent(heatmap).frames()
    assert frame.data["content"] == {
        "type": "blocks",
        "blocks": [{"kernel": "ntk", "row0": 2, "col0": 3, "rows": 2, "cols": 3}],
    }
    assert frame.buffers == [block.astype("<f4").tobytes()]
    assert sent(heatmap).of("update")[-1].data["state"] == {"blocks_done": 2}
    np.testing.assert_array_equal(
        heatmap.matrix("ntk")[2:4, 3:6], block.astype(np.float32)
    )


def test_thousand_blocks_make_at_most_twenty_frames_a_second(clock):
    # Simulated time: 1,000 blocks, one per millisecond, for 1 s.
    n, size = 40, 4
    rng = np.random.default_rng(0)
    nngp = rng.normal(size=(n, n)).astype(np.float32)
    ntk = rng.normal(size=(n, n)).astype(np.float32)
    origins = [(r, c) for r in range(0, n, size) for c in range(0, n, size)] * 10
    heatmap = KernelHeatmap(n, kernels=("nngp", "ntk"), blocks_total=len(origins))
    opened = len(sent(heatmap).messages)
    for r, c in origins:
        clock[0] += 0.001
        cut = np.s_[r : r + size, c : c + size]
        heatmap.add_block(r, c, {"nngp": nngp[cut], "ntk": ntk[cut]})

    updates = sent(heatmap).of("update")
    # 20 frames in 1 s plus the leading one; the last (blocks_total reached)
    # may come early.
    assert len(updates) <= 22, len(updates)
    assert len(sent(heatmap).frames()) <= 22
    state = replay(sent(heatmap).messages)
    assert state["blocks_done"] == 1000
    # Exact: float32 in, the same float32 bits out.
    np.testing.assert_array_equal(
        state["values"].reshape(2, n, n), np.stack([nngp, ntk])
    )
    assert len(sent(heatmap).messages) - opened == len(updates) + len(
        sent(heatmap).frames()
    )


def test_tight_loop_in_real_time_is_throttled_and_completed_by_a_trailing_frame():
    n, size = 32, 2
    matrix = np.random.default_rng(1).normal(size=(n, n)).astype(np.float32)
    origins = [(r, c) for r in range(0, n, size) for c in range(0, n, size)] * 4
    assert len(origins) == 1024
    heatmap = KernelHeatmap(n)  # blocks_total unknown: nothing forces a flush
    start = time.perf_counter()
    for r, c in origins:
        heatmap.add_block(r, c, matrix[r : r + size, c : c + size])
    elapsed = time.perf_counter() - start
    # The trailing frame is due one frame interval after the last one; the
    # wait allows for a loaded CI machine, which once ran a timer thread more
    # than 5 s late.
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        last = sent(heatmap).of("update")[-1].data["state"]
        if last.get("blocks_done") == len(origins):
            break
        time.sleep(0.01)

    updates = [m for m in sent(heatmap).of("update") if m.at >= start]
    span = updates[-1].at - updates[0].at
    # Leading frame plus at most one per 1/20 s after it (+1 for timer
    # scheduling jitter at the end).
    assert len(updates) <= _kernel_heatmap.FRAMES_PER_S * span + 2, (
        len(updates),
        span,
        elapsed,
    )
    gaps = np.diff([m.at for m in updates])
    # Frames are timed when decided and stamped when published; on a loaded
    # machine a publish may lag its decision by a few ms, so two stamps can
    # sit closer than a frame interval, but not by half of one.
    assert gaps.size == 0 or gaps.min() >= 0.5 / _kernel_heatmap.FRAMES_PER_S, (
        gaps.min()
    )
    state = replay(sent(heatmap).messages)
    assert state["blocks_done"] == 1024
    np.testing.assert_array_equal(state["values"].reshape(n, n), matrix)


def test_values_round_trip_and_final_flush(clock):
    del clock  # frozen: only the first block and the last one sync `values`
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(6, 6)).astype(np.float32)
    heatmap = KernelHeatmap(6, blocks_total=4)
    for r in (0, 3):
        for c in (0, 3):
            heatmap.add_block(r, c, matrix[r : r + 3, c : c + 3])

    assert len(sent(heatmap).value_syncs()) == 2
    np.testing.assert_array_equal(sent(heatmap).value_syncs()[-1].reshape(6, 6), matrix)
    np.testing.assert_array_equal(heatmap.matrix(), matrix)

    # The wire form (flat bytes) restores the same stack, as when a saved
    # notebook's widget state is loaded.
    restored = KernelHeatmap(6)
    restored.set_state({"values": heatmap.get_state("values")["values"]})
    np.testing.assert_array_equal(restored.matrix(), matrix)


def test_unfilled_cells_are_nan_until_their_block_arrives():
    heatmap = KernelHeatmap(2, 3)
    heatmap.add_block(0, 1, [[5.0, 6.0]])
    heatmap.flush()
    synced = sent(heatmap).value_syncs()[-1].reshape(2, 3)
    np.testing.assert_array_equal(synced, [[np.nan, 5, 6], [np.nan] * 3])


def test_add_block_from_threads():
    n, size = 32, 4
    matrix = np.random.default_rng(1).normal(size=(n, n)).astype(np.float32)
    origins = [(r, c) for r in range(0, n, size) for c in range(0, n, size)]
    heatmap = KernelHeatmap(n, blocks_total=len(origins))
    start = threading.Barrier(4)

    def work(mine: list[tuple[int, int]]) -> None:
        start.wait()
        for r, c in mine:
            heatmap.add_block(r, c, matrix[r : r + size, c : c + size])

    threads = [threading.Thread(target=work, args=(origins[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert heatmap.blocks_done == len(origins)
    np.testing.assert_array_equal(heatmap.matrix(), matrix)
    # Reaching blocks_total flushes, so the last sync is the whole matrix.
    np.testing.assert_array_equal(sent(heatmap).value_syncs()[-1].reshape(n, n), matrix)
    np.testing.assert_array_equal(
        replay(sent(heatmap).messages)["values"].reshape(n, n), matrix
    )


def test_mirrored_blocks_of_two_kernels_fill_both_triangles_and_count_once():
    heatmap = KernelHeatmap(4, kernels=("nngp", "ntk"), blocks_total=3)
    upper = np.arange(4.0).reshape(2, 2)
    heatmap.add_block(0, 2, {"nngp": upper, "ntk": 2 * upper}, mirror=True)
    np.testing.assert_array_equal(heatmap.matrix("nngp")[0:2, 2:4], upper)
    np.testing.assert_array_equal(heatmap.matrix("nngp")[2:4, 0:2], upper.T)
    np.testing.assert_array_equal(heatmap.matrix("ntk")[2:4, 0:2], 2 * upper.T)
    assert heatmap.blocks_done == 1
    # A diagonal block is its own mirror image.
    heatmap.add_block(0, 0, np.eye(2), kernel="ntk", mirror=True)
    assert heatmap.blocks_done == 2
    assert np.isnan(heatmap.matrix("nngp")[0:2, 0:2]).all()


def test_kernel_names_are_checked():
    heatmap = KernelHeatmap(2, kernels=("nngp", "ntk"))
    with pytest.raises(InputError, match="name the kernel"):
        heatmap.add_block(0, 0, np.eye(2))
    with pytest.raises(InputError, match="Did you mean 'ntk'"):
        heatmap.add_block(0, 0, np.eye(2), kernel="ntkk")
    with pytest.raises(InputError, match="not shown by this heatmap"):
        KernelHeatmap(2).kernel = "difference"
    with pytest.raises(InputError, match="distinct names"):
        KernelHeatmap(2, kernels=("ntk", "ntk"))
    assert heatmap.blocks_done == 0
    heatmap.kernel = "difference"
    assert heatmap.kernel_choices() == ["nngp", "ntk", "difference"]
    # Dropping a kernel falls back to a kernel still held.
    heatmap.kernels = ["ntk"]
    assert (heatmap.kernel, heatmap.values.shape) == ("ntk", (1, 2, 2))


def test_blocks_outside_the_matrix_are_rejected():
    heatmap = KernelHeatmap(4, 4)
    with pytest.raises(InputError, match="does not fit"):
        heatmap.add_block(3, 0, np.ones((2, 2)))
    with pytest.raises(InputError, match="2-d"):
        heatmap.add_block(0, 0, np.ones(4))
    assert heatmap.blocks_done == 0


def test_view_state_is_validated_and_survives_a_state_round_trip():
    heatmap = KernelHeatmap(
        6,
        kernels=("nngp", "ntk"),
        row_labels=[1, 0, 1, 0, 2, 2],
        class_names=["a", "b", "c"],
    )
    with pytest.raises(InputError, match=r"\[\] or \[row0, row1, col0, col1\]"):
        heatmap.zoom = [0, 7, 0, 3]
    with pytest.raises(InputError, match="must be one of"):
        heatmap.color_mode = "log"
    with pytest.raises(InputError, match="needs a square"):
        KernelHeatmap(2, 3).color_mode = "correlation"
    with pytest.raises(InputError, match="one per col"):
        KernelHeatmap(2, 3, col_labels=[0, 1])

    # What a view sets (zoom, kernel, colour mode) comes back through the
    # comm as plain JSON, and is part of the state a notebook saves.
    heatmap.set_state(
        {"zoom": [2, 4, 0, 2], "kernel": "difference", "color_mode": "correlation"}
    )
    state = heatmap.get_state()
    assert (state["zoom"], state["kernel"], state["color_mode"]) == (
        [2, 4, 0, 2],
        "difference",
        "correlation",
    )
    assert state["class_names"] == ["a", "b", "c"]
    assert state["sort_by_class"] is True
    # A resize to a non-square shape drops what no longer applies.
    heatmap.reset(3, 5)
    assert (heatmap.zoom, heatmap.color_mode, heatmap.row_labels.size) == (
        [],
        "values",
        0,
    )


def test_unknown_keyword_suggests_the_trait():
    with pytest.raises(TypeError, match="Did you mean `title`"):
        KernelHeatmap(4, titel="NTK")


def test_reset_resizes_and_clears():
    heatmap = KernelHeatmap(2, row_labels=[0, 1])
    heatmap.add_block(0, 0, np.ones((2, 2)))
    heatmap.error = "boom"
    heatmap.reset(3, 5, blocks_total=2)
    assert heatmap.values.shape == (1, 3, 5)
    assert np.isnan(heatmap.values).all()
    assert (heatmap.blocks_done, heatmap.blocks_total, heatmap.error) == (0, 2, "")
    assert heatmap.row_labels.size == 0


def test_from_matrix_sends_the_whole_stack():
    matrix = np.arange(12.0).reshape(3, 4)
    heatmap = KernelHeatmap.from_matrix(matrix, title="K", row_labels=[0, 0, 1])
    np.testing.assert_array_equal(sent(heatmap).value_syncs()[-1].reshape(3, 4), matrix)
    assert heatmap.blocks_done == 1
    assert heatmap.row_labels.dtype == np.int32
    both = KernelHeatmap.from_matrix({"nngp": matrix, "ntk": 3 * matrix})
    np.testing.assert_array_equal(both.matrix("ntk"), 3 * matrix)
    with pytest.raises(InputError, match="one shape"):
        KernelHeatmap.from_matrix({"nngp": matrix, "ntk": matrix.T})


def test_empty_kernel_is_an_empty_widget_that_reset_fills(clock):
    # Zero rows used to crash serialization (`memoryview.cast` refuses a view
    # with a zero in its shape) before the widget could even open.
    for heatmap in (
        KernelHeatmap(),
        KernelHeatmap(0, 3),
        KernelHeatmap.from_matrix(np.zeros((0, 0))),
        KernelHeatmap.from_matrix({"nngp": np.zeros((0, 2)), "ntk": np.zeros((0, 2))}),
    ):
        assert heatmap.values.size == 0
        assert replay(sent(heatmap).messages)["values"].size == 0

    heatmap = KernelHeatmap(0, 4, blocks_total=3)
    heatmap.add_block(0, 0, np.zeros((0, 4)))
    clock[0] += 1.2 / _kernel_heatmap.FRAMES_PER_S
    heatmap.add_block(0, 2, np.zeros((0, 2)))
    (frame,) = sent(heatmap).frames()
    assert frame.buffers == [b""]

    heatmap.reset(2)
    heatmap.add_block(0, 0, np.eye(2))
    heatmap.flush()
    state = replay(sent(heatmap).messages)
    np.testing.assert_array_equal(state["values"].reshape(2, 2), np.eye(2))


def test_a_matrix_given_as_the_size_points_to_from_matrix():
    with pytest.raises(InputError, match="from_matrix"):
        KernelHeatmap(np.zeros((0, 0)))
    with pytest.raises(InputError, match="`n_cols` must be an int"):
        KernelHeatmap(2, [[1.0, 2.0]])


def test_experiment_view_streams_both_kernels_into_one_heatmap():
    labels = np.array([1, 0, 1, 0], np.int32)
    plan = [Block("train_train", 0, 2, 0, 2), Block("train_train", 0, 2, 2, 2),
            Block("train_train", 2, 2, 2, 2)]  # fmt: skip
    experiment = SimpleNamespace(
        dataset=SimpleNamespace(
            name="toy", x_train=np.zeros((4, 3)), labels_train=labels
        ),
        compute=("nngp", "ntk"),
        predict=None,
        dtype="float64",
    )
    view = ExperimentView(experiment)
    heatmap = view.heatmap
    view.on_event(
        Event("started", {"total": 4, "cached": 0, "train_blocks": 3, "block_size": 2})
    )
    assert heatmap.kernels == ["nngp", "ntk"] and heatmap.blocks_total == 3
    assert "blocks of 2 × 2" in view.header.value
    full = np.arange(16.0).reshape(4, 4)
    full = full + full.T
    for block in plan:
        cut = np.s_[block.row0 : block.row0 + 2, block.col0 : block.col0 + 2]
        values = {"nngp": full[cut], "ntk": 2 * full[cut]}
        view.on_event(Event("block_done", {"block": block, "values": values}))
    np.testing.assert_array_equal(heatmap.matrix("nngp"), full)
    np.testing.assert_array_equal(heatmap.matrix("ntk"), 2 * full)
    view.on_event(Event("failed", {"error": ValueError("boom")}))
    assert heatmap.error == "ValueError: boom"


def _satisfies_caret(version: str, caret_range: str) -> bool:
    """Whether npm ``version`` satisfies ``^X.Y.Z[-pre]`` (npm semver rules)."""
    match = re.fullmatch(r"\^(\d+)\.(\d+)\.(\d+)(-\S+)?", caret_range)
    assert match, f"not a caret range: {caret_range}"
    low = tuple(int(g) for g in match.groups()[:3])
    core, _, pre = version.partition("-")
    have = tuple(int(p) for p in core.split("."))
    if pre and not (match[4] and have == low):
        return False  # semver admits pre-releases only of the named release
    first = next((i for i, part in enumerate(low) if part), 2)
    high = low[:first] + (low[first] + 1,) + (0,) * (2 - first)
    return low <= have < high


def test_module_version_matches_package_json():
    version = json.loads((REPO / "package.json").read_text())["version"]
    heatmap_cls = KernelHeatmap
    for trait in ("_model_module_version", "_view_module_version"):
        declared = heatmap_cls.class_traits()[trait].default_value
        assert _satisfies_caret(version, declared), (trait, declared, version)
    assert heatmap_cls.class_traits()["_model_module"].default_value == "nkwidgets"
    # hatch-nodejs-version derives the Python version from package.json.
    assert nkwidgets.__version__.startswith(version.partition("-")[0])


def _ts_interface_keys(source: str, name: str) -> list[str]:
    match = re.search(rf"export interface {name} \{{(.*?)^\}}", source, re.M | re.S)
    assert match, f"interface {name} not found"
    return re.findall(r"^\s*(\w+)\??:", match[1], re.M)


def test_synced_traits_match_the_typescript_interface():
    own = [
        name
        for name, trait in vars(KernelHeatmap).items()
        if isinstance(trait, traitlets.TraitType)
        and trait.metadata.get("sync")
        and not name.startswith("_")
    ]
    keys = _ts_interface_keys(TS_MODEL.read_text(), "KernelHeatmapModel")
    assert own == keys
    base = set(ipywidgets.DOMWidget.class_trait_names(sync=True))
    assert set(KernelHeatmap.class_trait_names(sync=True)) - base == set(own)
