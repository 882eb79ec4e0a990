// Class spectra (KQ-SPEC.md section 3): eigenvalues of the double-centred class Gram equal the squared singular
// values of the centred class matrix Z_c, and the m_c x m_c Gram is small (m_c <= 500 by default) even when D
// is large.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/blas.h"
#include "core/plan.h"

namespace kqkd::core {
namespace {

// z_c: columns whose values are all exactly equal within the class's rows (a constant feature).
int64_t constantColumns(const float* X, int64_t D, const std::vector<int64_t>& rows) {
  std::vector<unsigned char> same(D, 1);
  const float* first = X + rows[0] * D;
  for (size_t k = 1; k < rows.size(); ++k) {
    const float* x = X + rows[k] * D;
    for (int64_t j = 0; j < D; ++j) same[j] &= static_cast<unsigned char>(x[j] == first[j]);
  }
  int64_t count = 0;
  for (int64_t j = 0; j < D; ++j) count += same[j];
  return count;
}

// Gram of the class rows after subtracting their float64 mean. Centring BEFORE the float32 product keeps
// precision when the features have a large common offset (the uncentred Gram would cancel catastrophically
// in the later double-centring); the double-centring that follows then only removes residual rounding.
std::vector<double> centredGram(const float* X, int64_t D, const std::vector<int64_t>& rows) {
  const int64_t m = int64_t(rows.size());
  std::vector<double> mean(D, 0.0);
  for (int64_t r : rows)
    for (int64_t j = 0; j < D; ++j) mean[j] += X[r * D + j];
  for (double& v : mean) v /= double(m);
  std::vector<float> Z(size_t(m) * size_t(D));
  for (int64_t k = 0; k < m; ++k)
    for (int64_t j = 0; j < D; ++j) Z[k * D + j] = float(double(X[rows[k] * D + j]) - mean[j]);
  std::vector<float> g(size_t(m) * size_t(m));
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, int(m), int(D), 1.0f, Z.data(), int(D), 0.0f, g.data(),
              int(m));
  std::vector<double> G(size_t(m) * size_t(m));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = i; j < m; ++j) G[i * m + j] = G[j * m + i] = double(g[i * m + j]);
  return G;
}

// K = G - row means - column means + grand mean (G symmetric, so row means == column means).
void doubleCentre(std::vector<double>& G, int64_t m) {
  std::vector<double> mean(m, 0.0);
  double grand = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) mean[i] += G[i * m + j];
    mean[i] /= double(m);
    grand += mean[i];
  }
  grand /= double(m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) G[i * m + j] += grand - mean[i] - mean[j];
}

// All eigenvalues of the symmetric m x m matrix K (destroyed), via LAPACK dsyevd without eigenvectors.
std::vector<double> eigenvalues(std::vector<double>& K, int64_t m) {
  const int n = int(m);
  std::vector<double> w(m);
  int info = 0, lwork = -1, liwork = -1, iworkQuery = 0;
  double workQuery = 0;
  dsyevd_("N", "U", &n, K.data(), &n, w.data(), &workQuery, &lwork, &iworkQuery, &liwork, &info, 1, 1);
  lwork = std::max(2 * n + 1, int(workQuery));
  liwork = std::max(1, iworkQuery);
  std::vector<double> work(lwork);
  std::vector<int> iwork(liwork);
  dsyevd_("N", "U", &n, K.data(), &n, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0) throw std::runtime_error("LAPACK dsyevd failed to converge (info " + std::to_string(info) + ")");
  return w;
}

}  // namespace

void classSpectra(const GeometryInput& in, const Plan& plan, std::vector<std::vector<double>>& classGram,
                  GeometryResult& out) {
  const int32_t C = plan.numClasses;
  const int64_t D = plan.dim;
  // P rows per class, in classIndices order (the same order as plan.pcaSlot).
  std::vector<std::vector<int64_t>> pRows(C);
  for (int64_t k = 0; k < in.classCount; ++k) pRows[in.labels[in.classIndices[k]]].push_back(in.classIndices[k]);

  out.pcaClassCount = plan.pcaCount;
  out.zeroColumns.assign(C, 0);
  out.spectrum.assign(C, {});
  std::string failure;
  // One class per thread with single-threaded BLAS: C >= 2 small solves parallelise better across classes.
  BlasThreadsScope blasThreads(1);
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(plan.threads)
#endif
  for (int32_t c = 0; c < C; ++c) {
    try {
      const int64_t m = int64_t(pRows[c].size());
      const int64_t z = constantColumns(in.features, D, pRows[c]);
      std::vector<double> K = plan.pcaFromMain ? std::move(classGram[c]) : centredGram(in.features, D, pRows[c]);
      doubleCentre(K, m);
      std::vector<double> lambda = eigenvalues(K, m);
      // Noise-level eigenvalues may come out negative: report |lambda|, never clamp (KQ-SPEC.md section 3).
      for (double& v : lambda) v = std::fabs(v);
      std::sort(lambda.begin(), lambda.end(), std::greater<double>());
      const int64_t L = std::min(m, D);
      lambda.resize(L);
      // Rule (b): z constant columns make the trailing max(0, L - min(m, D - z)) values exactly zero.
      const int64_t exactZeros = std::max<int64_t>(0, L - std::min(m, D - z));
      // The solver can return an EXACT 0 for a rank-deficiency direction (e.g. the all-ones vector of a
      // double-centred block). In the reference such a value is rounding noise, never 0, and an exact 0 would
      // wrongly trigger the H_c = 0 guard: keep it tiny but positive. Its entropy term (~1e-28) is negligible.
      if (lambda[0] > 0)
        for (int64_t k = 0; k < L - exactZeros; ++k)
          if (lambda[k] == 0.0) lambda[k] = lambda[0] * 1e-30;
      std::fill(lambda.end() - exactZeros, lambda.end(), 0.0);
      out.zeroColumns[c] = z;
      out.spectrum[c] = std::move(lambda);
    } catch (const std::exception& e) {  // never let an exception escape an OpenMP region
#ifdef KQKD_WITH_OPENMP
#pragma omp critical(kqkd_spectra_failure)
#endif
      failure = "class " + std::to_string(c) + ": " + e.what();
    }
  }
  if (!failure.empty()) throw std::runtime_error(failure);
}

}  // namespace kqkd::core
