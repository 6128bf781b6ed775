#!/usr/bin/env bash
# Idempotent setup on Debian/Ubuntu with Python 3.11: Debian packages (dlib's 68-point landmark
# model, chromium for browser tests and figure export), a virtual environment in .venv with the
# pinned requirements, and the package itself in editable mode. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

need_apt=()
[ -f /usr/share/dlib/shape_predictor_68_face_landmarks.dat ] || need_apt+=(libdlib-data)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
# torch.compile (the trainer's `compile: true`, tested) builds C++ kernels on CPU: a compiler and Python's headers
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
"$PYTHON" -c "import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
    || need_apt+=(python3-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "${INTERPFACE_SKIP_APT:-0}" = 1 ]; then
        echo "setup: skipping apt-get (INTERPFACE_SKIP_APT=1); missing: ${need_apt[*]}" >&2
    else
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "setup: installing Debian packages: ${need_apt[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
    fi
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# Reinstall only when the requirements or the project metadata changed.
stamp=.venv/.interpface-setup-stamp
want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
fi
# dlib's ResNet face descriptor -> safetensors for its PyTorch port (local conversion, nothing downloaded).
.venv/bin/interpface convert-dlib >/dev/null
