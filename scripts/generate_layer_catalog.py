"""Write src/editor/layer_catalog.json: the %%nk vocabulary for the JupyterLab editor.

The editor highlights and completes layer names and their argument names from
this file; it is generated from the Python layer registry
(``nkwidgets.spec.catalog()``) so the two agree. Run it after adding or changing
a layer in ``nkwidgets.stax``; ``tests/test_layer_catalog.py`` fails while the
committed file is stale.

    python scripts/generate_layer_catalog.py          # rewrite the file
    python scripts/generate_layer_catalog.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CATALOG_PATH = (
    Path(__file__).resolve().parents[1] / "src" / "editor" / "layer_catalog.json"
)


def render() -> str:
    """The file's exact contents, from the layer registry as it is now."""
    from nkwidgets.spec import catalog

    return json.dumps(catalog(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--check", action="store_true", help="compare only; exit 1 if stale"
    )
    args = parser.parse_args(argv)
    text = render()
    current = (
        CATALOG_PATH.read_text(encoding="utf-8") if CATALOG_PATH.exists() else None
    )
    if args.check:
        if current != text:
            print(
                f"{CATALOG_PATH} is stale; run: python scripts/generate_layer_catalog.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != text:
        CATALOG_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {CATALOG_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
