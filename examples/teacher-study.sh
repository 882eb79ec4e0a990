#!/usr/bin/env bash
# The teacher study of docs/RESULTS.md §1: ResNet34 teachers on Fashion-MNIST with the last 5 000 training images held
# out for validation (never the test set), two runs at a time on a 2-core machine (about 3 h). Each run resumes if
# stopped; results in runs/teacher-study/<name>/metrics.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
K=(node packages/cli/bin/kqkd.js train --model resnet34 --data fashion-mnist --validation 5000 --batch-size 128
   --optimizer adamw --lr 0.01 --seed 0 --threads 1 --quiet)
S=runs/teacher-study
slot1() {
  "${K[@]}" --width 0.25 --augment crop=2,flip --epochs 8 --out $S/w0.25-aug-e8
}
slot2() {
  "${K[@]}" --width 0.125 --augment crop=2,flip --epochs 8 --out $S/w0.125-aug-e8
  "${K[@]}" --width 0.125 --epochs 8 --out $S/w0.125-noaug-e8
  "${K[@]}" --width 0.125 --augment crop=2,flip --epochs 16 --out $S/w0.125-aug-e16
}
slot1 & slot2 & wait
