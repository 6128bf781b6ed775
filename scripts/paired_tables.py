#!/usr/bin/env python
"""The paired comparisons of Results: `full` against `base` and `base_aug`, and the t ablation (`full`
against `full_t130` and `full_t320`), each scored on the same DevTest pairs and resampled together
(`interpface compare`, 100 identity-cluster resamples, clean / synthetic / part:nose).

    .venv/bin/python scripts/paired_tables.py [--ablation-dir runs/export] [--threads 1] [--docs]

Each comparison is kept in results/paired/<a>_vs_<b>.json (tracked, with both models' sha256) and re-run
only when either model's weights changed (--force re-runs); a comparison whose model is missing (the t
ablation not trained on this machine) is skipped and its record, when current, still used; models from
different stems are not compared. Prints the
tables; --docs writes them into docs/results.md instead, between its `<!-- BEGIN paired_tables.py -->`
and `<!-- BEGIN paired_tables.py t ablation -->` markers. 9-11 min per comparison at one thread.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT / "results" / "paired"
CONDITIONS = ("clean", "synthetic", "part:nose")
MODELS = ROOT / "assets" / "models"
# (A, B): A and the main comparisons' B in assets/models, the t ablation's B in --ablation-dir
MAIN = (("full", "base"), ("full", "base_aug"))
ABLATION = (("full", "full_t130"), ("full", "full_t320"))


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _sha256(model_dir: Path) -> str | None:
    """The model's weights' hash (None when the model is not here)."""
    return _read(model_dir / "config.json").get("sha256")


def _relative(path: Path) -> str:
    return str(path.resolve().relative_to(ROOT)) if path.resolve().is_relative_to(ROOT) else str(path)


def _record(a: str, b: str) -> Path:
    return RECORDS / f"{a}_vs_{b}.json"


def compare(a: Path, b: Path, record: Path, threads: int, force: bool) -> dict | None:
    """The record of A against B: re-used while both models' weights are the same, else measured anew
    with `interpface compare`; None when a model is missing and no current record exists, or when the two
    were trained from different stems (their training.json's init_sha256)."""
    shas = {"a": _sha256(a), "b": _sha256(b)}
    old = _read(record) or None
    # a missing model (None) is taken as the recorded one; a present one must be the same weights
    if old is not None and all(sha is None or (old.get("sha256") or {}).get(k) == sha for k, sha in shas.items()):
        if not force or None in shas.values():
            return old
    if None in shas.values():
        return None
    stems = {_read(m / "training.json").get("init_sha256") for m in (a, b)}
    if len(stems) > 1:
        print(f"{a.name} vs {b.name}: trained from different stems, not compared")
        return None
    record.parent.mkdir(parents=True, exist_ok=True)
    cmd = [str(ROOT / ".venv" / "bin" / "interpface"), "compare", "--checkpoint", str(a), "--against", str(b)]
    cmd += ["--condition", ",".join(CONDITIONS), "--bootstrap", "100", "--threads", str(threads)]
    cmd += ["--quiet", "--json", str(record)]
    subprocess.run(cmd, check=True)
    payload = json.loads(record.read_text())
    payload.update(sha256=shas, checkpoint=_relative(a), against=_relative(b))  # no machine's folders in the record
    record.write_text(json.dumps(payload, indent=1) + "\n")
    return payload


def _cell(entry: dict | None, both: bool) -> str:
    """'63.5 vs 62.5: +1.0 ± 2.4 (z +0.4)' (both=True) or '+1.0 ± 2.4 (z +0.4)', in percent."""
    if entry is None:
        return "—"
    diff = f"{100 * entry['diff']:+.1f} ± {100 * entry['std']:.1f} (z {entry['z']:+.1f})"
    return f"{100 * entry['a']:.1f} vs {100 * entry['b']:.1f}: {diff}" if both else diff


def main_table(records: dict[tuple[str, str], dict]) -> str:
    lines = [
        "| A vs B | condition | TAR@1e-2 | EER | AUC z | accuracy folds A wins |",
        "|---|---|---|---|---|---|",
    ]
    for (a, b), rec in records.items():
        for r in rec["results"]:
            auc = r["auc"]["z"] if r.get("auc") else float("nan")
            acc = r["accuracy"]
            lines.append(
                f"| `{a}` vs `{b}` | {r['condition']} | {_cell(r['tar_at_far'].get('0.01'), True)} | "
                f"{_cell(r['eer'], True)} | {auc:+.1f} | {acc['folds_a_better']}/{acc['n_folds']} |"
            )
    return "\n".join(lines)


def ablation_table(records: dict[tuple[str, str], dict]) -> str:
    if not records:  # the docs say so rather than show an empty table
        return "*Not measured for the shipped `full`: `./scripts/reference_results.sh` trains and compares the t ablation.*"
    lines = ["| t = 260 vs | condition | TAR@1e-2 | EER | AUC z |", "|---|---|---|---|---|"]
    for (_, b), rec in records.items():
        t = b.rsplit("_t", 1)[1]
        for r in rec["results"]:
            auc = r["auc"]["z"] if r.get("auc") else float("nan")
            lines.append(
                f"| t = {t} | {r['condition']} | {_cell(r['tar_at_far'].get('0.01'), False)} | "
                f"{_cell(r['eer'], False)} | {auc:+.1f} |"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ablation-dir", type=Path, default=ROOT / "runs" / "export", help="where full_t130/t320 are")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--force", action="store_true", help="re-run every comparison")
    p.add_argument("--docs", action="store_true", help="write the tables into docs/results.md instead of printing")
    p.add_argument(
        "--allow-missing", action="store_true", help="with --docs, write the tables even when a comparison is missing"
    )
    args = p.parse_args(argv)
    done = {}
    for group, where in ((MAIN, MODELS), (ABLATION, args.ablation_dir)):
        for a, b in group:
            rec = compare(MODELS / a, where / b, _record(a, b), args.threads, args.force)
            if rec is None:
                print(f"{a} vs {b}: no current record and nothing to measure it with, left out")
            else:
                done[(a, b)] = rec
    if args.docs and len(done) < len(MAIN) + len(ABLATION) and not args.allow_missing:
        print("a comparison is missing: its rows would leave the docs (--allow-missing writes them anyway)")
        return 2
    tables = {
        "paired_tables.py": main_table({k: v for k, v in done.items() if k in MAIN}),
        "paired_tables.py t ablation": ablation_table({k: v for k, v in done.items() if k in ABLATION}),
    }
    for block, table in tables.items():
        if args.docs:
            sys.path.insert(0, str(ROOT / "scripts"))
            from results_md import patch_results

            patch_results(block, table)
        else:
            print(table, end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
