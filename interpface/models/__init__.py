"""Face models: the paper's network and its parts, its losses and checkpoints, and adapters that
give every other face model (the dlib port, ArcFace IResNets, any nn.Module) one interface.

- :mod:`.networks` — :class:`InterpretableFaceNet` (paper Table 1) and its named configurations.
- :mod:`.lmf` — Large Magnitude Filtering and the Gaussian g_sigma; :mod:`.losses` — the training losses.
- :mod:`.checkpoint` — the only place weights touch disk (safetensors + JSON).
- :mod:`.face_model` — the :class:`FaceModel` interface every model goes through; :mod:`.registry` —
  model URIs -> FaceModel (:func:`resolve_model`); :mod:`.adapters` — ours, dlib's port, IResNets,
  specs; :mod:`.onnx_model` — ONNX graphs; :mod:`.dlib_port` — dlib's ResNet in PyTorch;
  :mod:`.teacher` — its descriptors as distillation targets.
- :mod:`.zoo` — the bundled reference models.
"""

from interpface.models.checkpoint import load_model, save_checkpoint
from interpface.models.face_model import FaceModel
from interpface.models.networks import MODEL_CONFIGS, InterpretableFaceNet, ModelConfig, get_model_config
from interpface.models.registry import list_schemes, resolve_model

__all__ = [
    "FaceModel",
    "InterpretableFaceNet",
    "MODEL_CONFIGS",
    "ModelConfig",
    "get_model_config",
    "list_schemes",
    "load_model",
    "resolve_model",
    "save_checkpoint",
]
