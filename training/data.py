"""Training batches: LFW DevTrain aligned crops, one physical occlusion mask per batch, random
96x96 crops and flips applied identically to the clean and the occluded copy.

Randomness is a pure function of (seed, step): the epoch permutation from (seed, epoch) and the
batch's crops/flips/mask from (seed, step). So a resumed run needs only the step number to continue
exactly, and every DDP rank draws the same physical mask for its slice of the global batch.

With colour jitter, mixing between faces or the online teacher (training/teacher_online.py), the
batch is made on the whole augmented 110 px crop instead (BatchMaker._view_batch): the teacher's chip
is cut from the same view the student's window comes from.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from interpface.errors import DatasetError
from interpface.faces.datasets import LFWProtocols, load_dataset
from interpface.faces.occlusion import occlude_batch
from interpface.faces.prepare import PreparedDataset
from interpface.faces.template import default_template

from .teacher_online import teacher_centre  # the targets' centre (re-exported here)


@dataclass
class TrainingSet:
    """crops: (N, 110, 110, 3) uint8 in memory; landmarks: (N, 68, 2); labels: (N,) int64 class ids;
    class_names: identity of each class id; relpaths: image of each row; teacher: (N, 2, D) float32
    distillation targets of each image and of its mirror image (centred, unit norm), or None."""

    crops: np.ndarray
    landmarks: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    relpaths: list[str]
    teacher: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def digest(self) -> str:
        """Hash of the image list and labels: recorded in checkpoints to say what a model saw."""
        h = hashlib.sha256("\n".join(self.relpaths).encode())
        h.update(self.labels.tobytes())
        return h.hexdigest()[:16]


def load_training_set(
    dataset: str = "lfw",
    split: str = "devtrain",
    data_root=None,
    cache_dir=None,
    exclude_fallback: bool = True,
    teacher: str | None = None,
) -> TrainingSet:
    """The prepared images of a split. LFW: 'devtrain' (View 1 DevTrain people: disjoint from
    DevTest) or 'all'. Other datasets: every prepared image; classes = identity folders.
    teacher: name of cached teacher descriptors to attach as distillation targets."""
    ds = load_dataset(dataset, data_root)
    cache = PreparedDataset.open(ds, cache_dir)
    if split == "devtrain":
        if ds.protocol_dir is None:
            raise DatasetError("split 'devtrain' needs LFW protocol files; use split: all for other datasets")
        wanted = [r.relpath for r in LFWProtocols.load(ds.protocol_dir).dev_train_images]
        rows = cache.rows(wanted, missing_ok=True)
        if np.any(rows < 0):
            raise DatasetError(
                f"{int((rows < 0).sum())} DevTrain images are not prepared; run `interpface data prepare --dataset lfw`"
            )
    elif split == "all":
        rows = np.arange(len(cache))
    else:
        raise DatasetError(f"unknown split {split!r} (devtrain | all)")
    rows = rows[cache.usable(exclude_fallback)[rows]]
    identities = [cache.identities[i] for i in rows]
    class_names = sorted(set(identities))
    class_of = {name: k for k, name in enumerate(class_names)}
    relpaths = [cache.relpaths[i] for i in rows]
    targets = None
    if teacher:
        from interpface.models.teacher import load_teacher

        targets = teacher_targets(load_teacher(cache.directory, teacher).lookup(relpaths))
    return TrainingSet(
        crops=np.ascontiguousarray(cache.crops[rows]),
        landmarks=cache.landmarks[rows].astype(np.float32),
        labels=np.array([class_of[n] for n in identities], dtype=np.int64),
        class_names=class_names,
        relpaths=relpaths,
        teacher=targets,
    )


def teacher_targets(descriptors: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """(N, 2, D) raw teacher descriptors -> centred (the centre removed: dlib's descriptors share one
    strong direction; default teacher_centre(descriptors)) and L2-normalised targets, float32."""
    d = np.asarray(descriptors, np.float64)
    centre = teacher_centre(d) if centre is None else np.asarray(centre, np.float64)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True) - centre
    return (d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def teacher_class_centres(targets: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, 2, D) centred unit teacher targets (each image and its flip), (N,) class ids -> (C, D) float32
    unit class centres: the mean target of each class (a class with no image keeps a zero row)."""
    t = np.asarray(targets, np.float64)
    sums = np.zeros((num_classes, t.shape[-1]))
    np.add.at(sums, np.asarray(labels), t.sum(axis=1))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


class BatchMaker:
    """Turns a step number into this rank's batch (see the module docstring)."""

    def __init__(
        self,
        data: TrainingSet,
        batch_size: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        crop: int = 96,
        flip: bool = True,
        occlusion: bool = False,
        occluder_size=(32.0, 12.0),
        occluder: str = "rectangle",
        pairs_per_batch: int = 0,
        occluder_height_max: float | None = None,
        colour_jitter: float = 0.0,
        mixup_alpha: float = 0.0,
        cutmix_prob: float = 0.0,
        chip_maps: np.ndarray | None = None,
    ):
        if batch_size % world_size:
            raise ValueError(f"global batch {batch_size} is not divisible by {world_size} ranks")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.crop, self.flip, self.occlusion = crop, flip, occlusion
        self.occluder_size = tuple(occluder_size)
        self.occluder = occluder
        self.occluder_height_max = occluder_height_max
        # identity-paired batches: this many identities with 2+ images contribute two images each, so
        # the batch's cosine matrix (the relation loss) sees genuine pairs, not only impostors
        self.pairs_per_batch = int(pairs_per_batch)
        if 2 * self.pairs_per_batch > batch_size:
            raise ValueError(f"pairs_per_batch {pairs_per_batch} needs a batch of at least {2 * pairs_per_batch}")
        by_label: dict[int, list[int]] = {}
        for i, label in enumerate(data.labels.tolist()):
            by_label.setdefault(label, []).append(i)
        self._multi = [np.array(v) for _, v in sorted(by_label.items()) if len(v) >= 2]
        if self.pairs_per_batch and len(self._multi) < self.pairs_per_batch:
            raise ValueError(f"only {len(self._multi)} identities have 2+ images; pairs_per_batch is {pairs_per_batch}")
        # the augmented-view path (see _view_batch): colour jitter, mixing between faces, and the online
        # teacher's chips (chip_maps: (N, 2, 2, 3) crop -> chip maps of every image, training.teacher_online)
        self.colour_jitter, self.mixup_alpha, self.cutmix_prob = (
            float(colour_jitter),
            float(mixup_alpha),
            float(cutmix_prob),
        )
        self.chip_maps = chip_maps
        if self.mixing and occlusion:
            raise ValueError("mixup / cutmix are not combined with the occluded branch")
        self.template = default_template()
        self.steps_per_epoch = max(1, len(data) // batch_size)
        self._perm_epoch, self._perm = -1, None

    def set_epoch(self, epoch: int) -> None:
        """Like DistributedSampler.set_epoch: the permutation of this epoch (same on every rank)."""
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, 1, epoch]).permutation(len(self.data))
            self._perm_epoch = epoch

    def indices(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.steps_per_epoch)
        self.set_epoch(epoch)
        global_batch = self._perm[k * self.batch_size : (k + 1) * self.batch_size]
        if self.pairs_per_batch:
            # the first 2 * P slots: P seeded identities x 2 of their images; the rest from the epoch order
            rng = np.random.default_rng([self.seed, 3, step])
            who = rng.choice(len(self._multi), size=self.pairs_per_batch, replace=False)
            pairs = np.concatenate([rng.choice(self._multi[w], size=2, replace=False) for w in who])
            global_batch = np.concatenate([pairs, global_batch[: self.batch_size - len(pairs)]])
        per_rank = self.batch_size // self.world_size
        return global_batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def _occlude(self, crops: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One physical occluder for the batch (same draw on every rank): the rectangle or a realistic one."""
        from interpface.faces.occluders import OCCLUDER_KINDS, draw_occluder

        kind = self.occluder
        if kind == "mix":
            kind = ("rectangle", *OCCLUDER_KINDS)[int(rng.integers(len(OCCLUDER_KINDS) + 1))]
        if kind == "rectangle":
            width, height = self.occluder_size
            if self.occluder_height_max is not None:
                height = float(rng.uniform(height, self.occluder_height_max))
            return occlude_batch(crops, landmarks, rng, self.template, (width, height))[0]
        return draw_occluder(kind, rng, self.template).apply_batch(crops, landmarks)[0]

    @property
    def mixing(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_prob > 0

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """{'clean': (b, 3, crop, crop) float [0,1], 'occluded' (same, when enabled), 'labels': (b,),
        'teacher': (b, D) distillation targets (when the data has them)}; with colour jitter, mixing or
        the online teacher's chips see :meth:`_view_batch`."""
        if self.colour_jitter > 0 or self.mixing or self.chip_maps is not None:
            return self._view_batch(step)
        idx = self.indices(step)
        rng = np.random.default_rng([self.seed, 2, step])  # same on every rank: one physical mask
        crops = self.data.crops[idx]
        images = [crops]
        if self.occlusion:
            images.append(self._occlude(crops, self.data.landmarks[idx], rng))
        # Per-image crop offsets and flips: drawn for the global batch, then sliced, so a rank's
        # images get the same augmentation whatever the world size.
        size = crops.shape[1]
        offs = rng.integers(0, size - self.crop + 1, size=(self.batch_size, 2))
        flips = rng.random(self.batch_size) < 0.5 if self.flip else np.zeros(self.batch_size, bool)
        per_rank = self.batch_size // self.world_size
        sl = slice(self.rank * per_rank, self.rank * per_rank + len(idx))
        offs, flips = offs[sl], flips[sl]
        out = {}
        for key, arr in zip(("clean", "occluded"), images):
            cut = np.stack([a[y : y + self.crop, x : x + self.crop] for a, (y, x) in zip(arr, offs)])
            cut[flips] = cut[flips, :, ::-1]
            out[key] = torch.from_numpy(np.ascontiguousarray(cut)).permute(0, 3, 1, 2).float().div_(255)
        out["labels"] = torch.from_numpy(self.data.labels[idx])
        if self.data.teacher is not None:  # the teacher's target of the image as it is shown (flipped or not)
            out["teacher"] = torch.from_numpy(self.data.teacher[idx, flips.astype(np.int64)])
        return out

    def _view_batch(self, step: int) -> dict[str, torch.Tensor]:
        """The augmented-view batch: the same crop offsets, flips and occluder draws as :meth:`batch` (so
        without jitter or mixing the student's windows are the same), then on the whole 110 px crop:

        - colour jitter (strength s): brightness, contrast and saturation each scaled by a factor drawn
          uniformly in [1 - s, 1 + s] per image (the clean and the occluded copy alike);
        - mixing: each image with a partner from the same rank's slice; mixup (weight lam ~
          Beta(alpha, alpha)) or, with probability cutmix_prob, cutmix (a square of the partner pasted in,
          area fraction drawn uniformly); 'labels_b' is the partner's label and 'mix_lam' the weight of
          the image's own label (for cutmix the share of the student's window that stayed its own);
        - with chip_maps, 'teacher_chips' (b, 3, 150, 150) in [0, 255]: dlib's chip cut from the same
          augmented crop (mixed, jittered, flipped) with everything outside the student's window replaced
          by the window's border, through the image's crop -> chip map (its mirrored map when flipped).

        The extra draws come from their own stream (seed, 4, step), drawn for the global batch."""
        idx = self.indices(step)
        rng = np.random.default_rng([self.seed, 2, step])
        crops = self.data.crops[idx]
        images = [crops]
        if self.occlusion:
            images.append(self._occlude(crops, self.data.landmarks[idx], rng))
        size, c = crops.shape[1], self.crop
        offs = rng.integers(0, size - c + 1, size=(self.batch_size, 2))
        flips = rng.random(self.batch_size) < 0.5 if self.flip else np.zeros(self.batch_size, bool)
        per_rank = self.batch_size // self.world_size
        sl = slice(self.rank * per_rank, self.rank * per_rank + len(idx))
        offs, flips = offs[sl].copy(), flips[sl]
        # the window of a flipped crop: cutting then flipping (batch) = flipping then cutting here
        offs[flips, 1] = size - c - offs[flips, 1]
        aug = np.random.default_rng([self.seed, 4, step])
        B = self.batch_size
        jitter = aug.uniform(1 - self.colour_jitter, 1 + self.colour_jitter, size=(B, 3))[sl]
        lam = aug.beta(self.mixup_alpha, self.mixup_alpha, size=B) if self.mixup_alpha > 0 else np.ones(B)
        use_cut = aug.random(B) < self.cutmix_prob
        cut_area = aug.random(B)
        cut_centre = aug.random((B, 2)) * size
        partners = [aug.permutation(per_rank) for _ in range(self.world_size)][self.rank][: len(idx)]
        lam, use_cut, cut_area, cut_centre = lam[sl], use_cut[sl], cut_area[sl], cut_centre[sl]

        views = []
        for arr in images:
            v = arr.astype(np.float32) / 255.0
            v[flips] = v[flips, :, ::-1]
            if self.colour_jitter > 0:
                v = _colour_jitter(v, jitter)
            views.append(v)
        mix_lam = np.ones(len(idx), np.float32)
        if self.mixing:
            v, partner = views[0], views[0][partners]
            out_v = v.copy()
            for i in range(len(idx)):
                if use_cut[i]:
                    half = 0.5 * size * np.sqrt(cut_area[i])
                    (cy, cx) = cut_centre[i]
                    y0, y1 = int(np.clip(round(cy - half), 0, size)), int(np.clip(round(cy + half), 0, size))
                    x0, x1 = int(np.clip(round(cx - half), 0, size)), int(np.clip(round(cx + half), 0, size))
                    out_v[i, y0:y1, x0:x1] = partner[i, y0:y1, x0:x1]
                    wy, wx = offs[i]
                    inter = max(0, min(y1, wy + c) - max(y0, wy)) * max(0, min(x1, wx + c) - max(x0, wx))
                    mix_lam[i] = 1.0 - inter / (c * c)
                else:
                    mix_lam[i] = lam[i]
                    out_v[i] = lam[i] * v[i] + (1 - lam[i]) * partner[i]
            views[0] = out_v
        out = {}
        for key, v in zip(("clean", "occluded"), views):
            cut = np.stack([a[y : y + c, x : x + c] for a, (y, x) in zip(v, offs)])
            out[key] = torch.from_numpy(np.ascontiguousarray(cut)).permute(0, 3, 1, 2)
        labels = self.data.labels[idx]
        out["labels"] = torch.from_numpy(labels)
        if self.mixing:
            out["labels_b"] = torch.from_numpy(labels[partners])
            out["mix_lam"] = torch.from_numpy(mix_lam)
        if self.chip_maps is not None:
            from .teacher_online import cut_chips

            seen = np.stack(
                [
                    np.pad(a[y : y + c, x : x + c], ((y, size - c - y), (x, size - c - x), (0, 0)), mode="edge")
                    for a, (y, x) in zip(views[0], offs)
                ]
            )
            chips = cut_chips(seen, self.chip_maps[idx, flips.astype(np.int64)])
            out["teacher_chips"] = torch.from_numpy(chips).permute(0, 3, 1, 2)
        elif self.data.teacher is not None:
            out["teacher"] = torch.from_numpy(self.data.teacher[idx, flips.astype(np.int64)])
        return out


def _colour_jitter(v: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(b, H, W, 3) float [0, 1] RGB and (b, 3) factors (brightness, contrast, saturation) -> jittered,
    clipped to [0, 1]."""
    grey_w = np.array([0.299, 0.587, 0.114], np.float32)
    f = factors.astype(np.float32)[:, None, None, :]
    v = v * f[..., 0:1]
    mean = (v @ grey_w).mean(axis=(1, 2))[:, None, None, None]
    v = (v - mean) * f[..., 1:2] + mean
    grey = (v @ grey_w)[..., None]
    v = (v - grey) * f[..., 2:3] + grey
    return np.clip(v, 0.0, 1.0, out=v)
