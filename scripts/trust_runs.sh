#!/usr/bin/env bash
# Faithfulness on both protocols, randomisation sanity checks and trust cards for the five reference
# models, the dlib port and one ONNX black box (the dlib port exported to ONNX), then the docs' tables.
# Each step is skipped when its JSON exists (rerun after an interruption). Needs LFW prepared
# (`interpface data prepare`). Arguments: the models to run (default all: base base_aug sad fad full
# dlib_port dlib_port_onnx; two shells with disjoint lists run in parallel). Environment: PAIRS
# (genuine and as many impostor DevTest pairs per model, default 6), SANITY_PAIRS (default 1), OUT
# (default out/trust), THREADS (default 1), TABLES (0: skip the docs' tables).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${PAIRS:-6}
SANITY_PAIRS=${SANITY_PAIRS:-1}
OUT=${OUT:-out/trust}
THREADS=${THREADS:-1}
I=.venv/bin/interpface
OURS=representation,representation_fggb,occlusion,integrated_gradients,gradcam,rise,random,fggb,xssab,corrrise
ANY=occlusion,integrated_gradients,rise,random,fggb,xssab,corrrise
mkdir -p "$OUT"

run() {  # name checkpoint methods [precompute]
    local name=$1 ck=$2 methods=$3 keep=${4:-yes}
    local f="$OUT/$name.faithfulness.json" s="$OUT/$name.sanity.json"
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
            onnx="$OUT/onnx/dlib_port_onnx.onnx"
            [ -f "$onnx" ] || .venv/bin/python scripts/export_dlib_onnx.py "$onnx"
            run dlib_port_onnx "onnx:$onnx" "$ANY" no ;;
        *) run "$name" "assets/models/$name" "$OURS" ;;
    esac
done
[ "${TABLES:-1}" = 0 ] || .venv/bin/python scripts/faithfulness_tables.py --dir "$OUT" --docs
