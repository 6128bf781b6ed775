#!/usr/bin/env bash
# The documentation site (MkDocs Material, mkdocs.yml, docs/).
#   ./scripts/docs.sh          serve it on http://127.0.0.1:8000 with live reload (extra arguments go to `mkdocs serve`)
#   ./scripts/docs.sh build    build it into site/ with --strict (any warning fails; extra arguments go to `mkdocs build`)
# Sets up .venv first when it is missing (scripts/setup.sh) and installs requirements-docs.txt into it
# when it changed. The CLI reference is generated from the argparse parsers and the API pages from the
# docstrings, so the package must be importable from .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || ./scripts/setup.sh
stamp=.venv/.interpface-docs-stamp
want="$(sha256sum requirements-docs.txt | cut -d' ' -f1)"
if [ ! -x .venv/bin/mkdocs ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-docs.txt
    echo "$want" > "$stamp"
fi
export NO_MKDOCS_2_WARNING=1   # Material's banner about MkDocs 2.0, printed on every run
mode="${1:-serve}"
[ $# -gt 0 ] && shift
case "$mode" in
    serve) exec .venv/bin/mkdocs serve -a 127.0.0.1:8000 "$@" ;;
    build) exec .venv/bin/mkdocs build --strict "$@" ;;
    *) echo "usage: $0 [serve|build] [mkdocs options]" >&2; exit 2 ;;
esac
