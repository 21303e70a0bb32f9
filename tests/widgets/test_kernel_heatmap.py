"""Tests of ``nkwidgets/widgets/_kernel_heatmap.py`` and its serialization.

No kernel runs here: ``comm.create_comm`` is replaced by a recorder, so each
test sees exactly the messages the widget would put on the wire.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import comm
import ipywidgets
import numpy as np
import pytest
import traitlets
from comm.base_comm import BaseComm

import nkwidgets
from nkwidgets.errors import InputError
from nkwidgets.widgets import KernelHeatmap, _kernel_heatmap
from nkwidgets.widgets._serialization import FLOAT32_SERIALIZATION

REPO = Path(__file__).resolve().parents[2]
TS_TWIN = REPO / "src" / "widgets" / "kernel_heatmap.ts"


@dataclass
class Message:
    """One comm message as it would leave the kernel."""

    msg_type: str
    data: dict[str, Any]
    buffers: list[bytes] = field(default_factory=list)


class RecordingComm(BaseComm):
    """A comm that keeps what it publishes instead of sending it."""

    def __init__(self, **kwargs: Any) -> None:
        self.messages: list[Message] = []
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
        self.messages.append(
            Message(msg_type, data or {}, [bytes(b) for b in buffers or []])
        )

    def blocks(self) -> list[Message]:
        return [
            m
            for m in self.messages
            if m.data.get("method") == "custom"
            and m.data["content"].get("type") == "block"
        ]

    def value_syncs(self) -> list[np.ndarray]:
        """Every full ``values`` matrix sent after the comm opened, flat."""
        out = []
        for m in self.messages:
            if m.data.get("method") != "update":
                continue
            for path, buffer in zip(m.data["buffer_paths"], m.buffers, strict=True):
                if path == ["values"]:
                    out.append(FLOAT32_SERIALIZATION["from_json"](buffer, None))
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
    """A settable clock for the throttle: ``clock[0] = t``."""
    now = [1000.0]
    monkeypatch.setattr(_kernel_heatmap.time, "monotonic", lambda: now[0])
    return now


def test_block_message_carries_one_float32_buffer():
    heatmap = KernelHeatmap(4, 6)
    block = np.arange(6, dtype=np.float64).reshape(2, 3) / 7
    heatmap.add_block(2, 3, block)

    (message,) = sent(heatmap).blocks()
    assert message.data["content"] == {
        "type": "block",
        "row0": 2,
        "col0": 3,
        "rows": 2,
        "cols": 3,
    }
    assert message.buffers == [block.astype("<f4").tobytes()]


def test_blocks_stream_without_resending_the_matrix(clock):
    heatmap = KernelHeatmap(8, blocks_total=16)
    for i in range(8):
        heatmap.add_block(i, 0, np.ones((1, 4)))
    # The first block syncs (nothing was synced yet); the next seven arrive
    # within the throttle interval and go out as block messages only.
    assert len(sent(heatmap).blocks()) == 8
    assert len(sent(heatmap).value_syncs()) == 1

    clock[0] += _kernel_heatmap.VALUES_SYNC_MIN_INTERVAL_S
    heatmap.add_block(0, 4, np.ones((1, 4)))
    assert len(sent(heatmap).value_syncs()) == 2


def test_values_round_trip_and_final_flush(clock):
    # Frozen clock: only the first block and the final flush sync `values`.
    del clock
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(6, 6)).astype(np.float32)
    heatmap = KernelHeatmap(6, blocks_total=4)
    for r in (0, 3):
        for c in (0, 3):
            heatmap.add_block(r, c, matrix[r : r + 3, c : c + 3])

    last = sent(heatmap).value_syncs()[-1]
    np.testing.assert_array_equal(last.reshape(6, 6), matrix)
    np.testing.assert_array_equal(heatmap.values, matrix)

    # The wire form (flat bytes) restores the same matrix, as when the front
    # end sends state back.
    restored = KernelHeatmap(6)
    restored.set_state({"values": heatmap.get_state("values")["values"]})
    np.testing.assert_array_equal(restored.values, matrix)


def test_unfilled_cells_are_nan_until_their_block_arrives():
    heatmap = KernelHeatmap(2, 3)
    heatmap.add_block(0, 1, [[5.0, 6.0]])
    heatmap.flush()
    synced = sent(heatmap).value_syncs()[-1].reshape(2, 3)
    np.testing.assert_array_equal(synced, [[np.nan, 5, 6], [np.nan] * 3])


def test_colour_range_widens_with_blocks_and_ignores_nan():
    heatmap = KernelHeatmap(4)
    heatmap.add_block(0, 0, [[1.0, 2.0], [np.nan, 3.0]])
    assert (heatmap.vmin, heatmap.vmax) == (1.0, 3.0)
    heatmap.add_block(2, 2, [[-0.5, 2.5], [0.0, 1.0]])
    assert (heatmap.vmin, heatmap.vmax) == (-0.5, 3.0)
    heatmap.add_block(2, 0, np.full((2, 2), np.nan))
    assert (heatmap.vmin, heatmap.vmax) == (-0.5, 3.0)
    assert heatmap.blocks_done == 3


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
    np.testing.assert_array_equal(heatmap.values, matrix)
    blocks = sent(heatmap).blocks()
    assert len(blocks) == len(origins)
    for message in blocks:
        content = message.data["content"]
        r, c = content["row0"], content["col0"]
        expected = matrix[r : r + size, c : c + size].astype("<f4").tobytes()
        assert message.buffers == [expected]
    # Reaching blocks_total flushes, so the last sync is the whole matrix.
    np.testing.assert_array_equal(sent(heatmap).value_syncs()[-1].reshape(n, n), matrix)
    assert (heatmap.vmin, heatmap.vmax) == (matrix.min(), matrix.max())


def test_mirrored_block_fills_both_triangles_and_counts_once():
    heatmap = KernelHeatmap(4, blocks_total=3)
    upper = np.arange(4.0).reshape(2, 2)
    heatmap.add_block(0, 2, upper, mirror=True)
    np.testing.assert_array_equal(heatmap.values[0:2, 2:4], upper)
    np.testing.assert_array_equal(heatmap.values[2:4, 0:2], upper.T)
    assert heatmap.blocks_done == 1
    blocks = sent(heatmap).blocks()
    assert [(m.data["content"]["row0"], m.data["content"]["col0"]) for m in blocks] == [
        (0, 2),
        (2, 0),
    ]
    assert blocks[1].buffers == [upper.T.astype("<f4").tobytes()]
    # A diagonal block is its own mirror image: sent once.
    heatmap.add_block(0, 0, np.eye(2), mirror=True)
    assert len(sent(heatmap).blocks()) == 3


def test_blocks_outside_the_matrix_are_rejected():
    heatmap = KernelHeatmap(4, 4)
    with pytest.raises(InputError, match="does not fit"):
        heatmap.add_block(3, 0, np.ones((2, 2)))
    with pytest.raises(InputError, match="2-d"):
        heatmap.add_block(0, 0, np.ones(4))
    assert heatmap.blocks_done == 0


def test_unknown_keyword_suggests_the_trait():
    with pytest.raises(TypeError, match="Did you mean `title`"):
        KernelHeatmap(4, titel="NTK")


def test_reset_resizes_and_clears():
    heatmap = KernelHeatmap(2, row_labels=[0, 1])
    heatmap.add_block(0, 0, np.ones((2, 2)))
    heatmap.error = "boom"
    heatmap.reset(3, 5, blocks_total=2)
    assert heatmap.values.shape == (3, 5)
    assert np.isnan(heatmap.values).all()
    assert (heatmap.blocks_done, heatmap.blocks_total, heatmap.error) == (0, 2, "")
    assert heatmap.row_labels.size == 0


def test_from_matrix_sends_the_whole_matrix():
    matrix = np.arange(12.0).reshape(3, 4)
    heatmap = KernelHeatmap.from_matrix(matrix, title="K", row_labels=[0, 0, 1])
    np.testing.assert_array_equal(sent(heatmap).value_syncs()[-1].reshape(3, 4), matrix)
    assert (heatmap.vmin, heatmap.vmax, heatmap.blocks_done) == (0.0, 11.0, 1)
    assert heatmap.row_labels.dtype == np.int32


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
    keys = _ts_interface_keys(TS_TWIN.read_text(), "KernelHeatmapModel")
    assert own == keys
    base = set(ipywidgets.DOMWidget.class_trait_names(sync=True))
    assert set(KernelHeatmap.class_trait_names(sync=True)) - base == set(own)
