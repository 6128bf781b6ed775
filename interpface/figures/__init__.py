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

from interpface.figures.differences import difference_location_figure, feature_difference_figure
from interpface.figures.export import STATIC_FORMATS, FigureExportError, export_figure, export_figures, find_browser
from interpface.figures.filter_card import filter_location_figure, filter_region, region_effect, region_effect_figure
from interpface.figures.heatmaps import attribution_figure, heatmap_grid_figure, overlay_responses
from interpface.figures.metrics import SUMMARY_METRICS, metrics_bar_figure, metrics_table
from interpface.figures.pairs import faithfulness_curves_figure, pair_maps_figure
from interpface.figures.peaks import peak_map_figure, std_histogram_figure
from interpface.figures.report import ReportSection, render_report, write_table_csv
from interpface.figures.roc import roc_figure, roc_points

__all__ = [
    "FigureExportError",
    "ReportSection",
    "STATIC_FORMATS",
    "SUMMARY_METRICS",
    "attribution_figure",
    "difference_location_figure",
    "export_figure",
    "export_figures",
    "faithfulness_curves_figure",
    "feature_difference_figure",
    "filter_location_figure",
    "filter_region",
    "find_browser",
    "heatmap_grid_figure",
    "metrics_bar_figure",
    "metrics_table",
    "overlay_responses",
    "pair_maps_figure",
    "peak_map_figure",
    "region_effect",
    "region_effect_figure",
    "render_report",
    "roc_figure",
    "roc_points",
    "std_histogram_figure",
    "write_table_csv",
]
