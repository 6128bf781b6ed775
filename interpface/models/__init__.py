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

from interpface._lazy import lazy_getattr

_EXPORTS = {
    "ModelConfig": "networks", "InterpretableFaceNet": "networks", "MODEL_CONFIGS": "networks",
    "get_model_config": "networks", "load_model": "checkpoint", "save_checkpoint": "checkpoint",
    "FaceModel": "face_model", "resolve_model": "registry", "list_schemes": "registry",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
