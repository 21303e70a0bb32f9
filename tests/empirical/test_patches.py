"""``image_patches`` (nkwidgets/_empirical/_patches.py) against
``lax.conv_general_dilated_patches``, which it replaces on the structured path:
identical values (exact: both only copy input entries) and layout."""

from __future__ import annotations

import numpy as np
import pytest
from jax import lax

from nkwidgets._empirical._patches import image_patches

CASES = [
    # (input shape, layouts, filter, strides, padding, rhs_dilation)
    ((2, 5, 6, 3), ("NHWC", "HWIO", "NHWC"), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    ((2, 3, 7, 6), ("NCHW", "OIHW", "NCHW"), (3, 2), (2, 1), ((0, 0), (1, 0)), (1, 1)),
    ((2, 7, 7, 2), ("NHWC", "HWIO", "NCHW"), (2, 3), (1, 2), ((2, 1), (0, 3)), (2, 1)),
    ((3, 9, 4), ("NWC", "WIO", "NWC"), (4,), (3,), ((1, 2),), (1,)),
    (
        (1, 4, 5, 3, 2),
        ("NDHWC", "DHWIO", "NDHWC"),
        (2, 3, 2),
        (1, 1, 2),
        ((1, 0), (1, 1), (0, 1)),
        (1, 1, 1),
    ),
    ((2, 6, 6, 1), ("NHWC", "HWIO", "NHWC"), (3, 3), (1, 1), ((-1, 1), (1, 1)), (1, 1)),
]


@pytest.mark.parametrize("shape, layouts, filt, strides, padding, dilation", CASES)
def test_same_patches_as_lax(shape, layouts, filt, strides, padding, dilation):
    x = np.random.RandomState(0).randn(*shape).astype(np.float32)
    lhs_layout, rhs_layout, _ = layouts
    rhs_shape = [1] * len(shape)
    for axis, letter in enumerate(rhs_layout):
        if letter not in "IO":
            rhs_shape[axis] = filt[
                "".join(c for c in rhs_layout if c not in "IO").index(letter)
            ]
    dn = lax.conv_dimension_numbers(shape, tuple(rhs_shape), layouts)
    kwargs = dict(
        filter_shape=filt,
        window_strides=strides,
        padding=padding,
        lhs_dilation=(1,) * len(filt),
        rhs_dilation=dilation,
        dimension_numbers=dn,
    )
    expected = np.asarray(lax.conv_general_dilated_patches(x, **kwargs))
    got = np.asarray(image_patches(x, **kwargs))
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
