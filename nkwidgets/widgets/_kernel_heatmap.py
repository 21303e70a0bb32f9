"""A heatmap of one or more kernel matrices that fills in block by block.

Python twin of ``src/widgets/kernel_heatmap/`` (the synced traits below are the
wire protocol; their names and order match the ``KernelHeatmapModel``
interface in ``src/widgets/kernel_heatmap/model.ts``, and a test holds the two
files to each other).

Data flow: a computation thread calls :meth:`KernelHeatmap.add_block` for
every finished block; the block is written into ``values`` at once, but what
goes to the browser is sent in *frames*, at most :data:`FRAMES_PER_S` a
second whatever the block rate: one custom message carrying every block since
the last frame (one float32 buffer each, tagged with its kernel name) and one
state update (``blocks_done``). The whole ``values`` array rides along in a
frame now and then (bandwidth-limited) and always in the last one, so a saved
notebook or a reloaded page shows the whole picture from the widget state
alone. A frame that carries ``values`` needs no block messages.

Everything the view derives (the kernel shown, NTK - NNGP, correlation
normalization, class sorting, colour range, zoom) is computed in the browser
from synced traits, so it survives a reload and costs the kernel nothing.
"""

from __future__ import annotations

import difflib
import operator
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

import ipywidgets
import numpy as np
import numpy.typing as npt
from traitlets import Bool, Int, List, Unicode, default, observe, validate

from ..errors import InputError
from ._frontend import MODULE_NAME, MODULE_VERSION
from ._serialization import (
    _STACK_SERIALIZATION,
    FLOAT32,
    INT32_SERIALIZATION,
    byte_view,
)
from ._traits import NDArray

#: Most frames (block messages + one state update) sent per second. A browser
#: repaints at 60 Hz at best and a person reads progress far slower; 20 Hz
#: keeps the heatmap visibly live while 1,000 tiny blocks a second cost the
#: websocket 20 messages, not 2,000.
FRAMES_PER_S: Final = 20

#: Shortest time between two full syncs of ``values`` (they also carry the
#: blocks, so block messages are skipped in those frames).
VALUES_SYNC_MIN_INTERVAL_S: Final = 0.1

#: Bandwidth budget of full syncs. A 2000 x 2000 kernel is 16 MB, so syncing it
#: 10 times a second would push 160 MB/s through the websocket; at this budget
#: it is re-sent every 2 s while the blocks themselves still stream live.
VALUES_SYNC_BYTES_PER_S: Final = 8 * 2**20

#: The derived view NTK - NNGP; offered when both kernels are present.
DIFFERENCE: Final = "difference"

#: Name of the one matrix of a single-kernel heatmap.
DEFAULT_KERNEL: Final = "kernel"

COLOR_MODES: Final = ("values", "correlation")
COLOR_RANGES: Final = ("full", "robust")

#: Clock of the frame throttle; a module attribute so tests can replace it.
_clock = time.monotonic

_UNKNOWN_KWARG: Final = (
    "KernelHeatmap() got an unexpected keyword argument `{name}`.{hint} "
    "Pass the matrix size as `KernelHeatmap(n_rows, n_cols)` and stream data "
    "with `add_block(row0, col0, block)`; other keywords must be widget traits "
    "(e.g. `layout`)."
)


class KernelHeatmap(ipywidgets.DOMWidget):
    """Kernel matrices drawn as a heatmap while their blocks are computed.

    One widget holds one or several kernels of the same inputs (e.g. the NNGP
    and the NTK, Jacot et al. 2018; Lee et al. 2018), with segmented buttons
    in the view to switch between them. With both ``"nngp"`` and ``"ntk"`` it
    also offers ``"difference"``: NTK/rms(NTK) - NNGP/rms(NNGP), the root mean
    square taken over the cells where both are computed. Each kernel is
    scaled to unit size first because the NTK is larger than the NNGP by a
    depth-dependent factor and the raw difference would just redraw the NTK;
    and since the kernel-regression mean ``K(x, X) K(X, X)^-1 y`` (the t = inf
    prediction of gradient flow) is unchanged by scaling a kernel, what is
    left is the part of the difference that changes predictions. In
    correlation mode the difference is of the two correlation matrices.

    Colour modes: ``"values"`` draws K_ij; ``"correlation"`` draws
    K_ij / sqrt(K_ii K_jj) (square train x train matrices only), the cosine
    of the angle between two inputs' features, which removes the per-input
    magnitude that otherwise hides class blocks in CNN kernels (Novak et al.
    2019).

    With ``row_labels`` (and ``col_labels``, or for square matrices the same
    labels for columns), the view sorts rows and columns by class (stable, so
    inputs keep their order within a class), draws the class boundaries and
    the class names; the hover tooltip still reports the original indices.
    Clicking a class block or dragging a rectangle zooms in; double-click,
    Escape or the reset button zoom out.

    Args:
        n_rows: Number of rows (inputs of the first argument of the kernel).
        n_cols: Number of columns; ``None`` means square (``n_rows``).
        kernels: Names of the kernels held, e.g. ``("nngp", "ntk")``; one
            unnamed matrix (``"kernel"``) by default.
        title: Text shown above the heatmap.
        row_labels: Optional integer class label per row.
        col_labels: Optional integer class label per column (test x train
            matrices); square matrices reuse ``row_labels`` without it.
        class_names: Optional name of each class label value 0, 1, ...
        blocks_total: Number of :meth:`add_block` calls expected, for the
            progress text; 0 if unknown. When ``blocks_done`` reaches it the
            whole matrix is sent.
        color_range: ``"full"`` maps the minimum and maximum shown to the ends
            of the colour map; ``"robust"`` the 1st and 99th percentiles, so a
            large diagonal (an input's kernel with itself) does not flatten
            the off-diagonal structure into one colour.
        **kwargs: Other widget traits, such as ``layout``, ``kernel``,
            ``color_mode`` or ``sort_by_class``.

    Examples:
        >>> import numpy as np
        >>> heatmap = KernelHeatmap(4, kernels=("nngp", "ntk"), blocks_total=1)
        >>> heatmap.add_block(0, 0, {"nngp": np.eye(4), "ntk": 2 * np.eye(4)})
        >>> heatmap.blocks_done, float(heatmap.matrix("ntk")[1, 1])
        (1, 2.0)
        >>> heatmap.kernel = "difference"
    """

    _model_name = Unicode("KernelHeatmapModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_name = Unicode("KernelHeatmapView").tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    n_rows = Int(0, min=0).tag(sync=True)
    """Number of rows of each matrix.

    Type: ``int`` >= 0
    Default: ``0``
    """

    n_cols = Int(0, min=0).tag(sync=True)
    """Number of columns of each matrix.

    Type: ``int`` >= 0
    Default: ``0``
    """

    title = Unicode("").tag(sync=True)
    """Title drawn above the heatmap; empty for none.

    Type: ``str``
    Default: ``""``
    """

    kernels = List(Unicode(), default_value=[DEFAULT_KERNEL]).tag(sync=True)
    """Names of the kernels held, in the order of ``values``' first axis.

    Type: non-empty ``list[str]``, unique, not ``"difference"``
    Default: ``["kernel"]``
    """

    kernel = Unicode(DEFAULT_KERNEL).tag(sync=True)
    """The kernel shown: one of ``kernels``, or ``"difference"`` when both
    ``"nngp"`` and ``"ntk"`` are held. The view's buttons set it.

    Type: ``str``
    Default: the first of ``kernels``
    """

    row_labels = NDArray(dtype=np.int32, ndim=1).tag(sync=True, **INT32_SERIALIZATION)
    """Integer class label of each row (int32 buffer), or empty for none.

    Type: 1-d ``np.ndarray`` of int32, length ``n_rows`` or 0
    Default: ``np.empty(0, np.int32)``
    """

    col_labels = NDArray(dtype=np.int32, ndim=1).tag(sync=True, **INT32_SERIALIZATION)
    """Integer class label of each column, or empty (square matrices then use
    ``row_labels``).

    Type: 1-d ``np.ndarray`` of int32, length ``n_cols`` or 0
    Default: ``np.empty(0, np.int32)``
    """

    class_names = List(Unicode()).tag(sync=True)
    """Name of each class label value 0, 1, ...; empty to show the numbers.

    Type: ``list[str]``
    Default: ``[]``
    """

    sort_by_class = Bool(True).tag(sync=True)
    """Whether the view orders rows (and columns) by class label.

    Type: ``bool``
    Default: ``True``
    """

    values = NDArray(dtype=FLOAT32, ndim=3).tag(sync=True, **_STACK_SERIALIZATION)
    """Every kernel's matrix (float32 buffer, row-major); NaN where not yet
    computed. Use :meth:`matrix` for one kernel.

    Type: 3-d ``np.ndarray`` of float32, shape ``(len(kernels), n_rows, n_cols)``
    Default: all NaN
    """

    color_mode = Unicode("values").tag(sync=True)
    """``"values"`` (K_ij) or ``"correlation"`` (K_ij / sqrt(K_ii K_jj);
    square matrices only).

    Type: ``str``
    Default: ``"values"``
    """

    color_range = Unicode("full").tag(sync=True)
    """``"full"`` (min to max) or ``"robust"`` (1st to 99th percentile).

    Type: ``str``
    Default: ``"full"``
    """

    zoom = List(Int()).tag(sync=True)
    """Cells shown, ``[row0, row1, col0, col1]`` (half-open) in the view's
    class-sorted order, or ``[]`` for the whole matrix.

    Type: ``list[int]`` of length 0 or 4
    Default: ``[]``
    """

    blocks_done = Int(0, min=0).tag(sync=True)
    """Number of :meth:`add_block` calls since the last reset.

    Type: ``int`` >= 0
    Default: ``0``
    """

    blocks_total = Int(0, min=0).tag(sync=True)
    """Number of :meth:`add_block` calls expected; 0 if unknown.

    Type: ``int`` >= 0
    Default: ``0``
    """

    error = Unicode("").tag(sync=True)
    """Error text shown in the view; empty when all is well.

    Type: ``str``
    Default: ``""``
    """

    def __init__(
        self,
        n_rows: int = 0,
        n_cols: int | None = None,
        *,
        kernels: Sequence[str] = (DEFAULT_KERNEL,),
        title: str = "",
        row_labels: npt.ArrayLike | None = None,
        col_labels: npt.ArrayLike | None = None,
        class_names: Sequence[str] = (),
        blocks_total: int = 0,
        color_range: str = "full",
        **kwargs: Any,
    ) -> None:
        for name in kwargs:
            # `model_id` is how ipywidgets attaches a widget to an existing comm.
            if not self.has_trait(name) and name != "model_id":
                close = difflib.get_close_matches(name, self.trait_names(), n=1)
                hint = f" Did you mean `{close[0]}`?" if close else ""
                raise TypeError(_UNKNOWN_KWARG.format(name=name, hint=hint))
        for name, size in (("n_rows", n_rows), ("n_cols", n_cols)):
            if np.ndim(size) > 0:
                # A matrix passed where its size belongs: the traitlets error
                # ("expected an int, not the ndarray") does not say what to do.
                msg = (
                    f"`{name}` must be an int (the matrix size), got an array of "
                    f"shape {np.shape(size)}. Use `KernelHeatmap.from_matrix(matrix)` "
                    "to show a finished matrix, or `KernelHeatmap(n_rows, n_cols)` "
                    "and `add_block` to stream one."
                )
                raise InputError(msg)
        if isinstance(kernels, str):
            kernels = (kernels,)
        # Set before the traits: the shape observer runs during super().__init__.
        self._block_lock = threading.RLock()
        self._pending_blocks: list[tuple[str, int, int, np.ndarray]] = []
        self._pending_state: set[str] = set()
        self._defer_progress = False
        self._last_frame = -float("inf")
        self._last_values_sync = -float("inf")
        self._timer: threading.Timer | None = None
        kwargs.setdefault("kernel", kernels[0] if kernels else DEFAULT_KERNEL)
        super().__init__(
            n_rows=n_rows,
            n_cols=n_rows if n_cols is None else n_cols,
            kernels=list(kernels),
            title=title,
            row_labels=np.empty(0, np.int32) if row_labels is None else row_labels,
            col_labels=np.empty(0, np.int32) if col_labels is None else col_labels,
            class_names=list(class_names),
            blocks_total=blocks_total,
            color_range=color_range,
            **kwargs,
        )

    # -- validation ---------------------------------------------------------

    @default("values")
    def _default_values(self) -> np.ndarray:
        return np.full((len(self.kernels), self.n_rows, self.n_cols), np.nan, FLOAT32)

    @validate("values")
    def _validate_values(self, proposal: Any) -> np.ndarray:
        values: np.ndarray = proposal["value"]
        shape = (len(self.kernels), self.n_rows, self.n_cols)
        if values.shape != shape:
            msg = (
                f"`values` has shape {values.shape}, expected (len(kernels), "
                f"n_rows, n_cols) = {shape}. Set `kernels`, `n_rows` and `n_cols` "
                "first, or call `reset(n_rows, n_cols)`."
            )
            raise InputError(msg)
        return values

    @validate("kernels")
    def _validate_kernels(self, proposal: Any) -> list[str]:
        names: list[str] = list(proposal["value"])
        if not names or len(set(names)) != len(names) or DIFFERENCE in names:
            msg = (
                f"`kernels={names!r}` must be distinct names, at least one, none "
                f"of them {DIFFERENCE!r} (the view derives that one), "
                "e.g. ['nngp', 'ntk']."
            )
            raise InputError(msg)
        return names

    @validate("kernel")
    def _validate_kernel(self, proposal: Any) -> str:
        name: str = proposal["value"]
        choices = self.kernel_choices()
        if name not in choices:
            msg = f"`kernel={name!r}` is not shown by this heatmap; choose one of {choices}."
            raise InputError(msg)
        return name

    @validate("row_labels", "col_labels")
    def _validate_labels(self, proposal: Any) -> np.ndarray:
        labels: np.ndarray = proposal["value"]
        axis = "row" if proposal["trait"].name == "row_labels" else "col"
        size = self.n_rows if axis == "row" else self.n_cols
        if labels.size not in (0, size):
            msg = (
                f"`{axis}_labels` has {labels.size} entries, expected one per "
                f"{axis} (n_{axis}s = {size}) or none."
            )
            raise InputError(msg)
        return labels

    @validate("color_mode")
    def _validate_color_mode(self, proposal: Any) -> str:
        mode: str = proposal["value"]
        if mode not in COLOR_MODES:
            msg = f"`color_mode={mode!r}` must be one of {COLOR_MODES}."
            raise InputError(msg)
        if mode == "correlation" and self.n_rows != self.n_cols:
            msg = (
                f"`color_mode='correlation'` needs a square train x train matrix "
                f"(K_ii on the diagonal); this one is {self.n_rows} x {self.n_cols}. "
                "Use 'values'."
            )
            raise InputError(msg)
        return mode

    @validate("color_range")
    def _validate_color_range(self, proposal: Any) -> str:
        value: str = proposal["value"]
        if value not in COLOR_RANGES:
            msg = f"`color_range={value!r}` must be 'full' or 'robust'."
            raise InputError(msg)
        return value

    @validate("zoom")
    def _validate_zoom(self, proposal: Any) -> list[int]:
        zoom: list[int] = list(proposal["value"])
        if not zoom:
            return zoom
        ok = len(zoom) == 4
        if ok:
            r0, r1, c0, c1 = zoom
            ok = 0 <= r0 < r1 <= self.n_rows and 0 <= c0 < c1 <= self.n_cols
        if not ok:
            msg = (
                f"`zoom={zoom!r}` must be [] or [row0, row1, col0, col1] with "
                f"0 <= row0 < row1 <= {self.n_rows} and 0 <= col0 < col1 <= "
                f"{self.n_cols}."
            )
            raise InputError(msg)
        return zoom

    @observe("n_rows", "n_cols", "kernels")
    def _on_shape_change(self, change: Any) -> None:
        del change  # the shape is read from the traits
        if self.values.shape != (len(self.kernels), self.n_rows, self.n_cols):
            self._clear()
        if self.kernel not in self.kernel_choices():
            self.kernel = self.kernels[0]

    def kernel_choices(self) -> list[str]:
        """What ``kernel`` may be: the kernels held, plus ``"difference"``."""
        choices = list(self.kernels)
        if "nngp" in choices and "ntk" in choices:
            choices.append(DIFFERENCE)
        return choices

    def matrix(self, kernel: str | None = None) -> np.ndarray:
        """One kernel's matrix (a view into ``values``).

        Args:
            kernel: A name from ``kernels``; ``None`` for the only one.
        """
        return self.values[self._kernel_index(kernel)]

    def _kernel_index(self, kernel: str | None) -> int:
        if kernel is None:
            if len(self.kernels) == 1:
                return 0
            msg = (
                f"This heatmap holds {self.kernels}; name the kernel "
                "(`kernel='ntk'`) or pass a dict {name: block}."
            )
            raise InputError(msg)
        if kernel not in self.kernels:
            close = difflib.get_close_matches(kernel, self.kernels, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            msg = f"Unknown kernel {kernel!r}; this heatmap holds {self.kernels}.{hint}"
            raise InputError(msg)
        return self.kernels.index(kernel)

    # -- streaming ----------------------------------------------------------

    def add_block(
        self,
        row0: int,
        col0: int,
        block: npt.ArrayLike | Mapping[str, npt.ArrayLike],
        *,
        kernel: str | None = None,
        mirror: bool = False,
    ) -> None:
        """Write ``block`` at ``[row0:row0 + rows, col0:col0 + cols]`` and draw it.

        Safe to call from a background thread (comm sends from threads need
        ipykernel >= 7.1) and at any rate: the browser hears of the blocks in
        frames, at most :data:`FRAMES_PER_S` a second. Blocks may arrive in any
        order and may overwrite each other.

        Args:
            row0: First row of the block.
            col0: First column of the block.
            block: 2-d array of shape ``(rows, cols)``, converted to float32;
                or a dict ``{kernel name: array}`` with blocks of several
                kernels at the same place.
            kernel: Which kernel an array ``block`` belongs to; may be left
                out when the heatmap holds only one.
            mirror: Also write ``block.T`` at ``(col0, row0)``, for symmetric
                kernels computed one triangle of blocks at a time.

        Each call counts as one block in ``blocks_done``, however many
        kernels and mirror images it carries.

        Raises:
            InputError: if a block is not 2-d, does not fit in the matrix, or
                names a kernel the heatmap does not hold.
        """
        row0, col0 = operator.index(row0), operator.index(col0)
        if isinstance(block, Mapping):
            if kernel is not None:
                msg = "Pass `kernel=` with an array block, not with a dict of blocks."
                raise InputError(msg)
            items = list(block.items())
        else:
            items = [(kernel, block)]
        pieces: list[tuple[str, int, int, np.ndarray]] = []
        for name, array in items:
            index = self._kernel_index(name)
            # A copy in all cases: the frame may be sent after this returns,
            # and the caller may reuse its array for the next block.
            data = np.array(array, dtype=FLOAT32, order="C", copy=True)
            if data.ndim != 2:
                msg = f"`block` must be 2-d (rows, cols), got shape {data.shape}."
                raise InputError(msg)
            label = self.kernels[index]
            pieces.append((label, row0, col0, data))
            if mirror and row0 != col0:
                pieces.append((label, col0, row0, np.ascontiguousarray(data.T)))
        for _, r, c, piece in pieces:
            self._check_fits(r, c, piece.shape)
        with self._block_lock:
            for name, r, c, piece in pieces:
                rows, cols = piece.shape
                self.values[self.kernels.index(name), r : r + rows, c : c + cols] = (
                    piece
                )
            self._pending_blocks.extend(pieces)
            self._defer_progress = True
            try:
                self.blocks_done += 1
            finally:
                self._defer_progress = False
            now = _clock()
            if 0 < self.blocks_total <= self.blocks_done:
                self._send_frame(now, with_values=True)
            elif now - self._last_frame >= 1.0 / FRAMES_PER_S:
                self._send_frame(now)
            else:
                self._schedule_frame(now)

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

    def _should_send_property(self, key: str, value: Any) -> bool:
        # Progress changes made by `add_block` wait for the next frame, so a
        # tight loop of blocks costs one state message per frame, not per block.
        if key == "blocks_done" and self._defer_progress:
            self._pending_state.add(key)
            return False
        return bool(super()._should_send_property(key, value))

    def _send_frame(self, now: float, *, with_values: bool = False) -> None:
        """Send what changed since the last frame: blocks, then one state update."""
        with self._block_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            keys = set(self._pending_state)
            if with_values or now - self._last_values_sync >= self._values_interval():
                keys.add("values")
                self._last_values_sync = now
            pieces, self._pending_blocks = self._pending_blocks, []
            self._pending_state.clear()
            if pieces and "values" not in keys:
                headers = [
                    {
                        "kernel": name,
                        "row0": r,
                        "col0": c,
                        "rows": p.shape[0],
                        "cols": p.shape[1],
                    }
                    for name, r, c, p in pieces
                ]
                buffers = [byte_view(p) for _, _, _, p in pieces]
                self.send({"type": "blocks", "blocks": headers}, buffers=buffers)
            self.send_state(sorted(keys))
            self._last_frame = now

    def _schedule_frame(self, now: float) -> None:
        # Trailing frame: blocks that arrive within a frame interval of the
        # last one are not lost if no further block comes to carry them.
        if self._timer is None:
            delay = max(0.0, self._last_frame + 1.0 / FRAMES_PER_S - now)
            self._timer = threading.Timer(delay, self._on_timer)
            self._timer.daemon = True
            self._timer.start()

    def _on_timer(self) -> None:
        with self._block_lock:
            if self._timer is threading.current_thread():
                self._timer = None
            if self._pending_blocks or self._pending_state:
                self._send_frame(_clock())

    def _values_interval(self) -> float:
        return max(
            VALUES_SYNC_MIN_INTERVAL_S, self.values.nbytes / VALUES_SYNC_BYTES_PER_S
        )

    def flush(self) -> None:
        """Send the whole matrix now, so the saved notebook state is complete.

        Called automatically when ``blocks_done`` reaches ``blocks_total``;
        call it yourself when the number of blocks was not known up front.
        """
        with self._block_lock:
            self._send_frame(_clock(), with_values=True)

    def reset(
        self, n_rows: int, n_cols: int | None = None, *, blocks_total: int = 0
    ) -> None:
        """Start over with empty ``n_rows`` x ``n_cols`` matrices.

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
                self.col_labels = np.empty(0, np.int32)
                self.zoom = []
                if shape[0] != shape[1]:
                    self.color_mode = "values"
                self.n_rows, self.n_cols = shape
            self.blocks_total = blocks_total

    def close(self) -> None:
        """Close the widget and stop a pending frame."""
        if not hasattr(self, "_block_lock"):
            # `__del__` of an instance whose `__init__` raised before the lock.
            super().close()
            return
        with self._block_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._pending_blocks = []
        super().close()

    @classmethod
    def from_matrix(
        cls,
        matrix: npt.ArrayLike | Mapping[str, npt.ArrayLike],
        *,
        title: str = "",
        row_labels: npt.ArrayLike | None = None,
        **kwargs: Any,
    ) -> KernelHeatmap:
        """A heatmap of finished matrices, e.g. ``kernel_fn(x, x, "ntk")``.

        Args:
            matrix: 2-d array, or a dict ``{kernel name: 2-d array}`` of
                matrices of one shape (e.g. ``{"nngp": k.nngp, "ntk": k.ntk}``).
            title: Text shown above the heatmap.
            row_labels: Optional integer class label per row.
            **kwargs: Other constructor arguments and widget traits.
        """
        named = (
            dict(matrix) if isinstance(matrix, Mapping) else {DEFAULT_KERNEL: matrix}
        )
        arrays = {name: np.asarray(m) for name, m in named.items()}
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            msg = f"`matrix` must be 2-d arrays of one shape, got shapes {sorted(shapes)}."
            raise InputError(msg)
        rows, cols = next(iter(shapes))
        heatmap = cls(
            rows,
            cols,
            kernels=tuple(arrays),
            title=title,
            row_labels=row_labels,
            blocks_total=1,
            **kwargs,
        )
        heatmap.add_block(0, 0, arrays)
        return heatmap

    def _clear(self) -> None:
        with self._block_lock, self.hold_sync():
            self._pending_blocks = []
            self._pending_state.clear()
            self.values = np.full(
                (len(self.kernels), self.n_rows, self.n_cols), np.nan, FLOAT32
            )
            for name, size in (
                ("row_labels", self.n_rows),
                ("col_labels", self.n_cols),
            ):
                if getattr(self, name).size not in (0, size):
                    setattr(self, name, np.empty(0, np.int32))
            if self.zoom and (self.zoom[1] > self.n_rows or self.zoom[3] > self.n_cols):
                self.zoom = []
            self.blocks_done = 0
            self.error = ""
