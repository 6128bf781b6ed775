"""The small face set every test can use: generated at test time, in the LFW layout, with its protocol
files — so the whole suite runs on a machine without LFW.

Where the faces come from: the two face photographs that installed packages ship — scikit-image's
``astronaut.png`` (Eileen Collins, a NASA photograph in the public domain) and matplotlib's
``grace_hopper.jpg`` (a U.S. Navy photograph in the public domain). Nothing is downloaded and no
image is stored in the repository.

How several identities and several images per identity are made from two photographs:

- an *identity* is a source face with a fixed change of face shape (an anisotropic stretch about the
  face centre: wider, longer or as it is) and a fixed skin-tone shift;
- an *image* of that identity is one seeded draw of small rotation (+-8 degrees), scale (+-7%),
  shift (+-4 px), brightness / contrast / gamma, an optional mirror image, sensor noise and JPEG
  quality — the changes between two photographs of one person.

They are identities for the code (labels, protocols, pairs), not a benchmark: no test asserts an
accuracy on them. Every image is 160x160 like ``lfw-deepfunneled-160`` (the face fills the middle)
and is found by dlib's HOG detector (checked by ``test_faceset_faces_are_detected``).

Layout under the root: ``lfw/lfw-deepfunneled-160/<Person>/<Person>_NNNN.jpg``, ``people.txt`` and
``pairs.txt`` (View 2: 2 folds), ``peopleDevTrain.txt`` / ``peopleDevTest.txt`` and
``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1: disjoint people), and
``attributes/lfw_attributes_62people_subset.tsv`` (Eyeglasses / Sunglasses scores of a few images).
Built once per test session (~1 s, ~0.2 MB).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_DIR = "lfw-deepfunneled-160"
SIZE = 160
FACE_BOX = 92.0  # detector box side in the output, like an LFW 160x160 crop's face (86-104 px)


@dataclass(frozen=True)
class Identity:
    name: str
    source: str  # a name in interpface.faces.samples.SAMPLE_NAMES
    stretch: tuple[float, float]  # face-shape change (x, y) about the face centre
    tint: tuple[float, float, float]  # per-channel gain: a skin-tone shift
    n_images: int


IDENTITIES = (
    Identity("Eileen_Collins", "astronaut", (1.0, 1.0), (1.0, 1.0, 1.0), 6),
    Identity("Grace_Hopper", "grace_hopper", (1.0, 1.0), (1.0, 1.0, 1.0), 6),
    Identity("Wide_Astronaut", "astronaut", (1.16, 0.97), (1.06, 0.98, 0.92), 4),
    Identity("Long_Hopper", "grace_hopper", (0.9, 1.1), (0.95, 1.0, 1.06), 4),
    Identity("Wide_Hopper", "grace_hopper", (1.14, 0.96), (1.05, 0.97, 0.94), 3),
    Identity("Long_Astronaut", "astronaut", (0.9, 1.1), (0.96, 1.02, 1.05), 1),
)
DEV_TRAIN = ("Eileen_Collins", "Wide_Hopper", "Long_Astronaut")
DEV_TEST = ("Grace_Hopper", "Wide_Astronaut", "Long_Hopper")
#: images whose Eyeglasses / Sunglasses score is positive in the attribute file (natural occlusion)
GLASSES = ("Grace_Hopper/Grace_Hopper_0002.jpg", "Wide_Astronaut/Wide_Astronaut_0001.jpg")


def rel(person: str, k: int) -> str:
    """Relative path of image k (1-based) of a person, LFW style."""
    return f"{person}/{person}_{k:04d}.jpg"


def _source_face(name: str):
    """(rgb, face centre (2,), face box side) of a bundled sample photograph."""
    from interpface.faces.landmarks import LandmarkDetector
    from interpface.faces.samples import sample_face

    rgb = sample_face(name)
    det = LandmarkDetector().detect(rgb)
    x0, y0, x1, y1 = det.box
    centre = det.landmarks[[36, 45, 48, 54]].mean(axis=0)  # eye corners + mouth corners
    return rgb, centre, float(max(x1 - x0, y1 - y0))


def render(identity: Identity, k: int, sources: dict) -> np.ndarray:
    """Image k (1-based) of an identity: (160, 160, 3) uint8, deterministic."""
    import cv2

    rgb, centre, box = sources[identity.source]
    rng = np.random.default_rng([sum(map(ord, identity.name)), k])
    angle = np.deg2rad(rng.uniform(-8, 8))
    scale = FACE_BOX / box * rng.uniform(0.93, 1.07)
    shift = rng.uniform(-4, 4, size=2)
    # face centre -> origin, stretch (identity), rotate + scale (this photograph), -> output centre
    sx, sy = identity.stretch
    stretch = np.diag([sx, sy])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    a = rot @ stretch
    t = np.array([SIZE / 2, SIZE / 2 + 4]) + shift - a @ centre
    out = cv2.warpAffine(
        rgb, np.column_stack([a, t]), (SIZE, SIZE), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT101
    ).astype(np.float64)
    out *= np.asarray(identity.tint)
    gain, bias, gamma = rng.uniform(0.85, 1.15), rng.uniform(-12, 12), rng.uniform(0.85, 1.15)
    out = 255.0 * (np.clip(out * gain + bias, 0, 255) / 255.0) ** gamma
    out += rng.normal(0, 2.0, out.shape)
    if k > 1 and rng.random() < 0.4:
        out = out[:, ::-1]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, format="JPEG", quality=quality)


def _pairs(people: tuple[str, ...], counts: dict[str, int], n: int, rng) -> tuple[list, list]:
    """n matched (person, i, j) and n mismatched (p, i, q, j) pairs among `people`, seeded."""
    matched = [(p, i, j) for p in people for i in range(1, counts[p] + 1) for j in range(i + 1, counts[p] + 1)]
    mismatched = [
        (p, i, q, j)
        for p in people
        for q in people
        if p < q
        for i in range(1, counts[p] + 1)
        for j in range(1, counts[q] + 1)
    ]
    pick = lambda xs: [xs[i] for i in sorted(rng.choice(len(xs), size=min(n, len(xs)), replace=False))]  # noqa: E731
    return pick(matched), pick(mismatched)


def _lines(rows) -> str:
    return "".join("\t".join(map(str, r)) + "\n" for r in rows)


def build_faceset(root: str | Path) -> Path:
    """Write the face set under root/lfw (see the module docstring); returns root (a data root)."""
    root = Path(root)
    lfw = root / "lfw"
    sources = {name: _source_face(name) for name in {i.source for i in IDENTITIES}}
    counts = {i.name: i.n_images for i in IDENTITIES}
    for identity in IDENTITIES:
        for k in range(1, identity.n_images + 1):
            quality = int(np.random.default_rng([k, 7]).integers(80, 96))
            _write_jpeg(lfw / IMAGE_DIR / rel(identity.name, k), render(identity, k, sources), quality)
    rng = np.random.default_rng(0)
    listing = lambda people: f"{len(people)}\n" + _lines((p, counts[p]) for p in sorted(people))  # noqa: E731
    (lfw / "peopleDevTrain.txt").write_text(listing(DEV_TRAIN))
    (lfw / "peopleDevTest.txt").write_text(listing(DEV_TEST))
    for split, people, n in (("DevTrain", DEV_TRAIN, 4), ("DevTest", DEV_TEST, 6)):
        m, mm = _pairs(people, counts, n, rng)
        (lfw / f"pairs{split}.txt").write_text(f"{len(m)}\n" + _lines(m) + _lines(mm))
    # View 2: 2 folds of 3 matched + 3 mismatched pairs; fold k's people listed in people.txt.
    folds = (DEV_TRAIN, DEV_TEST)
    people_txt, pairs_txt = f"{len(folds)}\n", f"{len(folds)}\t3\n"
    for fold_people in folds:
        people_txt += listing(fold_people)
        m, mm = _pairs(fold_people, counts, 3, rng)
        pairs_txt += _lines(m) + _lines(mm)
    (lfw / "people.txt").write_text(people_txt)
    (lfw / "pairs.txt").write_text(pairs_txt)
    attrs = ("Male", "Eyeglasses", "Sunglasses", "Smiling")
    rows = [
        "# Generated for the tests (tests/faceset.py): Kumar et al.'s file format, made-up scores.",
        "\t".join(("person", "imagenum") + attrs),
    ]
    for person in ("Grace_Hopper", "Wide_Astronaut"):
        for k in range(1, counts[person] + 1):
            glasses = 1.2 if rel(person, k) in GLASSES else -1.0
            rows.append("\t".join([person.replace("_", " "), str(k), "-1.5", f"{glasses}", "-2.0", "0.3"]))
    (lfw / "attributes").mkdir(exist_ok=True)
    (lfw / "attributes" / "lfw_attributes_62people_subset.tsv").write_text("\n".join(rows) + "\n")
    return root
