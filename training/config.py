"""Training configuration: YAML -> dataclass -> `--set key=value` overrides -> saved config.yaml.

Derived values are properties; the config is never edited mid-run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interpface.errors import ConfigError

VARIANTS = ("base", "base_aug", "sad", "fad", "full")


@dataclass
class TrainConfig:
    """One training run. See training/configs/stem_patient.yaml and patient/*.yaml for the reference recipe."""

    name: str = "base"
    # model
    model: str = "cpu"  # a name in interpface.models.networks.MODEL_CONFIGS
    model_overrides: dict = field(default_factory=dict)
    init_from: str | None = None  # checkpoint dir to start from (e.g. the trained base model)
    # init_from: carry its identity classifier over (same classes, same order only; otherwise a fresh one).
    # Off by default so that a recipe asks for it explicitly; the shipped variants do (their stem was trained
    # on the same prepared classes, and a fresh classifier spends a short budget relearning it).
    keep_classifier: bool = False
    # init_from: rescale Psi's weight and bias so that the weight's Frobenius norm is this (None: as
    # loaded). f only changes scale, which every loss but the (fresh) classifier's ignores. Why: Adam's
    # steps do not grow with the weights, so after a long stem (which grows Psi's norm) SAD's scale-free
    # terms move more slowly (docs/experiments.md, "A longer stem").
    psi_init_norm: float | None = None
    # what the run optimises
    occlusion: bool = False  # build the occluded branch (one physical mask per batch)
    occluded_identity_plain: bool = False  # base_aug: identity loss on the occluded copies, no tau
    w_identity: float = 1.0
    w_sad_filter: float = 0.0
    # which filter term w_sad_filter weights: "paper" (Eq. 1 as written: filters decorrelated from each
    # other, tap by tap) or "taps" (the authors' released code: the 9 taps within each filter decorrelated)
    sad_filter_form: str = "paper"
    w_sad_response: float = 0.0
    w_fad: float = 0.0
    w_occluded_identity: float = 0.0  # Eq. 5 (tau-masked)
    fad_mode: str = "count"  # "count" (t dimensions kept) or "value"
    fad_t: float = 260
    # FAD (Eq. 4) and its selection tau on the L2-normalised f (per image) instead of raw f: raw L1 is
    # minimised by shrinking f, which starved the identity loss (fad/full stayed at chance, CE 8.1).
    fad_normalize: bool = False
    sad_on_occluded: bool = False  # also apply the SAD response term to the occluded branch
    # Eq. 2's g_sigma for the loss only (None: the model's own psi', a 3x3 Gaussian as in the authors' code).
    # A wider Gaussian dilates each map (the paper's stated purpose for g_sigma), so that scattered responses
    # overlap and only compact, separate ones decorrelate; the analyses keep the model's psi' either way.
    sad_smooth_kernel: int | None = None  # odd side of the loss's Gaussian
    sad_smooth_sigma: float = 1.5
    # distillation from a teacher's descriptors (interpface.models.teacher; `interpface data teacher` makes them)
    teacher: str | None = None  # name of the cached teacher descriptors, e.g. dlib_resnet_v1
    w_distill_cosine: float = 0.0  # 1 - cos(projection of f, centred teacher descriptor)
    w_distill_relation: float = 0.0  # MSE between the batch's cosine matrices of f and of the teacher
    distill_occluded: bool = True  # the occluded copy is pulled toward the clean face's teacher target too
    # the occluded branch's distillation terms count this many times the clean branch's (1: the two averaged)
    w_distill_occluded: float = 1.0
    # EKD-style rank loss (Huang et al., CVPR 2022): the batch pairs where the student's cosine differs most
    # from the teacher's (this share of all pairs) must be ordered against every pair as the teacher orders them
    w_distill_rank: float = 0.0
    distill_rank_fraction: float = 0.1
    distill_rank_temperature: float = 0.05
    # each model's cosines as z-scores over the batch's pairs first: pairs chosen and ordered free of the
    # student's scale (the temperature is then in standard deviations)
    distill_rank_standardise: bool = False
    # the teacher's geometry for identities (ProxylessKD, MarginDistillation): its class centres (the mean
    # target of each class's images) as a fixed cosine classifier on the projection of f, with an additive margin
    w_distill_margin: float = 0.0
    distill_margin: float = 0.2
    distill_margin_scale: float = 30.0
    # where the teacher's targets come from: "precomputed" (`interpface data teacher`, one per image and
    # flip, whatever else the augmentation does) or "online" (the dlib port, bf16 where the CPU has it, run
    # every step on exactly the student's augmented view: training/teacher_online.py)
    teacher_mode: str = "precomputed"
    # data
    dataset: str = "lfw"
    data_root: str | None = None
    cache_dir: str | None = None
    split: str = "devtrain"  # LFW View 1 DevTrain identities are the classes
    exclude_fallback: bool = True
    crop: int = 96
    flip: bool = True
    # colour jitter on the aligned crop: brightness, contrast and saturation each scaled by a factor drawn
    # in [1 - s, 1 + s] per image (0: off); with precomputed targets the target stays the unjittered face's
    colour_jitter: float = 0.0
    # mixing faces of the batch (teacher_mode: online only: no precomputed target exists for a mixed face):
    # each image mixed with a partner by mixup (lam ~ Beta(mixup_alpha, mixup_alpha)) or, with probability
    # cutmix_prob, by cutmix; the identity loss takes both labels weighted lam and 1 - lam
    mixup_alpha: float = 0.0
    cutmix_prob: float = 0.0
    pairs_per_batch: int = 0  # identities that bring 2 images each to every batch (genuine pairs for the relation loss)
    occluder_size: tuple = (32.0, 12.0)
    # which occluder the occluded branch sees: "rectangle" (the paper's, occluder_size), a realistic
    # kind (surgical_mask, cloth_mask, sunglasses, scarf, hand), or "mix" (each batch draws one of all six)
    occluder: str = "rectangle"
    # rectangle only: None keeps occluder_size's height (the paper's 32x12); a number draws each batch's
    # height uniformly between occluder_size's and this (26.7 px is the template's nose box)
    occluder_height_max: float | None = None
    # optimisation
    steps: int = 1000
    batch_size: int = 64  # global batch (split over DDP ranks)
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" (with warmup) or "constant"
    warmup_steps: int = 100
    seed: int = 0
    # speed
    bf16: bool = True  # autocast to bfloat16 where supported (CPU with AVX512-BF16, CUDA)
    channels_last: bool = True
    compile: bool = False
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch CPU threads (0 = default)
    # bookkeeping
    log_every: int = 10
    ckpt_every: int = 200
    out_dir: str = "runs"

    def __post_init__(self) -> None:
        if self.fad_mode not in ("count", "value"):
            raise ConfigError(f"fad_mode must be 'count' or 'value', got {self.fad_mode!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be >= 1")
        needs_occ = self.w_fad > 0 or self.w_occluded_identity > 0 or self.occluded_identity_plain
        if needs_occ and not self.occlusion:
            raise ConfigError("FAD / occluded identity losses need occlusion: true")
        from interpface.faces.occluders import OCCLUDER_KINDS

        if self.occluder not in ("rectangle", "mix", *OCCLUDER_KINDS):
            raise ConfigError(
                f"occluder must be rectangle, mix or one of {', '.join(OCCLUDER_KINDS)}; got {self.occluder!r}"
            )
        if self.sad_filter_form not in ("paper", "taps"):
            raise ConfigError(f"sad_filter_form must be 'paper' or 'taps', got {self.sad_filter_form!r}")
        if self.sad_smooth_kernel is not None and not (self.sad_smooth_kernel >= 1 and self.sad_smooth_kernel % 2):
            raise ConfigError(f"sad_smooth_kernel must be a positive odd integer, got {self.sad_smooth_kernel}")
        if not self.sad_smooth_sigma > 0:
            raise ConfigError(f"sad_smooth_sigma must be > 0, got {self.sad_smooth_sigma}")
        if self.psi_init_norm is not None and (not self.init_from or not self.psi_init_norm > 0):
            raise ConfigError("psi_init_norm needs init_from and a positive norm")
        if self.uses_distillation and not self.teacher:
            raise ConfigError("the w_distill_* terms need teacher: NAME (e.g. dlib_resnet_v1)")
        self.occluder_size = tuple(float(v) for v in self.occluder_size)
        if self.occluder_height_max is not None and not self.occluder_height_max >= self.occluder_size[1]:
            raise ConfigError(
                f"occluder_height_max ({self.occluder_height_max}) must be at least the occluder's "
                f"height ({self.occluder_size[1]})"
            )
        if self.w_distill_occluded < 0:
            raise ConfigError("w_distill_occluded must be >= 0")
        if min(self.w_distill_rank, self.w_distill_margin) < 0:
            raise ConfigError("w_distill_rank and w_distill_margin must be >= 0")
        if not 0 < self.distill_rank_fraction <= 1 or not self.distill_rank_temperature > 0:
            raise ConfigError("distill_rank_fraction must be in (0, 1] and distill_rank_temperature > 0")
        if not 0 <= self.distill_margin < 1 or not self.distill_margin_scale > 0:
            raise ConfigError("distill_margin must be in [0, 1) and distill_margin_scale > 0")
        if self.teacher_mode not in ("precomputed", "online"):
            raise ConfigError(f"teacher_mode must be 'precomputed' or 'online', got {self.teacher_mode!r}")
        if self.teacher_mode == "online" and self.teacher not in (None, "dlib_resnet_v1"):
            raise ConfigError(
                f"teacher_mode: online runs the dlib port (teacher: dlib_resnet_v1), not {self.teacher!r}"
            )
        if self.teacher_mode == "online" and not self.uses_distillation:
            raise ConfigError("teacher_mode: online needs a distillation weight (w_distill_*)")
        if not 0 <= self.colour_jitter < 1:
            raise ConfigError(f"colour_jitter must be in [0, 1), got {self.colour_jitter}")
        if self.mixup_alpha < 0 or not 0 <= self.cutmix_prob <= 1:
            raise ConfigError("mixup_alpha must be >= 0 and cutmix_prob in [0, 1]")
        if self.mixing and self.teacher_mode != "online":
            raise ConfigError("mixup / cutmix need teacher_mode: online (a mixed face has no precomputed target)")
        if self.mixing and self.occlusion:
            raise ConfigError("mixup / cutmix and the occluded branch are not combined (FAD and Eq. 5 take one face)")

    @property
    def uses_sad(self) -> bool:
        return self.w_sad_filter > 0 or self.w_sad_response > 0

    @property
    def uses_distillation(self) -> bool:
        return (
            self.w_distill_cosine > 0
            or self.w_distill_relation > 0
            or self.w_distill_rank > 0
            or self.w_distill_margin > 0
        )

    @property
    def mixing(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_prob > 0

    @property
    def teacher_dim(self) -> int:
        """Width of the model's teacher projection head (128 = dlib's descriptor) when it is trained."""
        return 128 if self.w_distill_cosine > 0 or self.w_distill_margin > 0 else 0

    @property
    def uses_fad(self) -> bool:
        return self.w_fad > 0 or self.w_occluded_identity > 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["occluder_size"] = list(self.occluder_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown training config key(s) {unknown}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """child over parent; mappings (model_overrides) merged key by key."""
    out = dict(parent)
    for key, value in child.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_config(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML config as a plain mapping, its ``extends:`` chain resolved.

    ``extends: full.yaml`` (a path relative to this file's folder) starts from that file's resolved
    mapping, and every key given here replaces the parent's (mappings such as model_overrides are merged
    key by key), so an ablation is the lines it changes. A chain that comes back to a file is an error;
    unknown keys are left to :meth:`TrainConfig.from_dict`, which rejects them."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    here = p.resolve()
    if here in _seen:
        chain = " -> ".join(q.name for q in (*_seen, here))
        raise ConfigError(f"{p}: `extends` comes back to a file it started from ({chain})")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: invalid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{p}: `extends` must name one YAML file, got {parent!r}")
    return _merge(read_config(here.parent / parent, (*_seen, here)), data)


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """YAML file (its ``extends:`` chain resolved; or defaults) + `key=value` overrides (values parsed as
    YAML: 0.1, true, [1, 2])."""
    data: dict[str, Any] = read_config(path) if path is not None else {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        parsed = yaml.safe_load(value)
        if "." in key:  # model_overrides.width=0.25
            top, sub = key.split(".", 1)
            data.setdefault(top, {})[sub] = parsed
        else:
            data[key] = parsed
    return TrainConfig.from_dict(data)
