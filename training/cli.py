"""`interpface train` and `interpface benchmark` (registered into the main CLI)."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config, e.g. training/configs/patient/full.yaml")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable), e.g. --set steps=100 --set model_overrides.width=0.25",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly where its last checkpoint left it")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder (default: runs/<name>)")
    p.add_argument("--stop-after", type=int, help="stop after this many steps of this invocation (resume later)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", metavar="PATH", help="write the run summary as JSON")


def _command_line(config: str | None, overrides: list[str]) -> str:
    """`interpface train --config PATH --set K=V ...`, shell-quoted; a config path inside the working
    directory (the checkout) is written relative to it, so that a shipped training.json names no home folder."""
    words = ["interpface", "train"]
    if config:
        path = Path(config)
        if path.is_absolute() and path.resolve().is_relative_to(Path.cwd().resolve()):
            path = path.resolve().relative_to(Path.cwd().resolve())
        words += ["--config", str(path)]
    for item in overrides:
        words += ["--set", item]
    return shlex.join(words)


def cmd_train(args) -> int:
    from interpface.files import write_json

    from .config import load_config
    from .trainer import train

    if args.resume:
        run_dir = Path(args.resume)
        cfg = load_config(run_dir / "config.yaml", args.set)
    else:
        cfg = load_config(args.config, args.set)
        run_dir = Path(args.out) if args.out else None
    # the run's provenance, as the shipped training.json reports it (the config path, not just its name)
    command = _command_line(args.config, args.set)
    summary = train(
        cfg,
        run_dir,
        resume=bool(args.resume),
        progress=not args.no_progress,
        stop_after=args.stop_after,
        command=None if args.resume else command,
    )
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        final = summary["final"]
        print(
            f"{summary['name']}: step {summary['steps']} ({'finished' if summary['finished'] else 'paused'}), "
            f"loss {final.get('loss', float('nan')):.4f}, accuracy {final.get('accuracy', float('nan')):.3f}, "
            f"{summary['images_per_s']:.1f} img/s -> {summary['checkpoint']}"
        )
        write_json(args.json, summary)
    return 0


def cmd_benchmark(args) -> int:
    from .benchmark import run_benchmark

    run_benchmark(args)
    return 0


def cmd_export(args) -> int:
    from interpface.files import write_json

    from .export import export_run

    result = export_run(args.run, args.out)
    print(f"exported {args.run} -> {result['out']} ({result['bytes'] / 2**20:.1f} MiB, fp16, step {result['steps']})")
    write_json(args.json, result)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train a model (one process, or many under torchrun)")
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("export", help="ship a run's latest checkpoint as fp16 safetensors + config + training.json")
    p.add_argument("--run", required=True, metavar="RUN_DIR")
    p.add_argument("--out", required=True, metavar="DIR", help="e.g. assets/models/base")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("benchmark", help="FLOPs, training and inference speed, utilisation vs a matmul peak")
    p.add_argument("--model", default="cpu", help="model config name")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=6, help="timed training steps per setting")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--compile",
        action="store_true",
        help="also time training under torch.compile (compiling takes a minute or two on CPU)",
    )
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=cmd_benchmark)
