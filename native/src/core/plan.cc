// Plan building: M in class-sorted order with float64 squared norms, and how P relates to M.
#include <algorithm>
#include <thread>

#include "core/plan.h"

#ifdef KQKD_WITH_OPENMP
#include <omp.h>
#endif

namespace kqkd::core {

int resolveThreads(int requested) {
  if (requested > 0) return requested;
#ifdef KQKD_WITH_OPENMP
  return std::max(1, omp_get_num_procs());
#else
  return std::max(1u, std::thread::hardware_concurrency());
#endif
}

Plan buildPlan(const GeometryInput& in, const GeometryOptions& opt) {
  Plan plan;
  plan.features = in.features;
  plan.dim = in.dim;
  plan.numClasses = in.numClasses;
  plan.threads = resolveThreads(opt.threads);
  plan.tileRows = opt.tileRows;
  const int32_t C = in.numClasses;

  // Stable counting sort of M by class: ties keep their order in mainIndices.
  plan.classStart.assign(C + 1, 0);
  for (int64_t k = 0; k < in.mainCount; ++k) ++plan.classStart[in.labels[in.mainIndices[k]] + 1];
  for (int32_t c = 0; c < C; ++c) plan.classStart[c + 1] += plan.classStart[c];
  std::vector<int64_t> next(plan.classStart.begin(), plan.classStart.end() - 1);
  plan.mainRows.resize(in.mainCount);
  plan.mainClass.resize(in.mainCount);
  for (int64_t k = 0; k < in.mainCount; ++k) {
    const int64_t row = in.mainIndices[k];
    const int32_t c = in.labels[row];
    plan.mainRows[next[c]] = row;
    plan.mainClass[next[c]] = c;
    ++next[c];
  }

  // Squared norms in float64: they feed the normalisation, the distances and the reported norms.
  const int64_t n = in.mainCount, D = in.dim;
  plan.sqNorm.resize(n);
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel for schedule(static) num_threads(plan.threads)
#endif
  for (int64_t k = 0; k < n; ++k) {
    const float* x = in.features + plan.mainRows[k] * D;
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < D; ++j) s += double(x[j]) * double(x[j]);
    plan.sqNorm[k] = s;
  }

  // P: counts per class, and which P rows are also M rows (the main Gram already holds their class-block
  // entries; the driver computes the rest). Labels are per row, so such a row is in M_c for its class c.
  plan.pcaCount.assign(C, 0);
  std::vector<int64_t> gramPos(in.rows, -1);  // features row -> position in class-sorted M
  for (int64_t k = 0; k < n; ++k) gramPos[plan.mainRows[k]] = k;
  plan.pcaFromMain = false;
  for (int64_t k = 0; k < in.classCount; ++k) {
    ++plan.pcaCount[in.labels[in.classIndices[k]]];
    plan.pcaFromMain |= gramPos[in.classIndices[k]] >= 0;
  }
  if (plan.pcaFromMain) {
    // Slot = order of the row within P_c as listed in classIndices (any order gives the same spectrum).
    plan.pcaSlot.assign(n, -1);
    std::vector<int64_t> slots(C, 0);
    for (int64_t k = 0; k < in.classCount; ++k) {
      const int64_t row = in.classIndices[k];
      const int64_t slot = slots[in.labels[row]]++;
      if (gramPos[row] >= 0) plan.pcaSlot[gramPos[row]] = slot;
    }
  }
  return plan;
}

}  // namespace kqkd::core
