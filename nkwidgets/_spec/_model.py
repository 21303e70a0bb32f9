""":class:`Spec`: a parsed, validated experiment, as JSON, as text, as an Experiment."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import NKError
from ._error import SpecError
from ._parser import build, parse_fields
from ._text import call_to_text, node_to_text
from ._vocabulary import KERNEL_NAMES, layer_registry


@dataclasses.dataclass(frozen=True)
class Spec:
    """A parsed, validated experiment description.

    ``net`` is a JSON tree: ``{"layer": name, "args": [...], "kwargs": {...}}``
    where nested layers appear as such dicts, functions as
    ``{"function": name}`` and ``Slice[...]`` indices as ``{"slice": entry}`` or,
    for a tuple index, ``{"slice": [entry, ...]}`` (an entry is an int, ``"..."``
    or ``{"start", "stop", "step"}``); ``data`` and ``predict`` are
    ``{"name", "kwargs"}``.
    ``locations`` maps each setting to its (line, column) in the text.
    """

    net: dict[str, Any]
    data: dict[str, Any] | None = None
    compute: tuple[str, ...] = KERNEL_NAMES
    predict: dict[str, Any] | None = None
    block_size: int | str = "auto"
    dtype: str = "float32"
    devices: int | None = None
    cache: str | None = None
    budget: str | int | None = None
    locations: dict[str, tuple[int, int]] = dataclasses.field(
        default_factory=dict, compare=False
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "net": self.net,
            "data": self.data,
            "compute": list(self.compute),
            "predict": self.predict,
            "block_size": self.block_size,
            "dtype": self.dtype,
            "devices": self.devices,
            "cache": self.cache,
            "budget": self.budget,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Spec:
        """Rebuild from :meth:`to_json` output; validated by round-tripping text."""
        return parse(cls(**{**obj, "compute": tuple(obj["compute"])}).to_text())

    def to_text(self) -> str:
        lines = [f"net = {node_to_text(self.net)}"]
        if self.data is not None:
            lines.append(f"data = {call_to_text(self.data)}")
        lines.append(f"compute = {', '.join(self.compute)}")
        if self.predict is not None:
            lines.append(f"predict = {call_to_text(self.predict)}")
        if self.block_size != "auto":
            lines.append(f"block_size = {self.block_size}")
        if self.dtype != "float32":
            lines.append(f"dtype = {self.dtype}")
        if self.devices is not None:
            lines.append(f"devices = {self.devices}")
        if self.cache is not None:
            lines.append(f"cache = {self.cache!r}")
        if self.budget is not None:
            lines.append(f"budget = {self.budget!r}")
        return "\n".join(lines)

    def build_network(self) -> Any:
        return build(self.net, layer_registry())

    def to_experiment(self) -> Any:
        from ..compute import Experiment, PredictSettings
        from ..compute._experiment import describe_network
        from ..data import digits

        if self.data is None:
            raise SpecError(
                "the spec has no `data = ...` line; add e.g. `data = digits(train=1000, test=500)`.",
                *self.locations.get("net", (1, 1)),
            )
        try:
            dataset = {"digits": digits}[self.data["name"]](**self.data["kwargs"])
        except NKError as e:
            raise SpecError(str(e), *self.locations.get("data", (None, None))) from None
        predict = None
        if self.predict is not None:
            kw = dict(self.predict["kwargs"])
            if "t" in kw:
                kw["t"] = tuple(float(v) for v in kw["t"])
            predict = PredictSettings(**kw)
        return Experiment(
            network=self.build_network(),
            dataset=dataset,
            compute=self.compute,
            predict=predict,
            block_size=self.block_size,
            dtype=self.dtype,
            devices=self.devices,
            cache_dir=self.cache,
            budget=self.budget,
            description=describe_network(self.net),
        )


def parse(text: str | bytes) -> Spec:
    """Parse and validate ``%%nk`` text (or UTF-8 bytes); raise :class:`SpecError` on any problem."""
    fields, locations = parse_fields(text)
    return Spec(**fields, locations=locations)
