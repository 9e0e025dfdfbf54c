#!/usr/bin/env bash
# The shipped expression model's recipe on one GPU: the wide teachers train side by side (one
# process each; a 48x48 CNN leaves most of an H100 idle), then students are distilled from all of
# them, also side by side; keep the student with the best PublicTest accuracy.
# Usage: bash scripts/train_expression_gpu.sh DATA RUNS_DIR ["TEACHER SEEDS"] ["STUDENT SEEDS"] [KEY=VALUE ...]
#   (KEY=VALUE overrides go to every run, e.g. epochs=1 for a smoke test)
#   e.g. bash scripts/train_expression_gpu.sh ../shared/data/fer2013/fer2013.csv.gz runs "0 1 2" "0 1"
# FACESENSE overrides the command (default: facesense; `python -m facesense` from a source tree).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$1
RUNS=$2
TEACHER_SEEDS=${3:-"0 1 2"}
STUDENT_SEEDS=${4:-"0 1"}
shift $(( $# < 4 ? $# : 4 ))
FS=${FACESENSE:-facesense}
mkdir -p "$RUNS/logs"

pids=()
for s in $TEACHER_SEEDS; do
    $FS train configs/expression_teacher.yaml data="$DATA" runs_dir="$RUNS" name="teacher_s$s" seed="$s" "$@" -q >"$RUNS/logs/teacher_s$s.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

teachers=""
for s in $TEACHER_SEEDS; do
    run=$(tail -n 1 "$RUNS/logs/teacher_s$s.log")
    teachers="${teachers:+$teachers,}$run/best.pt"
done
echo "teachers: $teachers"

pids=()
for s in $STUDENT_SEEDS; do
    $FS train configs/expression.yaml data="$DATA" runs_dir="$RUNS" name="expression_s$s" seed="$s" "teacher=[$teachers]" "$@" -q >"$RUNS/logs/expression_s$s.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo done
