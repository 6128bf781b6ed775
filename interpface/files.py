"""Files, at the bottom of the package (imports nothing of interpface but :mod:`interpface.errors`):
JSON written atomically and read leniently, and the data that ships inside the package.

Package data (found through :mod:`importlib.resources`, so an installed wheel finds it as an editable
checkout does):

- ``interpface/assets/`` — ``template.json`` (the frontal template), ``models/<variant>/`` (the
  reference models and their DevTest evaluations), ``peers/<name>/`` (black boxes' evaluations) and
  ``analyses/`` (their precomputed analyses);
- ``interpface/dashboard/`` — the Streamlit app (``app.py`` and ``views/``).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from interpface.errors import InterpfaceError

__all__ = ["assets_dir", "dashboard_app", "package_path", "read_json", "write_json"]


def package_path(*parts: str) -> Path:
    """A file or folder shipped inside the installed package, as a path on disk."""
    root = resources.files("interpface")
    if not isinstance(root, Path):  # a zip import: Streamlit and numpy need real files
        raise InterpfaceError("interpface must be installed as files on disk (not imported from a zip archive)")
    return root.joinpath(*parts)


def assets_dir() -> Path:
    """``interpface/assets``: the template, the reference models, peers' evaluations, precomputed analyses."""
    return package_path("assets")


def dashboard_app() -> Path:
    """The Streamlit script of ``interpface dashboard``."""
    return package_path("dashboard", "app.py")


def write_json(path: str | os.PathLike | None, payload: dict) -> None:
    """Write `payload` as pretty JSON (atomic: a temporary file replaced over the name); no-op when path
    is None. numpy arrays and scalars and paths are converted."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def read_json(path: str | os.PathLike) -> dict | None:
    """The JSON object in `path`, or None when the file is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
