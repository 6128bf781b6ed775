#!/usr/bin/env bash
# Train the five reference models on LFW DevTrain (CPU, bf16) and ship them to assets/models/.
# Resumable: rerun it after an interruption; finished stages are skipped, a started one resumes.
#
# Two recipes (RECIPE=stem5, the default, or RECIPE=patient):
#
# RECIPE=stem5 (the shipped models' recipe):
#   stem: from scratch (stem.yaml: identity + distillation, 4,000 steps), exported to runs/export/stem;
#   stem2: 2,500 more steps of the same losses (stem2.yaml), exported to assets/models/stem2/ (committed);
#   stem3b, stem4d: 1,500 more steps each with a fresh schedule and heavier distillation, exported to
#   runs/export/;
#   stem5: 1,500 more steps (stem5.yaml), exported to assets/models/stem5/ and committed: the one starting
#   point of every variant, kept in the repository so that a later session (a session lasts 3 hours, its
#   background jobs end with it) trains the variants without re-training the stem; not a dashboard model;
#   base, base_aug, sad, fad, full: each starts from assets/models/stem5 (Psi rescaled, its classifier
#   kept) and trains 600 steps with its own losses.
#   The targets are precomputed once by `interpface data teacher`.
#
# RECIPE=patient (patient and consistent distillation; no precomputed targets):
#   stem_patient: from scratch in one long cosine schedule (stem_patient.yaml), the dlib port run online on
#   the student's augmented view (flip, colour jitter), its class centres as a margin classifier; resumed
#   from its last checkpoint (every 250 steps) when interrupted, refused when the run folder holds a run
#   of another recipe; exported to assets/models/stem_patient/ (commit it: the variants start there);
#   base, base_aug, sad, fad, full: training/configs/patient/<variant>.yaml, each from
#   assets/models/stem_patient with the same budget, in runs/patient/<variant>.
#
# The t ablation is not shipped (the dashboard ships five models); train and export it elsewhere:
#   VARIANTS="full_t130 full_t320" EXPORT_DIR=runs/export ./scripts/train_reference.sh
# (RECIPE=patient: training/configs/patient/full_t130.yaml and full_t320.yaml, from the patient stem)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
PY=.venv/bin/interpface
RECIPE=${RECIPE:-stem5}
case "$RECIPE" in stem5|patient) ;; *) echo "RECIPE must be stem5 or patient, not $RECIPE" >&2; exit 2;; esac
$PY data prepare --dataset lfw --quiet
EXPORT_DIR=${EXPORT_DIR:-assets/models}

# train_and_export NAME OUT [CONFIG RUN]: train CONFIG (default training/configs/NAME.yaml) in RUN (default
# runs/NAME), resuming a started run, and export it to OUT/NAME.
train_and_export() {
    local name=$1 out=$2 config=${3:-training/configs/$1.yaml} run=${4:-runs/$1}
    if [ -f "$run/latest.json" ]; then
        if [ "$(.venv/bin/python scripts/shipped_is_current.py --run "$run" "$config")" != yes ]; then
            echo "$run was started with another recipe than $config; move it away to train afresh" >&2; exit 1
        fi
        echo "== $name: resuming"; $PY train --resume "$run" --no-progress
    else
        echo "== $name: training"; $PY train --config "$config" --out "$run" --no-progress
    fi
    $PY export --run "$run" --out "$out/$name"
}
current() { [ "$(.venv/bin/python scripts/shipped_is_current.py "$1" "$2")" = yes ]; }

if [ "$RECIPE" = patient ]; then
    if current assets/models/stem_patient training/configs/stem_patient.yaml; then
        echo "== stem_patient: already in assets/models/stem_patient"
    else
        train_and_export stem_patient assets/models
    fi
    for variant in ${VARIANTS:-base base_aug sad fad full}; do
        config=training/configs/patient/$variant.yaml
        if current "$EXPORT_DIR/$variant" "$config"; then
            echo "== $variant: already shipped"; continue
        fi
        train_and_export "$variant" "$EXPORT_DIR" "$config" "runs/patient/$variant"
    done
    exit 0
fi

$PY data teacher --dataset lfw --split devtrain --quiet   # the distillation targets (once; ~15 min on 2 cores)

# The one starting point of every variant, in five stages (skipped when assets/models/stem5 is finished with
# stem5.yaml's recipe; stem2 is skipped likewise).
if current assets/models/stem5 training/configs/stem5.yaml; then
    echo "== stem .. stem5: already in assets/models/stem5"
else
    if current assets/models/stem2 training/configs/stem2.yaml; then
        echo "== stem, stem2: already in assets/models/stem2"
    else
        [ -f runs/export/stem/model.safetensors ] || train_and_export stem runs/export
        train_and_export stem2 assets/models
    fi
    for stage in stem3b stem4d; do
        [ -f "runs/export/$stage/model.safetensors" ] || train_and_export "$stage" runs/export
    done
    train_and_export stem5 assets/models
fi
for variant in ${VARIANTS:-base base_aug sad fad full}; do
    # shipped and finished with the recipe the YAML describes now (every YAML key equal): skip
    if current "$EXPORT_DIR/$variant" "training/configs/$variant.yaml"; then
        echo "== $variant: already shipped"; continue
    fi
    train_and_export "$variant" "$EXPORT_DIR"
done
