#!/usr/bin/env bash
# Train the reference models on LFW DevTrain (CPU, bf16) and ship them to assets/models/: patient and
# consistent distillation from dlib's ResNet (Beyer et al., CVPR 2022), in two stages.
#
# 1. stem_patient (training/configs/stem_patient.yaml): from scratch in one cosine schedule, the dlib port run
#    online on exactly the student's augmented view (flip, colour jitter), its class centres as a margin
#    classifier. About 4.7 h on 2 cores. Exported to assets/models/stem_patient/: commit it, so that a later
#    session trains the variants without re-training the stem (it is not a dashboard model).
# 2. base, base_aug, sad, fad, full (training/configs/patient/<variant>.yaml): each from
#    assets/models/stem_patient with the same budget (600 steps) and its own losses, in runs/patient/<variant>.
#    About 15-25 min each.
#
# Resumable: rerun it after an interruption. A stage already exported with the recipe its YAML describes
# now is skipped; a started run resumes from its last checkpoint, and is refused when its folder holds a
# run of another recipe. No data is precomputed beyond `interpface data prepare`.
#
# EXPORT_DIR moves the variants' exports only; the stem is always assets/models/stem_patient.
# The t ablation is not shipped (the dashboard ships five models); train and export it elsewhere:
#   VARIANTS="full_t130 full_t320" EXPORT_DIR=runs/export ./scripts/train_reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
PY=.venv/bin/interpface
$PY data prepare --dataset lfw --quiet
EXPORT_DIR=${EXPORT_DIR:-assets/models}

# train_and_export NAME OUT CONFIG RUN: train CONFIG in RUN, resuming a started run, and export it to OUT/NAME.
train_and_export() {
    local name=$1 out=$2 config=$3 run=$4
    if [ -f "$run/latest.json" ]; then
        if [ "$(.venv/bin/python scripts/shipped_is_current.py --run "$run" "$config")" != yes ]; then
            echo "$run was started with another recipe than $config, or from another stem; move it away to train afresh" >&2
            exit 1
        fi
        echo "== $name: resuming"; $PY train --resume "$run" --no-progress
    else
        echo "== $name: training"; $PY train --config "$config" --out "$run" --no-progress
    fi
    $PY export --run "$run" --out "$out/$name"
}
# current MODEL_DIR CONFIG: the export finished training with every key CONFIG holds now
current() { [ "$(.venv/bin/python scripts/shipped_is_current.py "$1" "$2")" = yes ]; }

if current assets/models/stem_patient training/configs/stem_patient.yaml; then
    echo "== stem_patient: already in assets/models/stem_patient"
else
    train_and_export stem_patient assets/models training/configs/stem_patient.yaml runs/stem_patient
fi
for variant in ${VARIANTS:-base base_aug sad fad full}; do
    config=training/configs/patient/$variant.yaml
    if current "$EXPORT_DIR/$variant" "$config"; then
        echo "== $variant: already shipped"; continue
    fi
    train_and_export "$variant" "$EXPORT_DIR" "$config" "runs/patient/$variant"
done
