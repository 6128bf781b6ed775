#!/usr/bin/env bash
# Measure the reference models and write every table of Results and Reproducing that comes from them,
# after ./scripts/train_reference.sh has trained them (LFW DevTest; about 2.5 h on 2 cores):
#   1. the t ablation (full_t130, full_t320: trained like full into runs/export/, not shipped) and its
#      evaluation records;
#   2. the evaluation of the five models and the peers (clean, synthetic, natural, part:nose and the
#      realistic occluders; each model's evaluation.json, the thresholds the dashboard uses);
#   3. the analyses on 1,000 DevTest faces (assets/analyses/);
#   4. the paired comparisons (full against base and base_aug, and against the t ablation);
#   5. the README's table, the targets and claims checked, and the training records.
# It first runs ./scripts/train_reference.sh, which does nothing when the stem and the five models are
# current and otherwise finishes them, so the measurements are always of the recipe's models.
# Resumable: every step re-uses its tracked records (results/) while the weights are the same, so an
# interrupted run picks up where it stopped and the peers, once recorded, are not re-run. The trust runs
# of the pair maps are separate: ./scripts/trust_runs.sh. Environment: THREADS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
THREADS=${THREADS:-2}
./scripts/train_reference.sh
VARIANTS="full_t130 full_t320" EXPORT_DIR=runs/export ./scripts/train_reference.sh
$PY scripts/evaluate_reference.py --variants full_t130,full_t320 --models-dir runs/export --no-ship --threads "$THREADS"
$PY scripts/evaluate_reference.py --peer --port --realistic --threads "$THREADS" --docs
$PY scripts/reference_analyses.py --threads "$THREADS" --docs
$PY scripts/paired_tables.py --ablation-dir runs/export --threads "$THREADS" --docs
$PY scripts/readme_table.py --write
$PY scripts/claims_table.py --docs
$PY scripts/training_records.py --docs
$PY scripts/training_records.py --models-dir runs/export --names full_t130,full_t320 \
    --block "training_records.py t ablation" --docs
