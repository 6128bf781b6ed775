"""The teacher run online on the student's own view (Beyer et al., "patient and consistent" distillation).

With ``teacher_mode: online`` the batch maker (training/data.py) augments the aligned 110 px crop (flip,
colour jitter, mixup or cutmix between the batch's faces), cuts the student's 96 px window from it and,
from the same augmented crop, dlib's 150 px chip through the dlib port adapter's affine map (crop px ->
chip px, :func:`chip_maps`; a flipped crop gets the map of the mirrored chip). Pixels outside the
student's window are replaced by the window's border first, so the teacher sees no pixel the student
does not. :class:`OnlineTeacher` runs the port (no gradient, bf16 autocast where the CPU has native bf16)
on those chips and returns centred unit descriptors, as :func:`training.data.teacher_targets` does for
the precomputed ones.

The centre (the direction dlib's descriptors share) is the mean unit descriptor of every un-augmented
training crop and its mirror image, computed once per run (:func:`teacher_centre` of
:meth:`OnlineTeacher.describe_crops`; the trainer derives the margin term's class centres from the same
pass) and kept in the run folder, so a resumed run uses the same one.
"""

from __future__ import annotations

import numpy as np
import torch

from interpface.models.face_model import resolve_precision
from interpface.models.teacher import CHIP_SIZE

CENTRE_FILE = "teacher_centre.npy"
CLASS_CENTRES_FILE = "teacher_class_centres.npy"


def _mirror(n: int) -> np.ndarray:
    """(3, 3) the horizontal mirror x -> n - 1 - x of an n-pixel-wide image."""
    return np.array([[-1.0, 0.0, n - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def chip_maps(landmarks: np.ndarray, crop_size: int = 110) -> np.ndarray:
    """(N, 68, 2) landmarks in crop px -> (N, 2, 2, 3) float32 affine maps crop px -> teacher chip px:
    ``[:, 0]`` the dlib port adapter's map (dlib.get_face_chip's alignment), ``[:, 1]`` the map from the
    mirrored crop to the mirrored chip (mirror_chip . map . mirror_crop): the chip of a flipped crop is
    then exactly the mirror image of the chip of the crop, as the precomputed mirror targets are."""
    from interpface.models.adapters import dlib_chip_transform  # the adapter's own crop -> chip map

    out = np.zeros((len(landmarks), 2, 2, 3), np.float32)
    fc, fi = _mirror(CHIP_SIZE), _mirror(crop_size)
    for k, lm in enumerate(np.asarray(landmarks, np.float64)):
        m = np.vstack([dlib_chip_transform(lm), [0.0, 0.0, 1.0]])
        out[k, 0] = m[:2]
        out[k, 1] = (fc @ m @ fi)[:2]
    return out


def cut_chips(views: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """(b, S, S, 3) float32 views in [0, 1] and (b, 2, 3) maps -> (b, 150, 150, 3) float32 chips in
    [0, 255] (bilinear, zero outside the crop, like dlib.get_face_chip)."""
    import cv2

    if not len(views):
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.float32)
    return np.stack(
        [
            cv2.warpAffine(
                np.ascontiguousarray(v, np.float32) * 255.0,
                m.astype(np.float64),
                (CHIP_SIZE, CHIP_SIZE),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
            )
            for v, m in zip(views, maps)
        ]
    )


def teacher_centre(descriptors: np.ndarray) -> np.ndarray:
    """(N, 2, D) raw teacher descriptors -> (D,) float64 mean of their unit-norm copies over every image
    and flip: the direction dlib's descriptors share, removed from every target (and from a test
    face's descriptor when comparing with the targets)."""
    d = np.asarray(descriptors, np.float64)
    return (d / np.linalg.norm(d, axis=-1, keepdims=True)).reshape(-1, d.shape[-1]).mean(axis=0)


class OnlineTeacher:
    """The dlib port as an online teacher: chips (b, 3, 150, 150) in [0, 255] -> centred unit targets.

    precision: "auto" (bf16 autocast on CPUs with native bf16), "bf16" or "fp32"
    (:func:`interpface.models.face_model.resolve_precision`). centre: (D,) the direction removed from every
    target (:meth:`set_centre`, or :meth:`compute_centre` in one call; None until then)."""

    def __init__(self, net=None, *, device: torch.device | str = "cpu", precision: str = "auto", cache_dir=None):
        from interpface.models.dlib_port import load_dlib_port

        self.device = torch.device(device)
        self.net = (net if net is not None else load_dlib_port(cache_dir)).eval().to(self.device)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.dtype = resolve_precision(precision, self.device.type)
        self.centre: torch.Tensor | None = None

    @torch.no_grad()
    def describe(self, chips: torch.Tensor, batch: int = 128) -> torch.Tensor:
        """(b, 3, 150, 150) float chips in [0, 255] -> (b, D) float32 raw descriptors (the port's output)."""
        out = []
        for i in range(0, len(chips), batch):
            x = chips[i : i + batch].to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
                out.append(self.net(x).float())
        return torch.cat(out) if out else torch.zeros(0, 128, device=self.device)

    def targets(self, chips: torch.Tensor) -> torch.Tensor:
        """(b, 3, 150, 150) chips -> (b, D) centred, L2-normalised targets (see training.data.teacher_targets)."""
        if self.centre is None:
            raise RuntimeError("the online teacher has no centre yet: call compute_centre or set_centre first")
        d = self.describe(chips)
        d = torch.nn.functional.normalize(d, dim=1) - self.centre
        return torch.nn.functional.normalize(d, dim=1, eps=1e-12)

    def set_centre(self, centre: np.ndarray) -> None:
        self.centre = torch.as_tensor(np.asarray(centre, np.float32), device=self.device)

    def describe_crops(self, crops: np.ndarray, maps: np.ndarray, *, batch: int = 128, progress: bool = False):
        """Every un-augmented crop and its mirror image: (N, S, S, 3) uint8 crops and their (N, 2, 2, 3)
        :func:`chip_maps` -> (N, 2, D) float32 raw descriptors (as `interpface data teacher` stores them)."""
        from tqdm import tqdm

        out = np.zeros((len(crops), 2, 128), np.float32)
        for i in tqdm(range(0, len(crops), batch), desc="teacher", unit="batch", disable=not progress):
            views = crops[i : i + batch].astype(np.float32) / 255.0
            mirrored = np.ascontiguousarray(views[:, :, ::-1])
            m = maps[i : i + batch]
            chips = np.concatenate([cut_chips(views, m[:, 0]), cut_chips(mirrored, m[:, 1])])
            d = self.describe(torch.from_numpy(chips).permute(0, 3, 1, 2)).cpu().numpy()
            out[i : i + len(views)] = np.stack([d[: len(views)], d[len(views) :]], axis=1)
        return out

    def compute_centre(self, crops: np.ndarray, maps: np.ndarray, *, batch: int = 128, progress: bool = False):
        """The mean unit descriptor of every un-augmented crop and of its mirror image: (N, S, S, 3) uint8
        crops and their (N, 2, 2, 3) :func:`chip_maps` -> (D,) float64 (also set as this teacher's centre)."""
        centre = teacher_centre(self.describe_crops(crops, maps, batch=batch, progress=progress))
        self.set_centre(centre)
        return centre
