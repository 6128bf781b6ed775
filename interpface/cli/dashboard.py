"""`interpface dashboard [--port P] [--host H]`: launch the Streamlit app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from interpface.errors import InterpfaceError
from interpface.files import dashboard_app

APP = dashboard_app()

# Server options passed on the command line (a .streamlit/config.toml is only read from the CWD).
SERVER_FLAGS = [
    "--server.headless",
    "true",
    "--server.maxUploadSize",
    "200",  # model uploads; images are capped at 10 MB by the app
    "--server.runOnSave",
    "false",
    "--server.fileWatcherType",
    "none",
    "--browser.gatherUsageStats",
    "false",
    "--client.showErrorDetails",
    "none",
    "--client.toolbarMode",
    "minimal",
]


def dashboard_command(host: str = "127.0.0.1", port: int = 8501) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        *SERVER_FLAGS,
    ]


def cmd_dashboard(args) -> int:
    if not APP.is_file():
        raise InterpfaceError(f"dashboard app not found at {APP}")
    # `python -m streamlit` (same interpreter, same working directory) imports the interpface this runs from
    env = dict(os.environ)
    if args.models_dir:
        folder = Path(args.models_dir).expanduser().resolve()
        if not folder.is_dir():
            raise InterpfaceError(f"--models-dir {args.models_dir}: no such folder")
        env["INTERPFACE_MODELS_DIR"] = str(folder)
    cmd = dashboard_command(args.host, args.port)
    served = env.get("INTERPFACE_MODELS_DIR")
    print(
        f"interpface dashboard on http://{args.host}:{args.port} (Ctrl+C to stop)"
        + (f"; models from {served}" if served else ""),
        flush=True,
    )
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


def add_commands(sub) -> None:
    p = sub.add_parser("dashboard", help="launch the Streamlit dashboard")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument(
        "--models-dir",
        metavar="DIR",
        help="a folder of models to list on every page (ONNX files with "
        'NAME.json sidecars, IResNet weights with {"architecture": ...} sidecars, checkpoint folders); '
        "default: $INTERPFACE_MODELS_DIR. Visitors can upload models but never name a server path",
    )
    p.set_defaults(func=cmd_dashboard)
