#!/usr/bin/env bash
# The package as a user gets it: build the wheel, install only it (with the [dashboard] extra) into a
# fresh virtual environment, and from a folder outside the source tree run `interpface demo` and start
# `interpface dashboard` until http://127.0.0.1:PORT/_stcore/health answers "ok".
#
# The pinned requirements are constraints, not an install list: pip installs what the wheel declares
# (a missing dependency fails here) at the tested versions (torch the CPU 2.13.0 build: an unpinned
# torch pulls a multi-GB CUDA build). Assumes scripts/setup.sh ran (.venv, Debian's libdlib-data).
#   scripts/wheel_check.sh [WORK_DIR]   (default: a temporary folder, removed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
src="$(pwd)"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

work="${1:-}"
if [ -z "$work" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
t0=$SECONDS

echo "-- build the wheel"
rm -rf "$work/dist"
.venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" . >/dev/null
wheel="$(ls "$work"/dist/interpface-*.whl)"
echo "$(basename "$wheel"): $(du -h "$wheel" | cut -f1), $(unzip -l "$wheel" | tail -1 | awk '{print $2}') files"
.venv/bin/python - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["interpface/assets/template.json", "interpface/dashboard/app.py", "interpface/dashboard/views/overview.py",
        "interpface/assets/peers/dlib_port/evaluation.json", "training/configs/patient/full.yaml", "interpface/py.typed"]
need += [f"interpface/assets/models/{v}/{f}" for v in ("base", "base_aug", "sad", "fad", "full")
         for f in ("model.safetensors", "config.json", "evaluation.json")]
need += [f"interpface/assets/analyses/{v}.{e}" for v in ("base", "base_aug", "sad", "fad", "full", "dlib_port")
         for e in ("json", "npz")]
missing = [n for n in need if n not in names]
stray = [n for n in names if n.startswith(("tests/", "scripts/", "benchmarks/", "docs/")) or n.startswith("interpface/assets/models/stem")]
assert not missing and not stray, f"missing {missing}, unexpected {stray}"
PY

echo "-- install it into a fresh virtual environment"
rm -rf "$work/venv"
"$PYTHON" -m venv "$work/venv"
# pip takes no extras in a constraint (ray[data]==...): the same pins without them
sed -E 's/\[[^]]*\]//' requirements.txt > "$work/constraints.txt"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check -c "$work/constraints.txt" "${wheel}[dashboard]" \
    2>"$work/pip.log" || { cat "$work/pip.log" >&2; exit 1; }
echo "installed in $((SECONDS - t0)) s"

# Outside the source tree, with no dataset: nothing may come from the checkout.
cd "$work"
export INTERPFACE_NO_SHARED_DATA=1
unset INTERPFACE_DATA PYTHONPATH
bin="$work/venv/bin"
"$bin/python" - "$src" <<'PY'
import sys
from pathlib import Path

import interpface
from interpface.analysis import list_precomputed
from interpface.files import assets_dir, dashboard_app
from interpface.models.zoo import available_models

src = Path(sys.argv[1]).resolve()
here = Path(interpface.__file__).resolve()
assert src not in here.parents, f"interpface imported from the checkout: {here}"
assert "site-packages" in here.parts and dashboard_app().is_file(), (here, dashboard_app())
models, analyses = available_models(), list_precomputed()
assert list(models) == ["base", "base_aug", "sad", "fad", "full"], models
assert {"base", "base_aug", "sad", "fad", "full", "dlib_port"} <= set(analyses), analyses
print(f"package data from {assets_dir()}: {len(models)} models, {len(analyses)} precomputed analyses")
PY

echo "-- interpface demo"
"$bin/interpface" demo --out "$work/demo.png" --json "$work/demo.json"
test -s "$work/demo.png"

echo "-- interpface dashboard: health check"
port="$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
setsid "$bin/interpface" dashboard --port "$port" >"$work/dashboard.log" 2>&1 &
pid=$!
stop() { kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
health=""
for _ in $(seq 1 120); do
    health="$(curl -fsS "http://127.0.0.1:$port/_stcore/health" 2>/dev/null || true)"
    [ "$health" = ok ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
done
stop
if [ "$health" != ok ]; then
    echo "dashboard did not answer its health check:" >&2
    tail -20 "$work/dashboard.log" >&2
    exit 1
fi
echo "GET http://127.0.0.1:$port/_stcore/health -> $health"
echo "wheel check passed in $((SECONDS - t0)) s"
