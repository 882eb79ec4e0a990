#!/usr/bin/env bash
# geometry-cuda bench on a GPU machine (nvcc + cmake + PyTorch; node and OpenBLAS not needed):
#   1. builds the CUDA backend standalone (tools/profile/gpu/CMakeLists.txt) into native/build-gpu,
#   2. runs the host index-math test and the CUDA test (float64 reference),
#   3. if the full native tree configures (OpenBLAS present), builds it and runs the CUDA-vs-CPU ctest too,
#   4. times our Gram kernel + whole reduceGramCuda and torch.matmul (cuBLAS), prints the ratios.
# Env: N (5000), DIMS (512,4096,16384), REPS (10), KQKD_CUDA_ARCHITECTURES (default 80;90; "native" works),
#      BUILD_DIR, RESULTS_DIR, SKIP_FULL_TREE=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/native/build-gpu}
RESULTS_DIR=${RESULTS_DIR:-$BUILD_DIR/results}
N=${N:-5000}
DIMS=${DIMS:-512,4096,16384}
REPS=${REPS:-10}
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
ARCH=()
[[ -n "${KQKD_CUDA_ARCHITECTURES:-}" ]] && ARCH=(-DKQKD_CUDA_ARCHITECTURES="$KQKD_CUDA_ARCHITECTURES")
mkdir -p "$RESULTS_DIR"

echo "== build (standalone CUDA backend) =="
cmake -S "$ROOT/tools/profile/gpu" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "${ARCH[@]}"
cmake --build "$BUILD_DIR" -j "$(nproc)"

echo "== tests =="
"$BUILD_DIR/kqkd_cuda_tile_math_test"
set +e
"$BUILD_DIR/kqkd_cuda_vs_cpu_test"
rc=$?
set -e
if [[ $rc -eq 77 ]]; then echo "no usable CUDA device: nothing more to measure"; exit 77; fi
[[ $rc -ne 0 ]] && { echo "CUDA test failed (rc=$rc)"; exit $rc; }

if [[ "${SKIP_FULL_TREE:-0}" != 1 ]]; then
  echo "== full native tree (CUDA vs reduceGramCpu), needs OpenBLAS =="
  if cmake -S "$ROOT/native" -B "$ROOT/native/build-gpu-full" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "${ARCH[@]}" \
       >"$RESULTS_DIR/full-configure.log" 2>&1; then
    cmake --build "$ROOT/native/build-gpu-full" -j "$(nproc)" --target kqkd_cuda_vs_cpu_test
    (cd "$ROOT/native/build-gpu-full" && ctest -R cuda_vs_cpu --output-on-failure)
  else
    echo "full tree does not configure here (see $RESULTS_DIR/full-configure.log); CPU comparison skipped"
  fi
fi

echo "== bench =="
"$BUILD_DIR/kqkd_geometry_cuda_bench" --n "$N" --dims "$DIMS" --reps "$REPS" | tee "$RESULTS_DIR/geometry-cuda.jsonl"
set +e
python3 "$ROOT/tools/profile/gpu/bench-vs-torch.py" --n "$N" --dims "$DIMS" --reps "$((REPS * 2))" \
  | tee "$RESULTS_DIR/torch-matmul.jsonl"
trc=${PIPESTATUS[0]}
set -e
[[ $trc -ne 0 ]] && { echo "torch baseline unavailable (rc=$trc): no ratio"; exit 0; }

python3 - "$RESULTS_DIR/geometry-cuda.jsonl" "$RESULTS_DIR/torch-matmul.jsonl" <<'PY'
import json, sys
ours = {r["d"]: r for r in map(json.loads, open(sys.argv[1]))}
torch = {r["d"]: r for r in map(json.loads, open(sys.argv[2])) if not r["tf32"]}
print("\n   D | our Gram ms | cuBLAS ms | our Gram / cuBLAS (speed) | FP32 efficiency ratio | whole reduceGramCuda ms")
ok = True
for d in sorted(ours):
    if d not in torch:
        continue
    o, t = ours[d], torch[d]
    speed = t["ms"] / o["gram_kernel_ms"]          # same n x n Gram delivered (ours: upper tiles only)
    eff = o["gram_kernel_tflops"] / t["tflops"]     # FLOP rate of the work each actually does
    ok &= speed >= 0.7
    print(f"{d:5d} | {o['gram_kernel_ms']:11.3f} | {t['ms']:9.3f} | {speed:25.2f} | {eff:21.2f} | "
          f"{o['reduce_gram_cuda_ms']:.1f}")
print("\ngoal (BENCHMARKS.md geometry-cuda): our Gram kernel >= 0.7x cuBLAS:", "MET" if ok else "NOT MET")
PY
