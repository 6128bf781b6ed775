"""A 2-D map of face embeddings: UMAP (umap-learn, the optional ``[maps]`` extra) with the cosine
metric, else PCA (scikit-learn) when umap-learn is not installed. Rows with NaN (faces that could not
be used) stay NaN."""

from __future__ import annotations

import numpy as np

from interpface.errors import ConfigError

__all__ = ["embedding_map", "umap_available", "METHODS"]

METHODS = ("auto", "umap", "pca")


def umap_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


def embedding_map(emb: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """(M, D) embeddings -> ((M, 2) coordinates, the method used: "umap" or "pca").

    method "auto": UMAP when umap-learn is installed, else PCA; "umap" without umap-learn is a
    ConfigError naming the extra. UMAP: 15 neighbours, min_dist 0.1, cosine metric, seeded (one
    thread, reproducible); PCA: the first two components of the centred embeddings."""
    if method not in METHODS:
        raise ConfigError(f"embedding map method must be one of {', '.join(METHODS)}, got {method!r}")
    emb = np.asarray(emb, np.float32)
    ok = np.isfinite(emb).all(axis=1)
    out = np.full((len(emb), 2), np.nan, np.float32)
    if ok.sum() < 3:
        return out, "pca"
    use_umap = method == "umap" or (method == "auto" and umap_available())
    if method == "umap" and not umap_available():
        raise ConfigError("the UMAP map needs umap-learn: pip install 'interpface[maps]' (or use PCA)")
    x = emb[ok]
    if use_umap and ok.sum() > 16:
        import warnings

        import umap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": seeded is one thread
            xy = umap.UMAP(
                n_components=2, n_neighbors=15, min_dist=0.1, metric="cosine", random_state=seed
            ).fit_transform(x)
        out[ok] = xy
        return out, "umap"
    from sklearn.decomposition import PCA

    out[ok] = PCA(n_components=2, random_state=seed).fit_transform(x - x.mean(0))
    return out, "pca"
