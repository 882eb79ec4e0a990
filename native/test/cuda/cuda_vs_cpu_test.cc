// CUDA backend vs CPU: reduceGramCuda against a float64 brute-force reference of the GramReductions contract
// and, when built inside the full native tree, against reduceGramCpu. Exit 77 (ctest SKIPPED) without a device.
//
// Tolerance: 1e-5 relative, with an absolute floor of 1e-5 times the quantity's natural scale (1 for |cos|,
// r_a^2 + r_b^2 for squared distances): min |cos| of near-orthogonal rows is ~1e-3 and a float32 Gram cannot
// give it to 1e-5 relative, in either backend. Set KQKD_CUDA_TEST_LARGE=1 for the |M| = 50 000, D = 4096 case
// (CPU comparison only; minutes on the CPU side).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/plan.h"
#include "cuda/gram_reduce.h"

namespace {

using kqkd::core::GramReductions;
using kqkd::core::Plan;

int failures = 0;

struct Dataset {
  int64_t rows = 0, dim = 0;
  int32_t C = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<int64_t> main, pca;
};

// Rows with a class mean plus noise (non-negative like post-ReLU features), M and P drawn as shuffled subsets.
// duplicates > 0 copies some rows into other classes, so inter-class distances of exactly 0 (ties) occur.
Dataset makeData(uint32_t seed, int32_t C, int minPerClass, int maxPerClass, int64_t dim, bool pcaInsideMain,
                 int duplicates = 0) {
  std::mt19937_64 rng(seed);
  Dataset d;
  d.C = C;
  d.dim = dim;
  std::uniform_int_distribution<int> perClass(minPerClass, maxPerClass);
  std::vector<int> counts(static_cast<size_t>(C));
  for (int& c : counts) c = perClass(rng);
  for (int32_t c = 0; c < C; ++c)
    for (int k = 0; k < counts[size_t(c)] + 3; ++k) d.labels.push_back(c);  // +3 rows outside M
  std::shuffle(d.labels.begin(), d.labels.end(), rng);
  d.rows = int64_t(d.labels.size());
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> means(size_t(C) * size_t(dim));
  for (float& m : means) m = std::max(0.0f, noise(rng)) * 0.7f;
  d.x.resize(size_t(d.rows) * size_t(dim));
  for (int64_t r = 0; r < d.rows; ++r)
    for (int64_t j = 0; j < dim; ++j)
      d.x[size_t(r * dim + j)] = std::max(0.0f, means[size_t(d.labels[size_t(r)]) * size_t(dim) + size_t(j)] + noise(rng));
  // M: all but 3 rows of each class; P: inside M (class Gram from the main Gram) or a fresh draw.
  std::vector<int> seen(size_t(C), 0);
  std::vector<int64_t> order(static_cast<size_t>(d.rows));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t r : order)
    if (seen[size_t(d.labels[size_t(r)])]++ < counts[size_t(d.labels[size_t(r)])]) d.main.push_back(r);
  std::shuffle(order.begin(), order.end(), rng);
  const std::vector<int64_t>& pool = pcaInsideMain ? d.main : order;
  std::fill(seen.begin(), seen.end(), 0);
  for (int64_t r : pool)
    if (seen[size_t(d.labels[size_t(r)])]++ < std::max(1, counts[size_t(d.labels[size_t(r)])] / 2)) d.pca.push_back(r);
  for (int k = 0; k < duplicates; ++k) {  // copy a row of M onto another M row of a different class
    const int64_t a = d.main[size_t(k) % d.main.size()];
    for (int64_t b : d.main)
      if (d.labels[size_t(b)] != d.labels[size_t(a)]) {
        std::copy_n(d.x.begin() + a * dim, dim, d.x.begin() + b * dim);
        break;
      }
  }
  return d;
}

Plan planOf(const Dataset& d, int64_t tileRows = 0) {
  kqkd::GeometryInput in;
  in.features = d.x.data();
  in.rows = d.rows;
  in.dim = d.dim;
  in.labels = d.labels.data();
  in.numClasses = d.C;
  in.mainIndices = d.main.data();
  in.mainCount = int64_t(d.main.size());
  in.classIndices = d.pca.data();
  in.classCount = int64_t(d.pca.size());
  kqkd::GeometryOptions opt;
  opt.threads = 2;
  opt.tileRows = tileRows;
  return kqkd::core::buildPlan(in, opt);
}

// Float64 brute force of the contract (Gram of the float32 rows in float64).
GramReductions reference(const Plan& p) {
  const int64_t n = int64_t(p.mainRows.size()), D = p.dim;
  const int32_t C = p.numClasses;
  GramReductions r;
  const double inf = std::numeric_limits<double>::infinity();
  r.absCosSum.assign(size_t(C) * C, 0.0);
  r.absCosMin.assign(size_t(C) * C, inf);
  r.absCosMax.assign(size_t(C) * C, -inf);
  r.intraDistSum.assign(size_t(C), 0.0);
  r.minInterSqDist.assign(size_t(C), inf);
  r.minInterArg.assign(size_t(2) * C, -1);
  if (p.pcaFromMain) {
    r.classGram.resize(size_t(C));
    for (int32_t c = 0; c < C; ++c) r.classGram[size_t(c)].assign(size_t(p.pcaCount[size_t(c)] * p.pcaCount[size_t(c)]), 0.0);
  }
  for (int64_t a = 0; a < n; ++a) {
    const float* xa = p.features + p.mainRows[size_t(a)] * D;
    for (int64_t b = 0; b < n; ++b) {
      const float* xb = p.features + p.mainRows[size_t(b)] * D;
      double g = 0;
      for (int64_t j = 0; j < D; ++j) g += double(xa[j]) * double(xb[j]);
      const int32_t ca = p.mainClass[size_t(a)], cb = p.mainClass[size_t(b)];
      const size_t k = size_t(ca) * C + cb;
      const double v = std::fabs(g) / std::sqrt(p.sqNorm[size_t(a)] * p.sqNorm[size_t(b)]);
      r.absCosSum[k] += v;
      r.absCosMin[k] = std::min(r.absCosMin[k], v);
      r.absCosMax[k] = std::max(r.absCosMax[k], v);
      const double sq = p.sqNorm[size_t(a)] + p.sqNorm[size_t(b)] - 2 * g;
      if (ca == cb && a != b) r.intraDistSum[size_t(ca)] += std::sqrt(std::max(0.0, sq));
      if (ca != cb && sq < r.minInterSqDist[size_t(ca)]) {
        r.minInterSqDist[size_t(ca)] = sq;
        r.minInterArg[size_t(2) * ca] = a;
        r.minInterArg[size_t(2) * ca + 1] = b;
      }
      if (p.pcaFromMain && ca == cb && p.pcaSlot[size_t(a)] >= 0 && p.pcaSlot[size_t(b)] >= 0)
        r.classGram[size_t(ca)][size_t(p.pcaSlot[size_t(a)] * p.pcaCount[size_t(ca)] + p.pcaSlot[size_t(b)])] = g;
    }
  }
  return r;
}

double sqDist64(const Plan& p, int64_t a, int64_t b) {
  double s = 0;
  const float* xa = p.features + p.mainRows[size_t(a)] * p.dim;
  const float* xb = p.features + p.mainRows[size_t(b)] * p.dim;
  for (int64_t j = 0; j < p.dim; ++j) s += (double(xa[j]) - xb[j]) * (double(xa[j]) - xb[j]);
  return s;
}

bool close(double got, double want, double scale, double rtol = 1e-5) {
  if (std::isinf(want) || std::isinf(got)) return got == want;
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
  return std::fabs(got - want) <= rtol * std::fabs(want) + rtol * scale;
}

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++failures;
    if (failures < 40) std::printf("  FAIL %s\n", what.c_str());
  }
}

void compare(const std::string& name, const Plan& p, const GramReductions& got, const GramReductions& want,
             bool wantIsExact) {
  const int32_t C = p.numClasses;
  const int before = failures;
  check(got.absCosSum.size() == size_t(C) * C && got.intraDistSum.size() == size_t(C) &&
            got.minInterArg.size() == size_t(2) * C,
        name + ": output sizes");
  if (failures != before) return;
  for (int32_t c = 0; c < C; ++c) {
    const int64_t nc = p.classStart[size_t(c) + 1] - p.classStart[size_t(c)];
    for (int32_t d = 0; d < C; ++d) {
      const size_t k = size_t(c) * C + d;
      const int64_t nd = p.classStart[size_t(d) + 1] - p.classStart[size_t(d)];
      const std::string at = name + " pair (" + std::to_string(c) + "," + std::to_string(d) + ")";
      check(close(got.absCosSum[k], want.absCosSum[k], double(nc * nd)),
            at + " absCosSum " + std::to_string(got.absCosSum[k]) + " vs " + std::to_string(want.absCosSum[k]));
      check(close(got.absCosMin[k], want.absCosMin[k], 1.0), at + " absCosMin " + std::to_string(got.absCosMin[k]) +
                                                                 " vs " + std::to_string(want.absCosMin[k]));
      check(close(got.absCosMax[k], want.absCosMax[k], 1.0), at + " absCosMax");
    }
    double meanSq = 0;
    for (int64_t a = p.classStart[size_t(c)]; a < p.classStart[size_t(c) + 1]; ++a) meanSq += p.sqNorm[size_t(a)];
    meanSq /= double(std::max<int64_t>(nc, 1));
    const std::string cl = name + " class " + std::to_string(c);
    check(close(got.intraDistSum[size_t(c)], want.intraDistSum[size_t(c)], double(nc * nc) * std::sqrt(meanSq)),
          cl + " intraDistSum " + std::to_string(got.intraDistSum[size_t(c)]) + " vs " +
              std::to_string(want.intraDistSum[size_t(c)]));
    // argmin: equal pairs, or (near-tie) the chosen pair's exact distance matches the minimum within tolerance
    const int64_t ga = got.minInterArg[size_t(2) * c], gb = got.minInterArg[size_t(2) * c + 1];
    const int64_t wa = want.minInterArg[size_t(2) * c], wb = want.minInterArg[size_t(2) * c + 1];
    if (wa < 0) {
      check(ga < 0 && std::isinf(got.minInterSqDist[size_t(c)]), cl + " minInter: expected none");
      continue;
    }
    const double scale = p.sqNorm[size_t(wa)] + p.sqNorm[size_t(wb)];
    check(close(got.minInterSqDist[size_t(c)], want.minInterSqDist[size_t(c)], scale),
          cl + " minInterSqDist " + std::to_string(got.minInterSqDist[size_t(c)]) + " vs " +
              std::to_string(want.minInterSqDist[size_t(c)]));
    const bool valid = ga >= p.classStart[size_t(c)] && ga < p.classStart[size_t(c) + 1] && gb >= 0 &&
                       gb < int64_t(p.mainRows.size()) && p.mainClass[size_t(gb)] != c;
    check(valid, cl + " minInterArg outside the class pair rule");
    if (valid && (ga != wa || gb != wb))
      check(close(sqDist64(p, ga, gb), sqDist64(p, wa, wb), scale),
            cl + " minInterArg (" + std::to_string(ga) + "," + std::to_string(gb) + ") vs (" + std::to_string(wa) +
                "," + std::to_string(wb) + ") is not a near-tie");
  }
  check(got.classGram.size() == want.classGram.size(), name + ": classGram presence");
  if (p.pcaFromMain && got.classGram.size() == want.classGram.size())
    for (int32_t c = 0; c < C; ++c) {
      const auto& G = got.classGram[size_t(c)];
      const auto& W = want.classGram[size_t(c)];
      check(G.size() == W.size(), name + ": classGram size of class " + std::to_string(c));
      if (G.size() != W.size()) continue;
      const int64_t m = p.pcaCount[size_t(c)];
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) {
          const double scale = std::sqrt(std::fabs(W[size_t(i * m + i)] * W[size_t(j * m + j)]));
          check(close(G[size_t(i * m + j)], W[size_t(i * m + j)], scale),
                name + ": classGram class " + std::to_string(c) + " entry " + std::to_string(i) + "," +
                    std::to_string(j));
        }
    }
  std::printf("%s %s vs %s\n", failures == before ? "ok  " : "FAIL", name.c_str(),
              wantIsExact ? "float64 reference" : "reduceGramCpu");
}

void runCase(const std::string& name, const Dataset& d, const kqkd::cuda::Tuning& tuning, bool withReference = true) {
  const Plan p = planOf(d);
  kqkd::cuda::RunInfo info;
  const GramReductions gpu = kqkd::cuda::reduceGram(p, tuning, &info);
  const std::string label = name + " [|M|=" + std::to_string(p.mainRows.size()) + " D=" + std::to_string(p.dim) +
                            " C=" + std::to_string(p.numClasses) + " panels=" + std::to_string(info.panels) + "x" +
                            std::to_string(info.panelRows) + (info.streaming ? " streaming" : " resident") + "]";
  if (withReference) compare(label, p, gpu, reference(p), true);
#ifdef KQKD_CUDA_TEST_WITH_CPU
  compare(label, p, gpu, kqkd::core::reduceGramCpu(p), false);
#endif
  // Extrema and argmin go through order-independent atomics: a second run must agree exactly.
  const GramReductions again = kqkd::cuda::reduceGram(p, tuning);
  check(again.absCosMin == gpu.absCosMin && again.absCosMax == gpu.absCosMax &&
            again.minInterArg == gpu.minInterArg && again.minInterSqDist == gpu.minInterSqDist,
        label + ": repeat run differs in extrema/argmin");
}

}  // namespace

int main() {
  std::string reason;
  if (!kqkd::core::cudaDeviceUsable(&reason)) {
    std::printf("SKIP: %s\n", reason.c_str());
    // The public error path must be a GeometryError, not a crash.
    try {
      const Dataset d = makeData(1, 2, 2, 3, 8, true);
      (void)kqkd::core::reduceGramCuda(planOf(d));
      std::printf("FAIL: reduceGramCuda succeeded without a usable device\n");
      return 1;
    } catch (const kqkd::GeometryError& e) {
      std::printf("ok   reduceGramCuda without device throws GeometryError{%s, %s}\n", e.argument.c_str(),
                  e.message.c_str());
    }
    return 77;
  }
  using kqkd::cuda::Tuning;
  runCase("dense", makeData(11, 10, 90, 110, 300, true), Tuning{});
  runCase("dense, P outside M", makeData(12, 10, 40, 60, 256, false), Tuning{});
  runCase("100 classes, few samples", makeData(13, 100, 2, 5, 64, true), Tuning{});
  runCase("duplicate rows across classes", makeData(14, 5, 20, 40, 40, true, 6), Tuning{});
  runCase("resident, 4 panels, tiny staging", makeData(15, 7, 150, 250, 517, true), Tuning{384, false, 100000});
  runCase("streaming, 256-row panels", makeData(16, 7, 150, 250, 517, true), Tuning{256, true, 1 << 20});
  runCase("streaming, 128-row panels, 100 classes", makeData(17, 100, 2, 9, 33, true), Tuning{128, true, 0});
  runCase("single class pair of 2", makeData(18, 2, 2, 2, 5, true), Tuning{});
  if (const char* big = std::getenv("KQKD_CUDA_TEST_LARGE"); big && std::string(big) == "1") {
#ifdef KQKD_CUDA_TEST_WITH_CPU
    runCase("large |M|=50000 D=4096", makeData(19, 10, 5000, 5000, 4096, true), Tuning{}, false);
    runCase("large, streaming", makeData(20, 10, 5000, 5000, 4096, true), Tuning{8192, true, 0}, false);
#else
    std::printf("skip large case: needs reduceGramCpu (build inside the native tree)\n");
#endif
  }
  std::printf(failures ? "FAILED (%d checks)\n" : "all CUDA-vs-CPU checks passed\n", failures);
  return failures ? 1 : 0;
}
