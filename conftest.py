"""Hooks for the whole pytest run (tests/ and the notebooks under nbval)."""

from __future__ import annotations

from typing import Any

#: nbval gives a kernel 5 s between two output messages of a cell (a constant,
#: not an option). On the 2-core CI machine, with another xdist worker and a
#: background Job's XLA threads sharing the cores, a finished cell's output
#: once took longer than that to arrive: wait this long instead.
NOTEBOOK_OUTPUT_TIMEOUT_S = 60


def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if hasattr(item, "output_timeout"):  # an nbval cell
            item.output_timeout = NOTEBOOK_OUTPUT_TIMEOUT_S
