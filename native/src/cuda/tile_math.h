// Index math shared by the CUDA kernels and the host (unit-tested on the CPU in test/cuda/tile_math_test.cc).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define KQKD_HD __host__ __device__ __forceinline__
#else
#define KQKD_HD inline
#endif

namespace kqkd::cuda {

constexpr int kGramTile = 128;  // Gram block tile (rows and columns)
constexpr int kGramK = 8;       // k-slice per shared-memory stage; the device matrix's row stride is a multiple
constexpr int kSegRows = 64;    // longest row/column segment handled by one reduction block

KQKD_HD int64_t roundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Gram kernel thread layout: 256 threads as 16 x 16 (tx, ty), each owning rows {ty*4 + i} and {64 + ty*4 + i}
// and the same columns with tx (i < 4): 2 x 2 sub-blocks of 4 x 4, so warps read shared memory as float4
// broadcasts. Element i (0..7) of a thread's micro-tile row/column inside the 128-wide tile:
KQKD_HD int microIndex(int t16, int i) { return i < 4 ? t16 * 4 + i : 64 + t16 * 4 + (i - 4); }

// Number of tile pairs (bi, bj) with bi <= bj among T x T tiles.
KQKD_HD int64_t upperPairs(int64_t T) { return T * (T + 1) / 2; }

// Inverse of the row-major enumeration of the upper triangle: row bi holds T - bi pairs starting at
// offset(bi) = bi*T - bi*(bi-1)/2. A floating-point guess from the quadratic formula, then exact integer
// correction (the guess can be off by one from rounding for large T).
KQKD_HD void decodeUpperPair(int64_t t, int64_t T, int* bi, int* bj) {
  const double twoTp1 = 2.0 * double(T) + 1.0;
  int64_t i = int64_t((twoTp1 - sqrt(twoTp1 * twoTp1 - 8.0 * double(t))) * 0.5);
  if (i < 0) i = 0;
  if (i > T - 1) i = T - 1;
  auto offset = [T](int64_t r) { return r * T - r * (r - 1) / 2; };
  while (i > 0 && offset(i) > t) --i;
  while (i + 1 < T && offset(i + 1) <= t) ++i;
  *bi = int(i);
  *bj = int(i + (t - offset(i)));
}

// Order-preserving 32-bit encoding of a float: unsigned comparison of codes == float comparison (no NaN).
KQKD_HD uint32_t orderedFloatCode(uint32_t bits) {
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
KQKD_HD uint32_t orderedFloatDecodeBits(uint32_t code) {
  return (code & 0x80000000u) ? (code & 0x7fffffffu) : ~code;
}

// 64-bit (value, index) key: atomicMin on it yields the smallest value, ties to the smallest index.
KQKD_HD uint64_t packMinKey(uint32_t valueCode, uint32_t index) { return (uint64_t(valueCode) << 32) | index; }

constexpr uint64_t kNoKey = ~uint64_t(0);

}  // namespace kqkd::cuda
