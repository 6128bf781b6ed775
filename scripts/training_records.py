#!/usr/bin/env python
"""The training records of the reference models, as Markdown tables, from each export's training.json and
config.json: what it started from, its steps, images per step, final weighted loss terms, training
accuracy on the last batch, and wall time.

    .venv/bin/python scripts/training_records.py [--docs]
    .venv/bin/python scripts/training_records.py --models-dir runs/export --names full_t130,full_t320 \\
        --block "training_records.py t ablation" --docs

Without --docs it prints the table. --docs writes it into docs/reproducing.md instead, between the block's
`<!-- BEGIN <block> -->` / `<!-- END <block> -->` markers (default block: "training_records.py", the
shipped models: the patient stem and the five variants).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from training.trainer import LOG_FIELDS  # noqa: E402  (the checkout's trainer, as run by train_reference.sh)

SHIPPED = ("stem_patient", "base", "base_aug", "sad", "fad", "full")
DOC = ROOT / "docs" / "reproducing.md"
HEADER = (
    "| model | init | steps | images/step | final loss (weighted terms) | train accuracy (last batch) | duration |\n"
    "|---|---|---|---|---|---|---|"
)
# the loss terms a training.json's "final" may hold, in the order of the trainer's log
TERMS = tuple(f for f in LOG_FIELDS if f not in ("step", "epoch", "loss", "accuracy", "lr", "images_per_s"))


def _init(training: dict, config: dict) -> str:
    """Where the run started, and what it changed there (Psi rescaled, classifier kept, occluders, SAD's
    filter term when it is not Eq. 1 at the paper's weight)."""
    start = training.get("init_from")
    if not start:
        return "scratch"
    parts = [Path(start).name]
    if config.get("psi_init_norm") or config.get("keep_classifier"):
        kept = [
            s
            for s, on in (
                ("Psi rescaled", config.get("psi_init_norm")),
                ("classifier kept", config.get("keep_classifier")),
            )
            if on
        ]
        parts[0] += f" ({', '.join(kept)})"
    if config.get("occlusion"):
        w, h = config.get("occluder_size", [32, 12])
        high = config.get("occluder_height_max")
        parts.append(f"occluders {w:g} x {h:g}-{high:g} px" if high else f"occluders {w:g} x {h:g} px")
    w_filter = float(config.get("w_sad_filter", 0))
    if w_filter and config.get("sad_filter_form") == "taps":
        parts.append(f"taps within each filter x{w_filter:g}")
    elif w_filter and w_filter != 1.0:
        parts.append(f"Eq. 1 x{w_filter:g}")
    return "; ".join(parts)


def record_row(model_dir: Path) -> str:
    """One table row for an export folder (training.json + config.json)."""
    training = json.loads((model_dir / "training.json").read_text())
    config = json.loads((model_dir / "config.json").read_text()).get("training") or {}
    final = training["final"]
    terms = ", ".join(f"{t} {final[t]:.3f}" for t in TERMS if final.get(t))
    images = config.get("batch_size", 64) * (2 if config.get("occlusion") else 1)
    minutes = training["train_seconds"] / 60
    rate = training["steps"] * images / training["train_seconds"]
    return (
        f"| {training['name']} | {_init(training, config)} | {training['steps']} | {images} | "
        f"{final['loss']:.3f} ({terms}) | {final['accuracy']:.2f} | {minutes:.1f} min ({rate:.0f} img/s) |"
    )


def records_table(models_dir: Path, names) -> str:
    """The rows of `names`, then their total wall time (the recipe's training time on this machine)."""
    seconds = sum(json.loads((models_dir / n / "training.json").read_text())["train_seconds"] for n in names)
    total = f"| total | | | | | | {seconds / 3600:.2f} h |"
    return "\n".join([HEADER, *(record_row(models_dir / n) for n in names), total])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", type=Path, default=ROOT / "assets" / "models")
    p.add_argument("--names", default=",".join(SHIPPED), help="comma-separated export folders")
    p.add_argument("--block", default="training_records.py", help="the docs' marker block to write")
    p.add_argument("--docs", action="store_true", help="write the table into docs/reproducing.md")
    args = p.parse_args(argv)
    names = [n for n in args.names.split(",") if n]
    missing = [
        n for n in names if not all((args.models_dir / n / f).is_file() for f in ("training.json", "config.json"))
    ]
    if missing:
        print(f"no training.json + config.json for {', '.join(missing)} in {args.models_dir}", file=sys.stderr)
        return 2
    try:
        table = records_table(args.models_dir, names)
    except (ValueError, KeyError, TypeError, AttributeError) as e:  # malformed JSON, or no final losses
        print(f"a training record in {args.models_dir} is incomplete: {e!r}", file=sys.stderr)
        return 2
    if args.docs:
        sys.path.insert(0, str(ROOT / "scripts"))
        from results_md import patch_results

        patch_results(args.block, table, DOC)
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
