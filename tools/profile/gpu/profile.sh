#!/usr/bin/env bash
# Profiling / checking the CUDA backend on a GPU machine (after run-gpu-bench.sh or its build step):
#   ncu     Nsight Compute full section set on our Gram kernel (one launch, D=4096) -> gram.ncu-rep
#           Look at: "SOL SM/Memory", "Compute Workload" (FMA pipe utilisation), "Memory Workload" (shared-memory
#           bank conflicts should be ~0 for loads), "Occupancy" (2 blocks x 256 threads, 128 regs), "Source" (-lineinfo).
#   memcheck  compute-sanitizer --tool memcheck over the whole CUDA test (all tiling paths); racecheck on a
#           reduced run for the shared-memory double buffering.
# Usage: tools/profile/gpu/profile.sh [ncu|memcheck|racecheck|all]   (BUILD_DIR as in run-gpu-bench.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/native/build-gpu}
OUT=${RESULTS_DIR:-$BUILD_DIR/results}
WHAT=${1:-all}
mkdir -p "$OUT"
[[ -x "$BUILD_DIR/kqkd_geometry_cuda_bench" ]] || {
  cmake -S "$ROOT/tools/profile/gpu" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
  cmake --build "$BUILD_DIR" -j "$(nproc)"
}

if [[ $WHAT == ncu || $WHAT == all ]]; then
  # --gram-only skips reduceGramCuda; -k/-c select one timed launch of the Gram kernel (after the warm-up).
  ncu --set full -k regex:gramKernel -s 1 -c 1 -o "$OUT/gram" -f \
    "$BUILD_DIR/kqkd_geometry_cuda_bench" --n 5000 --dims 4096 --reps 2 --gram-only
  ncu --import "$OUT/gram.ncu-rep" --page details --section SpeedOfLight --section Occupancy \
    --section MemoryWorkloadAnalysis | tee "$OUT/gram-ncu-summary.txt"
  # The reduction kernel, for completeness (it should be a small fraction of the Gram time).
  ncu --set full -k regex:reduceKernel -c 1 -o "$OUT/reduce" -f \
    "$BUILD_DIR/kqkd_geometry_cuda_bench" --n 5000 --dims 512 --reps 1
fi
if [[ $WHAT == memcheck || $WHAT == all ]]; then
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 "$BUILD_DIR/kqkd_cuda_vs_cpu_test"
fi
if [[ $WHAT == racecheck || $WHAT == all ]]; then
  compute-sanitizer --tool racecheck --error-exitcode 1 \
    "$BUILD_DIR/kqkd_geometry_cuda_bench" --n 512 --dims 64 --reps 1
fi
