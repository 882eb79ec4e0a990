// Gram kernel: classic register-blocked SGEMM ("NT": both operands are row panels of M with k contiguous).
// 128x128 block tile, 8-deep k slices double-buffered in shared memory, 256 threads each owning an 8x8
// micro-tile split into 2x2 sub-blocks of 4x4 so shared-memory reads are conflict-free float4 broadcasts.
#include "cuda/gram_kernel.h"
#include "cuda/tile_math.h"

namespace kqkd::cuda {
namespace {

constexpr int kThreads = 256;
// +4 floats per shared row: the transposed stores of lanes with k offsets 0 and 4 then fall in different banks,
// and rows stay 16-byte aligned for float4 reads.
constexpr int kSmemStride = kGramTile + 4;

__global__ void __launch_bounds__(kThreads, 2)
    gramKernel(const float* __restrict__ A, const float* __restrict__ B, int64_t ld, int64_t k,
               float* __restrict__ G, int64_t ldg, int tilesCols, int upperOnly) {
  int bi, bj;
  if (upperOnly) {
    decodeUpperPair(int64_t(blockIdx.x), tilesCols, &bi, &bj);
  } else {
    bi = int(blockIdx.x / unsigned(tilesCols));
    bj = int(blockIdx.x % unsigned(tilesCols));
  }

  __shared__ __align__(16) float As[2][kGramK][kSmemStride];
  __shared__ __align__(16) float Bs[2][kGramK][kSmemStride];

  const int tid = threadIdx.x;
  const int tx = tid & 15, ty = tid >> 4;
  // Global->shared mapping: one float4 of A and one of B per thread per k slice (128 rows x 8 k = 256 float4).
  const int lr = tid >> 1;
  const int lk = (tid & 1) * 4;
  const float* aPtr = A + (int64_t(bi) * kGramTile + lr) * ld + lk;
  const float* bPtr = B + (int64_t(bj) * kGramTile + lr) * ld + lk;

  float4 ra = __ldg(reinterpret_cast<const float4*>(aPtr));
  float4 rb = __ldg(reinterpret_cast<const float4*>(bPtr));
  // Stored transposed (k-major) so the compute loop reads contiguous rows/columns of the tile.
  As[0][lk + 0][lr] = ra.x; As[0][lk + 1][lr] = ra.y; As[0][lk + 2][lr] = ra.z; As[0][lk + 3][lr] = ra.w;
  Bs[0][lk + 0][lr] = rb.x; Bs[0][lk + 1][lr] = rb.y; Bs[0][lk + 2][lr] = rb.z; Bs[0][lk + 3][lr] = rb.w;
  __syncthreads();

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  int buf = 0;
  for (int64_t k0 = 0; k0 < k; k0 += kGramK) {
    const bool more = k0 + kGramK < k;
    if (more) {  // prefetch the next slice into registers while this one is multiplied
      ra = __ldg(reinterpret_cast<const float4*>(aPtr + k0 + kGramK));
      rb = __ldg(reinterpret_cast<const float4*>(bPtr + k0 + kGramK));
    }
#pragma unroll
    for (int kk = 0; kk < kGramK; ++kk) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4 + 64]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4 + 64]);
      const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    if (more) {
      // One barrier per slice suffices: buf^1 was last read before the previous iteration's barrier.
      const int nb = buf ^ 1;
      As[nb][lk + 0][lr] = ra.x; As[nb][lk + 1][lr] = ra.y; As[nb][lk + 2][lr] = ra.z; As[nb][lk + 3][lr] = ra.w;
      Bs[nb][lk + 0][lr] = rb.x; Bs[nb][lk + 1][lr] = rb.y; Bs[nb][lk + 2][lr] = rb.z; Bs[nb][lk + 3][lr] = rb.w;
      __syncthreads();
      buf = nb;
    }
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t row = int64_t(bi) * kGramTile + microIndex(ty, i);
    float* g = G + row * ldg + int64_t(bj) * kGramTile;
    *reinterpret_cast<float4*>(g + microIndex(tx, 0)) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
    *reinterpret_cast<float4*>(g + microIndex(tx, 4)) = make_float4(acc[i][4], acc[i][5], acc[i][6], acc[i][7]);
  }
}

}  // namespace

cudaError_t launchGram(const float* A, const float* B, int64_t ld, int64_t k, float* G, int64_t ldg, int tilesRows,
                       int tilesCols, bool upperOnly, cudaStream_t stream) {
  if (ld % kGramK != 0 || k % kGramK != 0 || k <= 0 || k > ld || ldg % 4 != 0 || tilesRows <= 0 || tilesCols <= 0 ||
      (upperOnly && tilesRows != tilesCols))
    return cudaErrorInvalidValue;
  const int64_t blocks = upperOnly ? upperPairs(tilesCols) : int64_t(tilesRows) * tilesCols;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  gramKernel<<<unsigned(blocks), kThreads, 0, stream>>>(A, B, ld, k, G, ldg, tilesCols, upperOnly ? 1 : 0);
  return cudaGetLastError();
}

cudaError_t gramKernelAttributes(cudaFuncAttributes* attr) {
  return cudaFuncGetAttributes(attr, gramKernel);
}

}  // namespace kqkd::cuda
