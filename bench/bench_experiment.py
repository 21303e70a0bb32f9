"""An Experiment's kernels at ``block_size="auto"`` against fixed block sizes.

Workload: the CNN-GAP of ``bench_conv.py`` (two 3x3 convolutions of 32
channels, ReLU, global average pooling, Dense(10)), NNGP and NTK of sklearn
digits as 8x8x1 images, ``train`` x ``train`` and ``test`` x ``train``,
float32, no predictions. The reference is the old default, 200-row blocks;
every row runs the whole Experiment from a fresh object, so its time includes
choosing the size and compiling. Run from the repo root::

    .venv/bin/python bench/bench_experiment.py            # train 400, test 100
    .venv/bin/python bench/bench_experiment.py --train 1000 --sizes auto 200

Prints a table and writes ``bench/results/experiment.json``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ARCH = (
    "serial(Conv(32, (3, 3), padding='SAME'), Relu(), "
    "Conv(32, (3, 3), padding='SAME'), Relu(), GlobalAvgPool(), Dense(10))"
)
REFERENCE = 200


def _run(train: int, test: int, block_size: int | str) -> dict:
    from nkwidgets.spec import parse

    spec = parse(
        f"net = {ARCH}\ndata = digits(train={train}, test={test}, images=True)\n"
        f"compute = nngp, ntk\npredict = None\nblock_size = {block_size}\n"
    )
    t0 = time.perf_counter()
    experiment = spec.to_experiment()
    chosen = experiment.chosen_block_size
    result = experiment.job().run_here()
    seconds = time.perf_counter() - t0
    return {
        "block_size": block_size,
        "chosen": chosen,
        "blocks": result.blocks["total"],
        "seconds": seconds,
        "ntk": result.kernels["ntk"]["train_train"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument(
        "--sizes", nargs="+", default=["auto", str(REFERENCE), "50", "10"]
    )
    args = parser.parse_args()
    sizes = [s if s == "auto" else int(s) for s in args.sizes]
    if REFERENCE not in sizes:
        sizes.append(REFERENCE)
    # JAX's start-up and the dataset's first load must not be billed to the
    # first row.
    _run(16, 4, 8)
    rows = [_run(args.train, args.test, s) for s in sizes]
    reference = next(r for r in rows if r["block_size"] == REFERENCE)
    print(f"CNN-GAP NNGP+NTK, digits {args.train} train / {args.test} test, float32")
    print("| block_size | chosen | blocks | seconds | time vs 200 | max rel diff |")
    print("|-----------:|-------:|-------:|--------:|------------:|-------------:|")
    records = []
    for r in rows:
        scale = np.abs(reference["ntk"]).max()
        diff = float(np.abs(r["ntk"] - reference["ntk"]).max() / scale)
        ratio = r["seconds"] / reference["seconds"]
        print(
            f"| {r['block_size']!s:>10} | {r['chosen']:>6} | {r['blocks']:>6} | "
            f"{r['seconds']:7.2f} | {ratio:11.3f} | {diff:12.1e} |"
        )
        records.append(
            {k: v for k, v in r.items() if k != "ntk"}
            | {"time_vs_200": ratio, "max_rel_diff": diff}
        )
    out = HERE / "results" / "experiment.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": datetime.datetime.now(datetime.UTC).isoformat(),
                "machine": platform.processor() or platform.machine(),
                "train": args.train,
                "test": args.test,
                "rows": records,
            },
            indent=1,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
