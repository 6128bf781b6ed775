"""`interpface failures`: a model's false accepts and false rejects at chosen FARs, ranked by margin,
and its error rates per slice (detector, landmark fit, head pose, face size, sharpness, occluder
condition, LFW attributes, a metadata CSV's columns), worst first, with bootstrap intervals."""

from __future__ import annotations

import time

from interpface.cli.options import MODEL_HELP, add_precision_option
from interpface.errors import ConfigError


def _fars(text: str) -> list[float]:
    try:
        out = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--far takes comma-separated rates, e.g. 1e-3,1e-2; got {text!r}") from None
    if not out or any(not 0 < f < 1 for f in out):
        raise ConfigError(f"--far rates must be in (0, 1), got {text!r}")
    return out


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _ci(ci) -> str:
    return "" if not ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def format_failures(report: dict, worst: int = 5) -> str:
    """The lines `interpface failures` prints: per FAR the threshold, error counts and the worst slices."""
    lines = [
        f"{report['model']} on {report['dataset_label']} ({report['protocol']}: {report['n_pairs']:,} pairs of "
        f"{report['n_usable']:,} faces, {report['n_genuine']:,} genuine) under "
        + ", ".join(report["conditions"])
        + f"; thresholds from {report['operating_condition']}"
    ]
    if report.get("pairs_note"):
        lines.append(f"  {report['pairs_note']}")
    for key in report["far_keys"]:
        f = report["fars"][key]
        if not f.get("resolvable"):
            lines.append(f"FAR {key}: not resolvable ({f['note']})")
            continue
        lines.append(
            f"FAR {key}: threshold {f['threshold']:.4f}; {f['n_false_accepts']:,} false accepts, "
            f"{f['n_false_rejects']:,} false rejects (FRR {_pct(f['frr'])} {_ci(f['frr_ci'])})"
        )
        if len(report["conditions"]) > 1:
            lines.append(
                "  by condition: "
                + "; ".join(
                    f"{c} {v['n_false_accepts']:,} FA / {v['n_false_rejects']:,} FR"
                    for c, v in f["by_condition"].items()
                )
            )
        for kind, label in (("false_accepts", "worst false accept"), ("false_rejects", "worst false reject")):
            if f[kind]:
                r = f[kind][0]
                lines.append(
                    f"  {label}: {r['a']} | {r['b']} score {r['score']:.3f} margin {r['margin']:.3f} "
                    f"({r['detector_a']}/{r['detector_b']}, fit {r['fit_residual_a']}/{r['fit_residual_b']} px)"
                )
        ranked = [s for s in report["slices"]["slices"][key] if s["frr"] is not None][:worst]
        if ranked:
            lines.append(f"  worst slices by FRR ({100 * report['slices']['level']:.0f}% interval; vs the whole set):")
            width = max(len(f"{s['column']} = {s['value']}") for s in ranked)
            for s in ranked:
                name = f"{s['column']} = {s['value']}"
                lines.append(
                    f"    {name:<{width}}  FRR {_pct(s['frr']):>6} {_ci(s['frr_ci']):<14} "
                    f"{100 * s['frr_diff']:+.1f} pts{'  beyond' if s['frr_beyond'] else ''}  "
                    f"FAR {_pct(s['far'])}  ({s['n_images']:,} faces, {s['n_genuine']:,} genuine pairs)"
                )
    return "\n".join(lines)


def cmd_failures(args) -> int:
    from interpface.cli.evaluation import _conditions, _load_embedder, _set_threads
    from interpface.evaluation.failures import find_failures
    from interpface.evaluation.protocols import parse_condition
    from interpface.files import write_json

    _set_threads(args.threads)
    fars = _fars(args.far)
    conditions = _conditions(args.condition)
    for c in conditions:
        parse_condition(c)  # fail early on a typo
    if args.pairs and args.protocol:
        raise ConfigError("give --pairs FILE or --protocol, not both")
    args.peer = None
    model, name, info = _load_embedder(args)
    t0 = time.perf_counter()
    report = find_failures(
        model,
        args.dataset,
        protocol=args.protocol,
        pairs=args.pairs,
        fars=fars,
        conditions=conditions,
        metadata=args.metadata,
        attributes=not args.no_attributes,
        data_root=args.data_root,
        cache_dir=args.cache_dir,
        n_bootstrap=args.bootstrap,
        seed=args.seed,
        n_bins=args.bins,
        top=args.top,
        min_pairs=args.min_pairs,
        min_identities=args.min_identities,
        membership=args.membership,
        occlude=args.occlude,
        batch_size=args.batch_size,
        precision=args.precision,
        progress=not args.quiet,
        name=name,
    )
    seconds = time.perf_counter() - t0
    payload = {**info, **report.to_dict(images=not args.no_images), "seconds": round(seconds, 3)}
    print(format_failures(payload, worst=args.worst))
    print(f"{seconds:.1f} s")
    write_json(args.json, payload)
    if args.html:
        from interpface.figures.failures import failures_html

        failures_html(report, args.html, title=f"Failures of {name}")
        print(f"-> {args.html}")
    if args.json:
        print(f"-> {args.json}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser(
        "failures",
        help="false accepts / rejects ranked by margin, and error rates per slice with bootstrap intervals",
        description="At the threshold of each FAR (set on the first condition's pairs), list the false accepts "
        "and false rejects ranked by margin (both faces, score, detector, landmark-fit residual), and the "
        "false reject / accept rates of every slice — detector, fit residual, yaw / pitch / roll, face size, "
        "sharpness, occluder condition, LFW attributes, a metadata CSV's columns — worst first, each with its "
        "identity-cluster bootstrap interval and its distance from the whole set. The dataset must be "
        "prepared (`interpface data prepare`).",
    )
    p.add_argument("--checkpoint", metavar="MODEL", required=True, help=MODEL_HELP)
    add_precision_option(p)
    p.add_argument(
        "--dataset",
        default="lfw",
        metavar="lfw|folder:PATH",
        help="a prepared dataset: lfw (default) or folder:PATH (one sub-folder per identity)",
    )
    p.add_argument(
        "--pairs",
        metavar="FILE",
        help="pathA<TAB>pathB<TAB>0|1 per line, paths relative to the dataset's folder (default: LFW's "
        "DevTest all pairs; for a folder, all pairs of its images)",
    )
    p.add_argument(
        "--protocol",
        choices=["lfw-devtest", "lfw-view2", "all-pairs"],
        help="lfw-devtest (LFW's default: all pairs among the 3,708 DevTest images), lfw-view2 (pairs.txt), "
        "all-pairs (a folder's default)",
    )
    p.add_argument("--far", default="1e-3,1e-2", help="false accept rates of the thresholds (default 1e-3,1e-2)")
    p.add_argument(
        "--condition",
        action="append",
        metavar="COND",
        help="clean (default), synthetic, part:REGION, mask, sunglasses, scarf, hand; repeatable or "
        "comma-separated; the first sets the thresholds; each is a slice",
    )
    p.add_argument("--occlude", choices=["probe", "both"], default="probe", help="which side the occluder is on")
    p.add_argument(
        "--metadata",
        metavar="CSV",
        help="per-image columns to slice by: an image path column (path, image, file, ...) relative to the "
        "dataset's folder, then any columns (numbers binned, text as is)",
    )
    p.add_argument("--no-attributes", action="store_true", help="do not slice by the LFW attribute file")
    p.add_argument("--bins", type=int, default=4, help="quantile bins of a numeric column (default 4)")
    p.add_argument(
        "--membership",
        choices=["any", "both"],
        default="any",
        help="a pair is in an image slice when either face is (any, default) or both are",
    )
    p.add_argument("--min-pairs", type=int, default=10, help="a slice's rate needs this many pairs of its kind")
    p.add_argument(
        "--min-identities", type=int, default=3, help="a slice's rate needs faces of this many people (default 3)"
    )
    p.add_argument("--bootstrap", type=int, default=100, help="identity-cluster bootstrap resamples (default 100)")
    p.add_argument("--top", type=int, default=50, help="false accepts / rejects kept per FAR (all are counted)")
    p.add_argument("--worst", type=int, default=5, help="slices printed per FAR")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the occluders")
    p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
    p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", metavar="OUT", help="write the report as JSON")
    p.add_argument("--no-images", action="store_true", help="leave the per-image table out of the JSON")
    p.add_argument("--html", metavar="OUT", help="write a self-contained HTML page: slice chart and both galleries")
    p.set_defaults(func=cmd_failures)
