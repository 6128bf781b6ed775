"""Interpretability analyses (DESIGN §3; paper §4.3-4.4): plain functions on arrays and tensors.

- :mod:`.peaks` — positive/negative peaks of psi', mapped to the frontal template; per-filter
  weighted mean location and std (Fig. 5, 9).
- :mod:`.summaries` — summaries: spread, convex-hull fraction, regions covered, std quartiles, Zhang et
  al.'s location instability.
- :mod:`.feature_difference` — mean |f(I) - f(I^)| per occluder (Fig. 6, 7).
- :mod:`.sensitivity` — occlusion sweeps over one face (warped or axis-aligned, captum-equal).
- :mod:`.heatmaps` — filter response heatmaps (Fig. 1, 8).
- :mod:`.attribution` — captum pixel attributions for a dimension or a pair's cosine similarity.
- :mod:`.pair_maps` — similarity / dissimilarity maps of a pair (representation, occlusion, IG,
  Grad-CAM, RISE, random); :mod:`.faithfulness` — deletion / insertion curves; :mod:`.pair_benchmark`
  — both over seeded DevTest pairs (``interpface faithfulness``).
- :mod:`.run` — :func:`run_analysis`: everything for one model from one batched pass.
- :mod:`.top_faces` — the faces each filter fires on most, and its peak covariance (the filter card).
- :mod:`.precomputed` — compact analyses shipped in assets/analyses.
- :mod:`.warp` — batched barycentric warp of crop points into the template.
- :mod:`.probe` — the live occlusion probe (one face, one occluder, incremental forward).
- :mod:`.report` — ``interpface report``: several models side by side in one HTML page.
"""

from interpface.analysis._common import to_input
from interpface.analysis.attribution import ATTRIBUTION_METHODS, EmbeddingTarget, attribute, pixel_attribution
from interpface.analysis.faces import Faces, load_devtest_faces, load_faces
from interpface.analysis.faithfulness import Curves, deletion_insertion
from interpface.analysis.feature_difference import (
    DEFAULT_REGIONS,
    FeatureDifferences,
    difference_summary,
    feature_differences,
    location_grid,
    region_rects,
    sorted_differences,
)
from interpface.analysis.heatmaps import (
    Heatmaps,
    choose_faces,
    choose_filters,
    response_heatmaps,
    response_maps,
    upsample_maps,
)
from interpface.analysis.pair_benchmark import faithfulness_table, load_devtest_pairs
from interpface.analysis.pair_maps import PAIR_METHODS, PairMap, pair_map, pair_maps
from interpface.analysis.peaks import (
    SIGNS,
    cell_centers,
    cells_to_crop,
    cells_to_template,
    filter_location_stats,
    find_peaks,
    peak_weights,
)
from interpface.analysis.precomputed import (
    PrecomputedAnalysis,
    list_precomputed,
    load_precomputed,
    precomputed_dir,
    save_precomputed,
)
from interpface.analysis.run import AnalysisResult, bootstrap_metrics, compute_metrics, run_analysis
from interpface.analysis.sensitivity import (
    SensitivitySweep,
    captum_windows,
    merge_sweeps,
    occlusion_sweep,
    sweep_centers,
    warped_occlusion_sweep,
)
from interpface.analysis.summaries import (
    COVERAGE_REGIONS,
    face_region_area,
    face_region_polygon,
    hull_area,
    hull_fraction,
    location_instability,
    region_counts,
    regions_covered,
    spread,
    std_quartiles,
)
from interpface.analysis.top_faces import TopFaces, peak_covariance, top_faces
from interpface.analysis.warp import face_vertices_batch, similarity_batch, to_template_batch

__all__ = [
    "to_input",
    "ATTRIBUTION_METHODS",
    "AnalysisResult",
    "COVERAGE_REGIONS",
    "Curves",
    "DEFAULT_REGIONS",
    "EmbeddingTarget",
    "Faces",
    "FeatureDifferences",
    "Heatmaps",
    "PAIR_METHODS",
    "PairMap",
    "PrecomputedAnalysis",
    "SIGNS",
    "SensitivitySweep",
    "TopFaces",
    "attribute",
    "bootstrap_metrics",
    "captum_windows",
    "cell_centers",
    "cells_to_crop",
    "cells_to_template",
    "choose_faces",
    "choose_filters",
    "compute_metrics",
    "deletion_insertion",
    "difference_summary",
    "face_region_area",
    "face_region_polygon",
    "face_vertices_batch",
    "faithfulness_table",
    "feature_differences",
    "filter_location_stats",
    "find_peaks",
    "hull_area",
    "hull_fraction",
    "list_precomputed",
    "load_devtest_faces",
    "load_devtest_pairs",
    "load_faces",
    "load_precomputed",
    "location_grid",
    "location_instability",
    "merge_sweeps",
    "occlusion_sweep",
    "pair_map",
    "pair_maps",
    "peak_covariance",
    "peak_weights",
    "pixel_attribution",
    "precomputed_dir",
    "region_counts",
    "region_rects",
    "regions_covered",
    "response_heatmaps",
    "response_maps",
    "run_analysis",
    "save_precomputed",
    "similarity_batch",
    "sorted_differences",
    "spread",
    "std_quartiles",
    "sweep_centers",
    "to_template_batch",
    "top_faces",
    "upsample_maps",
    "warped_occlusion_sweep",
]
