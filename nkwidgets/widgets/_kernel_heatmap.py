"""A heatmap of a kernel matrix that fills in block by block as it is computed.

Python twin of ``src/widgets/kernel_heatmap.ts``. The synced traits below are
the wire protocol; their names and order match the ``KernelHeatmapModel``
interface there, and a test holds the two files to each other.

Data flow: a computation thread calls :meth:`KernelHeatmap.add_block` for
every finished block. Each block goes to the browser once, as a custom message
with one float32 buffer, and the view paints just that block. The full matrix
(``values``) is re-synced only now and then and once at the end, so a saved
notebook or a reloaded page still shows the whole picture.
"""

from __future__ import annotations

import difflib
import operator
import threading
import time
from typing import Any, Final

import ipywidgets
import numpy as np
import numpy.typing as npt
from traitlets import Float, Int, Unicode, default, observe, validate

from ..errors import InputError
from ._frontend import MODULE_NAME, MODULE_VERSION
from ._serialization import (
    FLOAT32,
    FLOAT32_MATRIX_SERIALIZATION,
    INT32_SERIALIZATION,
)
from ._traits import NDArray

#: Shortest time between two full syncs of ``values``: at most 10 a second,
#: which keeps a reloaded page current without competing with block messages.
VALUES_SYNC_MIN_INTERVAL_S: Final = 0.1

#: Bandwidth budget of full syncs. A 2000 x 2000 kernel is 16 MB, so syncing it
#: 10 times a second would push 160 MB/s through the websocket; at this budget
#: it is re-sent every 2 s while the blocks themselves still stream live.
VALUES_SYNC_BYTES_PER_S: Final = 8 * 2**20

#: Values kept per block to estimate the robust colour range's percentiles.
ROBUST_SAMPLE_PER_BLOCK: Final = 20_000

_UNKNOWN_KWARG: Final = (
    "KernelHeatmap() got an unexpected keyword argument `{name}`.{hint} "
    "Pass the matrix size as `KernelHeatmap(n_rows, n_cols)` and stream data "
    "with `add_block(row0, col0, block)`; other keywords must be widget traits "
    "(e.g. `layout`)."
)


class KernelHeatmap(ipywidgets.DOMWidget):
    """A kernel matrix drawn as a heatmap while its blocks are computed.

    Args:
        n_rows: Number of rows (inputs of the first argument of the kernel).
        n_cols: Number of columns; ``None`` means square (``n_rows``).
        title: Text shown above the heatmap.
        row_labels: Optional integer class label per row, drawn as a colour
            strip beside the rows; empty or ``None`` for none.
        blocks_total: Number of blocks expected, for the progress text; 0 if
            unknown. When ``blocks_done`` reaches it the matrix is flushed.
        color_range: ``"full"`` maps the minimum and maximum seen so far to the
            ends of the colour map; ``"robust"`` maps the 1st and 99th
            percentiles, so a large diagonal (an input's kernel with itself)
            does not flatten the off-diagonal structure into one colour.
        **kwargs: Other widget traits, such as ``layout``.

    Examples:
        >>> import numpy as np
        >>> heatmap = KernelHeatmap(4, title="NTK", blocks_total=4)
        >>> heatmap.add_block(0, 0, np.eye(2))
        >>> heatmap.blocks_done, heatmap.vmin, heatmap.vmax
        (1, 0.0, 1.0)
    """

    _model_name = Unicode("KernelHeatmapModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode("KernelHeatmapView").tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    n_rows = Int(0, min=0).tag(sync=True)
    """Number of rows of the matrix.

    Type: ``int`` >= 0
    Default: ``0``
    """

    n_cols = Int(0, min=0).tag(sync=True)
    """Number of columns of the matrix.

    Type: ``int`` >= 0
    Default: ``0``
    """

    title = Unicode("").tag(sync=True)
    """Title drawn above the heatmap; empty for none.

    Type: ``str``
    Default: ``""``
    """

    row_labels = NDArray(dtype=np.int32, ndim=1).tag(sync=True, **INT32_SERIALIZATION)
    """Integer class label of each row (int32 buffer), or empty for none.

    Type: 1-d ``np.ndarray`` of int32, length ``n_rows`` or 0
    Default: ``np.empty(0, np.int32)``
    """

    values = NDArray(dtype=FLOAT32, ndim=2).tag(
        sync=True, **FLOAT32_MATRIX_SERIALIZATION
    )
    """The whole matrix (float32 buffer, row-major); NaN where not yet computed.

    Type: 2-d ``np.ndarray`` of float32, shape ``(n_rows, n_cols)``
    Default: all NaN
    """

    vmin = Float(0.0).tag(sync=True)
    """Value drawn with the lowest colour; widened as blocks arrive.

    Type: ``float``
    Default: ``0.0``
    """

    vmax = Float(1.0).tag(sync=True)
    """Value drawn with the highest colour; widened as blocks arrive.

    Type: ``float``
    Default: ``1.0``
    """

    blocks_done = Int(0, min=0).tag(sync=True)
    """Number of blocks received since the last reset.

    Type: ``int`` >= 0
    Default: ``0``
    """

    blocks_total = Int(0, min=0).tag(sync=True)
    """Number of blocks expected; 0 if unknown.

    Type: ``int`` >= 0
    Default: ``0``
    """

    error = Unicode("").tag(sync=True)
    """Error text shown instead of the progress; empty when all is well.

    Type: ``str``
    Default: ``""``
    """

    def __init__(
        self,
        n_rows: int = 0,
        n_cols: int | None = None,
        *,
        title: str = "",
        row_labels: npt.ArrayLike | None = None,
        blocks_total: int = 0,
        color_range: str = "full",
        **kwargs: Any,
    ) -> None:
        if color_range not in ("full", "robust"):
            msg = f"`color_range={color_range!r}` must be 'full' or 'robust'."
            raise InputError(msg)
        self.color_range = color_range
        self._range_sample: list[np.ndarray] = []
        for name in kwargs:
            # `model_id` is how ipywidgets attaches a widget to an existing comm.
            if not self.has_trait(name) and name != "model_id":
                close = difflib.get_close_matches(name, self.trait_names(), n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                raise TypeError(_UNKNOWN_KWARG.format(name=name, hint=hint))
        # Set before the traits: the shape observer runs during super().__init__.
        self._block_lock = threading.RLock()
        self._seen_range: tuple[float, float] | None = None
        self._last_values_sync = -float("inf")
        super().__init__(
            n_rows=n_rows,
            n_cols=n_rows if n_cols is None else n_cols,
            title=title,
            row_labels=np.empty(0, np.int32) if row_labels is None else row_labels,
            blocks_total=blocks_total,
            **kwargs,
        )

    @default("values")
    def _default_values(self) -> np.ndarray:
        return np.full((self.n_rows, self.n_cols), np.nan, FLOAT32)

    @validate("values")
    def _validate_values(self, proposal: Any) -> np.ndarray:
        values: np.ndarray = proposal["value"]
        shape = (self.n_rows, self.n_cols)
        if values.shape != shape:
            msg = (
                f"`values` has shape {values.shape}, expected (n_rows, n_cols) = "
                f"{shape}. Set `n_rows`/`n_cols` first, or call "
                "`reset(n_rows, n_cols)`."
            )
            raise InputError(msg)
        return values

    @validate("row_labels")
    def _validate_row_labels(self, proposal: Any) -> np.ndarray:
        labels: np.ndarray = proposal["value"]
        if labels.size not in (0, self.n_rows):
            msg = (
                f"`row_labels` has {labels.size} entries, expected one per row "
                f"(n_rows = {self.n_rows}) or none."
            )
            raise InputError(msg)
        return labels

    @observe("n_rows", "n_cols")
    def _on_shape_change(self, change: Any) -> None:
        del change  # both dimensions are read from the traits
        if self.values.shape != (self.n_rows, self.n_cols):
            self._clear()

    def add_block(
        self, row0: int, col0: int, block: npt.ArrayLike, *, mirror: bool = False
    ) -> None:
        """Write ``block`` at ``[row0:row0 + rows, col0:col0 + cols]`` and draw it.

        Safe to call from a background thread (comm sends from threads need
        ipykernel >= 7.1). Blocks may arrive in any order and may overwrite
        each other.

        Args:
            row0: First row of the block.
            col0: First column of the block.
            block: 2-d array of shape ``(rows, cols)``; converted to float32.
            mirror: Also write ``block.T`` at ``(col0, row0)``, for symmetric
                kernels computed one triangle of blocks at a time. The pair
                counts as one block in ``blocks_done``.

        Raises:
            InputError: if the block is not 2-d or does not fit in the matrix.
        """
        row0, col0 = operator.index(row0), operator.index(col0)
        # A copy in all cases: the kernel's IO thread may send the buffer after
        # this returns, and the caller may reuse its array for the next block.
        data = np.array(block, dtype=FLOAT32, order="C", copy=True)
        if data.ndim != 2:
            msg = f"`block` must be 2-d (rows, cols), got shape {data.shape}."
            raise InputError(msg)
        pieces = [(row0, col0, data)]
        if mirror and row0 != col0:
            pieces.append((col0, row0, np.ascontiguousarray(data.T)))
        for r, c, piece in pieces:
            self._check_fits(r, c, piece.shape)
        finite = data[np.isfinite(data)]
        with self._block_lock, self.hold_sync():
            for r, c, piece in pieces:
                rows, cols = piece.shape
                self.values[r : r + rows, c : c + cols] = piece
                header = {
                    "type": "block",
                    "row0": r,
                    "col0": c,
                    "rows": rows,
                    "cols": cols,
                }
                self.send(header, buffers=[memoryview(piece).cast("B")])
            if finite.size and self.color_range == "robust":
                self.vmin, self.vmax = self._robust_range(finite)
            elif finite.size:
                lo, hi = float(finite.min()), float(finite.max())
                if self._seen_range is not None:
                    lo = min(lo, self._seen_range[0])
                    hi = max(hi, self._seen_range[1])
                self._seen_range = (lo, hi)
                self.vmin, self.vmax = lo, hi
            self.blocks_done += 1
            now = time.monotonic()
            finished = 0 < self.blocks_total <= self.blocks_done
            if finished or now - self._last_values_sync >= self._sync_interval():
                self._sync_values(now)

    def _robust_range(self, finite: np.ndarray) -> tuple[float, float]:
        # A bounded random subsample per block keeps this O(block) while the
        # percentiles still see every block.
        rng = np.random.default_rng(len(self._range_sample))
        if finite.size > ROBUST_SAMPLE_PER_BLOCK:
            finite = rng.choice(finite, ROBUST_SAMPLE_PER_BLOCK, replace=False)
        self._range_sample.append(finite)
        lo, hi = np.percentile(np.concatenate(self._range_sample), [1.0, 99.0])
        return float(lo), float(max(hi, lo + 1e-12))

    def _check_fits(self, row0: int, col0: int, shape: tuple[int, ...]) -> None:
        rows, cols = shape
        if (
            row0 < 0
            or col0 < 0
            or row0 + rows > self.n_rows
            or col0 + cols > self.n_cols
        ):
            msg = (
                f"`block` of shape {shape} at (row0={row0}, col0={col0}) "
                f"does not fit in the {self.n_rows} x {self.n_cols} matrix. "
                "Check the block offsets, or `reset(n_rows, n_cols)` to resize."
            )
            raise InputError(msg)

    def flush(self) -> None:
        """Send the whole matrix now, so the saved notebook state is complete.

        Called automatically when ``blocks_done`` reaches ``blocks_total``;
        call it yourself when the number of blocks was not known up front.
        """
        with self._block_lock:
            self._sync_values(time.monotonic())

    def reset(
        self, n_rows: int, n_cols: int | None = None, *, blocks_total: int = 0
    ) -> None:
        """Start over with an empty ``n_rows`` x ``n_cols`` matrix.

        Args:
            n_rows: Number of rows.
            n_cols: Number of columns; ``None`` means square.
            blocks_total: Number of blocks expected; 0 if unknown.
        """
        with self._block_lock, self.hold_sync():
            shape = (n_rows, n_rows if n_cols is None else n_cols)
            if (self.n_rows, self.n_cols) == shape:
                self._clear()
            else:
                self.row_labels = np.empty(0, np.int32)
                self.n_rows, self.n_cols = shape
            self.blocks_total = blocks_total

    @classmethod
    def from_matrix(
        cls,
        matrix: npt.ArrayLike,
        *,
        title: str = "",
        row_labels: npt.ArrayLike | None = None,
        **kwargs: Any,
    ) -> KernelHeatmap:
        """A heatmap of a finished matrix, e.g. ``kernel_fn(x, x, "ntk")``.

        Args:
            matrix: 2-d array.
            title: Text shown above the heatmap.
            row_labels: Optional integer class label per row.
            **kwargs: Other widget traits, such as ``layout``.
        """
        data = np.asarray(matrix)
        if data.ndim != 2:
            msg = f"`matrix` must be 2-d, got shape {data.shape}."
            raise InputError(msg)
        heatmap = cls(
            data.shape[0],
            data.shape[1],
            title=title,
            row_labels=row_labels,
            blocks_total=1,
            **kwargs,
        )
        heatmap.add_block(0, 0, data)
        return heatmap

    def _clear(self) -> None:
        with self._block_lock, self.hold_sync():
            self._seen_range = None
            self._range_sample = []
            self.values = np.full((self.n_rows, self.n_cols), np.nan, FLOAT32)
            if self.row_labels.size not in (0, self.n_rows):
                self.row_labels = np.empty(0, np.int32)
            self.vmin, self.vmax = 0.0, 1.0
            self.blocks_done = 0
            self.error = ""

    def _sync_interval(self) -> float:
        return max(
            VALUES_SYNC_MIN_INTERVAL_S, self.values.nbytes / VALUES_SYNC_BYTES_PER_S
        )

    def _sync_values(self, now: float) -> None:
        # `values` is written in place, so traitlets never sees it change;
        # push it explicitly.
        self._last_values_sync = now
        self.send_state("values")
