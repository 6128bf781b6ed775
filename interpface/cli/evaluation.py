"""`interpface embed`, `interpface evaluate` and `interpface compare` (registered into the main CLI by cli.py)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from interpface.cli.options import MODEL_HELP, add_model_options, add_precision_option, add_ray_option
from interpface.errors import ConfigError, DatasetError


def _set_threads(n):
    if n:
        import torch

        torch.set_num_threads(int(n))


def _load_embedder(args):
    """(embedder or model, display name, info dict) from --checkpoint, --model-spec or --peer."""
    from interpface.cli.options import apply_model_spec

    apply_model_spec(args)
    if bool(args.checkpoint) == bool(getattr(args, "peer", None)):
        raise ConfigError("give exactly one of --checkpoint MODEL or --peer dlib|dlib-port")
    if args.checkpoint:
        from interpface.models.registry import model_display_name, resolve_model

        model = resolve_model(args.checkpoint, cache_dir=getattr(args, "cache_dir", None))
        info = {"checkpoint": str(args.checkpoint)}
        if getattr(model, "info", {}).get("model"):
            info["model_config"] = model.info["model"]
        return model, model_display_name(args.checkpoint), info
    from interpface.evaluation.peers import get_peer

    peer = get_peer(args.peer)
    return peer, peer.name, {"peer": args.peer, "model_path": str(getattr(peer, "model_path", ""))}


# ------------------------------------------------------------------------------------------ embed
def _read_list(path: Path, root: Path | None) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"list file missing: {path}")
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(str(root / line) if root is not None and not Path(line).is_absolute() else line)
    return out


def cmd_embed(args) -> int:
    import numpy as np

    from interpface.files import write_json

    _set_threads(args.threads)
    sources = list(args.images or [])
    if args.list:
        sources += _read_list(Path(args.list), Path(args.root) if args.root else None)
    if not sources:
        raise ConfigError("no images: pass IMAGE paths or --list FILE")
    embedder, name, info = _load_embedder(args)
    t0 = time.perf_counter()
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(sources), desc="embed", unit="img")
    progress = bar.update if bar else None
    from interpface.faces.landmarks import LandmarkDetector

    details: list[dict] = []
    if args.ray:
        from interpface.evaluation.distributed import embed_images_ray

        emb, failures = embed_images_ray(
            None if args.peer else str(args.checkpoint),
            sources,
            peer=args.peer,
            address=args.ray,
            workers=args.ray_workers,
            landmark_model=args.landmark_model,
            fallback=args.fallback,
            batch_size=args.batch_size,
            flip=args.flip,
            precision=args.precision,
            progress=progress,
            details=details,
        )
    elif args.peer:
        emb, failures = embedder.embed_images(
            sources, LandmarkDetector(args.landmark_model), fallback=args.fallback, progress=progress, details=details
        )
    else:
        from interpface.evaluation.embedding import embed_images
        from interpface.faces.pipeline import FacePipeline

        emb, failures = embed_images(
            embedder,
            sources,
            FacePipeline(landmark_model=args.landmark_model),
            fallback=args.fallback,
            batch_size=args.batch_size,
            flip=args.flip,
            precision=args.precision,
            progress=progress,
            details=details,
        )
    if bar:
        bar.close()
    seconds = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.npy")
    np.save(tmp, emb)
    tmp.replace(out)
    for f in failures:
        print(f"failed: {f['source']}: {f['error']}")
    from collections import Counter

    found_by = Counter(d["detector"] for d in details)
    poor = sum(d["poor_fit"] for d in details)
    print(
        f"embedded {len(sources) - len(failures)} of {len(sources)} images with {name} "
        f"({emb.shape[1]}-d, cosine-normalised{', flip-averaged' if args.flip else ''}) in {seconds:.1f} s -> {out}"
        + (f"; {len(failures)} failed (NaN rows)" if failures else "")
        + ("; faces found by " + ", ".join(f"{k} {v}" for k, v in sorted(found_by.items())) if found_by else "")
        + (f"; {poor} poor landmark fit(s)" if poor else "")
    )
    write_json(
        args.json,
        {
            **info,
            "out": str(out),
            "shape": list(emb.shape),
            "flip": bool(args.flip),
            "sources": [str(s) for s in sources],
            "faces": details,
            "detectors": dict(found_by),
            "failures": failures,
            "n_failures": len(failures),
            "seconds": round(seconds, 3),
        },
    )
    return 0


# ---------------------------------------------------------------------------------------- evaluate
def _conditions(values) -> list[str]:
    out = []
    for v in values or ["clean"]:
        out += [c.strip() for c in v.split(",") if c.strip()]
    return out


def cmd_evaluate(args) -> int:
    from interpface.evaluation.protocols import parse_condition

    _set_threads(args.threads)
    conditions = _conditions(args.condition)
    for c in conditions:
        parse_condition(c)  # fail early on a typo
    embedder, name, info = _load_embedder(args)
    if args.peer and args.flip:
        raise ConfigError("--flip applies to --checkpoint models only")
    if args.ray:
        return _evaluate_on_ray(args, embedder, name, info, conditions)
    return _evaluate(args, embedder, name, info, conditions)


def _evaluate_on_ray(args, model, name, info, conditions) -> int:
    """The embedding step on Ray workers (one model each, resolved from --checkpoint's URI); the
    rest (occluders, metrics) on this machine, as without --ray."""
    from interpface.evaluation.distributed import RayModelEmbedder
    from interpface.faces.distributed import ray_session

    if args.peer:
        raise ConfigError("evaluate --ray embeds with a --checkpoint model; use embed --ray for the peers")
    embedder = RayModelEmbedder(
        str(args.checkpoint),
        model=model,
        batch_size=args.batch_size,
        flip=args.flip,
        precision=args.precision,
        cache_dir=args.cache_dir,
        workers=args.ray_workers,
        name=name,
    )
    with ray_session(args.ray):
        return _evaluate(args, embedder, name, {**info, "ray": args.ray}, conditions)


def _evaluate(args, embedder, name, info, conditions) -> int:
    from interpface.evaluation.protocols import Evaluator, format_table
    from interpface.files import write_json

    t0 = time.perf_counter()
    ev = Evaluator(
        embedder,
        args.protocol,
        data_root=args.data_root,
        cache_dir=args.cache_dir,
        root=args.root,
        seed=args.seed,
        n_bootstrap=args.bootstrap,
        n_trials=args.trials,
        flip=args.flip,
        batch_size=args.batch_size,
        fallback=args.fallback,
        occlude=args.occlude,
        attributes=args.attributes,
        progress=not args.quiet,
        precision=args.precision,
    )
    if args.checkpoint:
        ev.embedder.name = name
    results = [ev.run(c) for c in conditions]
    seconds = time.perf_counter() - t0
    print(f"{name} on {args.protocol}" + (" (flip-averaged)" if args.flip else "") + ":  (percent, mean ± std)")
    print(format_table(results))
    failures = results[0]["failures"]
    if failures:
        print(
            f"{len(failures)} image(s) could not be used (pairs with them dropped), e.g. "
            f"{failures[0]['source']}: {failures[0]['error']}"
        )
    print(f"{seconds:.1f} s")
    for r in results:
        r.update(info)
        r["flip"] = bool(args.flip)
        r["timings"] = dict(ev.timings)
    payload = (
        results[0]
        if len(results) == 1
        else {**info, "protocol": args.protocol, "results": results, "seconds": round(seconds, 3)}
    )
    write_json(args.json, payload)
    return 0


# ----------------------------------------------------------------------------------------- compare
def _dataset_protocol(args) -> tuple[str, str | None]:
    """(protocol, pairs file): --dataset / --pairs FILE -> "dataset:SPEC" (a prepared dataset's pairs,
    faces from its cache), else --protocol (default lfw-devtest)."""
    dataset, pairs = getattr(args, "dataset", None), getattr(args, "pairs", None)
    if dataset is None and pairs is None:
        return args.protocol or "lfw-devtest", None
    if args.protocol:
        raise ConfigError("give --protocol, or --dataset / --pairs FILE, not both")
    return f"dataset:{dataset or 'lfw'}", pairs


def cmd_compare(args) -> int:
    from interpface.evaluation.comparison import compare_models, format_comparison
    from interpface.evaluation.protocols import Evaluator, parse_condition
    from interpface.files import write_json

    _set_threads(args.threads)
    conditions = _conditions(args.condition)
    for c in conditions:
        parse_condition(c)  # fail early on a typo
    if args.bootstrap < 2:
        raise ConfigError("--bootstrap needs at least 2 resamples for a spread")
    protocol, pairs_file = _dataset_protocol(args)
    evaluators = []
    for ckpt in (args.checkpoint, args.against):
        one = argparse.Namespace(checkpoint=ckpt, peer=None, model_spec=None, batch_size=args.batch_size)
        embedder, name, _ = _load_embedder(one)
        ev = Evaluator(
            embedder,
            protocol,
            data_root=args.data_root,
            cache_dir=args.cache_dir,
            root=args.root,
            pairs_file=pairs_file,
            seed=args.seed,
            n_bootstrap=0,
            batch_size=args.batch_size,
            occlude=args.occlude,
            progress=not args.quiet,
            precision=args.precision,
        )
        ev.embedder.name = name
        evaluators.append(ev)
    if evaluators[0].embedder.name == evaluators[1].embedder.name:
        evaluators[1].embedder.name += " (against)"
    t0 = time.perf_counter()
    results = [compare_models(*evaluators, condition=c, n_resamples=args.bootstrap) for c in conditions]
    r0 = results[0]
    source = getattr(evaluators[0], "pairs_source", None)
    print(
        f"{r0['a']} against {r0['b']} on {protocol}{f' ({source})' if source else ''}: percent; paired {r0['kind']} "
        f"({args.bootstrap} resamples); z = diff / paired std, > 0: {r0['a']} better"
    )
    print(format_comparison(results))
    print(f"{time.perf_counter() - t0:.1f} s")
    write_json(
        args.json,
        {
            "protocol": protocol,
            "pairs_file": pairs_file,
            "checkpoint": str(args.checkpoint),
            "against": str(args.against),
            "results": results,
        },
    )
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("embed", help="detect, align and embed images (one row per input, NaN rows for failures)")
    p.add_argument("images", nargs="*", help="image files")
    p.add_argument("--list", metavar="FILE", help="a file with one image path per line ('#' comments)")
    p.add_argument("--root", help="folder that relative paths in --list are relative to (default: as written)")
    add_model_options(p, precision=True)
    p.add_argument(
        "--peer",
        choices=["dlib", "dlib-port"],
        help="embed with a peer model instead (dlib's ResNet "
        "descriptor; dlib-port: the same network through interpface's PyTorch port)",
    )
    p.add_argument("--out", required=True, metavar="EMB.npy", help="(N, D) float32 embeddings, input order")
    p.add_argument("--json", metavar="META", help="sources, failures, shape, timing as JSON")
    p.add_argument("--flip", action="store_true", help="average f of the image and its mirror image")
    p.add_argument("--fallback", action="store_true", help="no face detected: fit landmarks in a central box")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--landmark-model", help="path of shape_predictor_68_face_landmarks.dat")
    add_ray_option(p, workers=True)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser(
        "evaluate",
        help="verification / identification on clean and occluded faces",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Protocols: lfw-devtest (View 1 pairs accuracy by 10-fold CV, all-pairs ROC among "
        "the 3,708 DevTest images, closed-set Rank-1/5), lfw-view2 (10 official folds), pairs:FILE "
        "(pathA<TAB>pathB<TAB>0|1 relative to --root). Conditions: clean, synthetic (one seeded "
        "32x12 warped black quadrilateral per image), part:REGION (eyes, nose, mouth, ...), natural "
        "(LFW-attribute Eyeglasses/Sunglasses DevTest images as probes). Occlusion goes on the probe "
        "side. See the README / interpface.evaluation.protocols for the exact definitions.",
    )
    add_model_options(p, precision=True)
    p.add_argument(
        "--peer",
        choices=["dlib", "dlib-port"],
        help="evaluate a peer model instead (dlib's ResNet "
        "descriptor, ~60 ms per image on 1 core; dlib-port: its PyTorch port, batched)",
    )
    p.add_argument("--protocol", default="lfw-devtest", help="lfw-devtest (default), lfw-view2 or pairs:FILE")
    p.add_argument(
        "--condition",
        action="append",
        metavar="COND",
        help="clean (default), synthetic, natural, part:REGION, or a realistic occluder: mask, sunglasses, "
        "scarf, hand; repeatable or comma-separated",
    )
    p.add_argument(
        "--occlude",
        choices=["probe", "both"],
        default="probe",
        help="occlude the probe side only (default) or both sides of each comparison",
    )
    p.add_argument("--flip", action="store_true", help="average f of each image and its mirror image")
    p.add_argument("--seed", type=int, default=0, help="seed of occluder positions, CV folds, bootstrap, galleries")
    p.add_argument("--bootstrap", type=int, default=50, help="bootstrap resamples for the spread of AUC/EER/TAR")
    p.add_argument("--trials", type=int, default=10, help="random gallery draws for Rank-1/5 (0 skips identification)")
    p.add_argument("--root", help="pairs:FILE: folder the pairs' paths are relative to (default: the LFW images)")
    p.add_argument("--fallback", action="store_true", help="pairs:FILE: fit landmarks in a central box when no face")
    p.add_argument("--attributes", metavar="FILE", help="natural: LFW attribute file (default: lfw/attributes/...)")
    p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
    p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_ray_option(p, workers=True)
    p.add_argument(
        "--json", metavar="OUT", help="write the results as JSON (one condition: its dict; several: {'results': [...]})"
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "compare",
        help="is model A better than model B? paired bootstrap on the same pairs",
        description="Scores both models on the same pairs and resamples them together (the same "
        "identities each time), so the spread is that of the difference A - B; pair accuracy is "
        "compared fold by fold. Same protocols and conditions as `evaluate`.",
    )
    p.add_argument("--checkpoint", required=True, metavar="A", help="model A: " + MODEL_HELP)
    p.add_argument("--against", required=True, metavar="B", help="model B, the same kinds")
    add_precision_option(p)
    p.add_argument(
        "--protocol",
        default=None,
        help="lfw-devtest (default), lfw-view2 or pairs:FILE (images aligned on the fly)",
    )
    p.add_argument(
        "--dataset",
        metavar="lfw|folder:PATH",
        help="a prepared dataset instead of --protocol: its pairs (--pairs FILE, else LFW's DevTest pairs or pairs "
        "drawn from the folder's identities), faces from its cache",
    )
    p.add_argument(
        "--pairs",
        metavar="FILE",
        help="with --dataset (default lfw): pathA<TAB>pathB<TAB>0|1 per line, relative to the dataset's folder",
    )
    p.add_argument(
        "--condition",
        action="append",
        metavar="COND",
        help="clean (default), synthetic, part:REGION, mask, sunglasses, scarf, hand; repeatable or "
        "comma-separated (not natural)",
    )
    p.add_argument("--occlude", choices=["probe", "both"], default="probe")
    p.add_argument("--seed", type=int, default=0, help="seed of occluder positions, CV folds and the bootstrap")
    p.add_argument("--bootstrap", type=int, default=200, help="paired bootstrap resamples")
    p.add_argument("--root", help="pairs:FILE: folder the pairs' paths are relative to")
    p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
    p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", metavar="OUT", help="write the comparison as JSON")
    p.set_defaults(func=cmd_compare)
