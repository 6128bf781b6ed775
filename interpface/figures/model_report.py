"""`interpface report`: the paper's analyses for several checkpoints, side by side, as one
self-contained HTML page plus every figure (PNG/SVG/PDF) and table (CSV).

For each model: :func:`interpface.analysis.run.analyze_checkpoint` on N faces of a prepared dataset
(LFW: its DevTest; peaks, spreads, stds, feature differences per region), an ROC on the dataset's pairs
(LFW's View-1 DevTest pairs, a pairs file, or pairs drawn from its identities; clean, and with every image
occluded at a seeded random position), filter heatmaps over faces of different subjects and of one
subject, and pixel attributions of one genuine pair's cosine similarity. A dataset without identities
or pairs gets every section but those that need them, with a line saying why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interpface.errors import InterpfaceError
from interpface.models.face_model import PART_FILTERS

__all__ = ["ModelAnalysis", "build_report", "dataset_roc", "devtest_roc", "pairs_roc"]

FIG7_REGIONS = ("eyes", "nose", "mouth", "forehead", "left_cheek", "chin")


@dataclass
class ModelAnalysis:
    name: str
    checkpoint: str
    result: Any  # AnalysisResult
    roc: dict[str, dict] = field(default_factory=dict)  # condition -> roc_points
    heatmaps: dict[str, Any] = field(default_factory=dict)  # "different" / "same" -> Heatmaps
    attribution: dict[str, np.ndarray] = field(default_factory=dict)
    attribution_image: np.ndarray | None = None
    seconds: float = 0.0


def devtest_roc(
    model,
    *,
    n_pairs: int | None = None,
    data_root=None,
    cache_dir=None,
    batch_size: int = 32,
    quiet: bool = True,
    seed: int = 0,
) -> tuple[dict[str, dict], tuple[int, int] | None]:
    """ROC of the cosine similarity on LFW View-1 DevTest pairs (the first n_pairs/2 genuine and
    impostor pairs), clean and with every image occluded at a seeded random position (seed + cache
    row). Returns ({"clean": roc_points, "occluded": roc_points}, rows (a, b) of the first genuine pair)."""
    roc, first, _ = dataset_roc(
        model,
        n_pairs=n_pairs,
        data_root=data_root,
        cache_dir=cache_dir,
        batch_size=batch_size,
        quiet=quiet,
        seed=seed,
    )
    return roc, first


def dataset_roc(
    model,
    *,
    dataset="lfw",
    pairs_file=None,
    n_pairs: int | None = None,
    data_root=None,
    cache_dir=None,
    batch_size: int = 32,
    quiet: bool = True,
    seed: int = 0,
) -> tuple[dict[str, dict], tuple[int, int] | None, str]:
    """:func:`devtest_roc` on any prepared dataset's pairs (:func:`interpface.faces.sources.dataset_pairs`:
    a pairs file, LFW's DevTest pairs, or pairs drawn from the identities): the first n_pairs/2 genuine
    and as many impostor pairs. Returns (roc by condition, rows of the first genuine pair, a line on
    where the pairs come from). NoPairsError when the dataset has no pairs."""
    from interpface.faces.datasets import LFWProtocols
    from interpface.faces.sources import dataset_pairs, open_prepared

    ds, cache = open_prepared(dataset, data_root=data_root, cache_dir=cache_dir)
    if pairs_file is None and ds.protocol_dir is not None:
        pairs = LFWProtocols.load(ds.protocol_dir).dev_test_pairs
        source = "LFW View-1 DevTest pairs"
    else:
        dp = dataset_pairs(
            ds, cache, pairs_file, n_generated=max((n_pairs or 1000) // 2, 1), seed=seed, exclude_fallback=False
        )
        pairs, source = dp.pairs, dp.source + (f"; {dp.note()}" if dp.note() else "")
    if n_pairs is not None:
        same = [p for p in pairs if p.same][: n_pairs // 2]
        diff = [p for p in pairs if not p.same][: n_pairs - len(same)]
        pairs = same + diff
    if not pairs:
        return {}, None, source
    a = cache.rows([p.a for p in pairs])
    b = cache.rows([p.b for p in pairs])
    labels = np.array([p.same for p in pairs], dtype=int)
    roc = pairs_roc(model, cache, a, b, labels, batch_size=batch_size, quiet=quiet, seed=seed)
    first = next(((int(i), int(j)) for i, j, p in zip(a, b, pairs) if p.same), None)
    n_same = int(labels.sum())
    return roc, first, f"{n_same} genuine + {len(labels) - n_same} impostor {source}"


def pairs_roc(
    model, cache, rows_a, rows_b, labels, *, batch_size: int = 32, quiet: bool = True, seed: int = 0
) -> dict[str, dict]:
    """ROC of the cosine similarity of pairs of cache rows, clean and with every image occluded at a
    seeded random position (seed + cache row): {"clean": roc_points, "occluded": roc_points}."""
    from tqdm import tqdm

    from interpface.faces.occlusion import occlude_seeded
    from interpface.figures.roc import roc_points

    a, b = np.asarray(rows_a), np.asarray(rows_b)
    uniq = np.unique(np.concatenate([a, b]))
    pos = {r: i for i, r in enumerate(uniq)}
    crops = np.asarray(cache.crops[uniq])
    lms = np.asarray(cache.landmarks[uniq])
    out = {}
    for cond in ("clean", "occluded"):
        imgs = crops
        if cond == "occluded":
            imgs = np.stack([occlude_seeded(c, cache.landmarks[r], seed + int(r))[0] for c, r in zip(crops, uniq)])
        parts = []
        with tqdm(total=len(imgs), desc=f"ROC {cond}", unit="img", disable=quiet, leave=False) as bar:
            for s in range(0, len(imgs), batch_size):
                sl = slice(s, s + batch_size)
                # each model cuts its own input from the (occluded) crop through the landmarks
                parts.append(model.embed(imgs[sl], lms[sl], batch_size=batch_size, precision="fp32"))
                bar.update(len(parts[-1]))
        f = np.concatenate(parts)
        f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        scores = np.array([f[pos[i]] @ f[pos[j]] for i, j in zip(a, b)])
        out[cond] = roc_points(np.asarray(labels, dtype=int), scores)
    return out


def _tar_at(roc: dict, far: float) -> float:
    fpr, tpr = np.asarray(roc["fpr"]), np.asarray(roc["tpr"])
    return float(np.interp(far, fpr, tpr))


def build_report(
    checkpoints: list[str],
    out_dir,
    *,
    names: list[str] | None = None,
    n_images: int = 1000,
    n_pairs: int | None = 1000,
    heatmap_faces: int = 4,
    heatmap_filters: int = 8,
    formats=("png", "svg", "pdf"),
    bootstrap: int = 100,
    batch_size: int = 32,
    seed: int = 0,
    data_root=None,
    cache_dir=None,
    quiet: bool = False,
    dataset="lfw",
    pairs_file=None,
) -> dict[str, Any]:
    """Run everything and write the report into out_dir:

    report.html (self-contained), figures/<name>.<fmt> for every figure and format, tables/*.csv,
    analyses/<model>/{analysis.npz, metrics.json}, summary.json. Returns the summary dict.

    dataset: ``lfw`` (its DevTest faces and pairs), ``folder:PATH`` or a FaceDataset, prepared;
    pairs_file: the ROC's pairs (``pathA<TAB>pathB<TAB>0|1``, relative to the dataset's folder)."""
    from tqdm import tqdm

    from interpface.analysis.attribution import pixel_attribution
    from interpface.analysis.faces import load_dataset_faces
    from interpface.analysis.feature_difference import difference_summary
    from interpface.analysis.heatmaps import choose_faces, choose_filters, response_heatmaps
    from interpface.analysis.run import analyze_checkpoint
    from interpface.analysis.sensitivity import occlusion_sweep
    from interpface.errors import NoPairsError
    from interpface.faces.sources import dataset_label, dataset_pairs, open_prepared
    from interpface.figures import (
        attribution_figure,
        difference_location_figure,
        feature_difference_figure,
        heatmap_grid_figure,
        metrics_bar_figure,
        metrics_table,
        peak_map_figure,
        roc_figure,
        std_histogram_figure,
    )
    from interpface.figures.export import STATIC_FORMATS, _require_browser, export_figures
    from interpface.figures.report import ReportSection, render_report, write_table_csv
    from interpface.files import write_json

    t_start = time.perf_counter()
    if not checkpoints:
        raise InterpfaceError("no checkpoints given")
    formats = tuple(f.lower() for f in formats)
    bad = [f for f in formats if f not in STATIC_FORMATS + ("html",)]
    if bad:
        raise InterpfaceError(f"unknown figure format(s) {bad}; choose from {STATIC_FORMATS + ('html',)}")
    if any(f in STATIC_FORMATS for f in formats):
        _require_browser()  # fail before the long part, with the clear message
    from interpface.models.registry import model_display_name

    names = list(names) if names else [model_display_name(c) for c in checkpoints]
    if len(names) != len(checkpoints):
        raise InterpfaceError(f"{len(names)} names for {len(checkpoints)} checkpoints")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n}_{seen[n]}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    faces = load_dataset_faces(n_images, dataset=dataset, seed=seed, data_root=data_root, cache_dir=cache_dir)
    ds, cache = open_prepared(dataset, data_root=data_root, cache_dir=cache_dir)
    ds_label = dataset_label(ds)
    notes: list[str] = []  # what could not be done on this dataset, and why
    pairs_note, no_pairs = None, False
    identities = list(faces.identities) if any(faces.identities) else None
    if identities is None:
        notes.append(f"{ds_label} has no identities: heatmaps over one subject's images are left out")
    if n_pairs and (pairs_file is not None or ds.protocol_dir is None):
        try:  # a pairs file naming missing images fails here, before the long part
            dataset_pairs(ds, cache, pairs_file, n_generated=max(n_pairs // 2, 1), seed=seed, exclude_fallback=False)
        except NoPairsError as exc:
            no_pairs = True
            notes.append(f"no ROC and no pair attributions: {exc}")
    models: list[ModelAnalysis] = []
    for ckpt, name in tqdm(list(zip(checkpoints, names)), desc="models", unit="model", disable=quiet):
        t0 = time.perf_counter()
        model, result = analyze_checkpoint(
            ckpt, faces, name=name, bootstrap=bootstrap, batch_size=batch_size, seed=seed, quiet=quiet
        )
        result.save(out / "analyses" / name)
        ma = ModelAnalysis(name, str(ckpt), result)
        first = None
        if n_pairs and not no_pairs:
            try:
                ma.roc, first, pairs_note = dataset_roc(
                    model,
                    dataset=ds,
                    pairs_file=pairs_file,
                    n_pairs=n_pairs,
                    cache_dir=cache_dir,
                    batch_size=batch_size,
                    quiet=quiet,
                    seed=seed,
                )
            except NoPairsError as exc:  # e.g. no usable pair left
                no_pairs = True
                notes.append(f"no ROC and no pair attributions: {exc}")
        filters = choose_filters(result.mean_xy[:, 0], result.std[:, 0], heatmap_filters)
        black_box = not model.has(PART_FILTERS)  # Grad-CAM on psi and the crop's window are part-filter things
        for mode in ("different", "same") if identities is not None else ("different",):
            # without identities, every image stands for a subject of its own
            idx = choose_faces(identities or list(faces.relpaths), heatmap_faces, mode=mode, seed=seed)
            ma.heatmaps[mode] = (
                response_heatmaps(model, faces.crops[idx], filters, landmarks=faces.landmarks[idx]),
                [faces.relpaths[i] for i in idx],
            )
        if first is not None:
            ca, cb = np.asarray(cache.crops[first[0]]), np.asarray(cache.crops[first[1]])
            net, methods, window = model.input_net(), ("gradcam", "integrated_gradients"), 12
            if black_box:
                # model-agnostic methods only, on the black box's own input (its alignment of the pair)
                methods = ("integrated_gradients",)
                x01, _ = model.chips(np.stack([ca, cb]), np.asarray(cache.landmarks[[first[0], first[1]]]))
                ca, cb = x01[0], x01[1]
                window = max(4, round(12 * model.input_size / 96))
            for method in methods:
                ma.attribution[method] = pixel_attribution(net, ca, method=method, reference=cb)
            sweep = occlusion_sweep(net, ca, window=window, stride=window // 2, reference=cb, batch_size=batch_size)
            ma.attribution["occlusion (sweep)"] = sweep.attribution("cosine")
            from interpface.faces.align import center_crop

            ma.attribution_image = (
                (ca.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                if black_box
                else center_crop(ca, model.input_size)
            )
        ma.seconds = time.perf_counter() - t0
        models.append(ma)
        del model

    # ---- figures and tables ---------------------------------------------------------------------
    results = {m.name: m.result for m in models}
    metrics = {m.name: m.result.metrics for m in models}
    figs_peaks = {"fig5_peak_maps": peak_map_figure(results), "fig9_std_histograms": std_histogram_figure(results)}
    regions_present = [r for r in ("eyes", "nose", "mouth") if r in models[0].result.differences.names]
    figs_diff = {
        "fig6_feature_differences": feature_difference_figure(results, regions=regions_present),
        "fig7_difference_locations": difference_location_figure(
            results, names=[r for r in FIG7_REGIONS if r in models[0].result.differences.names]
        ),
    }
    figs_summary = {"metrics": metrics_bar_figure(metrics)}
    figs_heat = {}
    for m in models:
        for mode, (hm, rel) in m.heatmaps.items():
            label = "different subjects" if mode == "different" else "one subject"
            figs_heat[f"fig8_heatmaps_{m.name}_{mode}"] = heatmap_grid_figure(
                hm, row_labels=[r.split("/")[0] for r in rel], title=f"{m.name}: filter responses, {label}"
            )
        if m.attribution:
            figs_heat[f"attributions_{m.name}"] = attribution_figure(
                m.attribution_image,
                m.attribution,
                title=f"{m.name}: attributions of a genuine pair's cosine similarity",
            )
    figs_roc = {}
    if any(m.roc for m in models):
        for cond in ("clean", "occluded"):
            figs_roc[f"fig10_roc_{cond}"] = roc_figure(
                {m.name: m.roc[cond] for m in models if m.roc}, title=f"ROC on {ds_label} pairs ({cond})"
            )

    table_metrics = metrics_table(metrics)
    table_fd = []
    for m in models:
        d = m.result.differences
        for i, region in enumerate(d.names):
            s = difference_summary(d.mean_abs[i])
            table_fd.append(
                {
                    "model": m.name,
                    "region": region,
                    **s,
                    "relative": m.result.metrics["relative_feature_difference"][region],
                }
            )
    table_roc = [
        {
            "model": m.name,
            "condition": cond,
            "auc": r["auc"],
            "eer": r["eer"],
            "tar_at_far_0.01": _tar_at(r, 0.01),
            "tar_at_far_0.1": _tar_at(r, 0.1),
        }
        for m in models
        for cond, r in m.roc.items()
    ]
    table_filters = []
    for m in models:
        r = m.result
        for k in range(r.n_filters):
            table_filters.append(
                {
                    "model": m.name,
                    "filter": k,
                    "pos_x": r.mean_xy[k, 0, 0],
                    "pos_y": r.mean_xy[k, 0, 1],
                    "pos_std": r.std[k, 0],
                    "neg_x": r.mean_xy[k, 1, 0],
                    "neg_y": r.mean_xy[k, 1, 1],
                    "neg_std": r.std[k, 1],
                }
            )
    tables = {"metrics": table_metrics, "feature_differences": table_fd, "roc": table_roc, "filters": table_filters}
    for tname, rows in tables.items():
        write_table_csv(rows, out / "tables" / f"{tname}.csv")

    all_figs = {**figs_summary, **figs_peaks, **figs_diff, **figs_heat, **figs_roc}
    static = [f for f in formats if f in STATIC_FORMATS]
    with tqdm(total=len(all_figs) * len(static), desc="figures", unit="file", disable=quiet or not static) as bar:
        export_figures(all_figs, out / "figures", formats=list(formats), progress=bar)

    n = models[0].result.n_images
    sections = [
        ReportSection(
            "Summary",
            f"{len(models)} model(s), {n} {ds_label} faces (seed {seed}). "
            + "".join(f"{note[0].upper()}{note[1:]}. " for note in notes)
            + "Spread: mean distance "
            "of the per-filter average peak locations to their centroid (template px); hull fraction: their "
            "convex-hull area over the face region; median peak std: median over filters of the std of the "
            "peak location; error bars and _sd columns: bootstrap std over images.",
            figures=figs_summary,
            tables={"metrics": table_metrics},
        ),
        ReportSection(
            "Average peak locations (Fig. 5) and their standard deviations (Fig. 9)",
            "Each dot is one filter's magnitude-weighted average peak location, warped to the frontal "
            "template; colour = std of its peak location over the images.",
            figures=figs_peaks,
        ),
        ReportSection(
            "Feature differences under occlusion (Figs. 6, 7)",
            "Mean |f(I) - f(I^)| per dimension for a black occluder warped onto each region of every face; "
            "dims_50 / dims_90: fewest dimensions holding 50% / 90% of the change.",
            figures=figs_diff,
            tables={"feature differences": table_fd},
        ),
        ReportSection(
            "Filter responses (Figs. 1, 8) and attributions",
            "Filters chosen among the most stable half, spread over the face; red = positive, blue = "
            "negative response, one colour scale per filter.",
            figures=figs_heat,
        ),
    ]
    if figs_roc:
        sections.append(
            ReportSection(
                "Verification ROC (Fig. 10)",
                f"Cosine similarity on {pairs_note}, clean and with every image "
                "occluded by a seeded random warped black rectangle.",
                figures=figs_roc,
                tables={"roc": table_roc},
            )
        )
    page = render_report(
        "interpface analysis report",
        sections,
        intro="Models: " + ", ".join(f"{m.name} ({m.checkpoint})" for m in models),
    )
    (out / "report.html").write_text(page)
    summary = {
        "report": str(out / "report.html"),
        "models": {
            m.name: {
                "checkpoint": m.checkpoint,
                "seconds": round(m.seconds, 2),
                "analysis": str(out / "analyses" / m.name),
            }
            for m in models
        },
        "n_images": n,
        "n_pairs": n_pairs,
        "dataset": ds_label,
        "pairs": pairs_note,
        "notes": notes,
        "figures": sorted(all_figs),
        "formats": list(formats),
        "tables": {k: str(out / "tables" / f"{k}.csv") for k in tables},
        "seconds": round(time.perf_counter() - t_start, 2),
    }
    write_json(out / "summary.json", summary)
    return summary
