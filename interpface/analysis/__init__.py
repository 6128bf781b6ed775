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

from interpface._lazy import lazy_getattr

_EXPORTS = {
    "SIGNS": "peaks", "find_peaks": "peaks", "peak_weights": "peaks", "cell_centers": "peaks",
    "cells_to_crop": "peaks", "cells_to_template": "peaks", "filter_location_stats": "peaks",
    "COVERAGE_REGIONS": "summaries", "spread": "summaries", "face_region_polygon": "summaries", "face_region_area": "summaries",
    "hull_area": "summaries", "hull_fraction": "summaries", "region_counts": "summaries", "regions_covered": "summaries",
    "std_quartiles": "summaries", "location_instability": "summaries",
    "FeatureDifferences": "feature_difference", "DEFAULT_REGIONS": "feature_difference",
    "region_rects": "feature_difference", "location_grid": "feature_difference",
    "feature_differences": "feature_difference", "sorted_differences": "feature_difference",
    "difference_summary": "feature_difference",
    "SensitivitySweep": "sensitivity", "occlusion_sweep": "sensitivity", "warped_occlusion_sweep": "sensitivity",
    "captum_windows": "sensitivity", "sweep_centers": "sensitivity", "merge_sweeps": "sensitivity",
    "Heatmaps": "heatmaps", "response_maps": "heatmaps", "upsample_maps": "heatmaps",
    "response_heatmaps": "heatmaps", "choose_filters": "heatmaps", "choose_faces": "heatmaps",
    "ATTRIBUTION_METHODS": "attribution", "EmbeddingTarget": "attribution", "pixel_attribution": "attribution",
    "attribute": "attribution",
    "AnalysisResult": "run", "run_analysis": "run", "compute_metrics": "run", "bootstrap_metrics": "run",
    "PrecomputedAnalysis": "precomputed", "save_precomputed": "precomputed", "load_precomputed": "precomputed",
    "list_precomputed": "precomputed", "precomputed_dir": "precomputed",
    "TopFaces": "top_faces", "top_faces": "top_faces", "peak_covariance": "top_faces",
    "Faces": "faces", "load_devtest_faces": "faces", "load_faces": "faces",
    "PAIR_METHODS": "pair_maps", "PairMap": "pair_maps", "pair_map": "pair_maps", "pair_maps": "pair_maps",
    "Curves": "faithfulness", "deletion_insertion": "faithfulness",
    "faithfulness_table": "pair_benchmark", "load_devtest_pairs": "pair_benchmark",
    "similarity_batch": "warp", "face_vertices_batch": "warp", "to_template_batch": "warp",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
