// Host-only checks of the CUDA kernels' index math (src/cuda/tile_math.h): runs on machines without a GPU.
// It also replays the Gram kernel's thread -> element mapping and the reduction's upper-pair coverage on the CPU.
#include <cstdio>
#include <cstring>
#include <vector>

#include "cuda/tile_math.h"

using namespace kqkd::cuda;

static int failures = 0;
#define EXPECT(cond, ...)                      \
  do {                                         \
    if (!(cond)) {                             \
      ++failures;                              \
      if (failures < 20) std::printf(__VA_ARGS__); \
    }                                          \
  } while (0)

static uint32_t codeOf(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return orderedFloatCode(b);
}

int main() {
  // Upper-pair decoding: exhaustive for small T, row boundaries for large T (sqrt rounding territory).
  for (int64_t T = 1; T <= 400; ++T) {
    int64_t t = 0;
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = i; j < T; ++j, ++t) {
        int bi, bj;
        decodeUpperPair(t, T, &bi, &bj);
        EXPECT(bi == i && bj == j, "T=%lld t=%lld -> (%d,%d), want (%lld,%lld)\n", (long long)T, (long long)t, bi, bj,
               (long long)i, (long long)j);
      }
    EXPECT(t == upperPairs(T), "upperPairs(%lld)\n", (long long)T);
  }
  for (int64_t T : {65535LL, 100000LL, 46341LL}) {
    for (int64_t i = 0; i < T; i += (i < 50 || i > T - 50) ? 1 : 997) {
      const int64_t off = i * T - i * (i - 1) / 2;
      for (int64_t t : {off, off + (T - i - 1)}) {
        int bi, bj;
        decodeUpperPair(t, T, &bi, &bj);
        EXPECT(bi == i && bj == i + (t - off), "large T=%lld t=%lld -> (%d,%d)\n", (long long)T, (long long)t, bi, bj);
      }
    }
  }

  // Gram kernel: the 256 threads' 8x8 micro-tiles cover the 128x128 tile exactly once; the float4 loads cover
  // the 128x8 slice exactly once.
  std::vector<int> hits(kGramTile * kGramTile, 0), loads(kGramTile * kGramK, 0);
  for (int tid = 0; tid < 256; ++tid) {
    const int tx = tid & 15, ty = tid >> 4;
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 8; ++j) ++hits[microIndex(ty, i) * kGramTile + microIndex(tx, j)];
    const int lr = tid >> 1, lk = (tid & 1) * 4;
    for (int q = 0; q < 4; ++q) ++loads[lr * kGramK + lk + q];
  }
  for (int h : hits) EXPECT(h == 1, "micro-tile coverage %d\n", h);
  for (int h : loads) EXPECT(h == 1, "load coverage %d\n", h);

  // Ordered float codes and packed keys: unsigned order == (value, index) order.
  const float vals[] = {-1e30f, -3.5f, -1e-30f, -0.0f, 0.0f, 1e-38f, 2.0f, 2.0000002f, 1e30f};
  for (size_t a = 0; a + 1 < sizeof vals / sizeof vals[0]; ++a) {
    EXPECT(codeOf(vals[a]) <= codeOf(vals[a + 1]), "code order at %zu\n", a);
    uint32_t back = orderedFloatDecodeBits(codeOf(vals[a]));
    float f;
    std::memcpy(&f, &back, sizeof f);
    EXPECT(std::memcmp(&f, &vals[a], sizeof f) == 0, "decode %zu\n", a);
  }
  EXPECT(packMinKey(codeOf(1.0f), 7) < packMinKey(codeOf(1.0f), 9), "tie to smaller index\n");
  EXPECT(packMinKey(codeOf(1.0f), 0xffffffffu) < packMinKey(codeOf(1.5f), 0), "value before index\n");
  EXPECT(packMinKey(codeOf(3e38f), 0xfffffffeu) < kNoKey, "kNoKey above every real key\n");

  // Non-negative doubles order like their bit patterns (the |cos| atomicMin/atomicMax).
  const double dv[] = {0.0, 1e-300, 1e-5, 0.5, 1.0, 1.0000000001};
  for (size_t a = 0; a + 1 < sizeof dv / sizeof dv[0]; ++a) {
    uint64_t x, y;
    std::memcpy(&x, &dv[a], 8);
    std::memcpy(&y, &dv[a + 1], 8);
    EXPECT(x < y, "double bit order %zu\n", a);
  }

  std::printf(failures ? "FAILED (%d)\n" : "tile math ok\n", failures);
  return failures ? 1 : 0;
}
