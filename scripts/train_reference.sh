#!/usr/bin/env bash
# Train the five reference models on LFW DevTrain (CPU, bf16) and ship them to assets/models/.
# Resumable: rerun it after an interruption; finished variants are skipped, a started one resumes.
#   base: from scratch; base_aug, sad, fad, full: start from the trained base, same steps and seed.
# The t ablation is not shipped (the issue ships five models); train and export it elsewhere:
#   VARIANTS="full_t130 full_t320" EXPORT_DIR=runs/export ./scripts/train_reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
PY=.venv/bin/interpface
$PY data prepare --dataset lfw --quiet
$PY data teacher --dataset lfw --split devtrain --quiet   # the distillation targets (once; ~15 min on 2 cores)
EXPORT_DIR=${EXPORT_DIR:-assets/models}
for variant in ${VARIANTS:-base base_aug sad fad full}; do
    # shipped and finished with the recipe the YAML describes now (every YAML key equal): skip
    if [ "$(.venv/bin/python scripts/shipped_is_current.py "$EXPORT_DIR/$variant" "training/configs/$variant.yaml")" = yes ]; then
        echo "== $variant: already shipped"; continue
    fi
    if [ -f "runs/$variant/latest.json" ]; then
        echo "== $variant: resuming"; $PY train --resume "runs/$variant" --no-progress
    else
        echo "== $variant: training"; $PY train --config "training/configs/$variant.yaml" --out "runs/$variant" --no-progress
    fi
    $PY export --run "runs/$variant" --out "$EXPORT_DIR/$variant"
done
