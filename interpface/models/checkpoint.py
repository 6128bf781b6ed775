"""The only place weights touch disk.

A checkpoint is a directory:

    model.safetensors   the state dict (safetensors: no code runs on load)
    config.json         {"format": "interpface-checkpoint", "version": 1, "model": ModelConfig.to_dict(),
                         "sha256": <hex of model.safetensors>, "weights_dtype": "float32", ...extra}

so a checkpoint rebuilds its own model. Pickle is never used to load weights: `.pt/.pth/.pkl/.bin`
files are refused by name, and a pickle renamed to model.safetensors fails the safetensors parser.
Resume state (optimizer, scheduler, step, RNG) is a separate single file written with torch.save and
read with torch.load(weights_only=True), which refuses arbitrary objects.

Writes are atomic: each file goes to a temporary name in the same directory, is fsynced, then
os.replace'd over the final name, so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from interpface.errors import CheckpointError, ConfigError
from interpface.models.networks import InterpretableFaceNet, ModelConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "WEIGHTS_FILE",
    "CONFIG_FILE",
    "save_checkpoint",
    "load_model",
    "read_checkpoint_info",
    "save_resume_state",
    "load_resume_state",
]

CHECKPOINT_FORMAT = "interpface-checkpoint"
CHECKPOINT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
_RESERVED = ("format", "version", "model", "sha256", "weights_dtype")
_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".bin", ".ckpt")


# -- helpers -----------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) for a temp file next to `path`, fsync it, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _write_json(path: Path, obj: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False)
            fh.write("\n")

    _atomic_write(path, write)


# -- model checkpoints -------------------------------------------------------------------------------
def save_checkpoint(
    directory: str | os.PathLike,
    model: nn.Module,
    *,
    model_config: ModelConfig,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write `model`'s state dict and config to `directory` (created if needed); returns the directory.

    dtype: cast floating-point tensors to this dtype on disk (e.g. torch.float16 to halve shipped
    models); integer buffers (BN's num_batches_tracked) are kept. extra: JSON-serialisable metadata
    (training config, class names, data hash, metrics...) merged at the top level of config.json; its
    keys must not collide with the reserved ones.
    """
    directory = Path(directory)
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ConfigError(f"save_checkpoint: extra uses reserved key(s) {clash}")
    if dtype is not None and not dtype.is_floating_point:
        raise ConfigError(f"save_checkpoint: dtype must be a floating dtype, got {dtype}")
    try:  # before anything is written, so a bad `extra` cannot leave new weights with an old config
        json.dumps({"model": model_config.to_dict(), **extra})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"save_checkpoint: extra is not JSON-serialisable: {e}") from None

    # Unwrap DDP / DataParallel / torch.compile so the keys are the bare model's.
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    model = getattr(model, "_orig_mod", model)
    tensors: dict[str, torch.Tensor] = {}
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous().clone()  # clone: safetensors refuses shared storage
    floats = {str(t.dtype).removeprefix("torch.") for t in tensors.values() if t.is_floating_point()}

    weights = directory / WEIGHTS_FILE
    _atomic_write(weights, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    info = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": model_config.to_dict(),
        "sha256": _sha256(weights),
        "weights_dtype": ",".join(sorted(floats)),
        **extra,
    }
    _write_json(directory / CONFIG_FILE, info)
    return directory


def _checkpoint_dir(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix.lower() in _PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{p}: pickle checkpoints ({', '.join(_PICKLE_SUFFIXES)}) are never loaded; "
            f"use a directory with {WEIGHTS_FILE} + {CONFIG_FILE}"
        )
    if not p.exists():
        raise CheckpointError(f"{p}: checkpoint not found")
    if p.is_file():
        if p.name not in (WEIGHTS_FILE, CONFIG_FILE):
            raise CheckpointError(f"{p}: not a checkpoint; expected a directory with {WEIGHTS_FILE} + {CONFIG_FILE}")
        p = p.parent
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (p / name).is_file():
            raise CheckpointError(
                f"{p}: missing {name} (a checkpoint is a directory with {WEIGHTS_FILE} + {CONFIG_FILE})"
            )
    return p


def read_checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """Parse and check config.json of a checkpoint (no weights read). Returns its dict."""
    d = _checkpoint_dir(path)
    try:
        with open(d / CONFIG_FILE, encoding="utf-8") as fh:
            info = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{d / CONFIG_FILE}: malformed JSON ({e})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{d / CONFIG_FILE}: expected a JSON object")
    if info.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{d / CONFIG_FILE}: format is {info.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    if info.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{d / CONFIG_FILE}: unsupported version {info.get('version')!r} (this code reads {CHECKPOINT_VERSION})"
        )
    if not isinstance(info.get("sha256"), str) or not isinstance(info.get("model"), dict):
        raise CheckpointError(f"{d / CONFIG_FILE}: missing 'sha256' or 'model'")
    return info


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[InterpretableFaceNet, dict[str, Any]]:
    """Rebuild a model from a checkpoint directory (or its model.safetensors / config.json).

    Returns (model in eval mode, float32, on `device`; the config.json dict plus "path"). Raises
    CheckpointError, with a one-line message, for a missing directory or file, malformed JSON, a wrong
    format/version, a hash mismatch (file changed after saving), a file that is not safetensors
    (e.g. a pickle), or tensor names/shapes that do not fit the configured model.
    """
    d = _checkpoint_dir(path)
    info = read_checkpoint_info(d)
    try:
        config = ModelConfig.from_dict(info["model"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{d / CONFIG_FILE}: invalid model config: {e}") from None

    weights = d / WEIGHTS_FILE
    actual = _sha256(weights)
    if actual != info["sha256"]:
        raise CheckpointError(f"{weights}: sha256 mismatch (file is corrupt or was modified after saving)")
    try:
        state = load_file(weights, device="cpu")
    except Exception as e:  # SafetensorError (e.g. a pickle renamed), OSError, ...: all mean "refuse"
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{weights}: not a readable safetensors file ({msg})") from None

    model = InterpretableFaceNet(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: tensors do not match the configured model "
            f"(missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''})"
        )
    for name, t in expected.items():
        if tuple(state[name].shape) != tuple(t.shape):
            raise CheckpointError(
                f"{weights}: {name} has shape {tuple(state[name].shape)}, the configured model needs {tuple(t.shape)}"
            )
        if state[name].is_floating_point() != t.is_floating_point():
            raise CheckpointError(f"{weights}: {name} has dtype {state[name].dtype}, expected {t.dtype}")
    # Cast to the model's own dtypes (float32; int64 for BN counters): fp16 checkpoints load as float32.
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    model.to(device).eval()
    return model, {**info, "path": str(d)}


# -- resume state ------------------------------------------------------------------------------------
_JSON_SCALARS = (str, int, float, bool, type(None))


def _check_resume_value(obj: Any, where: str) -> None:
    """Refuse anything torch.load(weights_only=True) would refuse later, at save time instead."""
    if isinstance(obj, torch.Tensor) or isinstance(obj, _JSON_SCALARS) or isinstance(obj, torch.dtype):
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_resume_value(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise CheckpointError(f"resume state: key {k!r} at {where} is not a str/int")
            _check_resume_value(v, f"{where}[{k!r}]")
        return
    raise CheckpointError(
        f"resume state: {where} is a {type(obj).__name__}; only tensors, numbers, strings, None and "
        "lists/tuples/dicts of them are allowed (convert numpy arrays with torch.from_numpy)"
    )


def save_resume_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write a training resume state (optimizer.state_dict(), scheduler.state_dict(), step,
    torch RNG states, ...) to one file. Only tensors and JSON-like values are accepted, so that
    load_resume_state can use torch.load(weights_only=True)."""
    path = Path(path)
    if not isinstance(state, dict):
        raise CheckpointError("resume state must be a dict")
    _check_resume_value(state, "state")
    _atomic_write(path, lambda tmp: torch.save(state, tmp))
    return path


def load_resume_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by save_resume_state, on CPU, with torch.load(weights_only=True): a pickle
    that would construct arbitrary objects (or run code) is refused with CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: resume state not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...: all mean "refuse"
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a loadable resume state ({msg})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: resume state is not a dict")
    return state
