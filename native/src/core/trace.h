// KQKD_TRACE=1 in the environment prints the duration of each phase to stderr (a profiling aid for the driver
// and the backends; free when unset).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace kqkd::core {

class PhaseTrace {
 public:
  PhaseTrace() : enabled_(std::getenv("KQKD_TRACE") != nullptr), last_(Clock::now()) {}
  void mark(const char* phase) {
    if (!enabled_) return;
    const auto now = Clock::now();
    std::fprintf(stderr, "kqkd: %-12s %9.2f ms\n", phase,
                 std::chrono::duration<double, std::milli>(now - last_).count());
    last_ = now;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  Clock::time_point last_;
};

}  // namespace kqkd::core
