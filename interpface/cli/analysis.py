"""`interpface analyze` and `interpface report` (registered by the main CLI through add_commands)."""

from __future__ import annotations

import time
from pathlib import Path

from interpface.cli.options import (
    BLACK_BOX_ANALYSIS,
    MODEL_HELP,
    add_dataset_option,
    add_pairs_options,
    pairs_args,
)
from interpface.errors import InterpfaceError


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(int(args.threads))


def _regions(spec: str | None):
    if spec is None:
        return None
    if spec.strip().lower() in ("", "none"):
        return ()
    from interpface.faces.template import default_template

    names = [r.strip() for r in spec.split(",") if r.strip()]
    unknown = [r for r in names if r not in default_template().regions]
    if unknown:
        raise InterpfaceError(f"unknown region(s) {unknown}; choose from {', '.join(default_template().regions)}")
    return tuple(names)


def cmd_analyze(args) -> int:
    from interpface.cli.options import apply_model_spec

    apply_model_spec(args)
    if not args.checkpoint:
        raise InterpfaceError("give --checkpoint MODEL (a folder, dlib-resnet, iresnet<d>:FILE, onnx:FILE, spec:FILE)")
    from interpface.analysis.faces import load_dataset_faces
    from interpface.analysis.precomputed import save_precomputed
    from interpface.analysis.run import analyze_checkpoint
    from interpface.faces.sources import dataset_label
    from interpface.files import write_json

    _threads(args)
    t0 = time.perf_counter()
    faces = load_dataset_faces(
        args.images, dataset=args.dataset, seed=args.seed, data_root=args.data_root, cache_dir=args.cache_dir
    )
    from interpface.models.registry import model_display_name

    name = args.name or model_display_name(args.checkpoint)
    _, result = analyze_checkpoint(
        args.checkpoint,
        faces,
        name=name,
        regions=_regions(args.regions),
        grid=args.grid,
        bootstrap=args.bootstrap,
        batch_size=args.batch_size,
        seed=args.seed,
        quiet=args.quiet,
    )
    result.meta["dataset"] = args.dataset
    out = result.save(args.out)
    m = result.metrics
    print(f"{name}: {result.n_images} {dataset_label(args.dataset)} faces, {result.n_filters} filters -> {out}")
    for sign in ("pos", "neg"):
        print(
            f"  {sign}: spread {m[f'spread_{sign}']:.2f} px, hull fraction {m[f'hull_fraction_{sign}']:.3f}, "
            f"regions covered {m[f'regions_covered_{sign}']}/{len(m['coverage_regions'])}, "
            f"median peak std {m[f'median_peak_std_{sign}']:.2f} px"
        )
    print(f"  location instability {m['location_instability']:.4f}")
    if "mean_feature_difference" in m:
        print(
            "  mean feature difference: " + ", ".join(f"{r} {v:.4f}" for r, v in m["mean_feature_difference"].items())
        )
    payload = {**m, "out": str(out), "seconds": round(time.perf_counter() - t0, 2), "timings": result.meta["timings"]}
    if args.precompute:
        npz, js = save_precomputed(result, args.precompute, args.precompute_dir, crops=faces.crops)
        print(f"  precomputed -> {npz} ({npz.stat().st_size / 1024:.0f} KiB), {js}")
        payload["precomputed"] = [str(npz), str(js)]
    write_json(args.json, payload)
    return 0


def cmd_report(args) -> int:
    from interpface.figures.model_report import build_report
    from interpface.files import write_json

    _threads(args)
    checkpoints = [c.strip() for c in args.checkpoints.split(",") if c.strip()]
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    pairs_file, n_pairs = pairs_args(args, 1000)
    summary = build_report(
        checkpoints,
        args.out,
        names=names,
        n_images=args.images,
        n_pairs=n_pairs or None,
        dataset=args.dataset,
        pairs_file=pairs_file,
        heatmap_faces=args.heatmap_faces,
        heatmap_filters=args.heatmap_filters,
        formats=formats,
        bootstrap=args.bootstrap,
        batch_size=args.batch_size,
        seed=args.seed,
        data_root=args.data_root,
        cache_dir=args.cache_dir,
        quiet=args.quiet,
    )
    print(
        f"report for {len(checkpoints)} model(s) -> {summary['report']} "
        f"({len(summary['figures'])} figures x {len(formats)} formats, {len(summary['tables'])} tables, "
        f"{summary['seconds']:.0f} s)"
    )
    for note in summary.get("notes", []):
        print(f"  note: {note}")
    write_json(args.json, summary)
    return 0


def cmd_faithfulness(args) -> int:
    """Every pair-map method on seeded genuine and impostor pairs of a dataset (LFW: DevTest): deletion /
    insertion AUCs."""
    from interpface.analysis.faithfulness import BASELINES
    from interpface.analysis.pair_benchmark import faithfulness_table, load_pairs
    from interpface.analysis.pair_maps import ALL_PAIR_METHODS
    from interpface.files import write_json
    from interpface.models.registry import model_display_name, resolve_model

    _threads(args)
    methods = None
    if args.methods:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in methods if m not in ALL_PAIR_METHODS]
        if unknown:
            raise InterpfaceError(f"unknown method(s) {unknown}; choose from {', '.join(ALL_PAIR_METHODS)}")
    baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    if any(b not in BASELINES for b in baselines):
        raise InterpfaceError(f"baselines must be among {', '.join(BASELINES)}")
    pairs_file, n_pairs = pairs_args(args, 20)
    if n_pairs < 1:
        raise InterpfaceError(f"--n-pairs must be >= 1, got {n_pairs}")
    model = resolve_model(args.checkpoint, cache_dir=args.cache_dir)
    pairs = load_pairs(
        n_pairs,
        dataset=args.dataset,
        pairs_file=pairs_file,
        seed=args.seed,
        data_root=args.data_root,
        cache_dir=args.cache_dir,
    )
    name = args.name or model_display_name(args.checkpoint)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(pairs.same), desc=f"faithfulness {name}", unit="pair")
    t0 = time.perf_counter()
    from interpface.cli.trust import clean_threshold, print_field_protocol

    threshold, threshold_source = clean_threshold(model, args, args.threshold_pairs)
    result = faithfulness_table(
        model,
        pairs,
        methods=methods,
        baselines=baselines,
        steps=args.steps,
        seed=args.seed,
        progress=bar.update if bar else None,
        rise_masks=args.rise_masks,
        threshold=threshold,
    )
    if threshold_source:
        result["threshold_source"] = threshold_source
    if bar:
        bar.close()
    result.update(
        model=name,
        checkpoint=str(args.checkpoint),
        pairs=n_pairs,
        dataset=args.dataset,
        pairs_file=pairs_file,
        pairs_note=pairs.note,
        seed=args.seed,
        seconds=round(time.perf_counter() - t0, 1),
    )
    print(
        f"{name}: {pairs.note} "
        f"(AUC over the fraction of B's pixels; similarity maps: lower deletion / higher insertion = more faithful)"
    )
    for b in baselines:
        print(f"  baseline {b}:")
        print(
            f"  {'method':<22}{'sim. deletion':>16}{'sim. insertion':>16}{'dis. deletion':>16}{'dis. insertion':>16}"
            f"{'ms / map':>10}"
        )
        for row in result["rows"]:
            cells = [
                f"{row[f'{b}_{k}']:.3f} ± {row[f'{b}_{k}_std'] or 0:.3f}"
                for k in (
                    "similarity_deletion_auc",
                    "similarity_insertion_auc",
                    "dissimilarity_deletion_auc",
                    "dissimilarity_insertion_auc",
                )
            ]
            print(
                f"  {row['method']:<22}"
                + "".join(f"{c:>16}" for c in cells)
                + f"{1000 * row['seconds_per_map']:>10.0f}"
            )
    print_field_protocol(result)
    if args.figures:
        from interpface.figures.export import export_figure
        from interpface.figures.pairs import faithfulness_curves_figure

        out = Path(args.figures)
        out.mkdir(parents=True, exist_ok=True)
        for b in baselines:
            fig = faithfulness_curves_figure(result, b, title=f"{name}: deletion / insertion ({b} baseline)")
            for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
                export_figure(fig, out / f"faithfulness_{name}_{b}.{fmt}")
        print(f"  figures -> {out}")
    write_json(args.json, result)
    return 0


def add_commands(sub) -> None:
    def common(p):
        p.add_argument(
            "--images",
            type=int,
            default=1000,
            help="faces to analyse (default 1000, seeded): of LFW DevTest, or of a folder dataset's usable faces",
        )
        add_dataset_option(p)
        p.add_argument("--seed", type=int, default=0, help="seed of the image sample")
        p.add_argument("--bootstrap", type=int, default=100, help="bootstrap resamples of the images (0 = none)")
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
        p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--json", metavar="PATH", help="also write the results as JSON")

    p = sub.add_parser(
        "analyze",
        help="interpretability analyses of one checkpoint (peaks, spreads, stds, "
        "feature differences) on LFW DevTest faces or a prepared folder dataset",
    )
    p.add_argument("--model-spec", metavar="FILE", help="the same as --checkpoint spec:FILE")
    p.add_argument("--checkpoint", metavar="MODEL", help=MODEL_HELP + BLACK_BOX_ANALYSIS)
    p.add_argument("--out", required=True, help="output directory: analysis.npz + metrics.json")
    p.add_argument("--name", help="model name (default: the checkpoint directory's name)")
    p.add_argument(
        "--regions",
        default=None,
        help="comma-separated regions to occlude for the feature "
        "differences (default: all named regions; 'none' skips them)",
    )
    p.add_argument("--grid", type=int, default=0, help="also occlude an NxN grid over the face (Fig. 7)")
    p.add_argument("--precompute", metavar="NAME", help="also write the compact assets/analyses/NAME.{npz,json}")
    p.add_argument("--precompute-dir", help="where --precompute writes (default: assets/analyses)")
    common(p)
    p.set_defaults(func=cmd_analyze)

    p = sub.add_parser("report", help="HTML report + PNG/SVG/PDF figures + CSV tables comparing checkpoints")
    p.add_argument(
        "--checkpoints",
        required=True,
        metavar="MODEL,MODEL,...",
        help="comma-separated; each " + MODEL_HELP + BLACK_BOX_ANALYSIS,
    )
    p.add_argument("--names", help="comma-separated model names (default: directory names)")
    p.add_argument("--out", required=True, help="output directory")
    add_pairs_options(
        p, "pairs for the ROC (default 1000: half genuine, half impostor; LFW: all its DevTest pairs; 0 = no ROC)"
    )
    p.add_argument("--heatmap-faces", type=int, default=4, help="faces per heatmap grid")
    p.add_argument("--heatmap-filters", type=int, default=8, help="filters per heatmap grid")
    p.add_argument(
        "--formats",
        default="png,svg,pdf",
        help="figure formats besides the HTML report "
        "(comma-separated: png, svg, pdf, html; static formats need Chromium)",
    )
    common(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "faithfulness",
        help="pair similarity / dissimilarity maps of every method on seeded pairs (LFW DevTest, "
        "a pairs file or a folder dataset's identities), scored by deletion / insertion curves",
    )
    p.add_argument(
        "--checkpoint", required=True, metavar="MODEL", help=MODEL_HELP + " (every method that applies to it)"
    )
    p.add_argument("--name", help="model name (default: the checkpoint directory's name)")
    add_dataset_option(p)
    add_pairs_options(p, "genuine and as many impostor pairs (default 20; fewer when the dataset has fewer)")
    p.add_argument(
        "--methods",
        help="comma-separated subset of: representation, occlusion, integrated_gradients, "
        "gradcam, rise, random, fggb, xssab, corrrise (default: the first six that apply)",
    )
    p.add_argument("--baselines", default="black,blur", help="what deleted pixels become (black, blur)")
    p.add_argument("--steps", type=int, default=20, help="points per curve (default 20: 5%% of the pixels each)")
    p.add_argument("--rise-masks", type=int, default=512, help="random masks per RISE map")
    p.add_argument(
        "--threshold-pairs",
        type=int,
        default=200,
        metavar="N",
        help="the accuracy protocol's clean EER threshold from N genuine + N impostor untouched pairs "
        "(default 200; 0 = from the explained pairs)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the pairs, the random map and RISE's masks")
    p.add_argument("--figures", metavar="DIR", help="also write the mean curves as figures")
    p.add_argument("--formats", default="html", help="figure formats (html, png, svg, pdf; static ones need Chromium)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
    p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", metavar="OUT", help="write the table, the mean curves and the settings as JSON")
    p.set_defaults(func=cmd_faithfulness)
