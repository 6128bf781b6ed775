"""Write a generated block of tables into a markdown file (docs/results.md by default), between the
block's markers.

    <!-- BEGIN evaluate_reference.py -->
    ... replaced on every run with --docs ...
    <!-- END evaluate_reference.py -->

Used by scripts/evaluate_reference.py, scripts/reference_analyses.py, scripts/faithfulness_tables.py and
scripts/paired_tables.py (their --docs flag) and scripts/readme_table.py (README.md and docs/results.md);
the text around the markers (the readings) is left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

RESULTS_MD = Path(__file__).resolve().parent.parent / "docs" / "results.md"


def patch_results(block: str, text: str, path: Path = RESULTS_MD) -> Path:
    """Replace what stands between ``<!-- BEGIN block -->`` and ``<!-- END block -->`` in `path`."""
    begin, end = f"<!-- BEGIN {block} -->", f"<!-- END {block} -->"
    doc = path.read_text()
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{path}: no {begin} ... {end} markers to write between")
    new = doc[: i + len(begin)] + "\n" + text.strip("\n") + "\n" + doc[j:]
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(new)
    os.replace(tmp, path)
    print(f"tables -> {path} ({block})")
    return path
