// computeGeometry: validate, plan, one backend's Gram reductions, then CPU finalisation (exact distances,
// norms, class spectra, assembly).
#include <cmath>
#include <limits>
#include <string>

#include "core/plan.h"
#include "core/trace.h"

namespace kqkd {
namespace {

GeometryError validateOptions(const GeometryOptions& opt) {
  if (opt.backend != Backend::Cpu && opt.backend != Backend::Cuda)
    return {"backend", "Expected 'cpu' or 'cuda' for backend but received enum value " +
                           std::to_string(static_cast<int>(opt.backend))};
  if (opt.threads < 0)
    return {"options.threads", "Expected threads >= 0 (0 = all hardware threads) for options.threads but received " +
                                   std::to_string(opt.threads)};
  if (opt.tileRows < 0)
    return {"options.tileRows", "Expected tileRows >= 0 (0 = automatic) for options.tileRows but received " +
                                    std::to_string(opt.tileRows)};
  return {};
}

#ifndef KQKD_WITH_CUDA
const char* kNoCudaBuild = "CUDA backend not built (nvcc was not found at build time); rebuild with nvcc on PATH "
                           "or use backend 'cpu'";
#endif

core::GramReductions reduce(const core::Plan& plan, Backend backend) {
  if (backend == Backend::Cpu) return core::reduceGramCpu(plan);
#ifdef KQKD_WITH_CUDA
  return core::reduceGramCuda(plan);
#else
  throw GeometryError{"backend", kNoCudaBuild};
#endif
}

// ||x_a - x_b|| in float64, directly from the features (the Gram form loses precision for close pairs).
double exactDistance(const float* x, const float* y, int64_t D) {
  double s = 0;
  for (int64_t j = 0; j < D; ++j) {
    const double d = double(x[j]) - double(y[j]);
    s += d * d;
  }
  return std::sqrt(s);
}

}  // namespace

GeometryResult computeGeometry(const GeometryInput& in, const GeometryOptions& opt) {
  core::PhaseTrace trace;
  if (GeometryError e = validateOptions(opt); !e.argument.empty()) throw e;
  if (GeometryError e = validate(in); !e.argument.empty()) throw e;
  trace.mark("validate");

  const core::Plan plan = core::buildPlan(in, opt);
  trace.mark("plan");
  core::GramReductions red = reduce(plan, opt.backend);
  trace.mark("gram");

  const int32_t C = in.numClasses;
  const int64_t D = in.dim;
  GeometryResult out;
  out.numClasses = C;
  out.mainClassCount.resize(C);
  out.normMin.assign(C, std::numeric_limits<double>::infinity());
  out.normAvg.assign(C, 0.0);
  out.normMax.assign(C, 0.0);
  out.avgIntraDist.resize(C);
  out.minInterDist.resize(C);
  out.minInterPair.resize(size_t(2) * C);
  for (int32_t c = 0; c < C; ++c) {
    const int64_t begin = plan.classStart[c], end = plan.classStart[c + 1], n = end - begin;
    out.mainClassCount[c] = n;
    for (int64_t k = begin; k < end; ++k) {
      const double r = std::sqrt(plan.sqNorm[k]);
      out.normMin[c] = std::min(out.normMin[c], r);
      out.normMax[c] = std::max(out.normMax[c], r);
      out.normAvg[c] += r;
    }
    out.normAvg[c] /= double(n);
    out.avgIntraDist[c] = n >= 2 ? red.intraDistSum[c] / double(n * (n - 1)) : std::nan("");
    const int64_t rowA = plan.mainRows[red.minInterArg[2 * c]], rowB = plan.mainRows[red.minInterArg[2 * c + 1]];
    out.minInterPair[2 * c] = rowA;
    out.minInterPair[2 * c + 1] = rowB;
    out.minInterDist[c] = exactDistance(in.features + rowA * D, in.features + rowB * D, D);
  }
  out.dpsMin = std::move(red.absCosMin);
  out.dpsMax = std::move(red.absCosMax);
  out.dpsAvg = std::move(red.absCosSum);
  for (int32_t c = 0; c < C; ++c)
    for (int32_t d = 0; d < C; ++d)
      out.dpsAvg[size_t(c) * C + d] /= double(out.mainClassCount[c] * out.mainClassCount[d]);
  // KQ-SPEC.md section 2: the reference's count of nonzero explained-variance ratios is always min(|M|, D).
  out.pcagid = std::min<int64_t>(int64_t(plan.mainRows.size()), D);

  trace.mark("finalise");
  core::classSpectra(in, plan, red.classGram, out);
  trace.mark("spectra");
  return out;
}

bool cudaAvailable(std::string* reason) {
#ifdef KQKD_WITH_CUDA
  std::string why;
  const bool ok = core::cudaDeviceUsable(&why);
  if (reason) *reason = ok ? "" : why;
  return ok;
#else
  if (reason) *reason = kNoCudaBuild;
  return false;
#endif
}

}  // namespace kqkd
