"""interpface: interpretable face recognition (Yin et al., ICCV 2019) — data, model, analyses.

Public names are re-exported lazily, so `import interpface` stays fast and the data tools work
without importing torch.
"""

from ._lazy import lazy_getattr

__version__ = "0.1.0"

_EXPORTS = {
    # errors
    "InterpfaceError": "errors", "ImageError": "errors", "ImageNotFoundError": "errors",
    "ImageDecodeError": "errors", "ImageTooLargeError": "errors", "FaceError": "errors",
    "NoFaceError": "errors", "FaceTooSmallError": "errors", "LandmarkModelMissingError": "errors",
    "DatasetError": "errors", "CacheError": "errors", "CheckpointError": "errors", "ConfigError": "errors",
    # images, data, landmarks, alignment
    "load_image": "images", "save_image": "images",
    "resolve_data_root": "datasets", "load_dataset": "datasets", "load_lfw": "datasets",
    "scan_identity_folders": "datasets", "read_lfw_pairs": "datasets", "read_pairs_file": "datasets",
    "read_people_file": "datasets", "LFWProtocols": "datasets", "Pair": "datasets", "FaceDataset": "datasets",
    "LandmarkDetector": "landmarks", "find_landmark_model": "landmarks",
    "align_face": "align", "AlignedFace": "align",
    "Template": "template", "FaceMesh": "template", "default_template": "template", "build_template": "template",
    "OcclusionRect": "occlusion", "PhysicalMask": "occlusion", "occlude_batch": "occlusion",
    "occlude_seeded": "occlusion", "occlude_rect": "occlusion", "random_rect": "occlusion",
    "region_rect": "occlusion",
    "prepare_dataset": "prepare", "PreparedDataset": "prepare",
    "FacePipeline": "pipeline",
    # model side
    "ModelConfig": "models", "InterpretableFaceNet": "models", "get_model_config": "models",
    "load_model": "checkpoint", "save_checkpoint": "checkpoint",
    # evaluation
    "embed_crops": "embedding", "embed_images": "embedding",
    "verification_metrics": "metrics", "kfold_accuracy": "metrics", "identification_ranks": "metrics",
    "evaluate": "evaluation", "Evaluator": "evaluation", "DlibResNetEmbedder": "peers",
    # analyses and figures (interpface.analysis, interpface.figures)
    "run_analysis": "analysis", "AnalysisResult": "analysis", "load_devtest_faces": "analysis",
    "occlusion_sweep": "analysis", "warped_occlusion_sweep": "analysis", "pixel_attribution": "analysis",
    "response_heatmaps": "analysis", "load_precomputed": "analysis", "save_precomputed": "analysis",
    "list_precomputed": "analysis", "export_figure": "figures", "FigureExportError": "figures",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
