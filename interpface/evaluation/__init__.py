"""Evaluation: embeddings, verification / identification metrics, and the protocols (clean,
synthetically and realistically occluded LFW) that combine them, for our models and peers.

- :mod:`.embedding` — aligned crops or images in, normalised embeddings out.
- :mod:`.metrics` — plain numpy metrics (ROC, TAR at FAR, EER, k-fold accuracy, ranks).
- :mod:`.protocols` — :func:`evaluate` and the :class:`Evaluator`.
- :mod:`.peers` — dlib's ResNet and other peers through the same code.
- :mod:`.failures` / :mod:`.slices` — false accepts / rejects by margin and error rates per slice with
  identity-cluster bootstrap intervals (`interpface failures`); :mod:`.projection` — 2-D embedding maps.
"""

from interpface.evaluation.embedding import embed_images
from interpface.evaluation.metrics import identification_ranks, kfold_accuracy, verification_metrics
from interpface.evaluation.peers import DlibResNetEmbedder
from interpface.evaluation.protocols import Evaluator, evaluate

__all__ = [
    "DlibResNetEmbedder",
    "Evaluator",
    "embed_images",
    "evaluate",
    "identification_ranks",
    "kfold_accuracy",
    "verification_metrics",
]
