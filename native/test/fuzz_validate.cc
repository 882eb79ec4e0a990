// Fuzz target: decodes arbitrary bytes into a GeometryInput (mostly well-formed so the compute path is
// reached, with flags that inject garbage labels/indices, non-finite values, zero rows, null pointers and bad
// options) and calls computeGeometry. Allowed outcomes: a result satisfying basic invariants, or
// kqkd::GeometryError. Anything else (crash, sanitizer report, other exception) is a bug.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <vector>

#include "kqkd/geometry.h"

namespace {

class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint8_t next() { return pos_ < size_ ? data_[pos_++] : 0; }
  int64_t wide() {  // a garbage-range integer
    int64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | next();
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
};

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

void checkInvariants(const kqkd::GeometryInput& in, const kqkd::GeometryResult& r) {
  const int32_t C = in.numClasses;
  require(r.numClasses == C && int32_t(r.spectrum.size()) == C, "sizes");
  for (int32_t c = 0; c < C; ++c) {
    require(r.mainClassCount[c] >= 2 && r.pcaClassCount[c] >= 1, "class counts");
    require(std::isfinite(r.minInterDist[c]) && r.minInterDist[c] >= 0, "minInterDist finite");
    require(r.normMin[c] > 0 && r.normMin[c] <= r.normAvg[c] * (1 + 1e-12), "norms");
    require(int64_t(r.spectrum[c].size()) == std::min<int64_t>(r.pcaClassCount[c], in.dim), "spectrum length");
    for (double v : r.spectrum[c]) require(v >= 0 && std::isfinite(v), "spectrum values");
    for (int32_t d = 0; d < C; ++d) {
      const size_t k = size_t(c) * C + d;
      require(r.dpsMin[k] >= 0 && r.dpsMin[k] <= r.dpsAvg[k] * (1 + 1e-5) + 1e-6, "dps min <= avg");
      require(r.dpsAvg[k] <= r.dpsMax[k] * (1 + 1e-5) + 1e-6 && r.dpsMax[k] <= 1.001, "dps avg <= max <= 1");
    }
  }
}

}  // namespace

long kqkdFuzzComputed = 0;  // inputs that passed validation (the replay driver reports coverage with it)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes in(data, size);
  const uint8_t flags = in.next(), flags2 = in.next();
  const int64_t rows = (flags2 & 0x80) ? int64_t(int8_t(in.next())) : 1 + in.next() % 40;
  const int64_t dim = (flags2 & 0x40) ? int64_t(int8_t(in.next())) : 1 + in.next() % 10;
  int32_t classes = int32_t(in.next() % 7);
  if (flags2 & 0x20) classes = int32_t(int8_t(in.next()));
  const int64_t safeRows = std::max<int64_t>(rows, 1), safeDim = std::max<int64_t>(dim, 1);

  // Small integers / 8 give ties, constant columns and exact zeros; flags inject non-finite values.
  std::vector<float> features(size_t(safeRows * safeDim));
  for (float& v : features) v = float(int8_t(in.next()) % 9) / 8.0f;
  if (flags & 0x01) features[in.next() % features.size()] = (flags & 0x02) ? NAN : INFINITY;
  if (flags & 0x04)  // a zero row
    for (int64_t j = 0; j < safeDim; ++j) features[(in.next() % safeRows) * safeDim + j] = 0.0f;

  std::vector<int32_t> labels(safeRows);
  const int32_t modulus = std::max(classes, 1);
  for (int64_t r = 0; r < safeRows; ++r)
    labels[r] = (flags & 0x08) ? int32_t(int8_t(in.next())) : int32_t((in.next() + r) % modulus);

  // Index lists: a random subset in random-ish order, or raw garbage (out of range, duplicates).
  auto indices = [&](bool garbage) {
    std::vector<int64_t> idx;
    if (garbage) {
      const int n = in.next() % 12;
      for (int k = 0; k < n; ++k) idx.push_back((in.next() & 1) ? in.wide() : int64_t(in.next() % (safeRows + 2)));
      return idx;
    }
    for (int64_t r = 0; r < safeRows; ++r)
      if (in.next() % 4 != 0) idx.push_back(r);
    for (size_t k = 1; k < idx.size(); ++k) std::swap(idx[k], idx[in.next() % (k + 1)]);
    return idx;
  };
  std::vector<int64_t> mainIdx = indices(flags & 0x10);
  const std::vector<int64_t> classIdx = indices(flags & 0x20);
  // A count longer than the real indices: the extra entries are what lies past them in memory, here out-of-range or
  // negative values (allocated, so the read stays memory-safe) that validation must refuse by range.
  if (flags2 & 0x04) {
    const int extra = 1 + int(in.next() % 2);
    for (int k = 0; k < extra; ++k) mainIdx.push_back(in.next() % 2 ? safeRows + int64_t(in.next() % 5) : -1 - int64_t(in.next() % 5));
  }

  kqkd::GeometryInput input;
  input.features = (flags2 & 0x01) ? nullptr : features.data();
  input.rows = rows;
  input.dim = dim;
  input.labels = (flags2 & 0x02) ? nullptr : labels.data();
  input.numClasses = classes;
  input.mainIndices = mainIdx.empty() ? nullptr : mainIdx.data();
  input.mainCount = int64_t(mainIdx.size());
  input.classIndices = classIdx.empty() ? nullptr : classIdx.data();
  input.classCount = int64_t(classIdx.size());

  kqkd::GeometryOptions opt;
  opt.threads = (flags2 & 0x08) ? -1 : in.next() % 3;
  opt.tileRows = (flags2 & 0x10) ? -int64_t(in.next()) : in.next() % 6;
  if ((flags & 0xC0) == 0xC0) opt.backend = kqkd::Backend::Cuda;
  if ((flags & 0xC0) == 0x80) opt.backend = static_cast<kqkd::Backend>(7);

  // rows/dim may be garbage (negative, zero); the buffer is only valid for the safe sizes.
  if (rows != safeRows || dim != safeDim) input.features = features.data();
  try {
    const kqkd::GeometryResult r = kqkd::computeGeometry(input, opt);
    require(!(flags2 & 0x04), "main indices past the real ones (out of range) were accepted");
    checkInvariants(input, r);
    ++kqkdFuzzComputed;
  } catch (const kqkd::GeometryError& e) {
    // Every rule names its argument; only the unavailable-backend message departs from "Expected ...".
    require(!e.argument.empty() && (e.message.rfind("Expected ", 0) == 0 || e.argument == "backend"), "error style");
  }
  return 0;
}
