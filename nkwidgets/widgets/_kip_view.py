"""The live view of a KIP run: support images as they change, loss and test accuracy.

It subscribes to the events :func:`nkwidgets.kip.kip` emits through a
``Job``'s context and only draws them; it never computes. Events arrive on the
job's thread; ipykernel >= 7.1 sends comm messages from threads safely.
"""

from __future__ import annotations

import html
import struct
import time
import zlib
from typing import Final

import bqplot as bq
import ipywidgets as w
import numpy as np

from ..compute import Event, Job
from ..errors import InputError
from ._axes import figure_margin, nice_ticks, y_axis
from ._legend import legend_row
from ._log_ticks import set_log_ticks
from ._style import error_html

# Okabe-Ito: accuracy of the learned support in blue (the NTK colour of the
# house style, since KIP defaults to the NTK), loss in vermillion, the
# real-image baseline in grey.
ACCURACY_COLOUR: Final = "#0072B2"
LOSS_COLOUR: Final = "#D55E00"
BASELINE_COLOUR: Final = "#999999"

# A loss point per step would send hundreds of comm messages a second; the
# line is redrawn at most this often (and at every snapshot and at the end).
LOSS_REDRAW_SECONDS: Final = 0.25

# Each support image pixel becomes a block of this many screen pixels, repeated
# before encoding: browsers blur small images they are asked to enlarge.
IMAGE_ZOOM: Final = 6


class KipView(w.VBox):
    """Support images (a grid, one small image each), loss and test accuracy vs step."""

    def __init__(
        self,
        job: Job,
        image_shape: tuple[int, ...] | None = None,
        class_names: list[str] | None = None,
        title: str = "KIP: learning a support set",
    ):
        """Subscribe to ``job``.

        Args:
          job: a ``Job`` whose work calls ``kip(..., context=ctx)``.
          image_shape: ``(H, W)`` or ``(H, W, C)`` to draw flat inputs as
            images, e.g. ``(8, 8)`` for 64-feature digits; ``None`` takes the
            inputs' own shape (they must then be images).
          class_names: a name per class for the captions (default: indices).
          title: heading of the view.
        """
        if image_shape is not None and not (
            len(image_shape) in (2, 3) and all(int(d) > 0 for d in image_shape)
        ):
            raise InputError(
                f"`image_shape={image_shape!r}` must be (H, W) or (H, W, C), e.g. (8, 8)."
            )
        self.image_shape = (
            None if image_shape is None else tuple(int(d) for d in image_shape)
        )
        self.class_names = class_names
        self.header = w.HTML(f"<b>{html.escape(title)}</b>")
        self.progress = w.IntProgress(
            value=0, min=0, max=1, layout=w.Layout(width="320px")
        )
        self.status = w.HTML("waiting for the first step…")
        self.images = w.GridBox(
            [],
            layout=w.Layout(grid_template_columns="repeat(10, auto)", grid_gap="4px"),
        )
        self.initial_images = w.GridBox(
            [],
            layout=w.Layout(grid_template_columns="repeat(10, auto)", grid_gap="4px"),
        )
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._acc_steps: list[int] = []
        self._accuracies: list[float] = []
        self._last_loss_draw = 0.0
        self._build_figures()
        self.message = w.HTML("")
        super().__init__(
            [
                self.header,
                w.HBox([self.progress, self.status]),
                w.HTML("<i>learned support set</i>"),
                self.images,
                w.HTML("<i>initial support set (real examples)</i>"),
                self.initial_images,
                w.HTML(
                    legend_row(
                        [
                            ("solid", ACCURACY_COLOUR, "learned support"),
                            ("dashed", BASELINE_COLOUR, "initial real examples"),
                        ]
                    )
                ),
                w.HBox([self.accuracy_fig, self.loss_fig]),
                self.message,
            ]
        )
        job.subscribe(self.on_event)

    def _build_figures(self) -> None:
        x_step = bq.LinearScale()
        acc_y = bq.LinearScale(min=0.0, max=1.0)
        self.accuracy_line = bq.Lines(
            x=[],
            y=[],
            scales={"x": x_step, "y": acc_y},
            colors=[ACCURACY_COLOUR],
            marker="circle",
            marker_size=30,
            stroke_width=2.5,
        )
        self.baseline_line = bq.Lines(
            x=[],
            y=[],
            scales={"x": x_step, "y": acc_y},
            colors=[BASELINE_COLOUR],
            line_style="dashed",
            stroke_width=1.5,
        )
        self.accuracy_fig = bq.Figure(
            marks=[self.baseline_line, self.accuracy_line],
            axes=[
                bq.Axis(scale=x_step, label="step"),
                y_axis(
                    acc_y,
                    "test accuracy",
                    4,  # "100%"
                    tick_format=".0%",
                    tick_values=nice_ticks(0.0, 1.0),
                ),
            ],
            title="Kernel regression from the support set",
            layout=w.Layout(width="440px", height="300px"),
            fig_margin=figure_margin(4),
        )
        loss_x = bq.LinearScale()
        loss_y = bq.LogScale()
        self.loss_line = bq.Lines(
            x=[],
            y=[],
            scales={"x": loss_x, "y": loss_y},
            colors=[LOSS_COLOUR],
            stroke_width=1.5,
        )
        self.loss_fig = bq.Figure(
            marks=[self.loss_line],
            axes=[
                bq.Axis(scale=loss_x, label="step"),
                y_axis(loss_y, "KRR loss on target batch", 5),  # "0.050"
            ],
            title="KIP loss",
            layout=w.Layout(width="440px", height="300px"),
            fig_margin=figure_margin(5),
        )

    def on_event(self, event: Event) -> None:
        """Job subscriber: route each event to the part of the view it updates."""
        data = event.data
        if event.kind == "kip_started":
            self.progress.max = data["steps"]
            # bqplot labels every 20 steps of 300, and its labels overprint.
            for fig in (self.accuracy_fig, self.loss_fig):
                fig.axes[0].tick_values = nice_ticks(0.0, float(data["steps"]))
            self.initial_images.children = self._tiles(
                data["x_support"], data["y_support"]
            )
            self.images.children = self._tiles(data["x_support"], data["y_support"])
            if data["test_accuracy"] is not None:
                self._baseline = float(data["test_accuracy"])
                self.baseline_line.x = [0, data["steps"]]
                self.baseline_line.y = [self._baseline, self._baseline]
                self._acc_steps, self._accuracies = [0], [self._baseline]
                self._draw_accuracy()
        elif event.kind == "kip_step":
            self._steps.append(int(data["step"]))
            self._losses.append(float(data["loss"]))
            if time.monotonic() - self._last_loss_draw > LOSS_REDRAW_SECONDS:
                self._draw_loss()
        elif event.kind == "kip_snapshot":
            self._update_tiles(data["x_support"], data["y_support"])
            if data["test_accuracy"] is not None:
                self._acc_steps.append(int(data["step"]))
                self._accuracies.append(float(data["test_accuracy"]))
                self._draw_accuracy()
            self._draw_loss()
        elif event.kind == "progress":
            self.progress.value = data["done"]
            acc = (
                f" · test accuracy {self._accuracies[-1]:.1%}"
                if self._accuracies
                else ""
            )
            self.status.value = f"&nbsp;step {data['done']} / {data['total']} · {data['elapsed']:.1f} s{acc}"
        elif event.kind == "done":
            self._draw_loss()
            self.progress.bar_style = "success"
            self.message.value = (
                "Done. The learned set is in the job's <code>result()</code>."
            )
        elif event.kind == "failed":
            self._show_error(f"{type(data['error']).__name__}: {data['error']}")
        elif event.kind == "cancelled":
            self._show_error("Cancelled; the images show the last snapshot.")

    def _show_error(self, text: str) -> None:
        self.progress.bar_style = "danger"
        self.message.value = error_html(text)

    def _draw_accuracy(self) -> None:
        with self.accuracy_line.hold_sync():
            self.accuracy_line.x = np.asarray(self._acc_steps)
            self.accuracy_line.y = np.asarray(self._accuracies)

    def _draw_loss(self) -> None:
        self._last_loss_draw = time.monotonic()
        if not self._steps:
            return
        with self.loss_line.hold_sync():
            self.loss_line.x = np.asarray(self._steps)
            self.loss_line.y = np.asarray(self._losses)
        set_log_ticks(self.loss_fig.axes[1], np.asarray(self._losses))

    def _tiles(self, x: np.ndarray, y: np.ndarray) -> list[w.Widget]:
        return [
            w.VBox(
                [
                    w.Image(value=png, format="png", width=width),
                    w.HTML(f"<small>{html.escape(caption)}</small>"),
                ],
                layout=w.Layout(align_items="center"),
            )
            for png, width, caption in self._render(x, y)
        ]

    def _update_tiles(self, x: np.ndarray, y: np.ndarray) -> None:
        rendered = self._render(x, y)
        if len(rendered) != len(self.images.children):
            self.images.children = self._tiles(x, y)
            return
        for tile, (png, _, caption) in zip(self.images.children, rendered, strict=True):
            image, label = tile.children
            image.value = png
            label.value = f"<small>{html.escape(caption)}</small>"

    def _render(self, x: np.ndarray, y: np.ndarray) -> list[tuple[bytes, int, str]]:
        images = self._as_images(np.asarray(x, dtype=np.float64))
        y = np.asarray(y)
        out = []
        for image, label in zip(images, y, strict=True):
            cls = int(np.argmax(label))
            name = self.class_names[cls] if self.class_names else str(cls)
            big = to_uint8(image).repeat(IMAGE_ZOOM, axis=0).repeat(IMAGE_ZOOM, axis=1)
            out.append((encode_png(big), big.shape[1], f"{name} ({label[cls]:.2f})"))
        return out

    def _as_images(self, x: np.ndarray) -> np.ndarray:
        shape = self.image_shape or x.shape[1:]
        if int(np.prod(shape)) != int(np.prod(x.shape[1:])) or len(shape) not in (2, 3):
            raise InputError(
                f"Support inputs of shape {x.shape[1:]} cannot be drawn as images of "
                f"shape {shape}. Fix: pass `image_shape=(H, W)` to KipView, e.g. (8, 8) "
                "for 64-feature digits."
            )
        images = x.reshape((len(x), *shape))
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        return images


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Min-max scale one image to 0..255: learned images leave the data's range."""
    lo, hi = float(np.min(image)), float(np.max(image))
    scaled = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return np.round(255 * scaled).astype(np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """A PNG file of a ``(H, W)`` grey or ``(H, W, 3)`` RGB uint8 image.

    Written here (zlib and the PNG chunk layout) because ipywidgets' Image
    wants encoded bytes and Pillow is not a dependency.
    """
    if pixels.dtype != np.uint8 or pixels.ndim not in (2, 3):
        raise InputError(
            f"PNG encoding needs a (H, W) or (H, W, 3) uint8 image; got {pixels.shape} {pixels.dtype}."
        )
    height, width = pixels.shape[:2]
    colour_type = 0 if pixels.ndim == 2 else 2  # grey / truecolour
    # Each scanline starts with filter type 0 (none).
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels.reshape(height, -1))

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + tag
            + payload
            + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
