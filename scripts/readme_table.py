#!/usr/bin/env python
"""The table of the shipped models in README.md and at the top of docs/results.md, read from what ships: each model's evaluation.json (LFW
DevTest, clean and synthetic occlusion, written by scripts/evaluate_reference.py) and its precomputed
analysis (median peak std with its bootstrap std, written by scripts/reference_analyses.py), plus the
dlib port as the peer.

    .venv/bin/python scripts/readme_table.py            # print it
    .venv/bin/python scripts/readme_table.py --write    # ... and write it into README.md and docs/results.md

With --write the table replaces what stands between the `<!-- BEGIN readme_table.py -->` and
`<!-- END readme_table.py -->` markers of both files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
DOCS = (ROOT / "README.md", ROOT / "docs" / "results.md")  # the files that show the table
# what each row trains (the ablation's steps); the peer's training data
ROWS = {
    "base": ("`base`", "identity loss"),
    "base_aug": ("`base_aug`", "+ occluded copies"),
    "sad": ("`sad`", "+ SAD (Eq. 1-2)"),
    "fad": ("`fad`", "+ FAD (Eq. 4-5)"),
    "full": ("`full`", "SAD + FAD, t = 260 (the paper's method)"),
    "dlib_port": ("dlib ResNet (peer, black box)", "~3 M faces from outside LFW"),
}


def _pct(result: dict, key: str, far: str | None = None) -> str:
    """'91.3 ± 1.3': a metric and its std in percent, one decimal."""
    if far is None:
        return f"{100 * result[key]:.1f} ± {100 * result[key + '_std']:.1f}"
    return f"{100 * result[key][far]:.1f} ± {100 * result[key + '_std'][far]:.1f}"


def table_row(name: str, evaluation: dict, analysis: dict) -> str:
    """One row: clean accuracy, TAR@1e-2 and EER, synthetic-occlusion TAR@1e-2 (percent, mean ± std over
    the evaluation's bootstrap), and the median peak std with its bootstrap std (template px)."""
    clean, synthetic = evaluation["conditions"]["clean"], evaluation["conditions"]["synthetic"]
    spread = analysis["metrics"]["bootstrap"]["median_peak_std_pos"]
    label, trains = ROWS[name]
    return (
        f"| {label} | {trains} | {_pct(clean, 'accuracy')} | {_pct(clean, 'tar_at_far', '0.01')} | "
        f"{_pct(clean, 'eer')} | {_pct(synthetic, 'tar_at_far', '0.01')} | "
        f"{analysis['metrics']['median_peak_std_pos']:.2f} ± {spread['std']:.2f} |"
    )


def readme_table(assets: Path = ASSETS) -> str:
    """The markdown table of the five shipped models and the dlib port, from their shipped files."""
    rows = [
        "| variant | trains | View-1 accuracy | TAR@FAR=1e-2 | EER | TAR@FAR=1e-2, synthetic occlusion | "
        "median peak std (px) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ROWS:
        evaluation = (
            assets / "peers" / name / "evaluation.json"
            if name == "dlib_port"
            else assets / "models" / name / "evaluation.json"
        )
        analysis = assets / "analyses" / f"{name}.json"
        rows.append(table_row(name, json.loads(evaluation.read_text()), json.loads(analysis.read_text())))
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="write the table into README.md and docs/results.md")
    args = p.parse_args()
    table = readme_table()
    print(table)
    if args.write:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from results_md import patch_results

        for doc in DOCS:
            patch_results("readme_table.py", table, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
