"""ArchitectureBuilder: compose a network from a palette, see it as a diagram and as `%%nk` text.

The form (one row of argument fields per layer, with move and remove buttons),
the diagram and the text are three views of one spec; editing the form rewrites
the text, and editing the text (applied when the text box loses focus) rebuilds
the form. The spec JSON is published in the synced ``spec_json`` trait, so other
code can observe it and a saved notebook keeps it. "Compute" runs the spec as an
experiment on a background thread with the live :class:`ExperimentView` below;
"Cancel" stops it after the current block, keeping what is finished.
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as w
import traitlets

from ..compute import Event, Job
from ..spec import Spec, SpecError
from ._architecture_diagram import diagram_svg, layer_colour
from ._architecture_model import (
    DEFAULT_TEXT,
    LayerEntry,
    entries_from_net,
    fields,
    full_text,
    new_entry,
    palette,
    spec_json_of,
)
from ._style import error_html

_BUTTON = w.Layout(width="32px", padding="0")


class ArchitectureBuilder(w.VBox):
    """Build a network layer by layer, or as text, and compute its kernels live.

    Args:
      text: the starting ``%%nk`` text (default: a 2-hidden-layer ReLU network on
        300/100 digits).
      result_name: when an IPython shell is running, the finished
        ``ExperimentResult`` is bound to this name in it (as ``%%nk -o``).

    Attributes:
      spec_json: the current spec as JSON text (synced; empty while invalid).
      job: the last Job started by "Compute", or None.
    """

    spec_json = traitlets.Unicode("").tag(sync=True)

    def __init__(self, text: str = DEFAULT_TEXT, result_name: str = "nk_result"):
        self.result_name = result_name
        self.job: Job | None = None
        self.entries: list[LayerEntry] = []
        self._spec: dict[str, Any] = {}
        self._applying_text = False

        self.palette = w.Dropdown(
            options=sorted(palette(), key=str.lower),
            value="Dense",
            description="layer",
            layout=w.Layout(width="240px"),
        )
        self.add_button = w.Button(
            description="Add layer", icon="plus", button_style=""
        )
        self.palette_help = w.HTML("")
        self.rows = w.VBox([])
        self.diagram = w.HTML("")
        self.text = w.Textarea(
            value="",
            continuous_update=False,
            layout=w.Layout(width="560px", height="230px"),
        )
        self.text_status = w.HTML("")
        self.json_view = w.HTML("")
        self.compute_button = w.Button(
            description="Compute", icon="play", button_style="primary"
        )
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.run_status = w.HTML("")
        self.run_area = w.VBox([])

        self.palette.observe(self._show_palette_help, names="value")
        self.add_button.on_click(lambda _: self.add_layer(self.palette.value))
        self.text.observe(self._on_text, names="value")
        self.compute_button.on_click(lambda _: self.compute())
        self.cancel_button.on_click(lambda _: self.cancel())

        json_box = w.Accordion(children=[self.json_view], titles=("Spec JSON",))
        json_box.selected_index = None
        editor = w.VBox(
            [
                w.HBox([self.palette, self.add_button]),
                self.palette_help,
                self.rows,
                w.HTML("<b>%%nk text</b> (edits apply when you leave the box)"),
                self.text,
                self.text_status,
                json_box,
            ],
            layout=w.Layout(width="600px"),
        )
        super().__init__(
            [
                w.HBox([editor, w.VBox([w.HTML("<b>Network</b>"), self.diagram])]),
                w.HBox([self.compute_button, self.cancel_button, self.run_status]),
                self.run_area,
            ]
        )
        self._show_palette_help()
        self.set_text(text)

    # -- editing -------------------------------------------------------------

    @property
    def spec(self) -> Spec:
        """The current spec (raises :class:`SpecError` while the form is invalid)."""
        return Spec.from_json(spec_json_of(self.text.value))

    def set_text(self, text: str) -> None:
        """Replace the whole spec by `text` (as if typed into the text box)."""
        self.text.value = text
        self._on_text()

    def add_layer(self, name: str, position: int | None = None) -> None:
        """Insert a palette layer at `position` (default: the end)."""
        entry = new_entry(name)
        position = len(self.entries) if position is None else position
        self.entries.insert(position, entry)
        self._form_changed()

    def move_layer(self, index: int, step: int) -> None:
        target = index + step
        if 0 <= target < len(self.entries):
            self.entries[index], self.entries[target] = (
                self.entries[target],
                self.entries[index],
            )
            self._form_changed()

    def remove_layer(self, index: int) -> None:
        del self.entries[index]
        self._form_changed()

    def set_argument(self, index: int, name: str, text: str) -> None:
        """Set one field of one layer (what typing into a form field does)."""
        entry = self.entries[index]
        if entry.takes_layers:
            entry.expression = text
        else:
            entry.values[name] = text
        self._form_changed(rebuild_rows=False)

    # -- the three views -------------------------------------------------------

    def _on_text(self, _change: Any = None) -> None:
        if self._applying_text:
            return
        try:
            spec = spec_json_of(self.text.value)
        except SpecError as e:
            self.text_status.value = error_html(f"Not applied: {e}")
            self.spec_json = ""
            return
        self._spec = spec
        self.entries = entries_from_net(spec["net"])
        self.text_status.value = ""
        self._render_rows()
        self._refresh(invalid={})

    def _form_changed(self, rebuild_rows: bool = True) -> None:
        invalid = {i: msg for i, e in enumerate(self.entries) if (msg := e.check())}
        if rebuild_rows:
            self._render_rows()
        self._mark_rows(invalid)
        if not invalid and self.entries:
            text = full_text(self.entries, self._spec)
            try:
                self._spec = spec_json_of(text)
            except SpecError as e:  # e.g. a layer valid alone but not in this chain
                self.text_status.value = error_html(str(e))
                self.spec_json = ""
                self._refresh(invalid)
                return
            self._applying_text = True
            try:
                self.text.value = text
            finally:
                self._applying_text = False
            self.text_status.value = ""
        elif not self.entries:
            self.text_status.value = error_html("The network is empty: add a layer.")
            self.spec_json = ""
        else:
            first = min(invalid)
            self.text_status.value = error_html(
                f"Layer {first + 1} ({self.entries[first].name}): {invalid[first]}"
            )
            self.spec_json = ""
        self._refresh(invalid)

    def _refresh(self, invalid: dict[int, str]) -> None:
        output = " + ".join(k.upper() for k in self._spec.get("compute", []))
        self.diagram.value = diagram_svg(
            self.entries, set(invalid), f"output → {output}" if output else ""
        )
        if not invalid and self.entries and self._spec:
            self.spec_json = json.dumps(self._spec)
            pretty = json.dumps(self._spec, indent=1)
            self.json_view.value = f"<pre>{html.escape(pretty)}</pre>"

    def _render_rows(self) -> None:
        self.rows.children = [self._row(i, e) for i, e in enumerate(self.entries)]

    def _mark_rows(self, invalid: dict[int, str]) -> None:
        for i, row in enumerate(self.rows.children):
            message = row.children[-1]
            message.value = error_html(invalid[i]) if i in invalid else ""

    def _row(self, index: int, entry: LayerEntry) -> w.VBox:
        chip = w.HTML(
            f'<span style="display:inline-block;width:10px;height:10px;border-radius:2px;'
            f'background:{layer_colour(entry.name)}"></span> <b>{index + 1}. {entry.name}</b>',
            layout=w.Layout(width="150px"),
        )
        up = w.Button(
            icon="arrow-up", tooltip="move up", layout=_BUTTON, disabled=index == 0
        )
        down = w.Button(
            icon="arrow-down",
            tooltip="move down",
            layout=_BUTTON,
            disabled=index == len(self.entries) - 1,
        )
        remove = w.Button(icon="trash", tooltip="remove", layout=_BUTTON)
        up.on_click(lambda _: self.move_layer(index, -1))
        down.on_click(lambda _: self.move_layer(index, +1))
        remove.on_click(lambda _: self.remove_layer(index))
        inputs = []
        if entry.takes_layers:
            box = w.Text(
                value=entry.expression or "",
                continuous_update=False,
                layout=w.Layout(width="420px"),
            )
            box.observe(lambda c: self.set_argument(index, "", c["new"]), names="value")
            inputs.append(box)
        else:
            for f in fields(entry.name):
                box = w.Text(
                    value=entry.values.get(f.name, ""),
                    placeholder=("required" if f.required else f.default_text),
                    description=f.name,
                    continuous_update=False,
                    style={"description_width": "initial"},
                    # Room for the label plus ~8 characters of value.
                    layout=w.Layout(width=f"{max(150, 8 * len(f.name) + 90)}px"),
                )
                box.observe(
                    lambda c, name=f.name: self.set_argument(index, name, c["new"]),
                    names="value",
                )
                inputs.append(box)
        fields_box = w.Box(inputs, layout=w.Layout(flex_flow="row wrap", width="430px"))
        return w.VBox(
            [w.HBox([chip, fields_box, up, down, remove]), w.HTML("")],
            layout=w.Layout(
                border_bottom="1px solid var(--jp-border-color2)", padding="2px 0"
            ),
        )

    def _show_palette_help(self, _change: Any = None) -> None:
        layer = palette()[self.palette.value]
        self.palette_help.value = (
            f"<code>{html.escape(layer['signature'])}</code><br>"
            f"<small>{html.escape(layer['doc'])}</small>"
        )

    # -- computing --------------------------------------------------------------

    def compute(self) -> Job | None:
        """Run the current spec; returns the started Job (None if the spec is invalid)."""
        from ._experiment_view import ExperimentView

        if self.job is not None and not self.job.done:
            self.run_status.value = error_html("Already computing: cancel it first.")
            return None
        try:
            experiment = self.spec.to_experiment()
        except (SpecError, ValueError) as e:
            self.run_status.value = error_html(str(e))
            return None
        job = experiment.job()
        view = ExperimentView(experiment, self.result_name)
        job.subscribe(view.on_event)
        job.subscribe(self._on_job_event)
        self.run_area.children = [view]
        self.job = job
        self.compute_button.disabled = True
        self.cancel_button.disabled = False
        self.run_status.value = "&nbsp;computing…"
        job.start()
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.run_status.value = "&nbsp;cancelling after the current block…"

    def _on_job_event(self, event: Event) -> None:
        if event.kind not in ("done", "failed", "cancelled"):
            return
        self.compute_button.disabled = False
        self.cancel_button.disabled = True
        self.run_status.value = {
            "done": f"&nbsp;done: the result is in <code>{html.escape(self.result_name)}</code>",
            "failed": "&nbsp;failed (see below)",
            "cancelled": "&nbsp;cancelled; finished blocks are kept",
        }[event.kind]
        if event.kind == "done":
            _bind_in_ipython(self.result_name, event.data["result"])


def _bind_in_ipython(name: str, value: Any) -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.user_ns[name] = value
