"""Embeddings on a Ray cluster: `interpface embed --ray`, the embedding step of `evaluate --ray`,
and any caller that wants a model's embeddings of many images (e.g. a failure browser).

Two entry points, both Ray Data over batches with one model per worker (a callable class that
resolves the model URI once in ``__init__``), both giving the local run's rows in input order:

- :func:`embed_images_ray` — image *paths* in, like :func:`~interpface.evaluation.embedding.embed_images`:
  each worker detects, aligns and embeds its batch (the landmark model found from its path);
- :class:`RayModelEmbedder` — an :class:`~interpface.evaluation.protocols.Evaluator` embedder:
  aligned crops (already occluded on the driver) in, embeddings out.

Only plain data goes to the workers: the model URI (a string each worker resolves with
:func:`~interpface.models.registry.resolve_model`, the same checks as a local run), the landmark
model's path, file paths, crops, landmarks and numbers. Ray itself is optional (``interpface[ray]``,
imported on first use): see :mod:`interpface.faces.distributed`.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from interpface.errors import ConfigError
from interpface.faces.distributed import in_order, map_batches, plain_batch, ray_session

__all__ = ["embed_images_ray", "RayModelEmbedder"]

_DETAIL_KEYS = ("detector", "status", "n_faces", "fit_residual", "poor_fit")


class _RayImageWorker:
    """One Ray actor: resolves the model (or the peer) and the dlib models once, then embeds numpy
    batches of image paths with the local code (embedding.embed_images / the peer's embed_images)."""

    def __init__(self, model, peer, landmark_model, fallback, batch_size, flip, precision, cache_dir):
        from interpface.faces.pipeline import FacePipeline

        if peer:
            from interpface.evaluation.peers import get_peer

            self.model = get_peer(peer)
        else:
            from interpface.models.registry import resolve_model

            self.model = resolve_model(model, cache_dir=cache_dir)
        self.pipeline = FacePipeline(landmark_model=landmark_model)
        self.peer, self.fallback, self.batch_size, self.flip, self.precision = (
            peer,
            fallback,
            batch_size,
            flip,
            precision,
        )

    def __call__(self, batch: dict) -> dict:
        from interpface.evaluation.embedding import embed_images

        sources = [str(s) for s in batch["source"]]
        details: list[dict] = []
        if self.peer:
            emb, failures = self.model.embed_images(
                sources, self.pipeline.detector, fallback=self.fallback, details=details
            )
        else:
            emb, failures = embed_images(
                self.model,
                sources,
                self.pipeline,
                fallback=self.fallback,
                batch_size=self.batch_size,
                flip=self.flip,
                precision=self.precision,
                details=details,
            )
        n = len(sources)
        error = np.array([""] * n, dtype=object)
        for f in failures:
            error[f["index"]] = f["error"]
        out = {
            "index": batch["index"],
            "emb": emb,
            "error": error,
            "has_details": np.zeros(n, bool),
            "detector": np.array([""] * n, dtype=object),
            "status": np.array([""] * n, dtype=object),
            "n_faces": np.zeros(n, np.int64),
            "fit_residual": np.full(n, np.nan),
            "poor_fit": np.zeros(n, bool),
        }
        for d in details:
            k = d["index"]
            out["has_details"][k] = True
            for key in _DETAIL_KEYS:
                out[key][k] = d[key]
        return plain_batch(out)


def embed_images_ray(
    model: str | None,
    sources: Sequence[str | os.PathLike],
    *,
    peer: str | None = None,
    address: str | None = "auto",
    workers: int | None = None,
    landmark_model: str | os.PathLike | None = None,
    fallback: bool = False,
    batch_size: int = 128,
    flip: bool = False,
    precision: str | None = None,
    cache_dir=None,
    progress=None,
    details: list | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """Detect, align and embed image files on a Ray cluster; the same result as
    :func:`~interpface.evaluation.embedding.embed_images` (peers: their ``embed_images``).

    model: a model URI (``resolve_model``'s: a checkpoint folder, dlib-resnet, iresnet50:FILE,
    onnx:FILE, spec:FILE), resolved in each worker; or peer: "dlib" | "dlib-port". sources: image
    paths every worker can read (a shared filesystem or the same path on every node). address:
    see :func:`interpface.faces.distributed.ray_session` (an initialised Ray is used as it is).
    workers: actors (default: every CPU of the cluster), one model each. Returns (emb (N, D) float32,
    NaN rows for failures, input order; failures [{"index", "source", "error"}] in input order);
    details (when a list is given) receives one dict per embedded image, as embed_images'."""
    if bool(model) == bool(peer):
        raise ConfigError("give exactly one of model (a model URI) or peer")
    if any(not isinstance(s, (str, os.PathLike)) for s in sources):
        raise ConfigError("the Ray path reads images by path on its workers: give file paths, not arrays or bytes")
    sources = [os.fspath(s) for s in sources]
    n = len(sources)
    if not n:
        raise ConfigError("no images to embed")
    from interpface.faces.landmarks import find_landmark_model

    landmark_model = str(find_landmark_model(landmark_model))  # one path for every worker; fails early
    kwargs = {
        "model": None if peer else str(model),
        "peer": peer,
        "landmark_model": landmark_model,
        "fallback": bool(fallback),
        "batch_size": int(batch_size),
        "flip": bool(flip),
        "precision": precision,
        "cache_dir": None if cache_dir is None else os.fspath(cache_dir),
    }
    rows = [{"index": i, "source": s} for i, s in enumerate(sources)]
    with ray_session(address) as ray:
        from interpface.faces.distributed import cluster_cpus

        workers = workers or cluster_cpus(ray)
        size = max(1, min(batch_size, -(-n // workers)))

        def batches():
            for b in map_batches(rows, _RayImageWorker, constructor_kwargs=kwargs, batch_size=size, workers=workers):
                if progress is not None:
                    progress(len(b["index"]))
                yield b

        cols = in_order(batches(), n)
    emb = np.ascontiguousarray(cols["emb"], np.float32)
    failures = [
        {"index": i, "source": sources[i], "error": str(cols["error"][i])} for i in np.flatnonzero(cols["error"] != "")
    ]
    if details is not None:
        for i in np.flatnonzero(cols["has_details"]):
            details.append(
                {
                    "index": int(i),
                    "detector": str(cols["detector"][i]),
                    "status": str(cols["status"][i]),
                    "n_faces": int(cols["n_faces"][i]),
                    "fit_residual": float(cols["fit_residual"][i]),
                    "poor_fit": bool(cols["poor_fit"][i]),
                }
            )
    return emb, failures


# ------------------------------------------------------------------------------ the evaluate step
class _RayCropWorker:
    """One Ray actor: resolves the model once, then embeds numpy batches of aligned crops."""

    def __init__(self, model, batch_size, flip, precision, cache_dir):
        from interpface.models.registry import resolve_model

        self.model = resolve_model(model, cache_dir=cache_dir)
        self.batch_size, self.flip, self.precision = batch_size, flip, precision

    def __call__(self, batch: dict) -> dict:
        emb = self.model.embed(
            np.asarray(batch["crop"], np.uint8),
            np.asarray(batch["landmarks"], np.float32),
            batch_size=self.batch_size,
            precision=self.precision,
            flip=self.flip,
        )
        return {"index": batch["index"], "emb": emb}


class RayModelEmbedder:
    """An Evaluator embedder (``embed(faces, positions, quads)``) that paints the occluders on the
    driver, exactly as :class:`~interpface.evaluation.protocols.ModelEmbedder` does, and embeds the
    crops on Ray workers, each holding the model resolved from its URI. Call it inside
    :func:`~interpface.faces.distributed.ray_session` (or with Ray initialised) so the cluster and
    its workers' start-up are paid once per run, not per call.

    chunk_size tells the Evaluator how many faces to hand over per call (one Ray Data run each)."""

    chunk_size = 16384

    def __init__(
        self,
        model_uri: str,
        *,
        batch_size: int = 128,
        flip: bool = False,
        precision: str | None = None,
        cache_dir=None,
        workers: int | None = None,
        model=None,
        name: str | None = None,
    ):
        if model is None:
            from interpface.models.registry import resolve_model

            model = resolve_model(model_uri, cache_dir=cache_dir)  # fail early; its name and dim
        self.model_uri, self.workers = str(model_uri), workers
        self.batch_size, self.flip, self.precision = batch_size, flip, precision
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.name, self.dim = name or model.name, model.dim

    def embed(self, faces, positions: np.ndarray, quads: list) -> np.ndarray:
        from interpface.faces.occlusion import paint_quads

        rows = faces.rows[positions]
        crops = paint_quads(np.array(faces.crops[rows]), faces.landmarks[rows], quads)
        landmarks = np.asarray(faces.landmarks[rows], np.float32)
        items = [{"index": i, "crop": crops[i], "landmarks": landmarks[i]} for i in range(len(rows))]
        kwargs = {
            "model": self.model_uri,
            "batch_size": self.batch_size,
            "flip": self.flip,
            "precision": self.precision,
            "cache_dir": self.cache_dir,
        }
        with ray_session("auto") as ray:
            from interpface.faces.distributed import cluster_cpus

            workers = self.workers or cluster_cpus(ray)
            size = max(1, min(self.batch_size, -(-len(items) // workers)))
            cols = in_order(
                map_batches(items, _RayCropWorker, constructor_kwargs=kwargs, batch_size=size, workers=workers),
                len(items),
            )
        return np.ascontiguousarray(cols["emb"], np.float32) if items else np.zeros((0, self.dim), np.float32)
