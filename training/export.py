"""Ship a trained run: fp16 `model.safetensors` + `config.json` + a short `training.json`
(command, duration, final losses) — the format of assets/models/<variant>/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from interpface.errors import CheckpointError
from interpface.models.checkpoint import load_model, save_checkpoint


def _config_named_after(name: str) -> str | None:
    """For a run started before runs kept command.txt: the command of the reference config named after
    the run (training/configs/NAME.yaml or patient/NAME.yaml), or None when there is none."""
    configs = Path(__file__).resolve().parent / "configs"
    for path in (configs / f"{name}.yaml", configs / "patient" / f"{name}.yaml"):
        if path.is_file():
            return f"interpface train --config {path.relative_to(configs.parent.parent)}"
    return None


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, command: str | None = None) -> dict:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    latest = run_dir / "latest.json"
    if not latest.is_file():
        raise CheckpointError(f"{run_dir}: no checkpoint to export (latest.json missing)")
    ckpt = run_dir / json.loads(latest.read_text())["dir"]
    model, info = load_model(ckpt)
    extra = {k: v for k, v in info.items() if k not in ("format", "version", "model", "sha256", "weights_dtype")}
    save_checkpoint(out_dir, model, model_config=model.config, extra=extra, dtype=torch.float16)
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    if command is None and (run_dir / "command.txt").is_file():
        command = (run_dir / "command.txt").read_text().strip()
    training = {
        "name": info["training"]["name"],
        "command": command or _config_named_after(info["training"]["name"]),
        "steps": info.get("step"),
        "finished": info.get("step") == info["training"]["steps"],
        "train_seconds": info.get(
            "train_seconds", summary.get("train_seconds", summary.get("seconds_this_invocation"))
        ),
        "images_per_s": summary.get("images_per_s"),
        "bf16": summary.get("bf16"),
        "device": summary.get("device"),
        "final": summary.get("final"),
        "n_train_images": info.get("n_train_images"),
        "num_classes": len(info.get("class_names", [])),
        "init_from": info["training"].get("init_from"),
        "init_sha256": info.get("init_sha256"),
        "data_digest": info.get("data_digest"),
    }
    (out_dir / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    size = (out_dir / "model.safetensors").stat().st_size
    return {"out": str(out_dir), "bytes": size, **training}
