#!/usr/bin/env bash
# Builds the native fuzz target with clang (libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer) and runs it
# for a fixed time budget (seconds, default 60). A crash, a leak or undefined behaviour fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_BUDGET="${1:-60}"
BUILD=native/build-fuzz
cmake -S native -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DKQKD_ENABLE_CUDA=OFF -DCMAKE_JS_INC="$(node -p "require('node-api-headers').include_dir");$(node -p "require('node-addon-api').include_dir")" > /dev/null
cmake --build "$BUILD" --target fuzz_validate > /dev/null
mkdir -p "$BUILD/corpus"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
  "$BUILD/test/fuzz_validate" -max_total_time="$SECONDS_BUDGET" -max_len=800 -print_final_stats=1 "$BUILD/corpus" 2>&1 | tail -15
