"""ArchitectureBuilder: the form, the diagram, the text and the spec JSON stay one spec."""

from __future__ import annotations

import json

import pytest

from nkwidgets import stax
from nkwidgets.spec import parse
from nkwidgets.widgets._architecture_builder import ArchitectureBuilder
from nkwidgets.widgets._architecture_model import DEFAULT_TEXT, new_entry, palette

TINY = """net = serial(Dense(64, W_std=1.5), Relu(), Dense(10))
data = digits(train=24, test=8)
compute = nngp, ntk
predict = gradient_descent_mse(t=[1, inf])
"""


def _names(builder):
    return [e.name for e in builder.entries]


def test_default_text_builds_rows_diagram_and_json():
    b = ArchitectureBuilder()
    assert _names(b) == ["Dense", "Relu", "Dense", "Relu", "Dense"]
    assert json.loads(b.spec_json) == json.loads(
        json.dumps(parse(DEFAULT_TEXT).to_json())
    )
    assert len(b.rows.children) == 5
    # Diagram boxes in chain order, between input and output.
    svg = b.diagram.value
    positions = [
        svg.index(t) for t in ("input", "Dense(512", "Relu()", "Dense(10", "output")
    ]
    assert positions == sorted(positions)


def test_form_edits_rewrite_text_and_json():
    b = ArchitectureBuilder(TINY)
    b.add_layer("Erf")
    b.move_layer(3, -1)  # Erf before the readout
    b.set_argument(0, "out_dim", "128")
    spec = parse(b.text.value)
    layers = [n["layer"] for n in spec.to_json()["net"]["args"]]
    assert layers == ["Dense", "Relu", "Erf", "Dense"]
    assert spec.to_json()["net"]["args"][0]["args"] == [128]
    assert json.loads(b.spec_json)["net"]["args"][2]["layer"] == "Erf"
    b.remove_layer(1)
    assert [n["layer"] for n in parse(b.text.value).to_json()["net"]["args"]] == [
        "Dense",
        "Erf",
        "Dense",
    ]
    # The other settings survive form edits.
    assert "data = digits(train=24, test=8)" in b.text.value


def test_bare_words_in_string_fields_are_quoted():
    b = ArchitectureBuilder(TINY.replace("Dense(64, W_std=1.5), Relu(), ", ""))
    b.set_text(
        "net = serial(Conv(4, (3, 3)), Relu(), Flatten(), Dense(10))\n"
        "data = digits(train=24, test=8, images=True)\n"
    )
    b.set_argument(0, "padding", "SAME")
    assert "Conv(4, (3, 3), padding='SAME')" in b.text.value


def test_invalid_field_marks_its_row_and_keeps_last_good_text():
    b = ArchitectureBuilder(TINY)
    good = b.text.value
    b.set_argument(0, "W_std", "wide")
    assert "not allowed" in b.rows.children[0].children[-1].value
    assert (
        "line 1" not in b.rows.children[0].children[-1].value
    )  # no snippet coordinates
    assert b.spec_json == "" and b.text.value == good
    assert "Layer 1 (Dense)" in b.text_status.value
    assert "var(--jp-error-color1)" in b.diagram.value
    b.set_argument(0, "W_std", "2.0")
    assert b.spec_json and "W_std=2.0" in b.text.value


def test_missing_required_argument_is_named():
    b = ArchitectureBuilder(TINY)
    b.add_layer("AvgPool")
    assert "AvgPool needs window_shape" in b.rows.children[-1].children[-1].value


def test_text_edits_rebuild_form_and_bad_text_is_not_applied():
    b = ArchitectureBuilder(TINY)
    b.text.value = "net = serial(Dense(8), parallel(Relu(), Erf()), FanInSum(), Dense(10))\ndata = digits()\n"
    assert _names(b) == ["Dense", "parallel", "FanInSum", "Dense"]
    assert b.entries[1].expression == "parallel(Relu(), Erf())"
    b.text.value = "net = serial(Dense(8), Relu()\n"
    assert "Not applied: line 1" in b.text_status.value
    assert _names(b) == ["Dense", "parallel", "FanInSum", "Dense"]
    assert b.spec_json == ""


def test_palette_has_every_stax_layer_and_each_starts_sensibly():
    exported = {
        n
        for n, v in vars(stax).items()
        if not n.startswith("_") and callable(v) and not isinstance(v, type)
    }
    assert set(palette()) == exported
    for name, layer in palette().items():
        entry = new_entry(name)
        message = entry.check()
        if layer["takes_layers"] or not any(p["required"] for p in _required(name)):
            assert message == "", (name, message)
        else:
            assert message.startswith(f"{name} needs"), (name, message)


def _required(name):
    from nkwidgets.widgets._architecture_model import fields

    return [{"required": f.required} for f in fields(name)]


@pytest.mark.timeout(120)
def test_compute_runs_the_spec_and_binds_nothing_outside_ipython():
    b = ArchitectureBuilder(TINY)
    job = b.compute()
    assert (
        job is not None and b.compute_button.disabled and not b.cancel_button.disabled
    )
    result = job.result(timeout=100)
    assert result.kernels["ntk"]["train_train"].shape == (24, 24)
    assert not b.compute_button.disabled and b.cancel_button.disabled
    assert "done" in b.run_status.value
    assert len(b.run_area.children) == 1


def test_compute_with_invalid_spec_says_why():
    b = ArchitectureBuilder(TINY)
    b.text.value = "net = serial(Dense(8)\n"
    assert b.compute() is None
    assert "line 1" in b.run_status.value


@pytest.mark.timeout(120)
def test_cancel_stops_the_job_and_reenables_compute():
    from nkwidgets.compute import JobCancelled

    b = ArchitectureBuilder(
        TINY.replace("train=24, test=8", "train=400, test=8") + "block_size = 20\n"
    )
    job = b.compute()
    b.cancel()
    with pytest.raises(JobCancelled):
        job.result(timeout=100)
    assert "cancelled" in b.run_status.value
    assert not b.compute_button.disabled and b.cancel_button.disabled


def test_index_with_slice_round_trips_through_the_form():
    b = ArchitectureBuilder(
        "net = serial(Conv(4, (2, 2)), Index(Slice[:, 1:3, ...]), Flatten(), Dense(10))\n"
        "data = digits(train=24, test=8, images=True)\n"
    )
    assert _names(b) == ["Conv", "Index", "Flatten", "Dense"]
    assert b.entries[1].values["idx"] == "Slice[:, 1:3, ...]"
    assert "Index(Slice[:, 1:3, ...])" in b.text.value
    b.set_argument(1, "idx", "Slice[..., 0, :]")
    assert "Index(Slice[..., 0, :])" in b.text.value and b.spec_json
    b.set_argument(1, "idx", "Slice[1.5]")
    assert "not an integer" in b.rows.children[1].children[-1].value


def test_palette_help_is_plain_text():
    b = ArchitectureBuilder(TINY)
    b.palette.value = "Erf"
    assert "φ(x) = a erf(b x) + c" in b.palette_help.value
    for layer in palette().values():
        assert not any(m in layer["doc"] for m in ("\\", "``", ":math:", ":func:"))
