"""Evaluation: embeddings, verification / identification metrics, and the protocols (clean,
synthetically and realistically occluded LFW) that combine them, for our models and peers.

- :mod:`.embedding` — aligned crops or images in, normalised embeddings out.
- :mod:`.metrics` — plain numpy metrics (ROC, TAR at FAR, EER, k-fold accuracy, ranks).
- :mod:`.protocols` — :func:`evaluate` and the :class:`Evaluator`.
- :mod:`.peers` — dlib's ResNet and other peers through the same code.
"""

from interpface._lazy import lazy_getattr

_EXPORTS = {
    "embed_images": "embedding", "verification_metrics": "metrics",
    "kfold_accuracy": "metrics", "identification_ranks": "metrics", "evaluate": "protocols",
    "Evaluator": "protocols", "DlibResNetEmbedder": "peers",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
