"""Dataset readers: where the data lives, the LFW layout and protocol files, any folder-per-identity
dataset, and generic pairs files.

Image paths are always kept *relative to the dataset's image directory* (e.g.
``Aaron_Eckhart/Aaron_Eckhart_0001.jpg``), so caches and protocols survive moving the data.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
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
class ScanReport:
    """What scanning a folder found besides the images it kept (each list: relative paths, sorted)."""

    non_images: list[str] = field(default_factory=list)  # files whose suffix is not an image's
    loose_images: list[str] = field(default_factory=list)  # images beside identity folders: no identity
    empty_folders: list[str] = field(default_factory=list)  # identity folders without an image
    nested_images: int = 0  # images in sub-folders of an identity folder (kept, under that identity)

    def lines(self) -> list[str]:
        """One line per finding (empty when the folder was clean)."""

        def eg(items):
            return f" (e.g. {', '.join(items[:3])})" if items else ""

        out = []
        if self.non_images:
            out.append(f"{len(self.non_images)} file(s) that are not images skipped{eg(self.non_images)}")
        if self.loose_images:
            out.append(
                f"{len(self.loose_images)} image(s) directly in the folder, beside the identity folders, "
                f"left out (no identity){eg(self.loose_images)}"
            )
        if self.empty_folders:
            out.append(f"{len(self.empty_folders)} folder(s) without an image skipped{eg(self.empty_folders)}")
        if self.nested_images:
            out.append(f"{self.nested_images} image(s) in nested folders kept under their top folder's identity")
        return out


@dataclass
class FaceDataset:
    """A folder-per-identity image collection (LFW is one), or a flat folder of images without
    identities (has_identities False: every record's identity is "")."""

    name: str
    image_dir: Path
    records: list[ImageRecord] = field(default_factory=list)
    protocol_dir: Path | None = None  # where pairs.txt etc. live (LFW only)
    has_identities: bool = True
    scan: ScanReport | None = None  # what the folder held besides the images (folder datasets)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def identities(self) -> list[str]:
        return sorted({r.identity for r in self.records}) if self.has_identities else []

    @property
    def singletons(self) -> list[str]:
        """Identities with a single image (no genuine pair possible)."""
        if not self.has_identities:
            return []
        counts = Counter(r.identity for r in self.records)
        return sorted(i for i, c in counts.items() if c == 1)

    def path(self, relpath: str) -> Path:
        return self.image_dir / relpath

    def summary(self) -> str:
        """One line of counts: images, identities, identities with one image."""
        if not self.has_identities:
            return f"{self.name}: {len(self):,} images, no identities (a flat folder)"
        single = len(self.singletons)
        return f"{self.name}: {len(self):,} images of {len(self.identities):,} identities" + (
            f" ({single:,} with a single image: no genuine pair)" if single else ""
        )


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _walk_files(top: str) -> list[str]:
    """Every file under top (symlinked folders not followed, hidden entries skipped), paths relative
    to top with '/', sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = os.path.relpath(dirpath, top)
        for f in filenames:
            if not f.startswith("."):
                out.append(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
    return sorted(out)


def scan_identity_folders(image_dir: str | os.PathLike, name: str | None = None) -> FaceDataset:
    """Any folder of face images, in sorted order:

    - ``<identity>/<image>``: one sub-folder per identity (images deeper down, e.g.
      ``<identity>/<session>/<image>``, belong to the top folder's identity); images lying beside the
      identity folders are left out (they have no identity);
    - a flat folder of images (no sub-folder holds an image): a dataset without identities.

    Files that are not images, hidden files and empty folders are skipped and counted in
    ``dataset.scan``. Raises DatasetError, with counts of what was found, when there is no image."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DatasetError(f"{image_dir}: not a directory")
    scan = ScanReport()
    records: list[ImageRecord] = []
    loose: list[str] = []
    with os.scandir(image_dir) as entries:
        entries = sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir():
            files = _walk_files(entry.path)
            images = [f for f in files if _is_image(f)]
            scan.non_images += [f"{entry.name}/{f}" for f in files if not _is_image(f)]
            if not images:
                scan.empty_folders.append(entry.name)
            scan.nested_images += sum("/" in f for f in images)
            records.extend(ImageRecord(f"{entry.name}/{f}", entry.name) for f in images)
        elif entry.is_file():
            (loose if _is_image(entry.name) else scan.non_images).append(entry.name)
    has_identities = bool(records)
    if has_identities:
        scan.loose_images = loose
    else:  # a flat folder: the images without identities
        records = [ImageRecord(f, "") for f in loose]
        scan.empty_folders = []  # sub-folders without images are just other folders here
    if not records:
        found = []
        if scan.non_images:
            found.append(f"{len(scan.non_images)} file(s) that are not images (e.g. {', '.join(scan.non_images[:3])})")
        n_dirs = sum(e.is_dir() for e in entries)
        if n_dirs:
            found.append(f"{n_dirs} folder(s) without images")
        raise DatasetError(
            f"{image_dir}: no images ({', '.join(IMAGE_SUFFIXES)}) found, neither in <identity>/<image> "
            f"sub-folders nor directly in the folder" + (f"; found {' and '.join(found)}" if found else "; it is empty")
        )
    return FaceDataset(name or image_dir.name, image_dir, records, has_identities=has_identities, scan=scan)


def find_duplicates(dataset: FaceDataset) -> list[list[str]]:
    """Groups (2 or more relative paths) of images with the same bytes, e.g. one photo copied under two
    names. Files are compared by size first, then by SHA-256, so a clean dataset costs one stat each."""
    by_size: dict[int, list[str]] = {}
    for r in dataset.records:
        try:
            by_size.setdefault(dataset.path(r.relpath).stat().st_size, []).append(r.relpath)
        except OSError:
            continue
    groups: dict[str, list[str]] = {}
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        for rel in same_size:
            try:
                digest = hashlib.sha256(dataset.path(rel).read_bytes()).hexdigest()
            except OSError:
                continue
            groups.setdefault(digest, []).append(rel)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def duplicates_line(groups: list[list[str]]) -> str | None:
    """One line on duplicate files, or None."""
    if not groups:
        return None
    n = sum(len(g) for g in groups)
    return (
        f"{len(groups)} group(s) of identical files ({n} images; kept, but a pair of two copies is the same "
        f"picture), e.g. {' = '.join(groups[0][:3])}"
    )


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
        if not spec[len("folder:") :].strip():
            raise DatasetError("folder: needs a path, e.g. folder:~/photos")
        path = Path(spec[len("folder:") :]).expanduser()
        return scan_identity_folders(path, name=path.resolve().name or "folder")
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


# ------------------------------------------------------------------------------ paths of a dataset
def dataset_relpath(path: str, image_dir: str | os.PathLike | None = None) -> str:
    """A path as written in a pairs or metadata file -> the dataset's relative form: '/' separators, no
    leading './'; an absolute path inside image_dir is made relative to it."""
    p = path.strip().replace("\\", "/")
    if image_dir is not None and os.path.isabs(p):
        try:
            p = Path(p).resolve().relative_to(Path(image_dir).resolve()).as_posix()
        except ValueError:
            return p
    while p.startswith("./"):
        p = p[2:]
    return p


def check_pairs_in_dataset(pairs: list[Pair], relpaths, where: str = "the dataset", image_dir=None) -> list[Pair]:
    """The pairs with their paths in the dataset's form (:func:`dataset_relpath`); DatasetError with
    counts when a pair names an image that is not in the dataset (relpaths: the dataset's relative paths)."""
    known = set(relpaths)
    out = [Pair(dataset_relpath(q.a, image_dir), dataset_relpath(q.b, image_dir), q.same, q.fold) for q in pairs]
    missing = sorted({x for q in out for x in (q.a, q.b) if x not in known})
    if missing:
        bad = sum(q.a not in known or q.b not in known for q in out)
        shown = ", ".join(missing[:5]) + (f" ... and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DatasetError(
            f"{bad} of {len(out)} pairs name {len(missing)} image(s) that are not in {where}: {shown} "
            "(paths are relative to the dataset's folder, e.g. Person/photo.jpg)"
        )
    return out


# -------------------------------------------------------------------------------------- metadata
#: Column names taken as the image path of a metadata CSV (case-insensitive); else the first column.
METADATA_PATH_COLUMNS = ("path", "relpath", "image", "file", "filename", "image_path")


@dataclass
class Metadata:
    """Per-image attributes from a CSV. values: {relpath: {column: text}} for the dataset's images;
    unknown: paths of the CSV that are not images of the dataset (left out); repeated: paths listed
    more than once (the first row kept); n_unlisted: dataset images without a row."""

    path_column: str
    columns: list[str]
    values: dict[str, dict[str, str]]
    unknown: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    n_unlisted: int = 0

    def column(self, name: str, relpaths) -> list[str | None]:
        """One column's text for each relpath (None where the image has no row)."""
        if name not in self.columns:
            raise DatasetError(f"no metadata column {name!r}; columns: {', '.join(self.columns)}")
        return [self.values.get(r, {}).get(name) for r in relpaths]

    def lines(self) -> list[str]:
        """What was left out, one line each (empty when every row matched)."""
        out = []
        if self.unknown:
            out.append(
                f"{len(self.unknown)} row(s) name images that are not in the dataset, left out "
                f"(e.g. {', '.join(self.unknown[:3])})"
            )
        if self.repeated:
            out.append(f"{len(self.repeated)} image(s) listed more than once, first row kept (e.g. {self.repeated[0]})")
        if self.n_unlisted:
            out.append(f"{self.n_unlisted} image(s) of the dataset have no row")
        return out


def read_metadata_csv(path: str | os.PathLike, dataset) -> Metadata:
    """Read a CSV of per-image attributes (occluder, pose, group, ...) for a dataset: a header row, one
    row per image; the image column is the first named one of METADATA_PATH_COLUMNS (else the first
    column), paths relative to the dataset's folder (absolute ones inside it are accepted). Comma,
    semicolon or tab separated; UTF-8 (a BOM is fine).

    dataset: a FaceDataset, a PreparedDataset, or the list of its relative paths. Rows naming images
    not in the dataset are left out and counted (``unknown``); DatasetError when the file is missing,
    malformed (a row with a different number of fields: its line) or matches no image at all."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"metadata file missing: {path}")
    if hasattr(dataset, "records"):
        relpaths, image_dir = [r.relpath for r in dataset.records], getattr(dataset, "image_dir", None)
    elif hasattr(dataset, "relpaths"):
        relpaths, image_dir = list(dataset.relpaths), getattr(dataset, "index", {}).get("image_dir")
    else:
        relpaths, image_dir = list(dataset), None
    known = set(relpaths)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise DatasetError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DatasetError(f"{path}: empty metadata file (expected a header row, then one row per image)")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(lines, dialect))
    header = [h.strip() for h in rows[0]]
    if len(header) < 2 or len(set(header)) != len(header) or not all(header):
        raise DatasetError(
            f"{path}: the header must name an image column and at least one attribute, each once; got {header}"
        )
    lower = [h.lower() for h in header]
    col = next((lower.index(c) for c in METADATA_PATH_COLUMNS if c in lower), 0)
    columns = [h for i, h in enumerate(header) if i != col]
    ragged = [i for i, r in enumerate(rows[1:], 1) if len(r) != len(header)]
    if ragged:
        raise DatasetError(
            f"{path}: {len(ragged)} row(s) do not have the header's {len(header)} fields (data rows {ragged[:5]})"
        )
    values: dict[str, dict[str, str]] = {}
    unknown, repeated = [], []
    for r in rows[1:]:
        rel = dataset_relpath(r[col], image_dir)
        if rel not in known:
            unknown.append(rel)
        elif rel in values:
            repeated.append(rel)
        else:
            values[rel] = {h: v.strip() for i, (h, v) in enumerate(zip(header, r)) if i != col}
    if not values:
        raise DatasetError(
            f"{path}: none of its {len(rows) - 1} row(s) names an image of the dataset"
            + (f" (e.g. {', '.join(unknown[:3])})" if unknown else "")
            + f"; the '{header[col]}' column must hold paths relative to the dataset's folder, e.g. "
            + (relpaths[0] if relpaths else "Person/photo.jpg")
        )
    return Metadata(header[col], columns, values, unknown, repeated, len(known - set(values)))
