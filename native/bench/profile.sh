#!/usr/bin/env bash
# CPU profile of the geometry kernels (`npx nx run @kqkd/native:profile`): the geometry-cpu bench binary on one layer
# (default N = 2000, D = 2048, C = 10, 2 threads; PROFILE_ARGS replaces the bench flags) under perf when the machine
# lets this user record (perf installed, kernel.perf_event_paranoid ≤ 2 for user-space samples), else under valgrind's
# callgrind (instruction counts, single thread, a smaller layer), else it says why neither runs and fails.
# Output (the target's declared output), native/profile/out/cpu/:
#   perf:      perf.data, top-symbols.txt (perf report --no-children: self time per symbol), tool.txt ("perf")
#   callgrind: callgrind.out, top-symbols.txt (callgrind_annotate: instructions per function), tool.txt ("callgrind")
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/build/bin/geometry_cpu_bench"
out="$here/profile/out/cpu"
[[ -x "$bin" ]] || { echo "missing $bin: run npx nx run @kqkd/native:build" >&2; exit 1; }
rm -rf "$out" && mkdir -p "$out"

perf_reason=""
if ! command -v perf >/dev/null; then
  perf_reason="perf is not installed"
elif [[ "$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo 3)" -gt 2 ]]; then
  perf_reason="kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid) (> 2: no samples for this user)"
fi

if [[ -z "$perf_reason" ]]; then
  args=${PROFILE_ARGS:-"--n 2000 --dims 2048 --classes 10 --reps 2 --threads 2"}
  if perf record -e cpu-clock:u -F 999 -g -o "$out/perf.data" -- "$bin" $args >"$out/bench.jsonl" 2>"$out/perf-record.log"; then
    perf report -i "$out/perf.data" --stdio --no-children -g none --sort dso,symbol --percent-limit 0.5 2>/dev/null \
      | grep -E '^ +[0-9]' | cut -c1-160 | sed -E 's/ +$//' | head -40 >"$out/top-symbols.txt"
    echo perf >"$out/tool.txt"
    echo "perf profile ($args): top symbols by self time (samples of user-space cpu-clock):"
    cat "$out/top-symbols.txt"
    echo "full profile: perf report -i $out/perf.data"
    exit 0
  fi
  perf_reason="perf record failed: $(tail -1 "$out/perf-record.log")"
fi

echo "not perf: $perf_reason" | tee "$out/why-not-perf.txt"
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
  args=${PROFILE_ARGS:-"--n 1000 --dims 1024 --classes 10 --reps 1 --threads 1"}
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
    "$bin" $args >"$out/bench.jsonl" 2>"$out/callgrind.log"
  callgrind_annotate --inclusive=no "$out/callgrind.out" 2>/dev/null | head -40 >"$out/top-symbols.txt"
  echo callgrind >"$out/tool.txt"
  echo "callgrind profile ($args): instructions per function:"
  cat "$out/top-symbols.txt"
  exit 0
fi
echo "no CPU profiler: $perf_reason, and valgrind/callgrind_annotate are not installed (apt-get install linux-perf valgrind)" >&2
exit 1
