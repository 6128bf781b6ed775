#!/usr/bin/env python
"""Evaluate the reference models (assets/models/<variant>/) and the dlib peer on LFW DevTest,
clean / synthetic / natural occlusion, and write the tables of docs/results.md (the paper's Tables 2-5 form).

    .venv/bin/python scripts/evaluate_reference.py [--variants base,base_aug,sad,fad,full] [--peer] [--port]
                                                   [--realistic] [--out results/evaluation] [--threads N] [--docs]

Keeps each model's results in <out>/<variant>.json (the four conditions' result dicts, with the model's
sha256; the list of failed faces reduced to its count): the tracked record the tables are built from, so
that the peers (which never change) and the t ablation (not shipped) are not re-run on every machine.
Resumable: a record is re-used while its model's weights are the same (--force re-runs). --realistic
also evaluates the realistic occluders (one seeded mask / sunglasses / scarf / hand per probe) into
<out>/<variant>_realistic.json (~2 min per model) and adds their table. Prints the tables; --docs writes
them into docs/results.md instead, between its `<!-- BEGIN evaluate_reference.py -->` / `<!-- END ... -->`
markers. Cost on the 2-core dev machine: ~2-3 min per cpu-config model, ~9 min for the dlib peer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMES = {
    "base": "Base CNN",
    "base_aug": "Base CNN aug.",
    "sad": "Ours (SAD only)",
    "fad": "Ours (FAD only)",
    "full": "Ours (t = 260)",
    "full_t130": "Ours, t = 130",
    "full_t320": "Ours, t = 320",
    "dlib": "dlib ResNet v1 (peer; ~3 M outside faces)",
    "dlib_port": "dlib ResNet v1, PyTorch port (peer; ~3 M outside faces)",
}
PEERS = ("dlib", "dlib_port")
CONDITIONS = ("clean", "synthetic", "natural", "part:nose")
REALISTIC = ("mask", "sunglasses", "scarf", "hand")
TITLES = {
    "clean": "LFW DevTest, clean (cf. paper Table 3)",
    "synthetic": "LFW DevTest, synthetic occlusion of the probe (cf. paper Table 4)",
    "natural": "LFW DevTest, natural occlusion: eyeglasses / sunglasses probes (cf. paper Table 5)",
    "part:nose": "LFW DevTest, every probe occluded on the nose (template region, warped)",
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variants", default="base,base_aug,sad,fad,full,full_t130,full_t320")
    p.add_argument("--models-dir", default=str(ROOT / "assets" / "models"))
    p.add_argument("--peer", action="store_true", help="also evaluate dlib's ResNet descriptor (dlib's C++; slow)")
    p.add_argument("--port", action="store_true", help="also evaluate the same network through its PyTorch port")
    p.add_argument("--out", default=str(ROOT / "results" / "evaluation"), help="the results records (tracked)")
    p.add_argument("--bootstrap", type=int, default=50)
    p.add_argument("--threads", type=int)
    p.add_argument("--realistic", action="store_true", help="also the realistic occluders: " + ", ".join(REALISTIC))
    p.add_argument("--force", action="store_true")
    p.add_argument("--no-ship", action="store_true", help="do not write assets/models/<variant>/evaluation.json")
    p.add_argument(
        "--docs",
        action="store_true",
        help="write the tables into docs/results.md (between its evaluate_reference.py markers) instead of printing",
    )
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="with --docs, write the tables even when a model's record is missing or stale (its rows go)",
    )
    args = p.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from interpface.evaluation.protocols import Evaluator, format_table
    from interpface.models.checkpoint import read_checkpoint_info
    from interpface.models.registry import resolve_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    todo = [v for v in args.variants.split(",") if (Path(args.models_dir) / v / "config.json").is_file()]
    missing = [v for v in args.variants.split(",") if v not in todo]
    if missing:
        print(f"not trained yet (skipped): {', '.join(missing)}")
    if args.peer:
        todo.append("dlib")
    if args.port:
        todo.append("dlib_port")
    for variant in todo:
        path = out / f"{variant}.json"
        realistic_path = out / f"{variant}_realistic.json"
        weights = None if variant in PEERS else read_checkpoint_info(Path(args.models_dir) / variant)["sha256"]
        conditions = [] if _current(path, weights, args.bootstrap) and not args.force else list(CONDITIONS)
        realistic = (
            []
            if not args.realistic or (_current(realistic_path, weights, args.bootstrap) and not args.force)
            else list(REALISTIC)
        )
        if not conditions and not realistic:
            print(f"{variant}: already evaluated ({path})")
            continue
        t0 = time.perf_counter()
        if variant == "dlib":
            from interpface.evaluation.peers import DlibResNetEmbedder

            embedder = DlibResNetEmbedder()
        elif variant == "dlib_port":
            from interpface.evaluation.peers import DlibPortEmbedder

            embedder = DlibPortEmbedder()
        else:
            embedder = resolve_model(Path(args.models_dir) / variant)
        ev = Evaluator(embedder, "lfw-devtest", n_bootstrap=args.bootstrap, progress=True)
        if variant not in PEERS:
            ev.embedder.name = variant
        for where, conds in ((path, conditions), (realistic_path, realistic)):
            if conds:
                results = {c: ev.run(c) for c in conds}
                for r in results.values():  # the record keeps how many faces failed, not which
                    r["failures"] = len(r["failures"]) if isinstance(r.get("failures"), list) else r.get("failures")
                record = {
                    "variant": variant,
                    "sha256": weights,
                    "init_sha256": _started_from(Path(args.models_dir) / variant),
                    "recipe": _recipe(Path(args.models_dir) / variant),
                    "bootstrap": args.bootstrap,
                    "seconds": round(time.perf_counter() - t0, 1),
                    "timings": ev.timings,
                    "results": results,
                }
                tmp = where.with_name(f".{where.name}.tmp")  # a killed run leaves no half-written record
                tmp.write_text(json.dumps(record, indent=1, default=float) + "\n")
                os.replace(tmp, where)
                print(format_table(list(results.values())))
    if not args.no_ship:
        for variant in todo:
            if (out / f"{variant}.json").is_file() and variant != "dlib":
                # the port is the dashboard's black-box model: its evaluation ships beside ours
                where = (
                    ROOT / "assets" / "peers" / "dlib_port"
                    if variant == "dlib_port"
                    else Path(args.models_dir) / variant
                )
                where.mkdir(parents=True, exist_ok=True)
                ship(where, json.loads((out / f"{variant}.json").read_text())["results"])

    parts, missing = tables(out, Path(args.models_dir))
    if missing and args.docs and not args.allow_missing:
        print(
            f"no current record for {', '.join(missing)} in {out}: evaluate them (see --help), or pass "
            "--allow-missing to write the tables without their rows",
            file=sys.stderr,
        )
        return 2
    if args.docs:
        from results_md import patch_results

        patch_results("evaluate_reference.py", "\n\n".join(parts))
    else:
        print("\n\n".join(parts))
    return 0


def _record(path: Path) -> dict:
    """A record's dict; {} when it is missing or unreadable (then it is re-made)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _current(path: Path, weights: str | None, bootstrap: int) -> bool:
    """A record exists for these weights (a peer's: for its name) and this many bootstrap resamples."""
    record = _record(path)
    return bool(record) and record.get("sha256") == weights and record.get("bootstrap") == bootstrap


def _started_from(model_dir: Path) -> str | None:
    """The hash of the weights a model's training started from (its training.json), None for a peer."""
    training = model_dir / "training.json"
    return json.loads(training.read_text()).get("init_sha256") if training.is_file() else None


# the keys in which the t ablation's runs may differ from full's: what names and places them, and t itself
_NOT_RECIPE = ("name", "fad_t", "out_dir", "init_from", "data_root", "cache_dir", "threads", "device")


def _recipe(model_dir: Path) -> str | None:
    """A digest of the training config a model was trained with, less _NOT_RECIPE (None for a peer)."""
    config = _record(model_dir / "config.json").get("training")
    if not config:
        return None
    kept = {k: v for k, v in config.items() if k not in _NOT_RECIPE}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def tables(out: Path, models_dir: Path | None = None) -> tuple[list[str], list[str]]:
    """The Markdown tables of Results from the records in `out`, and the records they lack.

    One table per condition (the five variants and the peers), the t ablation (its runs from full's stem
    only) and the realistic occluders. A variant's record of other weights than models_dir/<variant>
    holds now is stale and left out, as is a t-ablation run from another stem than full's (a record with
    no stem recorded counts as unknown, the same as another)."""
    from interpface.evaluation.protocols import paper_table

    def shipped(v: str) -> str | None:
        config = models_dir / v / "config.json" if models_dir is not None else None
        return _record(config).get("sha256") if config is not None and config.is_file() else None

    done = {}
    for v in NAMES:
        record = _record(out / f"{v}.json")
        if record and (shipped(v) is None or record.get("sha256") == shipped(v)):
            done[v] = record["results"]
    parts = []
    main_rows = [v for v in ("base", "base_aug", "sad", "fad", "full", "dlib", "dlib_port") if v in done]
    for cond in CONDITIONS:
        rows = {NAMES[v]: done[v][cond] for v in main_rows if cond in done[v]}
        if rows:
            parts.append(paper_table(rows, TITLES[cond]))

    # the t ablation compares runs from one stem and one recipe: a record of full_t130 trained from an older
    # stem, or with other losses than full's now (or recorded without its recipe), is left out
    records = {v: _record(out / f"{v}.json") for v in ("full_t130", "full", "full_t320") if v in done}
    stem_of = {v: (r.get("init_sha256"), r.get("recipe")) for v, r in records.items()}
    ablation = [v for v in stem_of if stem_of[v] == stem_of.get("full") and None not in stem_of[v]]
    if set(stem_of) - set(ablation):
        print(
            f"t ablation: {', '.join(sorted(set(stem_of) - set(ablation)))} left out "
            "(trained from another stem or with another recipe than full)"
        )
    if ablation:
        lines = [
            "**t ablation (cf. paper Table 2): TAR@FAR=0.01 / Rank-1 per condition, and pair accuracy / EER**",
            "",
            "| t | clean TAR@.01 | clean Rank-1 | synthetic TAR@.01 | synthetic Rank-1 | natural TAR@.01 "
            "| natural Rank-1 | clean accuracy | synthetic accuracy | synthetic EER |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        from interpface.evaluation.protocols import plus_minus

        for v in ablation:
            cells = []
            for cond in ("clean", "synthetic", "natural"):
                r = done[v][cond]
                cells += [
                    plus_minus(r["tar_at_far"]["0.01"], (r.get("tar_at_far_std") or {}).get("0.01")),
                    plus_minus(r["rank1"], r.get("rank1_std")),
                ]
            clean, synthetic = done[v]["clean"], done[v]["synthetic"]
            cells += [
                plus_minus(clean["accuracy"], clean.get("accuracy_std")),
                plus_minus(synthetic["accuracy"], synthetic.get("accuracy_std")),
                plus_minus(synthetic["eer"], synthetic.get("eer_std")),
            ]
            lines.append(f"| {NAMES[v]} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    real = {}
    for v in main_rows:
        record = _record(out / f"{v}_realistic.json")
        if record and record.get("sha256") == _record(out / f"{v}.json").get("sha256"):  # else stale
            real[v] = record["results"]
    if real:
        parts.append(realistic_table(real))
    main = ("base", "base_aug", "sad", "fad", "full", "dlib", "dlib_port")
    missing = [v for v in main if v not in done] + [v for v in ("full_t130", "full_t320") if v not in ablation]
    missing += [f"{v} (realistic)" for v in main if v in done and v not in real]
    return parts, missing


def realistic_table(results_by_variant: dict[str, dict]) -> str:
    """Markdown: one row per model and realistic occluder (percent, mean ± std)."""
    from interpface.evaluation.protocols import plus_minus

    lines = [
        "**LFW DevTest, realistic occluders on every probe**",
        "",
        "| Method | condition | TAR@FAR=0.01 | TAR@FAR=0.001 | Rank-1 | EER | accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for v, results in results_by_variant.items():
        for cond, r in results.items():
            tar, tstd = r.get("tar_at_far", {}), r.get("tar_at_far_std") or {}
            lines.append(
                f"| {NAMES[v]} | {cond} | {plus_minus(tar.get('0.01'), tstd.get('0.01'))} "
                f"| {plus_minus(tar.get('0.001'), tstd.get('0.001'))} | {plus_minus(r.get('rank1'), r.get('rank1_std'))} "
                f"| {plus_minus(r.get('eer'), r.get('eer_std'))} | {plus_minus(r.get('accuracy'), r.get('accuracy_std'))} |"
            )
    return "\n".join(lines)


def ship(model_dir: Path, results: dict) -> None:
    """assets/models/<variant>/evaluation.json (the port: assets/peers/dlib_port/): what the dashboard shows (tables, ROC points, the
    score thresholds at each FAR from the clean DevTest all-pairs impostor scores)."""
    keep = (
        "accuracy",
        "accuracy_std",
        "auc",
        "auc_std",
        "eer",
        "eer_std",
        "tar_at_far",
        "tar_at_far_std",
        "threshold_at_far",
        "rank1",
        "rank1_std",
        "rank5",
        "rank5_std",
        "n_pairs",
        "roc",
        "failures",
    )
    conditions = {c: {k: r.get(k) for k in keep} for c, r in results.items()}
    for r in conditions.values():
        r["failures"] = len(r["failures"]) if isinstance(r.get("failures"), list) else r.get("failures")
    clean = results.get("clean", {})
    payload = {
        "protocol": "lfw-devtest",
        "conditions": conditions,
        "thresholds": {k: v for k, v in (clean.get("threshold_at_far") or {}).items() if v is not None},
        "table": [
            {
                "condition": c,
                "accuracy %": _pct(r.get("accuracy")),
                "AUC": r.get("auc"),
                "EER %": _pct(r.get("eer")),
                "TAR@1e-2 %": _pct((r.get("tar_at_far") or {}).get("0.01")),
                "Rank-1 %": _pct(r.get("rank1")),
            }
            for c, r in conditions.items()
        ],
    }
    (model_dir / "evaluation.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")
    print(f"shipped {model_dir / 'evaluation.json'}")


def _pct(v):
    return None if v is None else round(100 * float(v), 1)


if __name__ == "__main__":
    raise SystemExit(main())
