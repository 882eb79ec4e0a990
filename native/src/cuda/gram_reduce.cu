// CUDA backend of the Gram reductions (core/backend.h contract, same semantics as src/cpu/reduce_gram_cpu.cc).
//
// Flow: the class-sorted rows of M are gathered on the host into pinned chunks and uploaded, zero padded to
// 128-row / 8-column multiples (the whole matrix when it fits, else two row panels streamed per panel pair).
// For each panel pair I <= J our Gram kernel fills a P x P float tile (upper tiles only when I == J), then one
// reduction block per (row segment, column segment) pair walks the entries a < b (plus a == b) of that tile.
// Segments never cross a class boundary, so a block belongs to one class pair and can reduce everything in
// registers/shared memory before a handful of atomics: double atomicAdd for sums, atomicMin/Max on the bit
// pattern of non-negative doubles for |cos| extrema, and per-row atomicMin on packed (float value, column) keys
// for the inter-class argmin. The host only decodes C x C and |M| words at the end.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/backend.h"
#include "cuda/cuda_check.h"
#include "cuda/gram_kernel.h"
#include "cuda/gram_reduce.h"
#include "cuda/tile_math.h"

namespace kqkd::cuda {
namespace {

constexpr int kReduceThreads = 256;
constexpr int kReduceWarps = kReduceThreads / 32;
constexpr uint64_t kPosInfBits = 0x7ff0000000000000ull;
constexpr int64_t kMaxPanelRows = 16384;             // 1 GiB float Gram tile
constexpr int64_t kDefaultStagingBytes = int64_t(64) << 20;
constexpr int kMaxGridY = 65535;

// Positions [start, start + len) of M, all of class cls, len <= kSegRows, never crossing a panel boundary.
struct Segment {
  int64_t start;
  int32_t len;
  int32_t cls;
};

struct ReduceArgs {
  const float* gram;  // P x P tile of panel pair (I, J), row stride ldg
  int64_t ldg;
  int64_t rowBase, colBase;  // first Gram positions of panels I and J
  const Segment* segs;
  int32_t sBegin, tBegin;  // first segment of panel I / J
  int32_t diagPanel;
  const double* sqNorm;
  const double* invNorm;
  int32_t C;
  double* cosSum;            // C x C
  unsigned long long* cosMin;  // C x C, bits of non-negative doubles
  unsigned long long* cosMax;
  double* intraDist;          // C
  unsigned long long* rowMin;  // |M| packed (ordered float code of r_a^2+r_b^2-2g, b)
  // Class Gram blocks of P (null unless plan.pcaFromMain)
  const int32_t* pcaSlot;
  const int64_t* pcaOffset;
  const int32_t* pcaCount;
  double* classGram;
};

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

  double cosOff = 0.0, cosDiag = 0.0, dist = 0.0;
  double vmin = __longlong_as_double(kPosInfBits), vmax = 0.0;  // |cos| >= 0, so 0 is max's identity
  unsigned long long colKey[2] = {kNoKey, kNoKey};
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
      vmin = fmin(vmin, v);
      vmax = fmax(vmax, v);
      if (a == b) {
        cosDiag += v;
      } else {
        cosOff += v;
        const double sq = sqA + p.sqNorm[b] - 2.0 * g;
        if (intra) {
          dist += sqrt(fmax(sq, 0.0));
        } else {
          const unsigned long long kb = minKey(sq, b), ka = minKey(sq, a);
          rowKey = kb < rowKey ? kb : rowKey;
          colKey[h] = ka < colKey[h] ? ka : colKey[h];
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

  __shared__ double shSum[3][kReduceWarps];
  __shared__ double shExt[2][kReduceWarps];
  __shared__ unsigned long long shCol[kReduceWarps][kSegRows];
  cosOff = warpSum(cosOff);
  cosDiag = warpSum(cosDiag);
  dist = warpSum(dist);
  vmin = warpMin(vmin);
  vmax = warpMax(vmax);
  if (lane == 0) {
    shSum[0][warp] = cosOff;
    shSum[1][warp] = cosDiag;
    shSum[2][warp] = dist;
    shExt[0][warp] = vmin;
    shExt[1][warp] = vmax;
  }
  if (!intra) {
    shCol[warp][lane] = colKey[0];
    shCol[warp][lane + 32] = colKey[1];
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

// ---- host side ----

// Uploads rows [first, first + count) of class-sorted M into dst (row stride ld, columns >= D zeroed) through
// two pinned staging chunks, so gathering chunk i+1 on the host overlaps the copy of chunk i.
class Uploader {
 public:
  Uploader(const core::Plan& plan, int64_t ld, int64_t stagingBytes, cudaStream_t stream)
      : plan_(plan), ld_(ld), stream_(stream) {
    const int64_t rowBytes = ld * int64_t(sizeof(float));
    chunkRows_ = std::max<int64_t>(1, std::min<int64_t>(stagingBytes / rowBytes, int64_t(plan.mainRows.size())));
    const size_t chunkFloats = size_t(chunkRows_) * size_t(ld);
    pinned_ = pinnedA_.allocate(chunkFloats) && pinnedB_.allocate(chunkFloats);
    if (pinned_) {
      stage_[0] = pinnedA_.get();
      stage_[1] = pinnedB_.get();
    } else {  // pinning refused (container limits): pageable copies are slower but correct
      pageable_[0].resize(chunkFloats);
      pageable_[1].resize(chunkFloats);
      stage_[0] = pageable_[0].data();
      stage_[1] = pageable_[1].data();
    }
  }
  bool pinned() const { return pinned_; }

  void upload(float* dst, int64_t first, int64_t count) {
    const int64_t D = plan_.dim;
    for (int64_t done = 0; done < count; done += chunkRows_) {
      const int64_t rows = std::min(chunkRows_, count - done);
      const int which = int(next_++ & 1);
      KQKD_CUDA_CHECK(cudaEventSynchronize(ready_[which].get()));  // previous copy out of this chunk finished
      float* stage = stage_[which];
      for (int64_t r = 0; r < rows; ++r) {
        const float* src = plan_.features + plan_.mainRows[size_t(first + done + r)] * D;
        float* out = stage + r * ld_;
        std::memcpy(out, src, size_t(D) * sizeof(float));
        if (ld_ > D) std::memset(out + D, 0, size_t(ld_ - D) * sizeof(float));
      }
      KQKD_CUDA_CHECK(cudaMemcpyAsync(dst + done * ld_, stage, size_t(rows * ld_) * sizeof(float),
                                      cudaMemcpyHostToDevice, stream_));
      KQKD_CUDA_CHECK(cudaEventRecord(ready_[which].get(), stream_));
    }
  }

 private:
  const core::Plan& plan_;
  const int64_t ld_;
  cudaStream_t stream_;
  int64_t chunkRows_ = 1;
  bool pinned_ = false;
  PinnedBuffer<float> pinnedA_, pinnedB_;
  std::vector<float> pageable_[2];
  float* stage_[2] = {nullptr, nullptr};
  Event ready_[2];
  uint64_t next_ = 0;
};

template <typename T>
void toDevice(DeviceBuffer<T>& buf, const std::vector<T>& host, cudaStream_t stream) {
  buf.reset(host.size());
  if (!host.empty())
    KQKD_CUDA_CHECK(cudaMemcpyAsync(buf.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice, stream));
}
template <typename T>
void toHost(std::vector<T>& host, const DeviceBuffer<T>& buf, cudaStream_t stream) {
  host.resize(buf.size());
  if (!host.empty())
    KQKD_CUDA_CHECK(cudaMemcpyAsync(host.data(), buf.get(), host.size() * sizeof(T), cudaMemcpyDeviceToHost, stream));
}

void requireDevice() {
  std::string reason;
  if (!core::cudaDeviceUsable(&reason)) throw GeometryError{"backend", "CUDA backend unavailable: " + reason};
}

}  // namespace

core::GramReductions reduceGram(const core::Plan& plan, const Tuning& tuning, RunInfo* info) {
  requireDevice();
  const int64_t n = int64_t(plan.mainRows.size());
  const int64_t D = plan.dim;
  const int32_t C = plan.numClasses;
  if (C <= 0 || D <= 0 || plan.classStart.size() != size_t(C) + 1 || plan.sqNorm.size() != size_t(n))
    throw GeometryError{"backend", "CUDA backend: malformed plan"};
  if (n > int64_t(0xffffffffu)) throw GeometryError{"backend", "CUDA backend: |M| must be below 2^32"};

  core::GramReductions out;
  const size_t CC = size_t(C) * size_t(C);
  out.absCosSum.assign(CC, 0.0);
  out.absCosMin.assign(CC, std::numeric_limits<double>::infinity());
  out.absCosMax.assign(CC, -std::numeric_limits<double>::infinity());
  out.intraDistSum.assign(C, 0.0);
  out.minInterSqDist.assign(C, std::numeric_limits<double>::infinity());
  out.minInterArg.assign(size_t(2) * C, -1);
  if (plan.pcaFromMain) {
    out.classGram.resize(C);
    for (int32_t c = 0; c < C; ++c) out.classGram[c].assign(size_t(plan.pcaCount[c] * plan.pcaCount[c]), 0.0);
  }
  if (n == 0) return out;

  Stream streamOwner;
  const cudaStream_t stream = streamOwner.get();

  // ---- sizes and memory plan ----
  const int64_t ld = roundUp(D, kGramK);
  const int64_t nPad = roundUp(n, kGramTile);
  int64_t pcaTotal = 0;
  std::vector<int64_t> pcaOffset(C, 0);
  if (plan.pcaFromMain)
    for (int32_t c = 0; c < C; ++c) {
      pcaOffset[c] = pcaTotal;
      pcaTotal += plan.pcaCount[c] * plan.pcaCount[c];
    }
  size_t freeBytes = 0, totalBytes = 0;
  KQKD_CUDA_CHECK(cudaMemGetInfo(&freeBytes, &totalBytes));
  const int64_t fixedBytes = int64_t(CC) * 24 + int64_t(C) * 8 + n * (8 + 8 + 8 + 4) + (n / kSegRows + C + 2) * 16 +
                             pcaTotal * 8 + (int64_t(64) << 20);  // + slack for the context's own allocations
  const int64_t budget = int64_t(double(freeBytes) * 0.9) - fixedBytes;
  const int64_t fBytes = int64_t(sizeof(float));

  int64_t P = tuning.panelRows > 0 ? tuning.panelRows : (plan.tileRows > 0 ? plan.tileRows : kMaxPanelRows);
  P = std::min(roundUp(std::max<int64_t>(P, 1), kGramTile), nPad);
  bool streaming = tuning.forceStreaming;
  auto residentFits = [&](int64_t p) { return nPad * ld * fBytes + p * p * fBytes <= budget; };
  auto streamingFits = [&](int64_t p) { return 2 * p * ld * fBytes + p * p * fBytes <= budget; };
  if (!streaming) {
    while (P > kGramTile && !residentFits(P)) P = roundUp(P / 2, kGramTile);
    streaming = !residentFits(P);
  }
  if (streaming) {
    while (P > kGramTile && !streamingFits(P)) P = roundUp(P / 2, kGramTile);
    if (!streamingFits(P))
      throw GeometryError{"backend", "CUDA backend: not enough device memory for D = " + std::to_string(D) + " (" +
                                         std::to_string(freeBytes >> 20) + " MiB free)"};
  }
  const int64_t panels = (n + P - 1) / P;
  if (info) *info = RunInfo{P, panels, streaming, false};

  // ---- segments: split positions at class boundaries, every kSegRows rows and at panel boundaries ----
  std::vector<Segment> segs;
  std::vector<int32_t> panelSeg(size_t(panels) + 1, 0);
  for (int32_t c = 0; c < C; ++c) {
    for (int64_t s = plan.classStart[c]; s < plan.classStart[c + 1];) {
      const int64_t panelEnd = (s / P + 1) * P;
      const int64_t e = std::min({s + int64_t(kSegRows), plan.classStart[c + 1], panelEnd});
      segs.push_back(Segment{s, int32_t(e - s), c});
      s = e;
    }
  }
  for (int64_t I = 0, k = 0; I <= panels; ++I) {
    while (k < int64_t(segs.size()) && segs[size_t(k)].start < I * P) ++k;
    panelSeg[size_t(I)] = int32_t(k);
  }

  // ---- per-position and accumulator buffers ----
  std::vector<double> invNorm(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) invNorm[size_t(k)] = 1.0 / std::sqrt(plan.sqNorm[size_t(k)]);
  DeviceBuffer<double> dSq, dInv, dCosSum, dIntra, dClassGram;
  DeviceBuffer<unsigned long long> dCosMin, dCosMax, dRowMin;
  DeviceBuffer<Segment> dSegs;
  DeviceBuffer<int32_t> dSlot, dPcaCount;
  DeviceBuffer<int64_t> dPcaOffset;
  toDevice(dSq, plan.sqNorm, stream);
  toDevice(dInv, invNorm, stream);
  toDevice(dSegs, segs, stream);
  toDevice(dCosSum, std::vector<double>(CC, 0.0), stream);
  toDevice(dCosMin, std::vector<unsigned long long>(CC, kPosInfBits), stream);
  toDevice(dCosMax, std::vector<unsigned long long>(CC, 0ull), stream);
  toDevice(dIntra, std::vector<double>(size_t(C), 0.0), stream);
  dRowMin.reset(size_t(n));
  KQKD_CUDA_CHECK(cudaMemsetAsync(dRowMin.get(), 0xff, dRowMin.bytes(), stream));  // kNoKey
  if (plan.pcaFromMain) {
    std::vector<int32_t> slot(static_cast<size_t>(n)), pcaCountI(static_cast<size_t>(C));
    for (int64_t k = 0; k < n; ++k) slot[size_t(k)] = int32_t(plan.pcaSlot[size_t(k)]);
    for (int32_t c = 0; c < C; ++c) pcaCountI[size_t(c)] = int32_t(plan.pcaCount[size_t(c)]);
    toDevice(dSlot, slot, stream);
    toDevice(dPcaCount, pcaCountI, stream);
    toDevice(dPcaOffset, pcaOffset, stream);
    dClassGram.reset(size_t(pcaTotal));
  }

  // ---- matrix storage ----
  DeviceBuffer<float> dMat, dPanelA, dPanelB, dGram;
  dGram.reset(size_t(P) * size_t(P));
  Uploader uploader(plan, ld, tuning.stagingBytes > 0 ? tuning.stagingBytes : kDefaultStagingBytes, stream);
  if (info) info->pinned = uploader.pinned();
  if (!streaming) {
    dMat.reset(size_t(nPad) * size_t(ld));
    if (nPad > n)  // padded rows must be zero: they enter the Gram tiles (never the reductions)
      KQKD_CUDA_CHECK(cudaMemsetAsync(dMat.get() + n * ld, 0, size_t((nPad - n) * ld) * sizeof(float), stream));
    uploader.upload(dMat.get(), 0, n);
  } else {
    dPanelA.reset(size_t(P) * size_t(ld));
    dPanelB.reset(size_t(P) * size_t(ld));
  }
  auto panelRows = [&](int64_t I) { return std::min(P, n - I * P); };
  auto loadPanel = [&](DeviceBuffer<float>& buf, int64_t I) {
    const int64_t rows = panelRows(I);
    const int64_t padded = roundUp(rows, kGramTile);
    if (padded > rows)
      KQKD_CUDA_CHECK(cudaMemsetAsync(buf.get() + rows * ld, 0, size_t((padded - rows) * ld) * sizeof(float), stream));
    uploader.upload(buf.get(), I * P, rows);
  };

  ReduceArgs args{};
  args.gram = dGram.get();
  args.ldg = P;
  args.segs = dSegs.get();
  args.sqNorm = dSq.get();
  args.invNorm = dInv.get();
  args.C = C;
  args.cosSum = dCosSum.get();
  args.cosMin = dCosMin.get();
  args.cosMax = dCosMax.get();
  args.intraDist = dIntra.get();
  args.rowMin = dRowMin.get();
  if (plan.pcaFromMain) {
    args.pcaSlot = dSlot.get();
    args.pcaOffset = dPcaOffset.get();
    args.pcaCount = dPcaCount.get();
    args.classGram = dClassGram.get();
  }

  for (int64_t I = 0; I < panels; ++I) {
    const float* A = nullptr;
    if (streaming) {
      loadPanel(dPanelA, I);
      A = dPanelA.get();
    } else {
      A = dMat.get() + I * P * ld;
    }
    const int tilesI = int(roundUp(panelRows(I), kGramTile) / kGramTile);
    for (int64_t J = I; J < panels; ++J) {
      const float* B = A;
      if (J != I) {
        if (streaming) {
          loadPanel(dPanelB, J);
          B = dPanelB.get();
        } else {
          B = dMat.get() + J * P * ld;
        }
      }
      const int tilesJ = int(roundUp(panelRows(J), kGramTile) / kGramTile);
      KQKD_CUDA_CHECK(launchGram(A, B, ld, ld, dGram.get(), P, tilesI, tilesJ, I == J, stream));

      args.rowBase = I * P;
      args.colBase = J * P;
      args.sBegin = panelSeg[size_t(I)];
      args.tBegin = panelSeg[size_t(J)];
      args.diagPanel = I == J ? 1 : 0;
      const int sCount = panelSeg[size_t(I) + 1] - panelSeg[size_t(I)];
      const int tCount = panelSeg[size_t(J) + 1] - panelSeg[size_t(J)];
      for (int s0 = 0; s0 < sCount; s0 += kMaxGridY) {
        const dim3 grid(unsigned(tCount), unsigned(std::min(kMaxGridY, sCount - s0)));
        reduceKernel<<<grid, kReduceThreads, 0, stream>>>(args, s0);
        KQKD_CUDA_CHECK_LAUNCH(reduceKernel);
      }
    }
  }

  // ---- finalisation: decode C x C words and pick each class's best row ----
  std::vector<double> cosSum, intra, classGram;
  std::vector<unsigned long long> cosMin, cosMax, rowMin;
  toHost(cosSum, dCosSum, stream);
  toHost(cosMin, dCosMin, stream);
  toHost(cosMax, dCosMax, stream);
  toHost(intra, dIntra, stream);
  toHost(rowMin, dRowMin, stream);
  if (plan.pcaFromMain) toHost(classGram, dClassGram, stream);
  KQKD_CUDA_CHECK(cudaStreamSynchronize(stream));

  std::vector<int64_t> count(static_cast<size_t>(C));
  for (int32_t c = 0; c < C; ++c) count[size_t(c)] = plan.classStart[c + 1] - plan.classStart[c];
  for (int32_t c = 0; c < C; ++c)
    for (int32_t d = 0; d < C; ++d) {
      const size_t k = size_t(c) * C + d;
      if (count[size_t(c)] == 0 || count[size_t(d)] == 0) continue;  // empty block: +inf / -inf like the CPU
      out.absCosSum[k] = cosSum[k];
      double lo, hi;
      std::memcpy(&lo, &cosMin[k], sizeof lo);
      std::memcpy(&hi, &cosMax[k], sizeof hi);
      out.absCosMin[k] = lo;
      out.absCosMax[k] = hi;
    }
  out.intraDistSum = intra;
  for (int32_t c = 0; c < C; ++c) {
    // Smallest value, then smallest a (scan order, strict <), then smallest b (inside the key): the CPU's order.
    uint32_t bestCode = 0xffffffffu;
    int64_t bestA = -1, bestB = -1;
    for (int64_t a = plan.classStart[c]; a < plan.classStart[c + 1]; ++a) {
      const uint64_t key = rowMin[size_t(a)];
      if (key == kNoKey) continue;
      const uint32_t code = uint32_t(key >> 32);
      if (bestA < 0 || code < bestCode) {
        bestCode = code;
        bestA = a;
        bestB = int64_t(uint32_t(key));
      }
    }
    if (bestA < 0) continue;
    const uint32_t bits = orderedFloatDecodeBits(bestCode);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    out.minInterSqDist[size_t(c)] = double(f);
    out.minInterArg[size_t(2) * c] = bestA;
    out.minInterArg[size_t(2) * c + 1] = bestB;
  }
  if (plan.pcaFromMain)
    for (int32_t c = 0; c < C; ++c)
      std::copy(classGram.begin() + pcaOffset[size_t(c)],
                classGram.begin() + pcaOffset[size_t(c)] + plan.pcaCount[size_t(c)] * plan.pcaCount[size_t(c)],
                out.classGram[size_t(c)].begin());
  return out;
}

}  // namespace kqkd::cuda

namespace kqkd::core {

GramReductions reduceGramCuda(const Plan& plan) { return cuda::reduceGram(plan, cuda::Tuning{}); }

bool cudaDeviceUsable(std::string* reason) {
  auto fail = [reason](const std::string& why) {
    (void)cudaGetLastError();
    if (reason) *reason = why;
    return false;
  };
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess)
    return fail("no CUDA device: cudaGetDeviceCount returned " + cuda::describe(err));
  if (count <= 0) return fail("no CUDA device: cudaGetDeviceCount found 0 devices");
  int device = 0;
  cudaError_t e = cudaGetDevice(&device);
  if (e != cudaSuccess) return fail("CUDA device unusable: cudaGetDevice returned " + cuda::describe(e));
  // Loading our kernel proves the binary carries code (SASS or PTX) this device can run.
  cudaFuncAttributes attr{};
  e = cuda::gramKernelAttributes(&attr);
  if (e != cudaSuccess) {
    cudaDeviceProp prop{};
    std::string cc;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess)
      cc = " on " + std::string(prop.name) + " (compute capability " + std::to_string(prop.major) + "." +
           std::to_string(prop.minor) + "; rebuild with KQKD_CUDA_ARCHITECTURES including it)";
    return fail("CUDA device unusable: loading the Gram kernel returned " + cuda::describe(e) + cc);
  }
  if (reason) reason->clear();
  return true;
}

}  // namespace kqkd::core
