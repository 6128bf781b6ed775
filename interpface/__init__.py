"""interpface: interpretable face recognition (Yin et al., ICCV 2019) — data, model, analyses.

The public names are the imports in the ``if TYPE_CHECKING:`` block below: type checkers and IDEs read
them there, and at run time each is imported on first use (a module ``__getattr__`` that reads the
same block), so ``import interpface`` stays fast and the data tools work without importing torch.
The errors are imported at once (they import nothing).
"""

from __future__ import annotations

from interpface.errors import (
    CacheError,
    CheckpointError,
    ConfigError,
    DatasetError,
    FaceError,
    FaceTooSmallError,
    ImageDecodeError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    InterpfaceError,
    LandmarkModelMissingError,
    NoFaceError,
    NoIdentitiesError,
    NoPairsError,
)

__version__ = "0.1.0"

# typing.TYPE_CHECKING without importing typing (a few ms): type checkers treat the name as True
TYPE_CHECKING = False
if TYPE_CHECKING:
    from interpface.analysis.attribution import pixel_attribution
    from interpface.analysis.faces import load_devtest_faces
    from interpface.analysis.heatmaps import response_heatmaps
    from interpface.analysis.precomputed import list_precomputed, load_precomputed, save_precomputed
    from interpface.analysis.run import AnalysisResult, run_analysis
    from interpface.analysis.sensitivity import occlusion_sweep, warped_occlusion_sweep
    from interpface.evaluation.embedding import embed_images
    from interpface.evaluation.metrics import identification_ranks, kfold_accuracy, verification_metrics
    from interpface.evaluation.peers import DlibResNetEmbedder
    from interpface.evaluation.protocols import Evaluator, evaluate
    from interpface.faces.align import AlignedFace, align_face
    from interpface.faces.datasets import (
        FaceDataset,
        LFWProtocols,
        Pair,
        load_dataset,
        load_lfw,
        read_lfw_pairs,
        read_pairs_file,
        read_people_file,
        resolve_data_root,
        scan_identity_folders,
    )
    from interpface.faces.images import load_image, save_image
    from interpface.faces.landmarks import LandmarkDetector, find_landmark_model
    from interpface.faces.occlusion import (
        OcclusionRect,
        PhysicalMask,
        occlude_batch,
        occlude_rect,
        occlude_seeded,
        random_rect,
        region_rect,
    )
    from interpface.faces.pipeline import FacePipeline
    from interpface.faces.prepare import PreparedDataset, prepare_dataset
    from interpface.faces.template import FaceMesh, Template, build_template, default_template
    from interpface.figures.export import FigureExportError, export_figure
    from interpface.models.checkpoint import load_model, save_checkpoint
    from interpface.models.face_model import FaceModel
    from interpface.models.networks import InterpretableFaceNet, ModelConfig, get_model_config
    from interpface.models.registry import list_schemes, resolve_model

__all__ = [
    "AlignedFace",
    "AnalysisResult",
    "CacheError",
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "DlibResNetEmbedder",
    "Evaluator",
    "FaceDataset",
    "FaceError",
    "FaceMesh",
    "FaceModel",
    "FacePipeline",
    "FaceTooSmallError",
    "FigureExportError",
    "ImageDecodeError",
    "ImageError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InterpfaceError",
    "InterpretableFaceNet",
    "LFWProtocols",
    "LandmarkDetector",
    "LandmarkModelMissingError",
    "ModelConfig",
    "NoFaceError",
    "NoIdentitiesError",
    "NoPairsError",
    "OcclusionRect",
    "Pair",
    "PhysicalMask",
    "PreparedDataset",
    "Template",
    "__version__",
    "align_face",
    "build_template",
    "default_template",
    "embed_images",
    "evaluate",
    "export_figure",
    "find_landmark_model",
    "get_model_config",
    "identification_ranks",
    "kfold_accuracy",
    "list_precomputed",
    "list_schemes",
    "load_dataset",
    "load_devtest_faces",
    "load_image",
    "load_lfw",
    "load_model",
    "load_precomputed",
    "occlude_batch",
    "occlude_rect",
    "occlude_seeded",
    "occlusion_sweep",
    "pixel_attribution",
    "prepare_dataset",
    "random_rect",
    "read_lfw_pairs",
    "read_pairs_file",
    "read_people_file",
    "region_rect",
    "resolve_data_root",
    "resolve_model",
    "response_heatmaps",
    "run_analysis",
    "save_checkpoint",
    "save_image",
    "save_precomputed",
    "scan_identity_folders",
    "verification_metrics",
    "warped_occlusion_sweep",
]

_lazy: dict[str, str] = {}


def _lazy_names() -> dict[str, str]:
    """{public name: its module}, read from this file's ``if TYPE_CHECKING:`` block (once)."""
    if not _lazy:
        import ast

        with open(__file__, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
        _lazy.update(
            {a.asname or a.name: n.module for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
        )
    return _lazy


def __getattr__(name: str):
    module = _lazy_names().get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
