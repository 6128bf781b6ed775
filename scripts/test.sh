#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite, one pytest worker per core (pytest-xdist;
# INTERPFACE_TEST_WORKERS=0 runs it in one process). Extra arguments go to pytest. --dist loadgroup keeps
# the tests of one xdist_group (tests/test_distributed.py: one local Ray) on one worker.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest -q -n "${INTERPFACE_TEST_WORKERS:-auto}" --dist loadgroup "$@"
