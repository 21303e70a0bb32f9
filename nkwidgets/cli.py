"""``nk``: run a ``.nk`` experiment headless, or estimate what it will take.

::

    nk run experiment.nk [--out results.npz] [--devices N] [--cache DIR]
                         [--budget 8GB] [--json] [--quiet]
                         [--coordinator HOST:PORT --num-processes N --process-id I]
    nk estimate experiment.nk [--devices N] [--cache DIR] [--budget 8GB] [--json]

A ``.nk`` file holds the body of a ``%%nk`` cell (docs/nk-language.md); flags
override its ``devices``, ``cache`` and ``budget`` settings. With a cache, a
run that was killed resumes where it stopped. Under ``--coordinator`` (or the
``NK_COORDINATOR``, ``NK_NUM_PROCESSES``, ``NK_PROCESS_ID`` environment
variables) every process runs the same file and shares the blocks; process 0
writes the results.

Errors a user can cause print one line and exit with status 1 (2 for bad
flags); no traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .errors import NKError

#: Longest error message printed; XLA errors can run to pages.
MAX_ERROR_CHARS = 2000


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``nk`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.devices is not None:
            _ensure_cpu_devices(args.devices)
        from .compute import initialize_distributed

        initialize_distributed(args.coordinator, args.num_processes, args.process_id)
        return args.command_fn(args)
    except KeyboardInterrupt:
        print(
            "nk: interrupted; finished blocks are kept in the cache (if any): rerun to resume.",
            file=sys.stderr,
        )
        return 130
    except (NKError, OSError) as error:
        _print_error(error)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nk",
        description="Infinite-width kernels and predictions from a .nk experiment file.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="compute the kernels and predictions; write an .npz"
    )
    run.add_argument(
        "--out", type=Path, help="results file (default: the .nk file's name with .npz)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(command_fn=_run)

    estimate = commands.add_parser(
        "estimate",
        help="print blocks, memory and a time estimate; compute nothing else",
    )
    estimate.set_defaults(command_fn=_estimate)

    for sub in (run, estimate):
        sub.add_argument(
            "file", type=Path, help="experiment file (the body of a %%%%nk cell)"
        )
        sub.add_argument("--devices", type=_positive_int, help="use N local devices")
        sub.add_argument(
            "--cache", help="block cache directory; makes the run resumable"
        )
        sub.add_argument(
            "--budget", help='memory budget: bytes, "8GB", or "50%%" of available'
        )
        sub.add_argument(
            "--json", action="store_true", help="print a JSON summary on stdout"
        )
        sub.add_argument(
            "--coordinator", help="HOST:PORT of process 0 (multi-process runs)"
        )
        sub.add_argument(
            "--num-processes", type=_positive_int, help="processes in the job"
        )
        sub.add_argument("--process-id", type=int, help="this process's index, 0..N-1")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _ensure_cpu_devices(n: int) -> None:
    # CPU devices are virtual and their count is fixed when JAX starts, so
    # `--devices N` on CPU asks XLA for N of them before jax is imported.
    # Accelerator counts are real and this flag does not touch them.
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags and "jax" not in sys.modules:
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_force_host_platform_device_count={n}".strip()
        )


def _experiment(args: argparse.Namespace) -> tuple[Any, Any, str]:
    from .spec import parse

    try:
        text = args.file.read_text()
    except FileNotFoundError:
        raise NKError(
            f"{args.file}: no such file. Fix: give the path of a .nk experiment file."
        ) from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise NKError(
            f"{args.file}: not a readable .nk text file ({type(e).__name__})."
        ) from None
    spec = parse(text)
    experiment = spec.to_experiment()
    overrides: dict[str, Any] = {}
    if args.devices is not None:
        overrides["devices"] = args.devices
    if args.cache is not None:
        overrides["cache_dir"] = args.cache
    if args.budget is not None:
        from .compute import parse_budget

        try:
            parse_budget(args.budget)
        except ValueError as e:
            raise NKError(f"--budget: {e}") from None
        overrides["budget"] = args.budget
    return dataclasses.replace(experiment, **overrides), spec, text


def _estimate(args: argparse.Namespace) -> int:
    from .compute import MemoryBudgetError
    from .compute._runner import ExperimentRunner

    experiment, _, _ = _experiment(args)
    plan = experiment.estimate()
    fix = None
    if not plan.fits:
        import jax

        with jax.enable_x64(experiment.dtype == "float64"):
            try:
                ExperimentRunner(experiment).check_budget()
            except MemoryBudgetError as e:
                fix = str(e)
    if args.json:
        print(json.dumps({**plan.to_json(), "over_budget": fix}))
    else:
        print(
            f"{args.file}: {experiment.dataset.name}, {' + '.join(experiment.compute)}, {experiment.dtype}"
        )
        print(plan.format())
        if fix:
            print(f"over budget: {fix}")
    return 0 if plan.fits else 1


def _run(args: argparse.Namespace) -> int:
    import jax

    experiment, spec, text = _experiment(args)
    primary = jax.process_index() == 0
    job = experiment.job()
    progress = _Progress(enabled=primary and not args.quiet)
    job.subscribe(progress.on_event)
    t0 = time.monotonic()
    try:
        result = job.run_here()
    finally:
        progress.close()
    out = args.out or args.file.with_suffix(".npz")
    metadata = {
        "nkwidgets": _version(),
        "spec": spec.to_json(),
        "spec_text": text,
        "dataset": experiment.dataset.name,
        "data_fingerprint": experiment.dataset.fingerprint(),
        "dtype": experiment.dtype,
        # What block_size = auto chose, if it did: the spec says only "auto".
        "block_size": experiment.chosen_block_size,
        "blocks": result.blocks,
        "seconds": result.seconds,
        "processes": jax.process_count(),
        "devices": jax.device_count(),
    }
    if primary:
        _write_results(out, result, metadata)
    summary = {
        **result.blocks,
        "out": str(out) if primary else None,
        "seconds": round(time.monotonic() - t0, 3),
        "process": jax.process_index(),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        b = result.blocks
        where = f"; wrote {out}" if primary else ""
        print(
            f"computed {b['computed']} of {b['total']} blocks, reused {b['reused']} from cache"
            f"{where} ({summary['seconds']:.1f} s)"
        )
        for name, pred in result.predictions.items():
            accuracy = ", ".join(
                f"t={t:g}: {a:.3f}"
                for t, a in zip(pred["t"], pred["accuracy"], strict=True)
            )
            print(f"{name} test accuracy  {accuracy}")
    return 0


def _write_results(out: Path, result: Any, metadata: dict[str, Any]) -> None:
    """Every kernel and prediction array plus JSON metadata, written atomically."""
    import numpy as np

    arrays: dict[str, Any] = {}
    for name, parts in result.kernels.items():
        for part, value in parts.items():
            arrays[f"kernels/{name}/{part}"] = value
    for name, parts in result.predictions.items():
        for part, value in parts.items():
            arrays[f"predictions/{name}/{part}"] = value
    arrays["metadata"] = np.array(json.dumps(metadata, default=str))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)


def _version() -> str:
    from . import __version__

    return __version__


def _print_error(error: BaseException) -> None:
    message = " ".join(str(error).split())
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + " ..."
    print(f"nk: error: {type(error).__name__}: {message}", file=sys.stderr)


class _Progress:
    """A tqdm bar over blocks on stderr; plain lines where tqdm is missing."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: Any = None
        self.done = 0
        self.total = 0

    def on_event(self, event: Any) -> None:
        if not self.enabled:
            return
        if event.kind == "started":
            self.total = event.data["total"]
            try:
                from tqdm import tqdm
            except ImportError:
                print(
                    f"nk: {self.total} blocks ({event.data['cached']} cached)",
                    file=sys.stderr,
                )
                return
            self.bar = tqdm(
                total=self.total, unit="block", file=sys.stderr, desc="kernels"
            )
        elif event.kind == "progress":
            step = event.data["done"] - self.done
            self.done = event.data["done"]
            if self.bar is not None:
                self.bar.update(step)
            elif self.done == self.total or self.done % max(self.total // 10, 1) == 0:
                print(f"nk: {self.done}/{self.total} blocks", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


if __name__ == "__main__":
    sys.exit(main())
