"""The ``%%nk`` cell magic: a few lines of spec in, a live experiment out.

``%%nk [-o NAME]`` parses the cell (never evaluates it), shows an
:class:`ExperimentView`, starts the experiment on a background thread and
returns at once. ``nk_job`` is bound immediately (``nk_job.result()`` waits,
``nk_job.cancel()`` stops after the current block); the result is bound to
``NAME`` (default ``nk_result``) when it is ready.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.display import display

from .compute import Event
from .spec import SpecError, parse

_OUTPUT_OPTION = re.compile(r"^\s*(?:-o\s+([A-Za-z_][A-Za-z0-9_]*))?\s*$")


@magics_class
class NKMagics(Magics):
    """Magics registered by ``%load_ext nkwidgets``."""

    @cell_magic
    def nk(self, line: str, cell: str) -> None:
        """Run an experiment described by the cell; see docs/nk-language.md."""
        match = _OUTPUT_OPTION.match(line)
        if match is None:
            raise SpecError(f"unknown options `{line.strip()}`; the only option is `-o NAME`.")
        result_name = match.group(1) or "nk_result"
        spec = parse(cell)
        experiment = spec.to_experiment()
        job = experiment.job()

        from .widgets._experiment_view import ExperimentView

        view = ExperimentView(experiment, result_name)
        job.subscribe(view.on_event)
        user_ns = self.shell.user_ns if self.shell is not None else {}

        def bind_result(event: Event) -> None:
            if event.kind == "done":
                user_ns[result_name] = event.data["result"]

        job.subscribe(bind_result)
        user_ns["nk_job"] = job
        display(view)
        job.start()


def register_magics(ipython: Any) -> None:
    ipython.register_magics(NKMagics)
