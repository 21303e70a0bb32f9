"""The ``%%nk`` cell magic and the ``%nk`` line magics.

``%%nk [-o NAME]`` parses the cell (never evaluates it), shows an
:class:`ExperimentView`, starts the experiment on a background thread and
returns at once. ``nk_job`` is bound immediately (``nk_job.result()`` waits,
``nk_job.cancel()`` stops after the current block); the result is bound to
``NAME`` (default ``nk_result``) when it is ready. A spec that does not parse
raises one located :class:`SpecError` and also displays a
``application/vnd.nkwidgets.diagnostic+json`` output, which the JupyterLab
extension turns into a marker at that line of the cell's editor.

Every job a ``%%nk`` cell starts is remembered for the session:

* ``%nk jobs``: a table of id, result variable, state, progress, elapsed time;
* ``%nk show [NAME | ID]``: display that job's live view again (default: latest);
* ``%nk cancel [ID]``: cancel a job (default: the latest one still running).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from .compute import Event
from .errors import NKError
from .spec import SpecError, parse

DIAGNOSTIC_MIME = "application/vnd.nkwidgets.diagnostic+json"

_OUTPUT_OPTION = re.compile(r"^\s*(?:-o\s+([A-Za-z_][A-Za-z0-9_]*))?\s*$")
_LINE_COMMANDS = ("jobs", "show", "cancel")


class MagicError(NKError, ValueError):
    """A ``%nk`` line magic asked for a job or command that does not exist."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31mMagicError\x1b[0m: {self}"]


@dataclasses.dataclass
class JobRecord:
    """One job started by a ``%%nk`` cell, and what the line magics report about it."""

    id: int
    result_name: str
    job: Any
    view: Any
    started: float = dataclasses.field(default_factory=time.monotonic)
    finished: float | None = None
    done_blocks: int = 0
    total_blocks: int | None = None

    def on_event(self, event: Event) -> None:
        if event.kind == "started":
            self.total_blocks = event.data["total"]
        elif event.kind == "progress":
            self.done_blocks = event.data["done"]
            self.total_blocks = event.data["total"]
        elif event.kind in ("done", "failed", "cancelled"):
            self.finished = time.monotonic()

    @property
    def state(self) -> str:
        return self.job.status

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def progress(self) -> str:
        if self.total_blocks is None:
            return "starting"
        return f"{self.done_blocks}/{self.total_blocks} blocks"


class JobRegistry:
    """The session's ``%%nk`` jobs, numbered from 1 in the order they started."""

    def __init__(self) -> None:
        self._records: list[JobRecord] = []
        self._lock = threading.Lock()

    def add(self, result_name: str, job: Any, view: Any) -> JobRecord:
        with self._lock:
            record = JobRecord(len(self._records) + 1, result_name, job, view)
            self._records.append(record)
        job.subscribe(record.on_event)
        return record

    def __iter__(self):
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def find(self, key: str | None) -> JobRecord:
        """By id (``"3"``), by result variable name, or the latest (``None``/``"result"``)."""
        if not self._records:
            raise MagicError(
                "no %%nk job has run in this session. Fix: run a %%nk cell first."
            )
        if key is None:
            return self._records[-1]
        if key.isdigit():
            return self._by_id(int(key))
        for record in reversed(self._records):
            if record.result_name == key:
                return record
        if key == "result":
            return self._records[-1]
        names = ", ".join(dict.fromkeys(r.result_name for r in self._records))
        raise MagicError(
            f"no %%nk job stores its result in `{key}`. Known: {names}; or give a job id (%nk jobs)."
        )

    def latest_running(self) -> JobRecord | None:
        for record in reversed(self._records):
            if record.state == "running":
                return record
        return None

    def _by_id(self, job_id: int) -> JobRecord:
        if not 1 <= job_id <= len(self._records):
            raise MagicError(
                f"there is no job {job_id}; ids run from 1 to {len(self._records)} (%nk jobs lists them)."
            )
        return self._records[job_id - 1]

    def table(self) -> str:
        """A fixed-width table of every job, newest last."""
        rows = [("id", "result", "state", "progress", "elapsed")]
        rows += [
            (str(r.id), r.result_name, r.state, r.progress, f"{r.elapsed:.1f} s")
            for r in self._records
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(
                cell.rjust(w) if i in (0, 4) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        )


def diagnostic_bundle(error: SpecError, spec_text: str) -> dict[str, Any] | None:
    """The display bundle that marks ``error`` in the editor; None if it has no place.

    ``line``/``col`` are the spec's (line 1 is the first line *after* ``%%nk``);
    ``source`` is that line, so a renderer can point at the column without the cell.
    """
    diagnostic = error.diagnostic()
    if diagnostic is None:
        return None
    lines = spec_text.splitlines()
    line = diagnostic["line"]
    source = lines[line - 1] if 1 <= line <= len(lines) else ""
    col = diagnostic["col"]
    gutter = f"{line:>4} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * (min(col, len(source) + 1) - 1) + "^"
    plain = f"{gutter}{source}\n{caret} {diagnostic['message']}"
    return {DIAGNOSTIC_MIME: {**diagnostic, "source": source}, "text/plain": plain}


@magics_class
class NKMagics(Magics):
    """Magics registered by ``%load_ext nkwidgets``."""

    def __init__(self, shell: Any = None):
        super().__init__(shell)
        self.jobs = JobRegistry()

    @line_cell_magic
    def nk(self, line: str, cell: str | None = None) -> None:
        """``%%nk [-o NAME]`` runs the cell's experiment; ``%nk jobs|show|cancel`` manage jobs."""
        if cell is None:
            self._line(line)
        else:
            self._cell(line, cell)

    def _cell(self, line: str, cell: str) -> None:
        match = _OUTPUT_OPTION.match(line)
        if match is None:
            raise SpecError(
                f"unknown options `{line.strip()}`; the only option is `-o NAME`."
            )
        result_name = match.group(1) or "nk_result"
        try:
            experiment = parse(cell).to_experiment()
        except SpecError as error:
            bundle = diagnostic_bundle(error, cell)
            if bundle is not None:
                display(bundle, raw=True)
            raise
        job = experiment.job()

        from .widgets._experiment_view import ExperimentView

        view = ExperimentView(experiment, result_name)
        job.subscribe(view.on_event)
        user_ns = self.shell.user_ns if self.shell is not None else {}

        def bind_result(event: Event) -> None:
            if event.kind == "done":
                user_ns[result_name] = event.data["result"]

        job.subscribe(bind_result)
        self.jobs.add(result_name, job, view)
        user_ns["nk_job"] = job
        display(view)
        job.start()

    def _line(self, line: str) -> None:
        words = line.split()
        command, args = (words[0], words[1:]) if words else ("", [])
        if command not in _LINE_COMMANDS or len(args) > 1:
            raise MagicError(
                f"`%nk {line.strip()}` is not a command. Use `%nk jobs`, `%nk show [NAME|ID]` "
                "or `%nk cancel [ID]`; an experiment goes in a `%%nk` cell."
            )
        key = args[0] if args else None
        if command == "jobs":
            if key is not None:
                raise MagicError("`%nk jobs` takes no argument.")
            print(
                self.jobs.table()
                if len(self.jobs)
                else "no %%nk jobs in this session yet."
            )
        elif command == "show":
            display(self.jobs.find(key).view)
        else:
            self._cancel(key)

    def _cancel(self, key: str | None) -> None:
        if key is None:
            record = self.jobs.latest_running()
            if record is None:
                print("no %%nk job is running; nothing to cancel.")
                return
        elif key.isdigit():
            record = self.jobs.find(key)
        else:
            raise MagicError(
                f"`%nk cancel` takes a job id (a number), not `{key}`; `%nk jobs` lists them."
            )
        if record.state != "running":
            print(f"job {record.id} ({record.result_name}) is already {record.state}.")
            return
        record.job.cancel()
        print(
            f"cancelling job {record.id} ({record.result_name}): it stops after the blocks "
            "computing now; finished blocks are kept."
        )


def register_magics(ipython: Any) -> None:
    ipython.register_magics(NKMagics)
