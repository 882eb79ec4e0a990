// Input validation: every rule of KQ-SPEC.md section 5 that the native core can check, with messages in the
// project style "Expected <rule> for <argument> but received <what>".
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/plan.h"
#include "kqkd/geometry.h"

namespace kqkd {
namespace {

GeometryError fail(const std::string& argument, const std::string& rule, const std::string& received) {
  return GeometryError{argument, "Expected " + rule + " for " + argument + " but received " + received};
}

template <typename T>
std::string str(const T& value) {
  std::ostringstream s;
  s << value;
  return s.str();
}

// A feature value as JavaScript prints it (NaN, Infinity, -Infinity): the TypeScript layer's messages and these agree.
std::string valueStr(float v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return str(v);
}

// Index list checks shared by M and P: non-null, non-empty, in range, distinct.
GeometryError checkIndices(const char* argument, const int64_t* idx, int64_t count, int64_t rows) {
  if (count <= 0) return fail(argument, "a non-empty index list", "length " + str(count));
  if (count > rows) return fail(argument, "at most rows = " + str(rows) + " distinct indices", "length " + str(count));
  if (idx == nullptr) return fail(argument, "a non-null index array", "null");
  std::vector<int64_t> firstSeenAt(static_cast<size_t>(rows), -1);
  for (int64_t k = 0; k < count; ++k) {
    const int64_t r = idx[k];
    if (r < 0 || r >= rows)
      return fail(argument, "row indices in [0, " + str(rows) + ")", str(r) + " at position " + str(k));
    if (firstSeenAt[r] >= 0)
      return fail(argument, "distinct row indices",
                  "row " + str(r) + " twice (positions " + str(firstSeenAt[r]) + " and " + str(k) + ")");
    firstSeenAt[r] = k;
  }
  return {};
}

// First non-finite value in row-major order, or -1. Parallel over rows; the smallest bad row wins.
int64_t firstNonFinite(const float* x, int64_t rows, int64_t dim) {
  int64_t firstBad = std::numeric_limits<int64_t>::max();
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel for schedule(static) reduction(min : firstBad)
#endif
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * dim;
    bool ok = true;
    for (int64_t j = 0; j < dim; ++j) ok &= std::isfinite(row[j]);  // branch-free so it vectorises
    if (!ok) {
      for (int64_t j = 0; j < dim; ++j)
        if (!std::isfinite(row[j])) {
          firstBad = std::min(firstBad, r * dim + j);
          break;
        }
    }
  }
  return firstBad == std::numeric_limits<int64_t>::max() ? -1 : firstBad;
}

}  // namespace

GeometryError validate(const GeometryInput& in) {
  // ---- shapes and pointers ----
  if (in.rows <= 0) return fail("features", "rows > 0", "rows = " + str(in.rows));
  if (in.dim <= 0) return fail("features", "dim > 0", "dim = " + str(in.dim));
  if (in.dim > core::kMaxBlasDim)
    return fail("features", "dim <= " + str(core::kMaxBlasDim), "dim = " + str(in.dim));
  if (in.rows > std::numeric_limits<int64_t>::max() / 4 / in.dim)
    return fail("features", "rows * dim to fit in memory", str(in.rows) + " x " + str(in.dim));
  if (in.features == nullptr) return fail("features", "a non-null float array", "null");

  // ---- labels and classes ----
  if (in.numClasses < 2) return fail("numClasses", "at least 2 classes", str(in.numClasses));
  if (in.labels == nullptr) return fail("labels", "a non-null label array", "null");
  for (int64_t r = 0; r < in.rows; ++r)
    if (in.labels[r] < 0 || in.labels[r] >= in.numClasses)
      return fail("labels", "labels in [0, " + str(in.numClasses) + ")", str(in.labels[r]) + " at row " + str(r));

  // ---- subsets ----
  if (GeometryError e = checkIndices("mainIndices", in.mainIndices, in.mainCount, in.rows); !e.argument.empty())
    return e;
  if (in.mainCount > core::kMaxBlasDim)
    return fail("mainIndices", "at most " + str(core::kMaxBlasDim) + " indices", str(in.mainCount));
  if (GeometryError e = checkIndices("classIndices", in.classIndices, in.classCount, in.rows); !e.argument.empty())
    return e;

  // ---- values ----
  if (const int64_t bad = firstNonFinite(in.features, in.rows, in.dim); bad >= 0)
    return fail("features", "finite values", valueStr(in.features[bad]) + " at row " + str(bad / in.dim) + ", column " +
                                                 str(bad % in.dim));

  // ---- per-class counts (KQ-SPEC.md section 5) ----
  std::vector<int64_t> inMain(in.numClasses, 0), inPca(in.numClasses, 0);
  for (int64_t k = 0; k < in.mainCount; ++k) ++inMain[in.labels[in.mainIndices[k]]];
  for (int64_t k = 0; k < in.classCount; ++k) ++inPca[in.labels[in.classIndices[k]]];
  for (int32_t c = 0; c < in.numClasses; ++c)
    if (inMain[c] < 2)
      return fail("mainIndices", "at least 2 samples of every class",
                  str(inMain[c]) + " of class " + str(c) + " (a class with fewer than 2 samples in M)");
  for (int32_t c = 0; c < in.numClasses; ++c)
    if (inPca[c] < 1)
      return fail("classIndices", "at least 1 sample of every class", "none of class " + str(c));

  // A zero row has an undefined cosine. Its float64 squared norm is 0 exactly when every element is 0
  // (squares of nonzero floats cannot underflow in double), so an early-exit scan suffices.
  for (int64_t k = 0; k < in.mainCount; ++k) {
    const float* row = in.features + in.mainIndices[k] * in.dim;
    int64_t j = 0;
    while (j < in.dim && row[j] == 0.0f) ++j;
    if (j == in.dim)
      return fail("features", "nonzero-norm rows in the main subset M",
                  "a zero vector at row " + str(in.mainIndices[k]) + " (mainIndices position " + str(k) + ")");
  }
  return {};
}

}  // namespace kqkd
