#!/usr/bin/env bash
# Profiles the geometry-cpu bench under valgrind's callgrind on a small configuration and prints the top
# functions. Usage: native/bench/profile-callgrind.sh [extra bench flags]   (build first: npm run build)
# Callgrind counts instructions single-threaded (~50x slower), so the config is small; for wall-clock phase
# times at full size use KQKD_TRACE=1 build/bin/geometry_cpu_bench instead.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/build/bin/geometry_cpu_bench"
[[ -x "$bin" ]] || { echo "missing $bin: run npm run build -w @kqkd/native" >&2; exit 1; }
out="$(mktemp -d)/callgrind.out"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$out" \
  "$bin" --n 1000 --dims 1024 --classes 10 --reps 1 --threads 1 "$@" >/dev/null
callgrind_annotate --inclusive=no "$out" 2>/dev/null | head -40
echo "full profile: $out (open with kcachegrind or callgrind_annotate)"
