"""The `interpface` command line (also `python -m interpface`).

Every user-caused failure is an InterpfaceError: it is printed as one line and the exit status is 2.
Set INTERPFACE_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from interpface.cli.options import add_ray_option
from interpface.errors import InterpfaceError
from interpface.files import write_json


# ------------------------------------------------------------------------------------------ data
def _dataset_notes(dataset) -> list[str]:
    """What a folder held besides usable images (skipped files, duplicates, one-image identities)."""
    from interpface.faces.datasets import duplicates_line, find_duplicates

    notes = list(dataset.scan.lines()) if dataset.scan is not None else []
    dup = duplicates_line(find_duplicates(dataset))
    return notes + ([dup] if dup else [])


def cmd_data_prepare(args) -> int:
    from interpface.faces.datasets import load_dataset
    from interpface.faces.prepare import prepare_dataset

    dataset = load_dataset(args.dataset, args.data_root)
    notes = _dataset_notes(dataset)
    print(dataset.summary())
    for note in notes:
        print(f"  note: {note}")
    report = prepare_dataset(
        dataset,
        cache_dir=args.cache_dir,
        workers=args.workers,
        limit=args.limit,
        fallback=not args.no_fallback,
        landmark_model=args.landmark_model,
        progress=not args.quiet,
        ray=args.ray,
    )
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.items())
    print(
        f"prepared {report.n_images} images in {report.seconds:.1f} s ({report.images_per_second:.0f} img/s): {counts}"
    )
    if report.detectors:
        print("found by: " + ", ".join(f"{k} {v}" for k, v in report.detectors.items()))
    if report.failures:
        print("failures: " + ", ".join(f"{k} {v}" for k, v in report.failures.items()))
    print(f"cache: {report.cache_dir}")
    write_json(args.json, {**report.to_dict(), "dataset": dataset.summary(), "notes": notes})
    return 0


def cmd_data_info(args) -> int:
    from interpface.faces.datasets import LFWProtocols, load_dataset
    from interpface.faces.prepare import PreparedDataset

    dataset = load_dataset(args.dataset, args.data_root)
    info: dict = {
        "dataset": dataset.name,
        "image_dir": str(dataset.image_dir),
        "images": len(dataset),
        "identities": len(dataset.identities),
        "identities_with_one_image": len(dataset.singletons),
        "notes": _dataset_notes(dataset),
    }
    if dataset.protocol_dir is not None:
        p = LFWProtocols.load(dataset.protocol_dir)
        info["view1"] = {
            "dev_train_people": len(p.dev_train_people),
            "dev_train_images": len(p.dev_train_images),
            "dev_test_people": len(p.dev_test_people),
            "dev_test_images": len(p.dev_test_images),
            "dev_train_pairs": len(p.dev_train_pairs),
            "dev_test_pairs": len(p.dev_test_pairs),
        }
        info["view2"] = {
            "folds": len({q.fold for q in p.view2_pairs}),
            "pairs": len(p.view2_pairs),
            "matched": sum(q.same for q in p.view2_pairs),
            "mismatched": sum(not q.same for q in p.view2_pairs),
            "people": len(p.view2_people),
        }
    try:
        cache = PreparedDataset.open(dataset, args.cache_dir)
        info["prepared"] = {
            "cache": str(cache.directory),
            "images": len(cache),
            **cache.index["counts"],
            "failure_reasons": cache.index["failures"],
            "failed_images": [e["relpath"] + ": " + e["error"] for e in cache.entries if e["status"] == "failed"][:50],
        }
    except InterpfaceError as exc:
        info["prepared"] = {"images": 0, "note": str(exc)}
    _print_tree(info)
    write_json(args.json, info)
    return 0


def _print_tree(d: dict, indent: str = "") -> None:
    for key, value in d.items():
        if isinstance(value, dict):
            print(f"{indent}{key}:")
            _print_tree(value, indent + "  ")
        elif isinstance(value, list):
            print(f"{indent}{key}: {len(value)} item(s)" + (f", e.g. {value[0]}" if value else ""))
        else:
            print(f"{indent}{key}: {value}")


def cmd_data_template(args) -> int:
    """Rebuild the template from the phase-1 detections of LFW DevTrain (run `data prepare` first)."""
    import numpy as np

    from interpface.faces.datasets import LFWProtocols, load_lfw
    from interpface.faces.prepare import dataset_cache_dir
    from interpface.faces.template import build_template, template_path

    dataset = load_lfw(args.data_root)
    train = {r.relpath for r in LFWProtocols.load(dataset.protocol_dir).dev_train_images}
    det_dir = dataset_cache_dir(dataset, args.cache_dir) / "detect"
    chunks = sorted(det_dir.glob("chunk_*.npz"))
    if not chunks:
        raise InterpfaceError(f"no detections in {det_dir}; run `interpface data prepare --dataset lfw` first")
    shapes = []
    for path in chunks:
        with np.load(path) as z:
            keep = np.array([str(r) in train for r in z["relpaths"]]) & (z["status"] == "ok")
            shapes.append(z["landmarks"][keep])
    shapes = np.concatenate(shapes)
    meta = {
        "method": "generalized Procrustes mean of the dlib 68-point landmarks of LFW DevTrain images "
        "with exactly one detected face, eyes levelled, jaw width 66 px, landmark centroid at "
        "(54.5, 62.0) of the 110x110 frame",
        "n_images": int(len(shapes)),
        "source": str(dataset.image_dir),
        "command": "interpface data template --dataset lfw",
    }
    template = build_template(shapes, meta=meta)
    out = Path(args.out) if args.out else template_path()
    template.save(out)
    print(f"template from {len(shapes)} DevTrain faces -> {out} (digest {template.digest})")
    write_json(args.json, {"n_images": len(shapes), "path": str(out), "digest": template.digest})
    return 0


def cmd_data_teacher(args) -> int:
    """Teacher descriptors (dlib ResNet) of a prepared dataset's images and their mirror images."""
    import numpy as np

    from interpface.faces.datasets import LFWProtocols, load_dataset
    from interpface.faces.prepare import PreparedDataset
    from interpface.models.teacher import compute_teacher

    dataset = load_dataset(args.dataset, args.data_root)
    cache = PreparedDataset.open(dataset, args.cache_dir)
    rows = np.flatnonzero(cache.usable(exclude_fallback=False))
    if args.split == "devtrain":
        if dataset.protocol_dir is None:
            raise InterpfaceError("--split devtrain needs LFW protocol files; use --split all")
        wanted = {r.relpath for r in LFWProtocols.load(dataset.protocol_dir).dev_train_images}
        rows = np.array([r for r in rows if cache.relpaths[r] in wanted], dtype=np.int64)
    if args.limit:
        rows = rows[: args.limit]
    _, info = compute_teacher(cache, rows=rows, source=args.source, workers=args.workers, progress=not args.quiet)
    print(
        f"teacher ({info['source']}): {info['described']} of {info['images']} images described (+ mirror images); "
        f"{info['computed']} computed now in {info['seconds']:.1f} s ({info['images_per_s']:.1f} img/s) -> {info['path']}"
    )
    write_json(args.json, info)
    return 0


def cmd_convert_dlib(args) -> int:
    """Convert dlib's ResNet face descriptor (.dat from face-recognition-models) to safetensors."""
    from interpface.models.dlib_port import convert_dlib_model, is_converted, port_cache_path

    if not args.force and is_converted(args.model, args.cache_dir):
        print(f"dlib port already converted: {port_cache_path(args.cache_dir)} (--force to redo)")
        return 0

    path, info = convert_dlib_model(args.model, args.cache_dir)
    print(f"converted {info['source']} ({info['layers']} layers, {info['parameters']:,} parameters) -> {path}")
    write_json(args.json, {**info, "path": str(path)})
    return 0


# --------------------------------------------------------------------------------------- occlude
def cmd_occlude(args) -> int:
    import numpy as np

    from interpface.faces.occlusion import occlude_rect, random_rect, region_rect
    from interpface.faces.pipeline import FacePipeline

    pipeline = FacePipeline(landmark_model=args.landmark_model)
    face = pipeline.prepare(args.image, fallback=args.fallback)
    if args.occluder != "rectangle":
        return _occlude_realistic(args, face, pipeline)
    size = None if args.width is None and args.height is None else (args.width or 32.0, args.height or 12.0)
    if args.region == "random":
        rect = random_rect(np.random.default_rng(args.seed), pipeline.template, size or (32.0, 12.0))
    else:
        rect = region_rect(args.region, pipeline.template, size)
    occluded, mask, quad = occlude_rect(face.crop, face.landmarks, rect, pipeline.template, fill=args.fill)
    return _write_occluded(
        args,
        face,
        occluded,
        mask,
        f"occluded {int(mask.sum())} px",
        {
            "occluder": "rectangle",
            "region": args.region,
            "rect_template": rect.to_dict(),
            "quad_crop": quad.round(3).tolist(),
        },
    )


def _write_occluded(args, face, occluded, mask, what: str, details: dict) -> int:
    """Save the occluded crop (or clean | occluded), print one line, write the JSON report."""
    import numpy as np

    from interpface.faces.images import save_image

    picture = np.concatenate([face.crop, occluded], axis=1) if args.side_by_side else occluded
    save_image(args.out, picture)
    print(
        f"{args.image}: face {face.detection.status} ({face.detection.n_faces} detected, {face.detection.detector}), "
        f"{what} -> {args.out}"
    )
    write_json(
        args.json,
        {
            "image": str(args.image),
            "out": str(args.out),
            "detection": face.detection.status,
            "detector": face.detection.detector,
            "n_faces": face.detection.n_faces,
            "seed": args.seed,
            **details,
            "aligned_size": int(face.crop.shape[0]),
            "occluded_pixels": int(mask.sum()),
            "fit_residual": round(float(face.fit_residual), 3),
            "landmarks_crop": face.landmarks.round(3).tolist(),
        },
    )
    return 0


def _occlude_realistic(args, face, pipeline) -> int:
    from interpface.faces.occluders import draw_occluder

    occ = draw_occluder(args.occluder, args.seed, pipeline.template)
    occluded, mask = occ.apply(face.crop, face.landmarks)
    return _write_occluded(
        args,
        face,
        occluded,
        mask,
        f"{args.occluder} (seed {args.seed}) covers {int(mask.sum())} px",
        {"occluder": occ.to_dict(), "polygons_crop": [p.round(3).tolist() for p in occ.polygons(face.landmarks)]},
    )


# ------------------------------------------------------------------------------------------ demo
def cmd_demo(args) -> int:
    """Align a few faces (LFW DevTest when a dataset is configured, else the bundled samples),
    occlude each by region and at random, and write one picture: rows = faces, columns = clean,
    eyes, nose, mouth, random."""
    import numpy as np

    from interpface.errors import DatasetError
    from interpface.faces.images import load_image, save_image
    from interpface.faces.occlusion import occlude_rect, random_rect, region_rect
    from interpface.faces.pipeline import FacePipeline
    from interpface.faces.samples import sample_faces

    try:
        from interpface.faces.datasets import LFWProtocols, load_lfw

        lfw = load_lfw(args.data_root)
        people = LFWProtocols.load(lfw.protocol_dir).dev_test_images[:: 3708 // args.faces][: args.faces]
        images = {r.relpath: load_image(lfw.path(r.relpath)) for r in people}
        source = f"LFW DevTest ({lfw.image_dir})"
    except DatasetError:
        images, source = sample_faces(), "bundled sample faces (no dataset configured)"
    pipeline = FacePipeline()
    rng = np.random.default_rng(args.seed)
    rows, report = [], []
    for name, rgb in images.items():
        face = pipeline.prepare(rgb, fallback=True)
        tiles = [face.crop]
        for rect in [region_rect(r, pipeline.template) for r in ("eyes", "nose", "mouth")] + [
            random_rect(rng, pipeline.template)
        ]:
            tiles.append(occlude_rect(face.crop, face.landmarks, rect, pipeline.template)[0])
        rows.append(np.concatenate(tiles, axis=1))
        report.append({"image": name, "detection": face.detection.status, "n_faces": face.detection.n_faces})
    save_image(args.out, np.concatenate(rows, axis=0))
    print(f"demo: {len(rows)} faces from {source}: aligned and occluded (eyes, nose, mouth, random) -> {args.out}")
    write_json(args.json, {"source": source, "out": str(args.out), "faces": report})
    return 0


# ------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interpface", description="Interpretable face recognition toolkit.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_args(p):
        p.add_argument("--dataset", default="lfw", help="'lfw' or 'folder:PATH' (one sub-folder per identity)")
        p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
        p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
        p.add_argument("--json", metavar="PATH", help="also write the results as JSON")

    data = sub.add_parser("data", help="dataset preparation and information")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    p = dsub.add_parser("prepare", help="detect, landmark and align a dataset into the cache (resumable)")
    data_args(p)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes (default: all cores, at most 8; with --ray: every CPU of the cluster)",
    )
    add_ray_option(p)
    p.add_argument("--limit", type=int, default=None, help="only the first N images (sorted order)")
    p.add_argument(
        "--no-fallback",
        action="store_true",
        help="mark images without a detected face as failed "
        "instead of fitting landmarks in the dataset's median face box",
    )
    p.add_argument("--landmark-model", help="path of shape_predictor_68_face_landmarks.dat")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data_prepare)
    p = dsub.add_parser("info", help="dataset, protocol and cache counts")
    data_args(p)
    p.set_defaults(func=cmd_data_info)
    p = dsub.add_parser("template", help="rebuild assets/template.json from LFW DevTrain detections")
    data_args(p)
    p.add_argument("--out", help="where to write (default: assets/template.json)")
    p.set_defaults(func=cmd_data_template)
    p = dsub.add_parser(
        "teacher",
        help="teacher (dlib ResNet) descriptors of every image and its mirror image, "
        "for distillation (cached next to the prepared faces)",
    )
    data_args(p)
    p.add_argument(
        "--split",
        default="devtrain",
        choices=("devtrain", "all"),
        help="which images: LFW DevTrain (the training set, default) or every prepared image",
    )
    p.add_argument(
        "--source",
        default="port",
        choices=("dlib", "port"),
        help="interpface's PyTorch port (default: the same descriptors to 6e-7, ~10x faster here) or "
        "dlib's own C++ network",
    )
    p.add_argument("--workers", type=int, default=None, help="processes for --source dlib (default: all cores)")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_data_teacher)

    p = sub.add_parser(
        "convert-dlib",
        help="convert dlib's ResNet face descriptor (face-recognition-models' .dat) "
        "into the cache as safetensors, for its PyTorch port (setup runs this)",
    )
    p.add_argument("--model", help="the .dat file (default: $INTERPFACE_DLIB_RESNET, else the package's)")
    p.add_argument("--cache-dir", help="cache root (default: $INTERPFACE_CACHE, else ~/.cache/interpface)")
    p.add_argument("--force", action="store_true", help="convert again even when the cache has it")
    p.add_argument("--json", metavar="PATH", help="also write what was converted as JSON")
    p.set_defaults(func=cmd_convert_dlib)

    p = sub.add_parser("occlude", help="align a face and occlude it with the warped synthetic mask")
    p.add_argument("image", help="an image file with a face")
    p.add_argument(
        "--occluder",
        default="rectangle",
        choices=("rectangle", "surgical_mask", "cloth_mask", "sunglasses", "scarf", "hand"),
        help="the paper's black rectangle (default) or a realistic occluder, placed through the landmarks",
    )
    p.add_argument(
        "--region",
        default="random",
        help="rectangle: random, or a named region: eyes, left_eye, "
        "right_eye, nose, mouth, forehead, left_cheek, right_cheek, chin",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random position / of every occluder choice")
    p.add_argument(
        "--width",
        type=float,
        default=None,
        help="occluder width in template pixels "
        "(default 32 at random positions; a named region's own width, at least 32)",
    )
    p.add_argument(
        "--height", type=float, default=None, help="occluder height (default 12, or the region's, at least 12)"
    )
    p.add_argument("--fill", type=int, default=0, help="fill value 0-255 (default black)")
    p.add_argument("--fallback", action="store_true", help="no face found: fit landmarks in the central box")
    p.add_argument("--side-by-side", action="store_true", help="write the clean and the occluded crop side by side")
    p.add_argument("--landmark-model", help="path of shape_predictor_68_face_landmarks.dat")
    p.add_argument("--out", required=True, help="output picture (.png/.jpg)")
    p.add_argument("--json", metavar="PATH", help="write the quadrilateral's corners etc. as JSON")
    p.set_defaults(func=cmd_occlude)

    p = sub.add_parser("demo", help="end-to-end demo: align sample faces, occlude them, write a picture")
    p.add_argument("--out", default="out/demo.png", help="output picture")
    p.add_argument("--faces", type=int, default=4, help="how many LFW faces (when a dataset is configured)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", help="dataset root (default: $INTERPFACE_DATA, else ../shared/data)")
    p.add_argument("--json", metavar="PATH", help="also write what was done as JSON")
    p.set_defaults(func=cmd_demo)

    _add_plugin_commands(sub)
    return parser


def _add_plugin_commands(sub) -> None:
    """Subcommands that live with their subsystem (training, evaluation, analysis, dashboard)."""
    from interpface.cli import analysis, dashboard, evaluation, failures, trust
    from training import cli as training_cli

    for module in (training_cli, evaluation, failures, analysis, trust, dashboard):
        module.add_commands(sub)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InterpfaceError as exc:
        if os.environ.get("INTERPFACE_DEBUG"):
            raise
        print(f"interpface: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interpface: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback on request
        if os.environ.get("INTERPFACE_DEBUG"):
            raise
        print(
            f"interpface: error: {type(exc).__name__}: {exc} (set INTERPFACE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
