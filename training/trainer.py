"""One training entry point for one device or many.

DDP is detected from torchrun's environment (WORLD_SIZE > 1): nccl on GPUs, gloo on CPU; rank 0
alone logs and saves. No process group exists until `train` runs.

Run folder layout::

    RUN_DIR/config.yaml                  the resolved TrainConfig
    RUN_DIR/command.txt                  the command that started the run (its config's path), for export
    RUN_DIR/checkpoints/step_NNNNNN/     model.safetensors + config.json + resume.pt (last two kept)
    RUN_DIR/latest.json                  which step folder is the newest complete one (atomic)
    RUN_DIR/log.csv, RUN_DIR/tb/         loss terms, accuracy, images/s, lr (CSV + TensorBoard)
    RUN_DIR/summary.json                 final losses, duration, throughput
    RUN_DIR/teacher_centre.npy           teacher_mode: online: the centre of its targets (kept for resume)
    RUN_DIR/teacher_class_centres.npy    online with w_distill_margin: the teacher's class centres
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from pathlib import Path

import torch
import torch.distributed as dist

from interpface.errors import CheckpointError, ConfigError, InterpfaceError
from interpface.models.checkpoint import (
    load_model,
    load_resume_state,
    read_checkpoint_info,
    save_checkpoint,
    save_resume_state,
)
from interpface.models.networks import InterpretableFaceNet, get_model_config

from .config import TrainConfig
from .data import BatchMaker, TrainingSet, load_training_set
from .objective import SiameseObjective

LOG_FIELDS = (
    "step",
    "epoch",
    "loss",
    "identity",
    "sad_filter",
    "sad_response",
    "fad",
    "occluded_identity",
    "distill_cosine",
    "distill_relation",
    "distill_rank",
    "distill_margin",
    "accuracy",
    "lr",
    "images_per_s",
)


class TrainingDivergedError(InterpfaceError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def bf16_supported(device: torch.device) -> bool:
    """bf16 autocast pays off on CUDA and on CPUs with native bf16 (AVX512-BF16 / AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _setup_distributed(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    want_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if want_cuda and not torch.cuda.is_available():
        raise ConfigError("device: cuda was asked for but no CUDA device is available")
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if want_cuda:
            torch.cuda.set_device(local)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if want_cuda else "gloo")
        rank = dist.get_rank()
        device = torch.device("cuda", local) if want_cuda else torch.device("cpu")
        return rank, world, device
    return 0, 1, torch.device("cuda" if want_cuda else "cpu")


def _lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def _latest(run_dir: Path) -> Path | None:
    p = run_dir / "latest.json"
    if not p.is_file():
        return None
    return run_dir / json.loads(p.read_text())["dir"]


def build_model(cfg: TrainConfig, data: TrainingSet) -> InterpretableFaceNet:
    """The run's network for these classes: fresh, or from init_from (its heads as the config asks)."""
    model_cfg = get_model_config(
        cfg.model, **{"teacher_dim": cfg.teacher_dim, **cfg.model_overrides}, num_classes=data.num_classes
    )
    net = InterpretableFaceNet(model_cfg)
    if cfg.init_from:
        src, info = load_model(cfg.init_from)
        heads = dict(num_classes=0, teacher_dim=0)
        if src.config.replace(**heads) != model_cfg.replace(**heads):
            raise ConfigError(f"init_from {cfg.init_from}: its model config differs from this run's")
        state = src.state_dict()
        if src.config.teacher_dim != model_cfg.teacher_dim:  # a new (or no) distillation head
            state = {k: v for k, v in state.items() if not k.startswith("teacher_projection.")}
        # The classifier is kept only on request and when the classes are the same, in the same order.
        if not cfg.keep_classifier or info.get("class_names") != data.class_names:
            state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(("classifier.", "teacher_projection.")) for k in missing):
            raise CheckpointError(f"init_from {cfg.init_from}: incompatible weights ({missing[:3]} {unexpected[:3]})")
        if cfg.psi_init_norm is not None:
            with torch.no_grad():
                scale = cfg.psi_init_norm / net.psi.weight.norm().clamp_min(1e-12)
                net.psi.weight.mul_(scale)
                net.psi.bias.mul_(scale)
                # f scales by `scale` (LMF and the mean pool keep scale); a kept classifier is divided by it
                # so that its logits, and the identity loss, start exactly where the source left them.
                if "classifier.weight" in state:
                    net.classifier.weight.div_(scale)
    return net


def train(
    cfg: TrainConfig,
    run_dir: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    data: TrainingSet | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    command: str | None = None,
) -> dict:
    """Train (or continue) a run; returns the summary dict. `stop_after` ends early after that many
    steps of this invocation (used by tests and to split long runs into sessions). `command`, the
    command line that starts a fresh run, is kept in the run folder: `export_run` records it."""
    rank, world, device = _setup_distributed(cfg)
    is_main = rank == 0
    run_dir = Path(run_dir) if run_dir else Path(cfg.out_dir) / cfg.name
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    online = cfg.teacher_mode == "online" and cfg.uses_distillation
    data = (
        data
        if data is not None
        else load_training_set(
            cfg.dataset,
            cfg.split,
            cfg.data_root,
            cfg.cache_dir,
            cfg.exclude_fallback,
            None if online else cfg.teacher,  # online: no precomputed descriptors needed
        )
    )
    torch.manual_seed(cfg.seed)
    net = build_model(cfg, data).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    objective = SiameseObjective(net, cfg).to(device)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    start, seconds_before = 0, 0.0
    # the weights the run started from, by hash: a run (or its export) from an init_from that has since
    # been retrained is stale, whatever its config says (scripts/shipped_is_current.py)
    init_sha256 = read_checkpoint_info(cfg.init_from)["sha256"] if cfg.init_from else None
    if resume:
        latest = _latest(run_dir)
        if latest is None:
            raise CheckpointError(f"--resume {run_dir}: no checkpoint there (latest.json missing)")
        src, info = load_model(latest)
        net.load_state_dict(src.state_dict())
        state = load_resume_state(latest / "resume.pt")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start = int(state["step"])
        seconds_before = float(info.get("train_seconds", 0.0))
        init_sha256 = info.get("init_sha256")  # what it started from, not what init_from holds now
    elif is_main:
        if _latest(run_dir) is not None:
            raise ConfigError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
        run_dir.mkdir(parents=True, exist_ok=True)
        if command:
            (run_dir / "command.txt").write_text(command + "\n")
    if is_main:
        cfg.save(run_dir / "config.yaml")
    teacher_net, maps = (
        _online_teacher(cfg, data, run_dir, device, is_main, world, progress) if online else (None, None)
    )
    if cfg.w_distill_margin > 0:
        objective.set_class_centres(torch.from_numpy(_class_centres(cfg, data, run_dir, world)))

    end = cfg.steps if stop_after is None else min(cfg.steps, start + stop_after)
    if resume and start >= cfg.steps and (run_dir / "summary.json").is_file():
        # Already finished: nothing to do, keep the summary of the run that finished it.
        if world > 1:
            dist.destroy_process_group()
        return json.loads((run_dir / "summary.json").read_text())
    model = objective
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None
        )
    if cfg.compile:
        model = torch.compile(model)
    batches = batch_maker(cfg, data, rank, world, maps)
    use_bf16 = cfg.bf16 and bf16_supported(device)
    logger = _Logger(run_dir, start, enabled=is_main)
    extra = {
        "training": cfg.to_dict(),
        "class_names": data.class_names,
        "data_digest": data.digest,
        "n_train_images": len(data),
        "init_sha256": init_sha256,
    }
    last_good = _latest(run_dir) if is_main else None
    t_start, images_done, last_terms = time.perf_counter(), 0, {}
    from tqdm import tqdm

    bar = tqdm(total=cfg.steps, initial=start, desc=cfg.name, unit="step", disable=not (is_main and progress))
    net.train()
    window_t, window_imgs = time.perf_counter(), 0
    for step in range(start, end):
        batch = batches.batch(step)
        clean, occluded, labels, teacher, labels_b, mix_lam = step_inputs(batch, cfg, device, teacher_net)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            terms = model(clean, occluded, labels, teacher, labels_b, mix_lam)
        loss = terms["loss"]
        if not torch.isfinite(loss):
            bar.close()
            raise TrainingDivergedError(
                f"loss became {loss.item()} at step {step}; stopped. Last good checkpoint: "
                f"{last_good or 'none'} (resume from it with a lower lr: --resume {run_dir} --set lr=...)"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        n_img = clean.shape[0] * (2 if occluded is not None else 1) * world
        images_done += n_img
        window_imgs += n_img
        done = step + 1
        if done % cfg.log_every == 0 or done == end:
            now = time.perf_counter()
            row = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in terms.items()}
            row.update(
                step=done,
                epoch=step // batches.steps_per_epoch,
                lr=scheduler.get_last_lr()[0],
                images_per_s=window_imgs / max(now - window_t, 1e-9),
            )
            window_t, window_imgs = now, 0
            last_terms = row
            logger.log(row)
            bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['accuracy']:.2f}", ips=f"{row['images_per_s']:.0f}")
        bar.update(1)
        if is_main and (done % cfg.ckpt_every == 0 or done == end):
            extra["train_seconds"] = seconds_before + time.perf_counter() - t_start
            last_good = _save(run_dir, net, optimizer, scheduler, done, extra)
    bar.close()
    seconds = time.perf_counter() - t_start
    summary = {
        "name": cfg.name,
        "run_dir": str(run_dir),
        "steps": end,
        "finished": end >= cfg.steps,
        "seconds_this_invocation": seconds,
        "train_seconds": seconds_before + seconds,
        "images_per_s": images_done / max(seconds, 1e-9),
        "bf16": use_bf16,
        "world_size": world,
        "device": str(device),
        "final": {k: v for k, v in last_terms.items() if k in LOG_FIELDS},
        "n_train_images": len(data),
        "num_classes": data.num_classes,
        "checkpoint": str(last_good) if last_good else None,
    }
    if world > 1:
        summary["rank_weight_checksums"] = _rank_checksums(net, world)
        summary["ranks_identical"] = len(set(summary["rank_weight_checksums"])) == 1
    if is_main:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    logger.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


def batch_maker(cfg: TrainConfig, data: TrainingSet, rank: int = 0, world: int = 1, chip_maps=None) -> BatchMaker:
    """The run's BatchMaker (chip_maps: the online teacher's crop -> chip maps, or None)."""
    return BatchMaker(
        data,
        cfg.batch_size,
        seed=cfg.seed,
        rank=rank,
        world_size=world,
        crop=cfg.crop,
        flip=cfg.flip,
        occlusion=cfg.occlusion,
        occluder_size=cfg.occluder_size,
        occluder=cfg.occluder,
        pairs_per_batch=cfg.pairs_per_batch,
        occluder_height_max=cfg.occluder_height_max,
        colour_jitter=cfg.colour_jitter,
        mixup_alpha=cfg.mixup_alpha,
        cutmix_prob=cfg.cutmix_prob,
        chip_maps=chip_maps,
    )


def step_inputs(batch: dict, cfg: TrainConfig, device, teacher_net=None) -> tuple:
    """A batch (BatchMaker.batch) -> the objective's arguments on the device: (clean, occluded, labels,
    teacher targets, labels_b, mix_lam); with an online teacher its targets are computed here."""
    clean = batch["clean"].to(device, non_blocking=True)
    occluded = batch.get("occluded")
    occluded = occluded.to(device, non_blocking=True) if occluded is not None else None
    if cfg.channels_last:
        clean = clean.contiguous(memory_format=torch.channels_last)
        occluded = occluded.contiguous(memory_format=torch.channels_last) if occluded is not None else None
    labels = batch["labels"].to(device)
    if not cfg.uses_distillation:
        teacher = None
    elif teacher_net is not None:  # online: the teacher on exactly the student's view
        teacher = teacher_net.targets(batch["teacher_chips"])
    else:
        teacher = batch["teacher"].to(device)
    labels_b = batch["labels_b"].to(device) if "labels_b" in batch else None
    mix_lam = batch["mix_lam"].to(device) if "mix_lam" in batch else None
    return clean, occluded, labels, teacher, labels_b, mix_lam


def _online_teacher(cfg: TrainConfig, data: TrainingSet, run_dir: Path, device, is_main: bool, world: int, progress):
    """The online teacher (training/teacher_online.py) and every image's crop -> chip maps. Its centre is
    computed once per run from the un-augmented crops and their mirror images, kept in the run folder
    (teacher_centre.npy), and read back on resume (and by the other DDP ranks); with w_distill_margin the
    same pass gives the teacher's class centres (teacher_class_centres.npy, centred by that centre)."""
    import numpy as np

    from .data import teacher_centre, teacher_class_centres, teacher_targets
    from .teacher_online import CENTRE_FILE, CLASS_CENTRES_FILE, OnlineTeacher, chip_maps

    teacher = OnlineTeacher(device=device, precision="auto" if cfg.bf16 else "fp32", cache_dir=cfg.cache_dir)
    maps = chip_maps(data.landmarks, data.crops.shape[1])
    path, centres_path = run_dir / CENTRE_FILE, run_dir / CLASS_CENTRES_FILE
    need_centres = cfg.w_distill_margin > 0 and not centres_path.is_file()
    if is_main and (not path.is_file() or need_centres):
        descriptors = teacher.describe_crops(data.crops, maps, progress=progress)
        if not path.is_file():
            _save_array(path, teacher_centre(descriptors))
        if need_centres:  # the centred targets of a resumed run's own centre
            targets = teacher_targets(descriptors, np.load(path, allow_pickle=False))
            _save_array(centres_path, teacher_class_centres(targets, data.labels, data.num_classes))
    if world > 1:
        dist.barrier()
    teacher.set_centre(np.load(path, allow_pickle=False))
    return teacher, maps


def _save_array(path: Path, array) -> None:
    """np.save through a temporary file and a rename (a crash leaves no half-written file)."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def _class_centres(cfg: TrainConfig, data: TrainingSet, run_dir: Path, world: int):
    """(C, D) the teacher's class centres for w_distill_margin: the online run's file (written with its
    centre), or from the precomputed descriptors."""
    import numpy as np

    from .data import teacher_class_centres
    from .teacher_online import CLASS_CENTRES_FILE

    if cfg.teacher_mode == "online":
        if world > 1:
            dist.barrier()
        path = run_dir / CLASS_CENTRES_FILE
        centres = np.load(path, allow_pickle=False)
        if centres.ndim != 2 or centres.shape[0] != data.num_classes:
            raise CheckpointError(
                f"{path}: shape {centres.shape}, expected ({data.num_classes}, D): the centres of another class "
                "list; delete the file and resume to recompute it"
            )
        return centres
    if data.teacher is None:
        raise ConfigError("w_distill_margin needs the teacher's targets (teacher: ... with `interpface data teacher`)")
    return teacher_class_centres(data.teacher, data.labels, data.num_classes)  # data.teacher: the targets already


def _rank_checksums(net: torch.nn.Module, world: int) -> list[str]:
    """A hash of this rank's parameters, gathered from every rank (to prove DDP kept them in sync).
    BatchNorm running statistics are left out: each rank updates them from its own slice during the
    forward and DDP re-broadcasts rank 0's at the next one; rank 0's are the ones saved."""
    import hashlib

    h = hashlib.sha256()
    for t in net.parameters():
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    out = [None] * world
    dist.all_gather_object(out, h.hexdigest()[:16])
    return out


def _save(run_dir: Path, net, optimizer, scheduler, step: int, extra: dict) -> Path:
    """Checkpoint into a fresh step folder, then flip latest.json (atomic), then prune old folders."""
    folder = run_dir / "checkpoints" / f"step_{step:06d}"
    if folder.exists():
        shutil.rmtree(folder)
    save_checkpoint(folder, net, model_config=net.config, extra={**extra, "step": step})
    save_resume_state(
        folder / "resume.pt", {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step}
    )
    tmp = run_dir / f".latest.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps({"dir": str(folder.relative_to(run_dir)), "step": step}))
    os.replace(tmp, run_dir / "latest.json")
    for old in sorted((run_dir / "checkpoints").glob("step_*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


class _Logger:
    """CSV + TensorBoard on rank 0. On resume the CSV is cut back to the resumed step."""

    def __init__(self, run_dir: Path, start: int, enabled: bool):
        self.enabled = enabled
        if not enabled:
            return
        self.path = run_dir / "log.csv"
        rows = []
        if self.path.is_file():
            with self.path.open() as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= start]
        with self.path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=start + 1 if start else None)
        except ImportError:  # tensorboard is optional at run time
            self.tb = None

    def log(self, row: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, LOG_FIELDS, extrasaction="ignore").writerow({k: row.get(k, "") for k in LOG_FIELDS})
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("step", "epoch"):
                    self.tb.add_scalar(f"train/{k}", v, row["step"])

    def close(self) -> None:
        if self.enabled and self.tb is not None:
            self.tb.close()
