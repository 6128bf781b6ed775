"""Figures of the paper's analyses as plotly figures (no UI code; never imports streamlit).

Every function maps arrays / analyses to a ``plotly.graph_objects.Figure``; passing a mapping
name -> analysis draws several models side by side.

- Fig. 5 :func:`peak_map_figure`, Fig. 9 :func:`std_histogram_figure` (:mod:`.peaks`)
- Fig. 6 :func:`feature_difference_figure`, Fig. 7 :func:`difference_location_figure` (:mod:`.differences`)
- Figs. 1 / 8 :func:`heatmap_grid_figure`; attributions :func:`attribution_figure` (:mod:`.heatmaps`)
- Fig. 10 :func:`roc_figure` (+ :func:`roc_points`) (:mod:`.roc`)
- model comparison :func:`metrics_bar_figure`, :func:`metrics_table` (:mod:`.metrics`)
- pair explanations :func:`pair_maps_figure`, :func:`faithfulness_curves_figure` (:mod:`.pairs`)
- filter card :func:`filter_location_figure`, :func:`region_effect_figure` (:mod:`.filter_card`)
- the live probe: :func:`face_figure`, :func:`difference_bars` (:mod:`.probe`)
- files: :func:`export_figure`, :func:`export_figures` (:mod:`.export`), HTML reports (:mod:`.report`)
"""

from interpface._lazy import lazy_getattr

_EXPORTS = {
    "peak_map_figure": "peaks", "std_histogram_figure": "peaks",
    "feature_difference_figure": "differences", "difference_location_figure": "differences",
    "heatmap_grid_figure": "heatmaps", "attribution_figure": "heatmaps", "overlay_responses": "heatmaps",
    "roc_figure": "roc", "roc_points": "roc",
    "metrics_bar_figure": "metrics", "metrics_table": "metrics", "SUMMARY_METRICS": "metrics",
    "export_figure": "export", "export_figures": "export", "find_browser": "export",
    "FigureExportError": "export", "STATIC_FORMATS": "export",
    "pair_maps_figure": "pairs", "faithfulness_curves_figure": "pairs",
    "filter_location_figure": "filter_card", "region_effect_figure": "filter_card", "region_effect": "filter_card",
    "filter_region": "filter_card",
    "ReportSection": "report", "render_report": "report", "write_table_csv": "report",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS, globals())
