"""interpface: interpretable face recognition (Yin et al., ICCV 2019) — data, model, analyses.

Public names are re-exported lazily, so `import interpface` stays fast and the data tools work
without importing torch.
"""

from interpface._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    # errors
    "InterpfaceError": "errors", "ImageError": "errors", "ImageNotFoundError": "errors",
    "ImageDecodeError": "errors", "ImageTooLargeError": "errors", "FaceError": "errors",
    "NoFaceError": "errors", "FaceTooSmallError": "errors", "LandmarkModelMissingError": "errors",
    "DatasetError": "errors", "CacheError": "errors", "CheckpointError": "errors", "ConfigError": "errors",
    # images, data, landmarks, alignment
    "load_image": "faces.images", "save_image": "faces.images",
    "resolve_data_root": "faces.datasets", "load_dataset": "faces.datasets", "load_lfw": "faces.datasets",
    "scan_identity_folders": "faces.datasets", "read_lfw_pairs": "faces.datasets", "read_pairs_file": "faces.datasets",
    "read_people_file": "faces.datasets", "LFWProtocols": "faces.datasets", "Pair": "faces.datasets", "FaceDataset": "faces.datasets",
    "LandmarkDetector": "faces.landmarks", "find_landmark_model": "faces.landmarks",
    "align_face": "faces.align", "AlignedFace": "faces.align",
    "Template": "faces.template", "FaceMesh": "faces.template", "default_template": "faces.template", "build_template": "faces.template",
    "OcclusionRect": "faces.occlusion", "PhysicalMask": "faces.occlusion", "occlude_batch": "faces.occlusion",
    "occlude_seeded": "faces.occlusion", "occlude_rect": "faces.occlusion", "random_rect": "faces.occlusion",
    "region_rect": "faces.occlusion",
    "prepare_dataset": "faces.prepare", "PreparedDataset": "faces.prepare",
    "FacePipeline": "faces.pipeline",
    # model side
    "ModelConfig": "models.networks", "InterpretableFaceNet": "models.networks", "get_model_config": "models.networks",
    "load_model": "models.checkpoint", "save_checkpoint": "models.checkpoint",
    # evaluation
    "embed_images": "evaluation.embedding", "FaceModel": "models.face_model", "resolve_model": "models.registry",
    "list_schemes": "models.registry",
    "verification_metrics": "evaluation.metrics", "kfold_accuracy": "evaluation.metrics", "identification_ranks": "evaluation.metrics",
    "evaluate": "evaluation.protocols", "Evaluator": "evaluation.protocols", "DlibResNetEmbedder": "evaluation.peers",
    # analyses and figures (interpface.analysis, interpface.figures)
    "run_analysis": "analysis", "AnalysisResult": "analysis", "load_devtest_faces": "analysis",
    "occlusion_sweep": "analysis", "warped_occlusion_sweep": "analysis", "pixel_attribution": "analysis",
    "response_heatmaps": "analysis", "load_precomputed": "analysis", "save_precomputed": "analysis",
    "list_precomputed": "analysis", "export_figure": "figures", "FigureExportError": "figures",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
