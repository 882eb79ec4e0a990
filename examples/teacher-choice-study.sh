#!/usr/bin/env bash
# The teacher-choice study of docs/RESULTS.md §7 (issue 24): does a teacher's Knowledge Quality predict how good its
# distilled student will be? Seven Fashion-MNIST teachers, scored together by `kqkd score`, then a `kqkd distill`
# student from each (2 seeds), everything scored on the validation split (the last 5 000 training images), never on
# the test set. Every step resumes if stopped; run it again to continue. About 1 h of teacher training and 40 min of
# students on a 2-core machine. Results: runs/teacher-choice/study.md (table and Spearman ρ), teachers-kq.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
S=runs/teacher-choice
T=$S/teachers
mkdir -p "$T"
K=(node packages/cli/bin/kqkd.js)
TRAIN=(train --data fashion-mnist --validation 5000 --batch-size 128 --optimizer adamw --augment crop=2,flip --seed 0 --threads 1 --quiet)

# Teachers. T1 is the committed one; T5 and T7 are the validation runs of issue 26's teachers (docs/RESULTS.md §7).
cp models/fashion-mnist-resnet34-w025.onnx "$T/T1-resnet34-w025-e16.onnx"
train_resnet34() {
  "${K[@]}" "${TRAIN[@]}" --model resnet34 --width 0.125 --epochs 8 --lr 0.01 --save-epochs 2,4,8 --out $S/train/resnet34-w0125
  cp $S/train/resnet34-w0125/model-epoch-2.onnx "$T/T2-resnet34-w0125-e2.onnx"
  cp $S/train/resnet34-w0125/model-epoch-4.onnx "$T/T3-resnet34-w0125-e4.onnx"
  cp $S/train/resnet34-w0125/model-epoch-8.onnx "$T/T4-resnet34-w0125-e8.onnx"
  "${K[@]}" "${TRAIN[@]}" --model mobilenetv2 --width 0.5 --epochs 6 --lr 0.01 --out $S/train/mobilenetv2-w05
  cp $S/train/mobilenetv2-w05/model.onnx "$T/T6-mobilenetv2-w05-e6.onnx"
}
train_others() {
  "${K[@]}" "${TRAIN[@]}" --model vgg19 --width 0.2 --epochs 16 --lr 0.01 --out $S/train/vgg19-w02
  cp $S/train/vgg19-w02/model.onnx "$T/T5-vgg19-w02-e16.onnx"
  # ViT: the paper's peak LR for ViTs (0.001), a 20-epoch schedule, the model after epoch 7 (its best validation epoch
  # when the study was registered); the run may be stopped once model-epoch-7.onnx exists.
  "${K[@]}" "${TRAIN[@]}" --model vit_et --width 0.5 --epochs 20 --lr 0.001 --save-epochs 7 --out $S/train/vit_et-w05 &
  local vit=$!
  until [ -f $S/train/vit_et-w05/model-epoch-7.onnx ]; do sleep 30; done
  kill -TERM $vit; wait $vit || true
  cp $S/train/vit_et-w05/model-epoch-7.onnx "$T/T7-vit_et-w05-e7.onnx"
}
train_resnet34 & train_others & wait

# Knowledge Quality of every candidate on one class-balanced sample, and their ranking.
mapfile -t TEACHERS < <(ls "$T"/T*.onnx)
/usr/bin/time -f '%e' -o $S/score-seconds.txt "${K[@]}" score $(printf -- '--model %s ' "${TEACHERS[@]}") --data fashion-mnist \
  --samples 2000 --seed 0 --validation 5000 --out $S/score --quiet

# One student per teacher and seed: Ours (kq-last), quick's student and budget, scored on the validation split.
student() {
  local teacher=$1 seed=$2 name
  name=$(basename "$teacher" .onnx)
  "${K[@]}" distill --teacher "$teacher" --data fashion-mnist --student resnet9 --width 0.125 --train-limit 10000 \
    --validation 5000 --epochs 5 --lr 0.1 --seed "$seed" --threads 1 --out $S/students/$name/seed-$seed > /dev/null
}
for seed in 0 1; do
  for i in "${!TEACHERS[@]}"; do
    student "${TEACHERS[$i]}" $seed &
    if (( i % 2 == 1 )); then wait; fi
  done
  wait
done
node examples/teacher-choice-summary.mjs $S
