"""Dataset readers: where the data lives, the LFW layout and protocol files, any folder-per-identity
dataset, and generic pairs files.

Image paths are always kept *relative to the dataset's image directory* (e.g.
``Aaron_Eckhart/Aaron_Eckhart_0001.jpg``), so caches and protocols survive moving the data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from interpface.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

GET_LFW_HELP = (
    "get LFW with: mkdir -p ~/data/lfw && cd ~/data/lfw && "
    "curl -LO https://vis-www.cs.umass.edu/lfw/lfw-deepfunneled.tgz && tar xzf lfw-deepfunneled.tgz && "
    "for f in pairs.txt people.txt peopleDevTrain.txt peopleDevTest.txt pairsDevTrain.txt pairsDevTest.txt; "
    "do curl -LO https://vis-www.cs.umass.edu/lfw/$f; done; then export INTERPFACE_DATA=~/data "
    "(or pass --data-root ~/data)"
)

#: Image folders tried, in order, inside an LFW directory.
LFW_IMAGE_DIRS = ("lfw-deepfunneled-160", "lfw-deepfunneled", "lfw_funneled", "lfw", "images")


def _repo_shared_data() -> list[Path]:
    """`../shared/data` next to the checkout (the development environment) and next to the CWD;
    none when INTERPFACE_NO_SHARED_DATA=1 (to run as a user's machine would, with no dataset)."""
    if os.environ.get("INTERPFACE_NO_SHARED_DATA", "0") not in ("", "0"):
        return []
    here = Path(__file__).resolve().parents[2]
    return [here.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """Dataset root: the argument, else $INTERPFACE_DATA, else ../shared/data when it exists.

    Raises DatasetError (with instructions to get LFW) when none is found.
    """
    if data_root is not None:
        path = Path(data_root).expanduser()
        if not path.is_dir():
            raise DatasetError(f"--data-root {path} is not a directory; {GET_LFW_HELP}")
        return path.resolve()
    env = os.environ.get("INTERPFACE_DATA")
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DatasetError(f"INTERPFACE_DATA={env} is not a directory; {GET_LFW_HELP}")
        return path.resolve()
    for candidate in _repo_shared_data():
        if candidate.is_dir():
            return candidate.resolve()
    raise DatasetError(
        f"no dataset configured (no --data-root, INTERPFACE_DATA unset, no ../shared/data); {GET_LFW_HELP}"
    )


@dataclass(frozen=True)
class ImageRecord:
    """One image: its path relative to the image directory and its identity (folder name)."""

    relpath: str
    identity: str


@dataclass
class Pair:
    """A verification pair: two relative paths and whether they show the same person."""

    a: str
    b: str
    same: bool
    fold: int = 0


@dataclass
class FaceDataset:
    """A folder-per-identity image collection (LFW is one)."""

    name: str
    image_dir: Path
    records: list[ImageRecord] = field(default_factory=list)
    protocol_dir: Path | None = None  # where pairs.txt etc. live (LFW only)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def identities(self) -> list[str]:
        return sorted({r.identity for r in self.records})

    def path(self, relpath: str) -> Path:
        return self.image_dir / relpath


def scan_identity_folders(image_dir: str | os.PathLike, name: str | None = None) -> FaceDataset:
    """Any dataset laid out as ``<identity>/<image>``: one sub-folder per identity, sorted order."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DatasetError(f"{image_dir}: not a directory")
    records = []
    with os.scandir(image_dir) as people:
        for person in sorted((e for e in people if e.is_dir()), key=lambda e: e.name):
            with os.scandir(person.path) as files:
                names = sorted(f.name for f in files if f.is_file() and f.name.lower().endswith(IMAGE_SUFFIXES))
            records.extend(ImageRecord(f"{person.name}/{n}", person.name) for n in names)
    if not records:
        raise DatasetError(f"{image_dir}: no images found in <identity>/<image> sub-folders")
    return FaceDataset(name or image_dir.name, image_dir, records)


def find_lfw(data_root: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Return (protocol_dir, image_dir) of LFW under the data root (``<root>/lfw`` or the root itself)."""
    root = resolve_data_root(data_root)
    for lfw_dir in (root / "lfw", root):
        for sub in LFW_IMAGE_DIRS:
            if (lfw_dir / sub).is_dir():
                return lfw_dir, lfw_dir / sub
    raise DatasetError(f"no LFW images under {root} (looked for lfw/{{{','.join(LFW_IMAGE_DIRS)}}}); {GET_LFW_HELP}")


def load_lfw(data_root: str | os.PathLike | None = None) -> FaceDataset:
    """LFW in its usual layout: 250x250 originals or the 160x160 crops, ``<Person>/<Person>_NNNN.jpg``."""
    protocol_dir, image_dir = find_lfw(data_root)
    ds = scan_identity_folders(image_dir, name="lfw")
    ds.protocol_dir = protocol_dir
    return ds


def load_dataset(spec: str, data_root: str | os.PathLike | None = None) -> FaceDataset:
    """``lfw`` or ``folder:PATH`` (any folder-per-identity dataset)."""
    if spec == "lfw":
        return load_lfw(data_root)
    if spec.startswith("folder:"):
        path = Path(spec[len("folder:") :]).expanduser()
        return scan_identity_folders(path, name=path.name)
    raise DatasetError(f"unknown dataset {spec!r}: use 'lfw' or 'folder:PATH'")


def lfw_image_relpath(person: str, number: int) -> str:
    return f"{person}/{person}_{int(number):04d}.jpg"


# ---------------------------------------------------------------------------------- protocol files
def _protocol_lines(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise DatasetError(f"protocol file missing: {path}")
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def read_people_file(path: str | os.PathLike) -> list[tuple[str, int]]:
    """peopleDevTrain.txt / peopleDevTest.txt: a count line, then ``name n_images`` lines.
    people.txt (View 2: a folds line, then per fold a count and its people) is read as one list."""
    path = Path(path)
    lines = _protocol_lines(path)
    people: list[tuple[str, int]] = []
    i = 0
    try:
        n_sets = 1
        if len(lines) > 1 and len(lines[1]) == 1:  # people.txt: first line = number of folds
            n_sets = int(lines[0][0])
            i = 1
        for _ in range(n_sets):
            count = int(lines[i][0])
            i += 1
            for fields in lines[i : i + count]:
                people.append((fields[0], int(fields[1])))
            i += count
    except (IndexError, ValueError) as exc:
        raise DatasetError(f"{path}: malformed people file near line {i + 1} ({exc})") from None
    return people


def read_lfw_pairs(path: str | os.PathLike) -> list[Pair]:
    """pairs.txt (View 2: ``folds n`` then per fold n matched + n mismatched) or pairsDevTrain/Test
    (View 1: ``n`` then n matched + n mismatched). Pair.fold says which fold (0 for View 1)."""
    path = Path(path)
    lines = _protocol_lines(path)
    header = lines[0]
    folds, n = (int(header[0]), int(header[1])) if len(header) == 2 else (1, int(header[0]))
    pairs: list[Pair] = []
    i = 1
    try:
        for fold in range(folds):
            for _ in range(n):
                name, a, b = lines[i]
                pairs.append(Pair(lfw_image_relpath(name, a), lfw_image_relpath(name, b), True, fold))
                i += 1
            for _ in range(n):
                name_a, a, name_b, b = lines[i]
                pairs.append(Pair(lfw_image_relpath(name_a, a), lfw_image_relpath(name_b, b), False, fold))
                i += 1
    except (IndexError, ValueError) as exc:
        raise DatasetError(f"{path}: malformed pairs file at line {i + 1} ({exc})") from None
    if i != len(lines):
        raise DatasetError(f"{path}: {len(lines) - i} unexpected trailing lines")
    return pairs


def read_pairs_file(path: str | os.PathLike) -> list[Pair]:
    """Generic pairs: ``pathA<TAB>pathB<TAB>0|1`` per line, paths relative to a root; ``#`` comments."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"pairs file missing: {path}")
    pairs = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 3 or fields[2].strip() not in ("0", "1"):
            raise DatasetError(f"{path}:{lineno}: expected 'pathA<TAB>pathB<TAB>0|1', got {line!r}")
        pairs.append(Pair(fields[0], fields[1], fields[2].strip() == "1"))
    if not pairs:
        raise DatasetError(f"{path}: no pairs")
    return pairs


def check_pairs_exist(pairs: list[Pair], root: str | os.PathLike) -> None:
    """Raise DatasetError listing every path that a pairs file names but that does not exist."""
    root = Path(root)
    missing = sorted({p for pair in pairs for p in (pair.a, pair.b) if not (root / p).is_file()})
    if missing:
        shown = ", ".join(missing[:10]) + (f" ... and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise DatasetError(f"{len(missing)} file(s) named in the pairs file do not exist under {root}: {shown}")


@dataclass
class LFWProtocols:
    """The official LFW protocol files, parsed."""

    dev_train_people: list[tuple[str, int]]
    dev_test_people: list[tuple[str, int]]
    dev_train_pairs: list[Pair]
    dev_test_pairs: list[Pair]
    view2_pairs: list[Pair]
    view2_people: list[tuple[str, int]]

    @staticmethod
    def load(protocol_dir: str | os.PathLike) -> LFWProtocols:
        d = Path(protocol_dir)
        return LFWProtocols(
            dev_train_people=read_people_file(d / "peopleDevTrain.txt"),
            dev_test_people=read_people_file(d / "peopleDevTest.txt"),
            dev_train_pairs=read_lfw_pairs(d / "pairsDevTrain.txt"),
            dev_test_pairs=read_lfw_pairs(d / "pairsDevTest.txt"),
            view2_pairs=read_lfw_pairs(d / "pairs.txt"),
            view2_people=read_people_file(d / "people.txt"),
        )

    def images_of(self, people: list[tuple[str, int]]) -> list[ImageRecord]:
        """Every image of these people, in protocol order."""
        return [ImageRecord(lfw_image_relpath(name, k), name) for name, n in people for k in range(1, n + 1)]

    @property
    def dev_train_images(self) -> list[ImageRecord]:
        return self.images_of(self.dev_train_people)

    @property
    def dev_test_images(self) -> list[ImageRecord]:
        return self.images_of(self.dev_test_people)
