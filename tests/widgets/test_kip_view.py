"""Tests of ``nkwidgets/widgets/_kip_view.py``: it draws KIP events and never computes."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from nkwidgets.compute import Job
from nkwidgets.data import digits
from nkwidgets.errors import InputError
from nkwidgets.kip import kip
from nkwidgets.widgets import KipView
from nkwidgets.widgets._kip_view import encode_png, to_uint8


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """Width, height, colour type and raw scanlines of an unfiltered 8-bit PNG."""
    data = bytes(data)  # widgets hold their value as a memoryview
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + payload) & 0xFFFFFFFF
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif tag == b"IDAT":
            idat += payload
        pos += 12 + length
    width, height, depth, colour, *_ = header
    assert depth == 8
    return width, height, colour, zlib.decompress(idat)


def test_png_round_trip():
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    width, height, colour, raw = decode_png(encode_png(pixels))
    assert (width, height, colour) == (4, 3, 0)
    rows = [raw[i * 5 : (i + 1) * 5] for i in range(3)]
    assert all(r[0] == 0 for r in rows)  # filter "none"
    np.testing.assert_array_equal(
        np.frombuffer(b"".join(r[1:] for r in rows), np.uint8), pixels.ravel()
    )
    rgb = np.zeros((2, 2, 3), np.uint8)
    assert decode_png(encode_png(rgb))[2] == 2


def test_to_uint8_spans_the_range_and_survives_constant_images():
    img = to_uint8(np.array([[-3.0, 0.0], [1.0, 5.0]]))
    assert img.min() == 0 and img.max() == 255
    np.testing.assert_array_equal(to_uint8(np.ones((2, 2))), 0)


def _fake_work(ctx):
    """The events kip() emits, with made-up numbers: the view must only draw them."""
    rng = np.random.RandomState(0)
    y = np.eye(3) - 1 / 3
    ctx.emit(
        "kip_started",
        steps=4,
        x_support=rng.randn(3, 16),
        y_support=y,
        test_accuracy=0.4,
    )
    for step in range(1, 5):
        ctx.emit("kip_step", step=step, loss=1.0 / step)
        if step % 2 == 0:
            ctx.emit(
                "kip_snapshot",
                step=step,
                loss=1.0 / step,
                x_support=rng.randn(3, 16),
                y_support=y * 1.1,
                test_accuracy=0.4 + 0.1 * step,
            )
            ctx.emit("progress", done=step, total=4, elapsed=0.1 * step)
    return "finished"


def test_view_draws_events():
    job = Job(_fake_work, name="kip-test")
    view = KipView(job, image_shape=(4, 4), class_names=["a", "b", "c"])
    job.run_here()
    assert len(view.images.children) == 3 and len(view.initial_images.children) == 3
    image, caption = view.images.children[1].children
    width, height, _, _ = decode_png(image.value)
    assert (width, height) == (4 * 6, 4 * 6)  # IMAGE_ZOOM
    assert "b (0.73)" in caption.value  # learned label value shown (1.1 * 2/3)
    np.testing.assert_allclose(view.accuracy_line.y, [0.4, 0.6, 0.8])
    np.testing.assert_array_equal(view.accuracy_line.x, [0, 2, 4])
    np.testing.assert_allclose(view.loss_line.y, [1, 1 / 2, 1 / 3, 1 / 4])
    # Losses 1/4..1 (0.6 decade): labelled at 0.5 and 1 on the log axis.
    np.testing.assert_allclose(view.loss_fig.axes[1].tick_values, [0.5, 1.0])
    assert list(view.baseline_line.y) == [0.4, 0.4]
    assert view.progress.value == 4 and view.progress.bar_style == "success"
    assert "80.0%" in view.status.value


def test_failure_is_shown():
    def work(ctx):
        ctx.emit(
            "kip_started",
            steps=2,
            x_support=np.zeros((2, 4)),
            y_support=np.eye(2),
            test_accuracy=None,
        )
        raise RuntimeError("boom")

    job = Job(work)
    view = KipView(job, image_shape=(2, 2))
    with pytest.raises(RuntimeError):
        job.run_here()
    assert "boom" in view.message.value and view.progress.bar_style == "danger"


def test_wrong_image_shape_names_the_fix():
    with pytest.raises(InputError, match="image_shape"):
        KipView(Job(_fake_work), image_shape=(8,))
    job = Job(_fake_work)
    view = KipView(job, image_shape=(3, 3))
    with pytest.raises(InputError, match=r"image_shape=\(H, W\)"):
        view._render(np.zeros((1, 16)), np.eye(2)[:1])


def test_a_real_kip_job_drives_the_view():
    ds = digits(train=100, test=20)
    from nkwidgets import stax

    kernel_fn = stax.serial(stax.Dense(1), stax.Relu(), stax.Dense(1))[2]
    job = Job(
        lambda ctx: kip(
            kernel_fn,
            ds.x_train,
            ds.y_train,
            10,
            3,
            0.01,
            x_test=ds.x_test,
            y_test=ds.y_test,
            eval_every=2,
            context=ctx,
        )
    )
    view = KipView(job, image_shape=(8, 8))
    result = job.run_here()
    assert len(view.images.children) == 10
    assert list(view.accuracy_line.x) == [0, 2, 3]
    assert result.x_support.shape == (10, 64)
