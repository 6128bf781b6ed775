#!/usr/bin/env bash
# Faithfulness on both protocols, randomisation sanity checks and trust cards for the five reference
# models, the dlib port and one ONNX black box (the dlib port exported to ONNX), then the docs' tables.
#
# The runs are tracked records in results/trust/ (<model>.faithfulness.json, .sanity.json, .trust.json,
# the printed tables in .txt, and <model>.weights: the sha256 of the weights they measured), so the
# tables can be rebuilt on any machine. Each step is skipped when its JSON exists and was measured on the
# weights the model has now (rerun after an interruption); a reference model retrained since has its
# records removed and measured again. Needs LFW prepared (`interpface data prepare`).
# Arguments: the models to run (default all: base base_aug sad fad full dlib_port dlib_port_onnx; two
# shells with disjoint lists run in parallel). Environment: PAIRS (genuine and as many impostor DevTest
# pairs per model, default 6), SANITY_PAIRS (default 1), OUT (default results/trust), THREADS (default
# 1), TABLES (0: skip the tables; with no arguments they are written into the docs).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-6}
SANITY_PAIRS=${SANITY_PAIRS:-1}
OUT=${OUT:-results/trust}
THREADS=${THREADS:-1}
ONNX=out/onnx/dlib_port_onnx.onnx  # generated, not tracked
I=.venv/bin/interpface
OURS=representation,representation_fggb,occlusion,integrated_gradients,gradcam,rise,random,fggb,xssab,corrrise
ANY=occlusion,integrated_gradients,rise,random,fggb,xssab,corrrise
mkdir -p "$OUT"

weights() {  # name checkpoint: what identifies the weights (the peers come from a pinned package)
    case "$1" in
        dlib_port|dlib_port_onnx) echo "dlib_face_recognition_resnet_model_v1" ;;
        *) .venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))["sha256"])' "$2/config.json" ;;
    esac
}

run() {  # name checkpoint methods [precompute]
    local name=$1 ck=$2 methods=$3 keep=${4:-yes}
    local f="$OUT/$name.faithfulness.json" s="$OUT/$name.sanity.json" w
    w=$(weights "$name" "$ck")
    if [ "$(cat "$OUT/$name.weights" 2>/dev/null)" != "$w" ]; then
        [ ! -f "$OUT/$name.weights" ] || echo "== $name: retrained since its trust run; measuring again"
        rm -f "$f" "$s" "$OUT/$name.trust.json" "$OUT/$name".*.txt
        echo "$w" > "$OUT/$name.weights"
    fi
    [ -f "$f" ] || $I faithfulness --checkpoint "$ck" --name "$name" --n-pairs "$PAIRS" --rise-masks 256 \
        --threads "$THREADS" --methods "$methods" --baselines black --quiet --json "$f" > "$OUT/$name.faithfulness.txt"
    [ -f "$s" ] || $I sanity --checkpoint "$ck" --name "$name" --n-pairs "$SANITY_PAIRS" --rise-masks 256 \
        --threads "$THREADS" --methods "$methods" --quiet --json "$s" > "$OUT/$name.sanity.txt"
    if [ "$keep" = yes ]; then
        $I trust --faithfulness "$f" --sanity "$s" --json "$OUT/$name.trust.json" --precompute "$name"
    else
        $I trust --faithfulness "$f" --sanity "$s" --json "$OUT/$name.trust.json"
    fi
}

MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(base base_aug sad fad full dlib_port dlib_port_onnx)
for name in "${MODELS[@]}"; do
    case "$name" in
        dlib_port) run dlib_port dlib-resnet "$ANY" ;;
        dlib_port_onnx)
            [ -f "$ONNX" ] || .venv/bin/python scripts/export_dlib_onnx.py "$ONNX"
            run dlib_port_onnx "onnx:$ONNX" "$ANY" no ;;
        base|base_aug|sad|fad|full) run "$name" "assets/models/$name" "$OURS" ;;
        *) echo "unknown model $name (base base_aug sad fad full dlib_port dlib_port_onnx)" >&2; exit 2 ;;
    esac
done
# the docs' tables once every model has its run (a subset, as in two parallel shells, prints what it has)
if [ "${TABLES:-1}" != 0 ]; then
    if [ $# -eq 0 ]; then .venv/bin/python scripts/faithfulness_tables.py --dir "$OUT" --docs
    else .venv/bin/python scripts/faithfulness_tables.py --dir "$OUT"; fi
fi
