#!/usr/bin/env bash
# Set up (idempotent) and run the main job. Until the dashboard lands this is the end-to-end demo:
# detect and align sample faces, occlude them with the warped synthetic mask, write a picture.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/interpface demo --out "${1:-out/demo.png}"
