// Internal contract between the shared driver (src/core) and the Gram backends (src/cpu, src/cuda).
// The driver validates input, builds the Plan, asks ONE backend for the Gram reductions, then finishes
// on the CPU (exact recomputation of winning distances, class spectra by eigen-decomposition, assembly).
#pragma once

#include <cstdint>
#include <vector>

#include "kqkd/geometry.h"

namespace kqkd::core {

// M in class-sorted order. Row k of the Gram is features row mainRows[k]; its class is mainClass[k].
// Classes occupy contiguous segments: class c is positions [classStart[c], classStart[c+1]).
struct Plan {
  const float* features = nullptr;
  int64_t dim = 0;
  int32_t numClasses = 0;
  std::vector<int64_t> mainRows;    // |M|, sorted by (class, original order)
  std::vector<int32_t> mainClass;   // |M|
  std::vector<int64_t> classStart;  // C + 1
  std::vector<double> sqNorm;       // |M|: ||x||^2 accumulated in float64
  // P handling. When some P rows are also M rows (pcaFromMain), the backend copies every Gram entry between
  // two such rows of the same class into classGram; pcaSlot[k] = position of Gram row k inside its class's P
  // block, or -1. The driver computes the remaining entries (P_c \ M_c against P_c) itself.
  bool pcaFromMain = false;
  std::vector<int64_t> pcaSlot;     // |M| (only when pcaFromMain)
  std::vector<int64_t> pcaCount;    // C: m_c
  int threads = 1;
  int64_t tileRows = 0;             // 0 = backend decides
};

// What a backend returns: sums, extrema and arg-extrema of the Gram over class-pair blocks (C x C, row-major).
struct GramReductions {
  std::vector<double> absCosSum;   // sum over the full block of |g_ab| / (r_a r_b)
  std::vector<double> absCosMin;
  std::vector<double> absCosMax;
  std::vector<double> intraDistSum;     // per class: sum over ordered pairs a != b of ||x_a - x_b|| (approximate form)
  std::vector<double> minInterSqDist;   // per class c: min over a in M_c, b outside of r_a^2 + r_b^2 - 2 g_ab
  std::vector<int64_t> minInterArg;     // per class c: Gram positions (a, b) of that minimum, 2 per class
  // Only when plan.pcaFromMain: per class, the m_c x m_c Gram block of P_c (row-major, float64), filled at
  // (slot a, slot b) for every pair of P_c rows that are both M rows; other entries are left 0.
  std::vector<std::vector<double>> classGram;
};

GramReductions reduceGramCpu(const Plan& plan);

#ifdef KQKD_WITH_CUDA
// Implemented in src/cuda. Throws kqkd::GeometryError{"backend", ...} when no device can be used.
GramReductions reduceGramCuda(const Plan& plan);
bool cudaDeviceUsable(std::string* reason);
#endif

}  // namespace kqkd::core
