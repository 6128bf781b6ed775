#!/usr/bin/env bash
# Set up (idempotent) and run the main job: the dashboard on http://127.0.0.1:8501 (bundled reference
# models, precomputed analyses and sample faces; LFW too when a dataset is configured).
# Extra arguments go to `interpface dashboard` (e.g. --port 8502 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/interpface dashboard "$@"
