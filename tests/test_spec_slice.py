"""``Slice[...]`` in ``%%nk`` specs: the indices ``stax.Slice`` builds in Python, read from the AST.

Accepted: integers, slices with integer or None bounds, and one ``...``, alone or
in a tuple; the text round-trips and the network's kernel equals the Python one.
Everything else is a located error that says what is accepted.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from nkwidgets import stax
from nkwidgets.spec import SpecError, parse
from nkwidgets.stax import Slice

# (spec text inside Index(...), what `stax.Slice[...]` gives in Python)
VALID = [
    ("Slice[:, 1:3]", Slice[:, 1:3]),
    ("Slice[..., 0]", Slice[..., 0]),
    ("Slice[1:3]", Slice[1:3]),
    ("Slice[0]", Slice[0]),
    ("Slice[-1]", Slice[-1]),
    ("Slice[0,]", Slice[0,]),
    ("Slice[()]", Slice[()]),
    ("Slice[...]", Slice[...]),
    ("Slice[None:-1:2, ::-1, ...]", Slice[None:-1:2, ::-1, ...]),
    ("Slice[+1:, :, 2]", Slice[+1:, :, 2]),
    ("Slice[(1, 2)]", Slice[(1, 2)]),
]


@pytest.mark.parametrize("index,expected", VALID, ids=[v[0] for v in VALID])
@pytest.mark.parametrize("keyword", [False, True], ids=["positional", "idx="])
def test_slice_round_trips_and_builds_the_python_index(index, expected, keyword):
    text = f"net = Index({'idx=' if keyword else ''}{index})"
    spec = parse(text)
    # text -> model -> text -> model, and through JSON as the builder syncs it.
    assert parse(spec.to_text()) == spec
    as_json = json.loads(json.dumps(spec.to_json()))
    assert json.loads(json.dumps(parse(spec.to_text()).to_json())) == as_json
    from nkwidgets.spec import Spec

    assert Spec.from_json(as_json).net == spec.net
    built = spec.build_network()
    python = stax.Index(expected)
    x = np.zeros((2, 4, 5, 3))
    assert built.apply_fn((), x).shape == python.apply_fn((), x).shape
    # The index handed to Index is exactly the Python one (a tuple stays a tuple).
    from nkwidgets._spec._slice_syntax import index_value

    node = spec.net["kwargs"]["idx"] if keyword else spec.net["args"][0]
    assert index_value(node["slice"]) == expected
    assert type(index_value(node["slice"])) is type(expected)


@pytest.mark.parametrize(
    "index",
    ["Slice[:, 1:3]", "Slice[..., 1, :]", "Slice[:, ::-1, 1:]"],
)
def test_kernel_of_spec_network_equals_python(index):
    python_index = {
        "Slice[:, 1:3]": Slice[:, 1:3],
        "Slice[..., 1, :]": Slice[..., 1, :],
        "Slice[:, ::-1, 1:]": Slice[:, ::-1, 1:],
    }[index]
    spec = parse(
        "net = serial(Conv(4, (2, 2), padding='SAME', W_std=1.5, b_std=0.1), Relu(), "
        f"Index({index}), Flatten(), Dense(1, W_std=1.5))"
    )
    python = stax.serial(
        stax.Conv(4, (2, 2), padding="SAME", W_std=1.5, b_std=0.1),
        stax.Relu(),
        stax.Index(python_index),
        stax.Flatten(),
        stax.Dense(1, W_std=1.5),
    )
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x1 = jax.random.normal(k1, (3, 4, 4, 2))
    x2 = jax.random.normal(k2, (2, 4, 4, 2))
    got = spec.build_network().kernel_fn(x1, x2, ("nngp", "ntk"))
    want = python.kernel_fn(x1, x2, ("nngp", "ntk"))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    # And the index matters: a different slice gives a different kernel.
    whole = stax.serial(
        stax.Conv(4, (2, 2), padding="SAME", W_std=1.5, b_std=0.1),
        stax.Relu(),
        stax.Flatten(),
        stax.Dense(1, W_std=1.5),
    ).kernel_fn(x1, x2, "nngp")
    assert not np.allclose(np.asarray(got[0]), np.asarray(whole))


@pytest.mark.parametrize(
    "index,col,words",
    [
        ("Slice[x]", 19, ["the name `x`", "never looked up", "Fix:"]),
        ("Slice[1.5]", 19, ["`1.5` is not an integer", "Fix: use an integer"]),
        ("Slice[0:1.0]", 21, ["`1.0` is not an integer"]),
        ("Slice[1:x]", 21, ["`x` cannot be a slice bound"]),
        ("Slice[None]", 19, ["`None` (a new axis)", "Fix: use `:`"]),
        ("Slice[True]", 19, ["`True`", "boolean"]),
        ("Slice['a']", 19, ["a str constant", "integers"]),
        ("Slice[1 + 1]", 19, ["arithmetic", "Fix:"]),
        ("Slice[[1, 2]]", 19, ["a list", "no fancy indexing"]),
        ("Slice[-...]", 19, ["a sign can only precede a number"]),
        ("Slice[..., ...]", 24, ["at most one `...`"]),
        ("Slice[::0]", 21, ["step cannot be zero"]),
        ("Slice[2 ** 40]", 19, ["arithmetic"]),
        ("Slice[" + "9" * 12 + "]", 19, ["too large"]),
        ("Slice", 13, ["`Slice` alone", "Slice[:, 1:3]"]),
        ("Slice(1, 3)", 13, ["indexed with brackets, not called"]),
        ("Dense(1)[0]", 13, ["allowed only on `Slice`"]),
        ("x[0]", 13, ["allowed only on `Slice`"]),
    ],
)
def test_unsupported_subscripts_are_located_and_say_the_fix(index, col, words):
    with pytest.raises(SpecError) as info:
        parse(f"net = Index({index})")
    error = info.value
    assert (error.line, error.col) == (1, col), str(error)
    for word in words:
        assert word in error.message, (word, error.message)


def test_slice_json_is_plain_json():
    spec = parse("net = serial(Dense(4), Index(Slice[:, 0:1]))")
    assert spec.net["args"][1]["args"][0] == {
        "slice": [
            {"start": None, "stop": None, "step": None},
            {"start": 0, "stop": 1, "step": None},
        ]
    }


def test_slice_is_only_a_layer_argument():
    with pytest.raises(SpecError) as info:
        parse("net = Dense(10)\ndata = digits(train=Slice[0])")
    assert (info.value.line, info.value.col) == (2, 21)
    with pytest.raises(SpecError):
        parse("net = Index([Slice[0]])")
