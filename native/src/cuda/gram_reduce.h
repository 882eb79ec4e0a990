// Internal entry points of the CUDA backend beyond core/backend.h: tuning knobs for tests and the benchmark.
// Plain C++ (no CUDA headers) so C++ tests can include it.
#pragma once

#include <cstdint>

#include "core/backend.h"

namespace kqkd::cuda {

struct Tuning {
  int64_t panelRows = 0;       // rows per Gram panel (rounded up to 128); 0 = plan.tileRows or automatic
  bool forceStreaming = false; // stream row panels from the host even when all of M fits on the device
  int64_t stagingBytes = 0;    // pinned staging chunk; 0 = 64 MiB
};

// What reduceGramCuda did, for tests and benchmarks.
struct RunInfo {
  int64_t panelRows = 0;
  int64_t panels = 0;
  bool streaming = false;
  bool pinned = false;
};

core::GramReductions reduceGram(const core::Plan& plan, const Tuning& tuning, RunInfo* info = nullptr);

}  // namespace kqkd::cuda
