"""Any dataset, prepared: open a dataset's aligned cache by its spec (``lfw`` or ``folder:PATH``), list
the datasets prepared in the cache, and the verification pairs of a dataset (LFW's protocol, a pairs
file, or pairs drawn from its identities) as rows of its cache.

The analyses (`interpface analyze`, `faithfulness`, `report`, `compare`) and the dashboard take their
faces from here, so a folder of your own works wherever LFW does. What needs identities or pairs raises
:class:`~interpface.errors.NoIdentitiesError` / :class:`~interpface.errors.NoPairsError` (one line:
what is missing and how to give it) when a dataset has none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interpface.errors import CacheError, NoIdentitiesError, NoPairsError
from interpface.faces.datasets import (
    FaceDataset,
    Pair,
    check_pairs_in_dataset,
    load_dataset,
    read_pairs_file,
)
from interpface.faces.prepare import PreparedDataset, cache_root
from interpface.faces.template import Template, default_template

__all__ = [
    "DatasetPairs",
    "PreparedInfo",
    "open_prepared",
    "list_prepared",
    "dataset_label",
    "has_identities",
    "dataset_pairs",
    "identity_pairs",
    "require_identities",
]


def dataset_label(dataset) -> str:
    """How a dataset is named to a user: 'LFW DevTest' for LFW (the analyses use its View-1 DevTest),
    else the folder's name."""
    name = dataset if isinstance(dataset, str) else getattr(dataset, "name", str(dataset))
    if name == "lfw":
        return "LFW DevTest"
    if isinstance(dataset, str) and dataset.startswith("folder:"):
        return Path(dataset[len("folder:") :]).expanduser().resolve().name
    return str(name)


def open_prepared(
    dataset="lfw", *, data_root=None, cache_dir=None, template: Template | None = None
) -> tuple[FaceDataset, PreparedDataset]:
    """(FaceDataset, its PreparedDataset) of ``lfw``, ``folder:PATH`` or a FaceDataset. CacheError
    naming the command to run when the dataset is not prepared."""
    ds = load_dataset(dataset, data_root) if isinstance(dataset, str) else dataset
    try:
        cache = PreparedDataset.open(ds, cache_dir, template)
    except CacheError:
        spec = "lfw" if ds.name == "lfw" and ds.protocol_dir is not None else f"folder:{ds.image_dir}"
        raise CacheError(
            f"{ds.name} ({len(ds):,} images in {ds.image_dir}) is not prepared in {cache_root(cache_dir)}: run "
            f"`interpface data prepare --dataset {spec}" + (f" --cache-dir {cache_dir}`" if cache_dir else "`")
        ) from None
    return ds, cache


def has_identities(cache: PreparedDataset) -> bool:
    """Whether a prepared dataset knows who is who (a flat folder's images have identity '')."""
    return any(cache.identities)


@dataclass
class PreparedInfo:
    """One dataset in the cache: its name, image folder, the spec that opens it (``lfw`` or
    ``folder:PATH``), image count, status counts and the cache folder (PreparedDataset(directory))."""

    name: str
    image_dir: str
    spec: str
    n_images: int
    counts: dict
    directory: Path
    has_identities: bool = True
    exists: bool = True  # the image folder is still there (the cache alone still shows its faces)

    @property
    def label(self) -> str:
        usable = self.n_images - int(self.counts.get("failed", 0))
        who = "" if self.has_identities else ", no identities"
        return f"{dataset_label(self.name)} ({usable:,} faces{who})"


def list_prepared(cache_dir=None, template: Template | None = None) -> list[PreparedInfo]:
    """Every dataset prepared in the cache for this template, LFW first, then by name. A damaged or
    half-written cache folder is skipped."""
    template = template or default_template()
    root = cache_root(cache_dir) / "prepared"
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        directory = d / f"aligned-{template.digest}"
        try:
            index = json.loads((directory / "index.json").read_text())
            if not (directory / "crops.npy").is_file():
                continue
            name, image_dir = str(index["dataset"]), str(index["image_dir"])
            images = index["images"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        lfw = name == "lfw" and (Path(image_dir).parent / "pairsDevTest.txt").is_file()
        out.append(
            PreparedInfo(
                name,
                image_dir,
                "lfw" if lfw else f"folder:{image_dir}",
                len(images),
                dict(index.get("counts", {})),
                directory,
                any(e.get("identity") for e in images),
                os.path.isdir(image_dir),
            )
        )
    return sorted(out, key=lambda i: (i.spec != "lfw", i.name, i.image_dir))


# ------------------------------------------------------------------------------------------- pairs
@dataclass
class DatasetPairs:
    """Verification pairs of a prepared dataset. pairs: the usable ones; rows_a / rows_b: their rows
    in the cache; source: where they come from (for messages); dropped: {reason: count} of the pairs
    left out (e.g. an image whose face was not found)."""

    pairs: list[Pair]
    rows_a: np.ndarray
    rows_b: np.ndarray
    source: str
    dropped: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def same(self) -> np.ndarray:
        return np.array([p.same for p in self.pairs], dtype=bool)

    def note(self) -> str | None:
        """One line on the pairs left out, or None."""
        if not self.dropped:
            return None
        return "pairs left out: " + ", ".join(f"{n} ({why})" for why, n in self.dropped.items())


def identity_pairs(relpaths, identities, n: int, *, seed: int = 0) -> list[Pair]:
    """Up to n genuine pairs drawn (seeded) from images with identities, then as many impostor pairs:
    a genuine pair is two images of one identity (identities with a single image have none), an
    impostor pair one image of each of two identities. No pair twice; genuine pairs first.
    NoIdentitiesError without identities, NoPairsError when no identity has two images."""
    ids = np.asarray(list(identities))
    rel = list(relpaths)
    labelled = [i for i in np.unique(ids) if i]
    if len(labelled) == 0:
        raise NoIdentitiesError("this dataset has no identities (a flat folder): pass a pairs file (--pairs FILE)")
    by_id = {i: np.flatnonzero(ids == i) for i in labelled}
    multi = [i for i in labelled if len(by_id[i]) >= 2]
    if not multi:
        raise NoPairsError(
            f"none of the {len(labelled)} identities has two usable images: no genuine pair; pass --pairs FILE"
        )
    rng = np.random.default_rng(seed)
    out: list[Pair] = []
    for same in (True, False):
        want = n if same else (len(out) if len(labelled) >= 2 else 0)  # as many impostor pairs as genuine
        seen: set[tuple[int, int]] = set()
        for _ in range(max(50 * want, 1000)):  # as many pairs as exist, at most `want`
            if len(seen) >= want:
                break
            if same:
                who = multi[rng.integers(len(multi))]
                a, b = rng.choice(by_id[who], size=2, replace=False)
            else:
                x, y = rng.choice(len(labelled), size=2, replace=False)
                a, b = rng.choice(by_id[labelled[x]]), rng.choice(by_id[labelled[y]])
            key = (int(min(a, b)), int(max(a, b)))
            if key not in seen:
                seen.add(key)
                out.append(Pair(rel[key[0]], rel[key[1]], same))
    return out


def dataset_pairs(
    dataset,
    cache: PreparedDataset,
    pairs_file=None,
    *,
    n_generated: int = 500,
    seed: int = 0,
    exclude_fallback: bool = True,
) -> DatasetPairs:
    """The verification pairs of a prepared dataset, as cache rows:

    - a pairs file (``pathA<TAB>pathB<TAB>0|1``, paths relative to the dataset's folder): DatasetError
      with counts when it names images that are not in the dataset;
    - else LFW: the View-1 DevTest pairs (``pairsDevTest.txt``);
    - else a dataset with identities: :func:`identity_pairs` (n_generated genuine + as many impostor);
    - else NoPairsError.

    Pairs whose images were not usable in the cache (``failed``, and ``fallback`` unless
    exclude_fallback=False) are left out and counted in ``dropped``; NoPairsError when none is left."""
    from interpface.faces.datasets import LFWProtocols

    if pairs_file is not None:
        raw = read_pairs_file(pairs_file)
        where = f"the dataset {dataset.name} ({dataset.image_dir})"
        known = [r.relpath for r in dataset.records] or cache.relpaths  # not prepared yet: counted below
        pairs = check_pairs_in_dataset(raw, known, where=where, image_dir=dataset.image_dir)
        source = f"pairs file {Path(pairs_file).name}"
    elif dataset.protocol_dir is not None:
        pairs = LFWProtocols.load(dataset.protocol_dir).dev_test_pairs
        source = "LFW View-1 DevTest pairs"
    elif has_identities(cache):
        usable = cache.usable(exclude_fallback=exclude_fallback)
        rows = np.flatnonzero(usable)
        pairs = identity_pairs(
            [cache.relpaths[r] for r in rows], [cache.identities[r] for r in rows], n_generated, seed=seed
        )
        source = f"pairs drawn from the identities of {dataset.name} (seed {seed})"
    else:
        raise NoPairsError(
            f"{dataset.name} has no identities and no pairs: pass --pairs FILE (pathA<TAB>pathB<TAB>0|1 per line, "
            "paths relative to the dataset's folder)"
        )
    rows_a = cache.rows([p.a for p in pairs], missing_ok=True)
    rows_b = cache.rows([p.b for p in pairs], missing_ok=True)
    usable = cache.usable(exclude_fallback=exclude_fallback)
    in_cache = (rows_a >= 0) & (rows_b >= 0)
    ok = in_cache.copy()
    ok[in_cache] = usable[rows_a[in_cache]] & usable[rows_b[in_cache]]
    dropped = {}
    if (~in_cache).any():
        dropped["an image not in the prepared cache: run `interpface data prepare` without --limit"] = int(
            (~in_cache).sum()
        )
    if (in_cache & ~ok).any():
        why = "no face found in an image" + ("" if exclude_fallback else " (failed)")
        dropped[why] = int((in_cache & ~ok).sum())
    kept = [p for p, k in zip(pairs, ok) if k]
    if not kept:
        raise NoPairsError(f"no usable pair among the {len(pairs)} {source} ({', '.join(dropped) or 'none given'})")
    return DatasetPairs(kept, rows_a[ok], rows_b[ok], source, dropped)


def require_identities(cache: PreparedDataset, what: str) -> None:
    """NoIdentitiesError naming the analysis when the dataset has no identities."""
    if not has_identities(cache):
        raise NoIdentitiesError(
            f"{what} needs identities, and this dataset has none (a flat folder): put each person's images "
            "in a sub-folder of their own"
        )
