"""Trait types shared by the widgets."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import traitlets


class NDArray(traitlets.TraitType[np.ndarray, npt.ArrayLike]):
    """A numpy array held C-contiguous with a fixed dtype and rank.

    Anything ``np.asarray`` accepts is converted once, here, so widget code and
    the serializers can rely on the layout the front end reads.
    """

    info_text = "an array"

    def __init__(self, *, dtype: npt.DTypeLike, ndim: int, **kwargs: Any) -> None:
        self.dtype = np.dtype(dtype)
        self.ndim = ndim
        kwargs.setdefault("default_value", np.empty((0,) * ndim, self.dtype))
        super().__init__(**kwargs)
        self.info_text = f"a {ndim}-d array convertible to {self.dtype.name}"

    def validate(self, obj: Any, value: Any) -> np.ndarray:
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):
            self.error(obj, value)
        if array.ndim != self.ndim:
            self.error(
                obj,
                value,
                info=f"a {self.ndim}-d array (got shape {array.shape})",
            )
        if array.dtype.kind not in "biuf":
            self.error(obj, value, info=f"a numeric array (got dtype {array.dtype})")
        return np.ascontiguousarray(array, dtype=self.dtype)
