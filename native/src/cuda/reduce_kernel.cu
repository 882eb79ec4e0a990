// The reduction kernel (see reduce_kernel.h). Everything a block reduces stays in registers and shared memory until
// a handful of atomics per block: double atomicAdd for sums, atomicMin/Max on the bit pattern of non-negative doubles
// for |cos| extrema, per-row atomicMin on packed (float value, column) keys for the inter-class argmin.
#include <algorithm>
#include <cstdint>

#include "cuda/cuda_check.h"
#include "cuda/reduce_kernel.h"
#include "cuda/tile_math.h"

namespace kqkd::cuda {
namespace {

constexpr int kReduceThreads = 256;
constexpr int kReduceWarps = kReduceThreads / 32;
constexpr int kMaxGridY = 65535;

__device__ __forceinline__ unsigned long long minKey(double sq, int64_t index) {
  const float f = __double2float_rn(sq);
  return packMinKey(orderedFloatCode(__float_as_uint(f)), uint32_t(index));
}

template <typename T>
__device__ __forceinline__ T warpSum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warpMin(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmin(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ double warpMax(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ unsigned long long warpMinKey(unsigned long long v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const unsigned long long w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w < v ? w : v;
  }
  return v;
}

// What one thread of a reduction block has accumulated over its entries.
struct Partial {
  double cosOff = 0.0, cosDiag = 0.0, dist = 0.0;
  double vmin, vmax = 0.0;  // |cos| >= 0, so 0 is max's identity
  unsigned long long colKey[2] = {kNoKey, kNoKey};
};

// The rows of segment rs (one per warp in turn, a lane per column of cs): |cos| sums and extrema, intra-class
// distances, each row's inter-class min key (one atomicMin per row), each column's in acc.colKey, and the class
// Gram entries of two P rows.
__device__ __forceinline__ void reduceRows(const ReduceArgs& p, const Segment& rs, const Segment& cs, bool sameSeg,
                                           bool intra, bool pca, int lane, int warp, Partial& acc) {
  double* pcaBlock = nullptr;
  int32_t pcaM = 0;
  if (pca) {
    pcaBlock = p.classGram + p.pcaOffset[rs.cls];
    pcaM = p.pcaCount[rs.cls];
  }

  for (int r = warp; r < rs.len; r += kReduceWarps) {
    const int64_t a = rs.start + r;
    const float* grow = p.gram + (a - p.rowBase) * p.ldg;  // row a of the tile; column b at b - colBase
    const double sqA = p.sqNorm[a], invA = p.invNorm[a];
    const int32_t slotA = pca ? p.pcaSlot[a] : -1;
    unsigned long long rowKey = kNoKey;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int j = lane + 32 * h;
      if (j >= cs.len) continue;
      const int64_t b = cs.start + j;
      if (sameSeg && b < a) continue;
      const double g = double(grow[b - p.colBase]);
      const double v = fabs(g) * invA * p.invNorm[b];
      acc.vmin = fmin(acc.vmin, v);
      acc.vmax = fmax(acc.vmax, v);
      if (a == b) {
        acc.cosDiag += v;
      } else {
        acc.cosOff += v;
        const double sq = sqA + p.sqNorm[b] - 2.0 * g;
        if (intra) {
          acc.dist += sqrt(fmax(sq, 0.0));
        } else {
          const unsigned long long kb = minKey(sq, b), ka = minKey(sq, a);
          rowKey = kb < rowKey ? kb : rowKey;
          acc.colKey[h] = ka < acc.colKey[h] ? ka : acc.colKey[h];
        }
      }
      if (slotA >= 0) {
        const int32_t slotB = p.pcaSlot[b];
        if (slotB >= 0) {
          pcaBlock[int64_t(slotA) * pcaM + slotB] = g;
          pcaBlock[int64_t(slotB) * pcaM + slotA] = g;
        }
      }
    }
    if (!intra) {
      rowKey = warpMinKey(rowKey);
      if (lane == 0 && rowKey != kNoKey) atomicMin(&p.rowMin[a], rowKey);
    }
  }
}

// The block's totals: warp, then block reductions of acc, then a handful of atomics into the class pair's
// accumulators (both (c, c') and (c', c)) and each column's inter-class min key.
__device__ __forceinline__ void flushBlock(const ReduceArgs& p, const Segment& rs, const Segment& cs, bool intra,
                                           int lane, int warp, Partial& acc) {
  __shared__ double shSum[3][kReduceWarps];
  __shared__ double shExt[2][kReduceWarps];
  __shared__ unsigned long long shCol[kReduceWarps][kSegRows];
  acc.cosOff = warpSum(acc.cosOff);
  acc.cosDiag = warpSum(acc.cosDiag);
  acc.dist = warpSum(acc.dist);
  acc.vmin = warpMin(acc.vmin);
  acc.vmax = warpMax(acc.vmax);
  if (lane == 0) {
    shSum[0][warp] = acc.cosOff;
    shSum[1][warp] = acc.cosDiag;
    shSum[2][warp] = acc.dist;
    shExt[0][warp] = acc.vmin;
    shExt[1][warp] = acc.vmax;
  }
  if (!intra) {
    shCol[warp][lane] = acc.colKey[0];
    shCol[warp][lane + 32] = acc.colKey[1];
  }
  __syncthreads();

  if (threadIdx.x == 0) {
    double off = 0, diag = 0, d = 0, lo = shExt[0][0], hi = shExt[1][0];
    for (int w = 0; w < kReduceWarps; ++w) {
      off += shSum[0][w];
      diag += shSum[1][w];
      d += shSum[2][w];
      lo = fmin(lo, shExt[0][w]);
      hi = fmax(hi, shExt[1][w]);
    }
    const int64_t up = int64_t(rs.cls) * p.C + cs.cls, down = int64_t(cs.cls) * p.C + rs.cls;
    // For c == c' both adds land on the same entry: off-diagonal pairs count twice, the diagonal once.
    atomicAdd(&p.cosSum[up], off + diag);
    atomicAdd(&p.cosSum[down], off);
    // Non-negative doubles order like their bit patterns.
    atomicMin(&p.cosMin[up], static_cast<unsigned long long>(__double_as_longlong(lo)));
    atomicMax(&p.cosMax[up], static_cast<unsigned long long>(__double_as_longlong(hi)));
    if (down != up) {
      atomicMin(&p.cosMin[down], static_cast<unsigned long long>(__double_as_longlong(lo)));
      atomicMax(&p.cosMax[down], static_cast<unsigned long long>(__double_as_longlong(hi)));
    }
    if (intra) atomicAdd(&p.intraDist[rs.cls], 2.0 * d);
  }
  if (!intra && threadIdx.x < cs.len) {  // column minima: the transposed entries (b, a)
    unsigned long long k = shCol[0][threadIdx.x];
    for (int w = 1; w < kReduceWarps; ++w) k = shCol[w][threadIdx.x] < k ? shCol[w][threadIdx.x] : k;
    if (k != kNoKey) atomicMin(&p.rowMin[cs.start + threadIdx.x], k);
  }
}

// One block per (row segment s, column segment t) of the panel pair. Visits entries with a < b, plus a == b
// on a diagonal segment; each off-diagonal entry stands for itself and its transpose.
__global__ void __launch_bounds__(kReduceThreads) reduceKernel(ReduceArgs p, int sOffset) {
  const int s = p.sBegin + sOffset + int(blockIdx.y);
  const int t = p.tBegin + int(blockIdx.x);
  if (p.diagPanel && s > t) return;  // lower segment pairs are covered by their transposes
  const Segment rs = p.segs[s], cs = p.segs[t];
  const bool sameSeg = s == t;
  const bool intra = rs.cls == cs.cls;
  const bool pca = intra && p.classGram != nullptr;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  Partial acc;
  acc.vmin = __longlong_as_double(kPosInfBits);
  reduceRows(p, rs, cs, sameSeg, intra, pca, lane, warp, acc);
  flushBlock(p, rs, cs, intra, lane, warp, acc);
}

}  // namespace

void launchReduce(const ReduceArgs& args, int sCount, int tCount, cudaStream_t stream) {
  for (int s0 = 0; s0 < sCount; s0 += kMaxGridY) {
    const dim3 grid(unsigned(tCount), unsigned(std::min(kMaxGridY, sCount - s0)));
    reduceKernel<<<grid, kReduceThreads, 0, stream>>>(args, s0);
    KQKD_CUDA_CHECK_LAUNCH(reduceKernel);
  }
}

}  // namespace kqkd::cuda
