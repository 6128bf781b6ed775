#!/usr/bin/env python
"""Method x model tables of `interpface faithfulness` runs (out/faithfulness/<model>.json) for docs/results.md.

    for v in base base_aug sad fad full; do
        interpface faithfulness --checkpoint assets/models/$v --pairs 10 --rise-masks 256 --json out/faithfulness/$v.json
    done
    interpface faithfulness --checkpoint dlib-resnet --name dlib_port --pairs 10 --rise-masks 256 --json out/faithfulness/dlib_port.json
    .venv/bin/python scripts/faithfulness_tables.py [--dir out/faithfulness] [--baseline black] [--docs]

Prints (and writes <dir>/tables.md): similarity deletion AUC (genuine pairs; lower = more faithful),
similarity insertion AUC (higher = more faithful) and ms per map, each method x model, then per
model the representation map's gap to the best perturbation method's deletion AUC (the target: within
10% of it), and every curve of one model (--detail, default full). --docs also writes them into
docs/results.md, between its `<!-- BEGIN faithfulness_tables.py -->` / `<!-- END ... -->` markers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ORDER = ("base", "base_aug", "sad", "fad", "full", "dlib_port")
METHODS = ("representation", "occlusion", "integrated_gradients", "gradcam", "rise", "random")
PERTURBATION = ("occlusion", "integrated_gradients", "rise")


def cell(row: dict | None, key: str) -> str:
    if row is None:
        return "–"
    sd = row.get(key + "_std")
    return f"{row[key]:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


DETAIL = (
    ("black_similarity_deletion_auc", "sim. deletion AUC (black) ↓"),
    ("black_similarity_insertion_auc", "sim. insertion AUC (black) ↑"),
    ("black_dissimilarity_deletion_auc", "dis. deletion AUC (black) ↑"),
    ("black_dissimilarity_insertion_auc", "dis. insertion AUC (black) ↓"),
    ("blur_similarity_deletion_auc", "sim. deletion AUC (blur) ↓"),
)


def detail_table(run: dict) -> str:
    """Every curve of one model's run: similarity and dissimilarity maps, both baselines, ms per map."""
    n = run["rows"][0]
    lines = [
        f"**`{run['model']}`, every curve** ({n['n_genuine']} genuine + {n['n_impostor']} impostor pairs; "
        f"{run.get('seconds', 0):.0f} s)",
        "",
        "| method | " + " | ".join(title for _, title in DETAIL) + " | ms / map |",
        "|---|" + "---|" * (len(DETAIL) + 1),
    ]
    for r in run["rows"]:
        lines.append(
            f"| {r['method']} | "
            + " | ".join(cell(r, key) for key, _ in DETAIL)
            + f" | {1000 * r['seconds_per_map']:.0f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="out/faithfulness")
    ap.add_argument("--baseline", default="black", choices=("black", "blur"))
    ap.add_argument("--detail", default="full", help="the model whose every curve is tabulated")
    ap.add_argument("--docs", action="store_true", help="also write the tables into docs/results.md")
    args = ap.parse_args()
    d = Path(args.dir)
    runs = {n: json.loads((d / f"{n}.json").read_text()) for n in ORDER if (d / f"{n}.json").is_file()}
    if not runs:
        raise SystemExit(f"no faithfulness runs in {d}")
    rows = {n: {r["method"]: r for r in run["rows"]} for n, run in runs.items()}
    b = args.baseline
    parts = []
    for title, key in (
        (
            f"similarity deletion AUC, {b} baseline (genuine pairs; lower = more faithful)",
            f"{b}_similarity_deletion_auc",
        ),
        (
            f"similarity insertion AUC, {b} baseline (genuine pairs; higher = more faithful)",
            f"{b}_similarity_insertion_auc",
        ),
    ):
        lines = [f"**{title}**", "", "| method | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
        for m in METHODS:
            lines.append(f"| {m} | " + " | ".join(cell(rows[n].get(m), key) for n in runs) + " |")
        parts.append("\n".join(lines))
    lines = [
        "**ms per map** (1 thread, machine shared with training)",
        "",
        "| method | " + " | ".join(runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for m in METHODS:
        lines.append(
            f"| {m} | "
            + " | ".join(f"{1000 * rows[n][m]['seconds_per_map']:.0f}" if m in rows[n] else "–" for n in runs)
            + " |"
        )
    parts.append("\n".join(lines))
    lines = [
        f"**Representation map vs the best perturbation method (similarity deletion AUC, {b})**",
        "",
        "| model | representation | best perturbation | gap | within 10%? |",
        "|---|---|---|---|---|",
    ]
    key = f"{b}_similarity_deletion_auc"
    for n in runs:
        if "representation" not in rows[n]:
            continue
        rep = rows[n]["representation"][key]
        best_m = min((m for m in PERTURBATION if m in rows[n]), key=lambda m: rows[n][m][key])
        best = rows[n][best_m][key]
        gap = rep - best
        ok = gap <= 0.1 * abs(best)
        lines.append(f"| {n} | {rep:.3f} | {best:.3f} ({best_m}) | {gap:+.3f} | {'yes' if ok else 'no'} |")
    parts.append("\n".join(lines))
    if args.detail in runs:
        parts.append(detail_table(runs[args.detail]))
    text = "\n\n".join(parts) + "\n"
    (d / "tables.md").write_text(text)
    print(text)
    if args.docs:
        from results_md import patch_results

        patch_results("faithfulness_tables.py", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
