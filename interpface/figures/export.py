"""Writing figures: HTML (self-contained, plotly.js inlined) and static PNG / SVG / PDF through kaleido
1.x, which drives a Chromium browser (Debian: ``apt-get install chromium``; or set BROWSER_PATH)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.graph_objects as go

from interpface.errors import InterpfaceError

__all__ = ["FigureExportError", "STATIC_FORMATS", "find_browser", "export_figure", "export_figures"]

STATIC_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "webp")


class FigureExportError(InterpfaceError):
    """A figure could not be written (no browser for static export, unknown format, kaleido failed)."""


_NO_BROWSER = (
    "static figure export (PNG/SVG/PDF) needs a Chromium browser for kaleido, and none was found: "
    "install Debian's chromium (`apt-get install chromium`) or set BROWSER_PATH to a Chrome/Chromium "
    "executable; HTML export works without one"
)


def find_browser() -> str | None:
    """Path of the Chromium/Chrome kaleido will use: $BROWSER_PATH when it is an executable file, else
    choreographer's own search (PATH and the usual install locations), else None."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else None
    try:
        from choreographer.browsers.chromium import Chromium

        found = Chromium.find_browser(skip_local=False)
    except Exception:  # noqa: BLE001 - any failure of the search means "not found"
        found = None
    return found or shutil.which("chromium") or shutil.which("chromium-browser")


def _require_browser() -> None:
    path = find_browser()
    if path is None:
        if os.environ.get("BROWSER_PATH"):
            raise FigureExportError(f"BROWSER_PATH={os.environ['BROWSER_PATH']!r} is not an executable; {_NO_BROWSER}")
        raise FigureExportError(_NO_BROWSER)
    os.environ.setdefault("BROWSER_PATH", path)


def _format(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in STATIC_FORMATS + ("html", "htm", "json"):
        raise FigureExportError(f"{path}: unknown figure format {fmt!r}; use .html, .json or one of {STATIC_FORMATS}")
    return fmt


def export_figure(
    fig: go.Figure, path: str | os.PathLike, *, scale: float = 2.0, width: int | None = None, height: int | None = None
) -> Path:
    """Write one figure; the format comes from the suffix (.html self-contained, .json, .png, .svg,
    .pdf, ...). Static formats raise FigureExportError when no browser is found."""
    path = Path(path)
    fmt = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("html", "htm"):
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
        return path
    if fmt == "json":
        path.write_text(fig.to_json())
        return path
    _require_browser()
    try:
        fig.write_image(
            str(path), format=fmt, scale=scale, width=width or fig.layout.width, height=height or fig.layout.height
        )
    except Exception as exc:  # noqa: BLE001 - kaleido/choreographer errors become one typed error
        raise FigureExportError(f"{path}: static export failed ({type(exc).__name__}: {exc})") from exc
    return path


def export_figures(
    figures: Mapping[str, go.Figure],
    out_dir: str | os.PathLike,
    formats: Sequence[str] = ("png", "svg", "pdf"),
    *,
    scale: float = 2.0,
    progress=None,
) -> list[Path]:
    """Write every figure in every format as ``<out_dir>/<stem>.<fmt>``; static formats go through one
    kaleido session (much faster than one call per file); HTML pages share one ``plotly.min.js`` written
    next to them. progress: a tqdm-like object or None."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    static = [f for f in formats if f.lower() in STATIC_FORMATS]
    for fmt in formats:
        _format(Path(f"x.{fmt}"))
    for stem, fig in figures.items():
        for fmt in formats:
            if fmt.lower() in ("html", "htm"):
                # one plotly.min.js next to the pages instead of 4 MB inlined in each
                path = out / f"{stem}.{fmt}"
                fig.write_html(str(path), include_plotlyjs="directory", full_html=True)
                written.append(path)
            elif fmt.lower() not in STATIC_FORMATS:
                written.append(export_figure(fig, out / f"{stem}.{fmt}"))
    if static and figures:
        _require_browser()
        import plotly.io as pio

        figs, files, fmts, widths, heights = [], [], [], [], []
        for stem, fig in figures.items():
            for fmt in static:
                figs.append(fig)
                files.append(out / f"{stem}.{fmt}")
                fmts.append(fmt)
                widths.append(fig.layout.width or 900)  # kaleido ignores the layout's size otherwise
                heights.append(fig.layout.height or 600)
        try:
            pio.write_images(figs, files, format=fmts, scale=scale, width=widths, height=heights)
        except Exception as exc:  # noqa: BLE001
            raise FigureExportError(f"static export to {out} failed ({type(exc).__name__}: {exc})") from exc
        written.extend(files)
        if progress is not None:
            progress.update(len(files))
    return written
