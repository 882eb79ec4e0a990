#!/usr/bin/env bash
# CUDA profile of the geometry kernels (`npx nx run @kqkd/native:profile-gpu`): where a GPU and the CUDA tools exist,
# tools/profile/gpu/profile.sh ncu (Nsight Compute on the Gram kernel and the reduction; its reports and summary) with
# its results in native/profile/out/gpu/ (the target's declared output); elsewhere it writes why not to
# native/profile/out/gpu/why-not.txt, prints it and exits 0 (a machine without a GPU is not an error).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/profile/out/gpu"
rm -rf "$out" && mkdir -p "$out"
why=""
if ! command -v nvidia-smi >/dev/null; then
  why="no NVIDIA GPU here: nvidia-smi is not installed"
elif ! nvidia-smi -L >/dev/null 2>&1; then
  why="no NVIDIA GPU here: nvidia-smi -L fails ($(nvidia-smi -L 2>&1 | head -1))"
elif ! command -v nvcc >/dev/null; then
  why="a GPU but no CUDA compiler: nvcc is not on PATH (the CUDA toolkit builds the bench)"
elif ! command -v ncu >/dev/null; then
  why="a GPU but no Nsight Compute: ncu is not on PATH"
fi
if [[ -n "$why" ]]; then
  echo "$why" | tee "$out/why-not.txt"
  exit 0
fi
nvidia-smi -L | tee "$out/gpu.txt"
RESULTS_DIR="$out" bash "$here/../tools/profile/gpu/profile.sh" ncu 2>&1 | tee "$out/profile.log"
