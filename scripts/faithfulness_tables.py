#!/usr/bin/env python
"""Method x model tables of the trust runs (scripts/trust_runs.sh) for docs/results.md.

    ./scripts/trust_runs.sh            # runs every model, then this script with --docs
    .venv/bin/python scripts/faithfulness_tables.py [--dir results/trust] [--docs [--allow-missing]]

Reads the tracked records <dir>/<model>.faithfulness.json (`interpface faithfulness`), <model>.sanity.json
(`interpface sanity`) and <model>.trust.json (`interpface trust`) and prints: the trust verdicts, our
protocol (cosine deletion / insertion AUC, black baseline), the field's protocol (accuracy at the clean
EER threshold), the patch swap, the sanity checks, the time per map, and the representation map with and
without FGGB's weighting. A reference model's records count only while <model>.weights holds the sha256
of its shipped weights (assets/models/<model>/config.json). --docs also writes the tables into
docs/results.md, between its `<!-- BEGIN faithfulness_tables.py -->` / `<!-- END ... -->` markers, and
refuses while a model's records are missing or stale, unless --allow-missing (their columns go).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ORDER = ("base", "base_aug", "sad", "fad", "full", "dlib_port", "dlib_port_onnx")
METHODS = (
    "representation",
    "representation_fggb",
    "occlusion",
    "integrated_gradients",
    "gradcam",
    "rise",
    "fggb",
    "xssab",
    "corrrise",
    "random",
)
ICON = {"better than chance": "✅", "not better than chance": "⚠️", "worse than chance": "⛔", "the floor": "🎲"}


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _stale(d: Path, name: str, models_dir: Path) -> bool:
    """A reference model retrained since its trust run (the peers never change)."""
    config = models_dir / name / "config.json"
    if not config.is_file():
        return False
    measured = d / f"{name}.weights"
    return not measured.is_file() or measured.read_text().strip() != json.loads(config.read_text())["sha256"]


def current_runs(d: Path, models_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """The faithfulness records in `d` that measured the weights each model has now, in table order, and
    a note for each model left out (no run, or retrained since)."""
    faith, left_out = {}, []
    for n in ORDER:
        run = _read(d / f"{n}.faithfulness.json")
        if run is None:
            left_out.append(f"{n} (no run)")
        elif _stale(d, n, models_dir):
            left_out.append(f"{n} (retrained since its run)")
        else:
            faith[n] = run
    return faith, left_out


def _table(title: str, runs, cell) -> str:
    lines = [f"**{title}**", "", "| method | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for m in METHODS:
        cells = [cell(n, m) for n in runs]
        if any(c != "–" for c in cells):
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="results/trust", help="the trust runs' records (tracked)")
    ap.add_argument("--models-dir", default="assets/models", help="the shipped models the records must match")
    ap.add_argument("--docs", action="store_true", help="also write the tables into docs/results.md")
    ap.add_argument(
        "--allow-missing", action="store_true", help="with --docs, write the tables without missing or stale models"
    )
    args = ap.parse_args()
    d = Path(args.dir)
    faith, left_out = current_runs(d, Path(args.models_dir))
    if left_out:
        print("left out: " + ", ".join(left_out))
        if args.docs and not args.allow_missing:
            raise SystemExit("not writing docs/results.md with models left out (--allow-missing to do so)")
    if not faith:
        raise SystemExit(f"no faithfulness runs in {d}")
    runs = list(faith)
    rows = {n: {r["method"]: r for r in run["rows"]} for n, run in faith.items()}
    sanity = {n: (_read(d / f"{n}.sanity.json") or {}).get("methods", {}) for n in runs}
    cards = {n: (_read(d / f"{n}.trust.json") or {}).get("cards", {}) for n in runs}

    def row(n, m):
        return rows[n].get(m)

    def mean_sd(n, m, key, digits=3):
        r = row(n, m)
        if r is None or r.get(key) is None:
            return "–"
        sd = r.get(key + "_std")
        return f"{r[key]:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")

    first = faith[runs[0]]
    n_gen, n_imp = first["rows"][0]["n_genuine"], first["rows"][0]["n_impostor"]
    parts = [
        f"Each model: {n_gen} genuine + {n_imp} impostor LFW DevTest pairs (seed {first.get('seed', 0)}), "
        f"maps on the model's own input, one CPU thread; the random map is the floor. "
        f"`dlib_port_onnx` is the dlib port exported to ONNX (`scripts/export_dlib_onnx.py`) and loaded as a "
        f"black box (`onnx:FILE`, ArcFace alignment); sanity checks on "
        f"{(_read(d / f'{runs[0]}.sanity.json') or {}).get('pairs', '?')} pairs per model."
    ]

    def verdict(n, m):
        c = cards[n].get(m)
        if not c:
            return "–"
        dg, ig = (c.get(k, {}).get("gain") for k in ("cosine_deletion", "cosine_insertion"))
        mark = "" if c.get("sanity") == "passes" else " (sanity: fails)" if c.get("sanity") == "fails" else ""
        if dg is None or ig is None:
            return c["verdict"]
        return f"{ICON.get(c['verdict'], '')} {dg:+.3f} / {ig:+.3f}{mark}"

    parts.append(
        _table(
            "Trust verdicts: gain in deletion / insertion AUC over the random map (cosine, black, per pair; "
            "positive = faithful); ✅ better than chance (an interval above zero, none below), ⚠️ not, "
            "⛔ worse; sanity-check failures marked",
            runs,
            verdict,
        )
    )
    parts.append(
        _table(
            "Our protocol: similarity deletion AUC, black baseline (genuine pairs; lower = more faithful)",
            runs,
            lambda n, m: mean_sd(n, m, "black_similarity_deletion_auc"),
        )
    )
    parts.append(
        _table(
            "Our protocol: dissimilarity deletion AUC, black baseline (impostor pairs; higher = more faithful)",
            runs,
            lambda n, m: mean_sd(n, m, "black_dissimilarity_deletion_auc"),
        )
    )
    thr = ", ".join(f"{n} {faith[n]['threshold']:.3f}" for n in runs)
    parts.append(
        _table(
            "The field's protocol (FAME / Lu et al.): deletion AUC of verification accuracy at the clean EER "
            f"threshold, P = 0..100 % (lower = more faithful; bootstrap std over pairs). Thresholds: {thr}",
            runs,
            lambda n, m: mean_sd(n, m, "fame_deletion_auc"),
        )
    )
    parts.append(
        _table(
            "The field's protocol: insertion AUC of accuracy (higher = more faithful)",
            runs,
            lambda n, m: mean_sd(n, m, "fame_insertion_auc"),
        )
    )

    def swap(n, m):
        r = row(n, m)
        if r is None or r.get("fnmr_best") is None:
            return "–"
        return f"{r['fnmr_best']:.2f} / {r['fnmr_random']:.2f} / {r['fnmr_worst']:.2f}"

    def swap_fmr(n, m):
        r = row(n, m)
        if r is None or r.get("fmr_best") is None:
            return "–"
        return f"{r['fmr_best']:.2f} / {r['fmr_random']:.2f} / {r['fmr_worst']:.2f}"

    grid, frac = first.get("patch_grid", 8), first.get("patch_fraction", 0.25)
    parts.append(
        _table(
            f"Patch swap (Patch-LFW style, {int(100 * frac)} % of {grid}x{grid} patches): FNMR on genuine pairs "
            "after swapping the best- / randomly- / worst-ranked patches with another identity's (faithful: "
            "best > random > worst)",
            runs,
            swap,
        )
    )
    parts.append(
        _table(
            "Patch swap: FMR on impostor pairs after swapping the best / random / worst patches with the "
            "gallery face's",
            runs,
            swap_fmr,
        )
    )

    def sane(n, m):
        r = sanity[n].get(m)
        if not r:
            return "–"
        full = r["cascading"][-1]
        return f"{'pass' if r['passes'] else 'FAIL'} ({full['spearman_abs']:.2f} / {full['ssim']:.2f})"

    parts.append(
        _table(
            "Sanity checks: every layer randomised (cascading, top down); |map| Spearman / SSIM to the "
            "trained model's map (pass: both < 0.5)",
            runs,
            sane,
        )
    )
    parts.append(
        _table(
            "ms per map (one thread)",
            runs,
            lambda n, m: f"{1000 * row(n, m)['seconds_per_map']:.0f}" if row(n, m) else "–",
        )
    )
    lines = [
        "**The representation map, exact split vs FGGB weighting** (similarity deletion AUC black ↓ / "
        "accuracy deletion AUC ↓ / patch-swap FNMR best ↑)",
        "",
        "| model | exact split | FGGB-weighted |",
        "|---|---|---|",
    ]
    for n in runs:
        if "representation" not in rows[n] or "representation_fggb" not in rows[n]:
            continue
        cells = []
        for m in ("representation", "representation_fggb"):
            r = rows[n][m]
            cells.append(
                f"{r['black_similarity_deletion_auc']:.3f} / {r['fame_deletion_auc']:.3f} / {r['fnmr_best']:.2f}"
            )
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    parts.append("\n".join(lines))
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.docs:
        from results_md import patch_results

        patch_results("faithfulness_tables.py", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
