"""Binary serialization of numpy arrays for synced widget traits.

Arrays cross the comm as raw little-endian buffers, never as JSON lists: a
2000 x 2000 float32 kernel is 16 MB as bytes but about 80 MB as JSON text, and
the front end wraps the bytes in a ``Float32Array`` without parsing anything.
Shapes do not travel with the bytes; the widget's own ``n_rows``/``n_cols``
traits say how to read them, as in the TypeScript twin.

Attach the hooks to a trait with ``.tag(sync=True, **FLOAT32_SERIALIZATION)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

#: Little-endian float32: what ``Float32Array`` reads on every browser platform.
#: float32 halves the bytes of float64, and a colour map cannot show the
#: difference.
FLOAT32: Final = np.dtype("<f4")

#: Little-endian int32, for integer data such as class labels (``Int32Array``).
INT32: Final = np.dtype("<i4")

#: A buffer received from the front end (ipywidgets hands over memoryviews).
Buffer = memoryview | bytes | bytearray


def byte_view(array: np.ndarray) -> memoryview:
    """The bytes of a C-contiguous ``array``, without copying them."""
    # Flattened first: `memoryview.cast` refuses a multi-dimensional view with
    # a zero in its shape, which an empty kernel (0 x 0) has.
    return memoryview(array.reshape(-1)).cast("B")


def _array_to_json(dtype: np.dtype[Any]) -> Callable[[Any, Any], memoryview]:
    def to_json(value: npt.ArrayLike | None, widget: Any) -> memoryview:
        del widget  # the bytes do not depend on the widget
        if value is None:
            value = np.empty(0, dtype)
        array = np.ascontiguousarray(value, dtype=dtype)
        # A byte view, not a copy: full-matrix syncs of large kernels would
        # otherwise double their memory for every message.
        return byte_view(array)

    return to_json


def _array_from_json(dtype: np.dtype[Any]) -> Callable[[Any, Any], np.ndarray]:
    def from_json(value: Buffer | None, widget: Any) -> np.ndarray:
        del widget  # traits reshape in their own validation
        if value is None:
            return np.empty(0, dtype)
        # Copied so the trait owns writable memory that outlives the message.
        return np.frombuffer(value, dtype=dtype).copy()

    return from_json


#: ``to_json``/``from_json`` hooks that send an array as float32 bytes.
FLOAT32_SERIALIZATION: Final = {
    "to_json": _array_to_json(FLOAT32),
    "from_json": _array_from_json(FLOAT32),
}


def _matrix_from_json(value: Buffer | None, widget: Any) -> np.ndarray:
    flat = _array_from_json(FLOAT32)(value, widget)
    shape = (widget.n_rows, widget.n_cols)
    # A buffer that does not fit the shape is left flat for the trait to reject.
    return flat.reshape(shape) if flat.size == shape[0] * shape[1] else flat


#: Hooks for a row-major float32 matrix whose shape is the widget's
#: ``(n_rows, n_cols)``.
FLOAT32_MATRIX_SERIALIZATION: Final = {
    "to_json": _array_to_json(FLOAT32),
    "from_json": _matrix_from_json,
}


def _stack_from_json(value: Buffer | None, widget: Any) -> np.ndarray:
    flat = _array_from_json(FLOAT32)(value, widget)
    shape = (len(widget.kernels), widget.n_rows, widget.n_cols)
    # A buffer that does not fit the shape is left flat for the trait to reject.
    return flat.reshape(shape) if flat.size == np.prod(shape) else flat


#: Hooks for a ``(kernels, n_rows, n_cols)`` float32 stack, row-major, whose
#: shape is read from the widget's ``kernels``, ``n_rows`` and ``n_cols``.
_STACK_SERIALIZATION: Final = {
    "to_json": _array_to_json(FLOAT32),
    "from_json": _stack_from_json,
}

#: ``to_json``/``from_json`` hooks that send an array as int32 bytes.
INT32_SERIALIZATION: Final = {
    "to_json": _array_to_json(INT32),
    "from_json": _array_from_json(INT32),
}
