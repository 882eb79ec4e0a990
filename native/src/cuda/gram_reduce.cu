// CUDA backend of the Gram reductions (core/backend.h contract, same semantics as src/cpu/reduce_gram_cpu.cc).
//
// Flow: the class-sorted rows of M are gathered on the host into pinned chunks and uploaded, zero padded to
// 128-row / 8-column multiples (the whole matrix when it fits, else two row panels streamed per panel pair).
// For each panel pair I <= J our Gram kernel fills a P x P float tile (upper tiles only when I == J), then one
// reduction block per (row segment, column segment) pair walks the entries a < b (plus a == b) of that tile.
// Segments never cross a class boundary, so a block belongs to one class pair and can reduce everything in
// registers/shared memory before a handful of atomics: double atomicAdd for sums, atomicMin/Max on the bit
// pattern of non-negative doubles for |cos| extrema, and per-row atomicMin on packed (float value, column) keys
// for the inter-class argmin (reduce_kernel.cu). The host only decodes C x C and |M| words at the end.
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
#include "cuda/reduce_kernel.h"
#include "cuda/tile_math.h"

namespace kqkd::cuda {
namespace {

constexpr int64_t kMaxPanelRows = 16384;             // 1 GiB float Gram tile
constexpr int64_t kDefaultStagingBytes = int64_t(64) << 20;

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

// ---- the phases of reduceGram ----

// The results before any reduction: sums 0, minima +inf, maxima -inf, arguments -1, class Gram blocks 0. An empty
// M returns them as they are; an empty class block keeps them (like the CPU backend).
core::GramReductions emptyReductions(const core::Plan& plan) {
  const int32_t C = plan.numClasses;
  const size_t CC = size_t(C) * size_t(C);
  core::GramReductions out;
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
  return out;
}

// The class Gram blocks of P in one flat device array: where class c's m_c x m_c block starts, and their total
// size (all 0 unless plan.pcaFromMain).
struct ClassGramLayout {
  std::vector<int64_t> offset;  // C
  int64_t total = 0;
};

ClassGramLayout classGramLayout(const core::Plan& plan) {
  ClassGramLayout g;
  g.offset.assign(size_t(plan.numClasses), 0);
  if (plan.pcaFromMain)
    for (int32_t c = 0; c < plan.numClasses; ++c) {
      g.offset[c] = g.total;
      g.total += plan.pcaCount[c] * plan.pcaCount[c];
    }
  return g;
}

// The run's shape: M's rows padded to whole Gram tiles (nPad), its columns to k-slices (ld), cut into panels of P
// rows; all of M resident on the device, or (streaming) two row panels uploaded per panel pair.
struct Layout {
  int64_t n = 0, ld = 0, nPad = 0, P = 0, panels = 0;
  bool streaming = false;
  int64_t panelRows(int64_t I) const { return std::min(P, n - I * P); }
  int tiles(int64_t I) const { return int(roundUp(panelRows(I), kGramTile) / kGramTile); }
};

// P: the requested panel rows (tuning, else the plan's tile rows, else kMaxPanelRows), halved until M and one P x P
// tile fit in 90 % of the free device memory beside the fixed buffers; failing that (or when tuning forces it),
// halved until two streamed panels and the tile fit. Throws when even one tile's worth does not.
Layout planLayout(const core::Plan& plan, const Tuning& tuning, int64_t pcaTotal) {
  const int64_t n = int64_t(plan.mainRows.size());
  const int64_t D = plan.dim;
  const int32_t C = plan.numClasses;
  const size_t CC = size_t(C) * size_t(C);
  const int64_t ld = roundUp(D, kGramK);
  const int64_t nPad = roundUp(n, kGramTile);
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
  return Layout{n, ld, nPad, P, (n + P - 1) / P, streaming};
}

// M's positions split at class boundaries, every kSegRows rows and at panel boundaries, so that one reduction
// block sees one class pair inside one tile; first[I] is panel I's first segment (first[panels]: their number).
struct Segments {
  std::vector<Segment> list;
  std::vector<int32_t> first;
};

Segments splitSegments(const core::Plan& plan, const Layout& L) {
  Segments out;
  out.first.assign(size_t(L.panels) + 1, 0);
  for (int32_t c = 0; c < plan.numClasses; ++c) {
    for (int64_t s = plan.classStart[c]; s < plan.classStart[c + 1];) {
      const int64_t panelEnd = (s / L.P + 1) * L.P;
      const int64_t e = std::min({s + int64_t(kSegRows), plan.classStart[c + 1], panelEnd});
      out.list.push_back(Segment{s, int32_t(e - s), c});
      s = e;
    }
  }
  for (int64_t I = 0, k = 0; I <= L.panels; ++I) {
    while (k < int64_t(out.list.size()) && out.list[size_t(k)].start < I * L.P) ++k;
    out.first[size_t(I)] = int32_t(k);
  }
  return out;
}

// The device side of the reductions: per-position inputs (squared norms, their inverse roots, the segments, the
// class Gram slots) and the accumulators reduceKernel adds into.
struct DeviceState {
  DeviceBuffer<double> sq, inv, cosSum, intra, classGram;
  DeviceBuffer<unsigned long long> cosMin, cosMax, rowMin;
  DeviceBuffer<Segment> segs;
  DeviceBuffer<int32_t> slot, pcaCount;
  DeviceBuffer<int64_t> pcaOffset;
};

// Uploads the inputs and sets each accumulator to its reduction's identity (0, +inf bits, 0, 0, kNoKey).
void uploadState(DeviceState& d, const core::Plan& plan, const std::vector<Segment>& segs,
                 const ClassGramLayout& pca, cudaStream_t stream) {
  const int64_t n = int64_t(plan.mainRows.size());
  const int32_t C = plan.numClasses;
  const size_t CC = size_t(C) * size_t(C);
  std::vector<double> invNorm(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) invNorm[size_t(k)] = 1.0 / std::sqrt(plan.sqNorm[size_t(k)]);
  toDevice(d.sq, plan.sqNorm, stream);
  toDevice(d.inv, invNorm, stream);
  toDevice(d.segs, segs, stream);
  toDevice(d.cosSum, std::vector<double>(CC, 0.0), stream);
  toDevice(d.cosMin, std::vector<unsigned long long>(CC, kPosInfBits), stream);
  toDevice(d.cosMax, std::vector<unsigned long long>(CC, 0ull), stream);
  toDevice(d.intra, std::vector<double>(size_t(C), 0.0), stream);
  d.rowMin.reset(size_t(n));
  KQKD_CUDA_CHECK(cudaMemsetAsync(d.rowMin.get(), 0xff, d.rowMin.bytes(), stream));  // kNoKey
  if (plan.pcaFromMain) {
    std::vector<int32_t> slot(static_cast<size_t>(n)), pcaCountI(static_cast<size_t>(C));
    for (int64_t k = 0; k < n; ++k) slot[size_t(k)] = int32_t(plan.pcaSlot[size_t(k)]);
    for (int32_t c = 0; c < C; ++c) pcaCountI[size_t(c)] = int32_t(plan.pcaCount[size_t(c)]);
    toDevice(d.slot, slot, stream);
    toDevice(d.pcaCount, pcaCountI, stream);
    toDevice(d.pcaOffset, pca.offset, stream);
    d.classGram.reset(size_t(pca.total));
  }
}

// The kernel's arguments that stay the same over the panel pairs (the Gram tile, P x P with row stride P).
ReduceArgs fixedArgs(const DeviceState& d, const float* gram, int64_t P, int32_t C, bool pcaFromMain) {
  ReduceArgs args{};
  args.gram = gram;
  args.ldg = P;
  args.segs = d.segs.get();
  args.sqNorm = d.sq.get();
  args.invNorm = d.inv.get();
  args.C = C;
  args.cosSum = d.cosSum.get();
  args.cosMin = d.cosMin.get();
  args.cosMax = d.cosMax.get();
  args.intraDist = d.intra.get();
  args.rowMin = d.rowMin.get();
  if (pcaFromMain) {
    args.pcaSlot = d.slot.get();
    args.pcaOffset = d.pcaOffset.get();
    args.pcaCount = d.pcaCount.get();
    args.classGram = d.classGram.get();
  }
  return args;
}

// M on the device, the operands of the Gram tiles: all of it (zero padded, uploaded once), or when streaming two
// panel buffers, refilled from the host for each panel pair.
class DeviceMatrix {
 public:
  DeviceMatrix(const core::Plan& plan, const Layout& L, int64_t stagingBytes, cudaStream_t stream)
      : L_(L), stream_(stream), uploader_(plan, L.ld, stagingBytes, stream) {
    if (!L.streaming) {
      mat_.reset(size_t(L.nPad) * size_t(L.ld));
      if (L.nPad > L.n)  // padded rows must be zero: they enter the Gram tiles (never the reductions)
        KQKD_CUDA_CHECK(cudaMemsetAsync(mat_.get() + L.n * L.ld, 0, size_t((L.nPad - L.n) * L.ld) * sizeof(float),
                                        stream));
      uploader_.upload(mat_.get(), 0, L.n);
    } else {
      panelA_.reset(size_t(L.P) * size_t(L.ld));
      panelB_.reset(size_t(L.P) * size_t(L.ld));
    }
  }
  bool pinned() const { return uploader_.pinned(); }
  const float* rowPanel(int64_t I) { return panel(panelA_, I); }     // streaming: uploads panel I now
  const float* columnPanel(int64_t J) { return panel(panelB_, J); }  // the same, into the other buffer

 private:
  const float* panel(DeviceBuffer<float>& buf, int64_t I) {
    if (!L_.streaming) return mat_.get() + I * L_.P * L_.ld;
    const int64_t rows = L_.panelRows(I);
    const int64_t padded = roundUp(rows, kGramTile);
    if (padded > rows)
      KQKD_CUDA_CHECK(cudaMemsetAsync(buf.get() + rows * L_.ld, 0, size_t((padded - rows) * L_.ld) * sizeof(float),
                                      stream_));
    uploader_.upload(buf.get(), I * L_.P, rows);
    return buf.get();
  }

  const Layout L_;
  const cudaStream_t stream_;
  DeviceBuffer<float> mat_, panelA_, panelB_;
  Uploader uploader_;  // declared last: the pinned chunks are allocated before M's buffers, and freed first
};

// Every panel pair I <= J in order: the Gram tile (upper tiles only when I == J), then the reduction blocks of its
// segment pairs.
void reducePanelPairs(const Layout& L, const std::vector<int32_t>& firstSeg, DeviceMatrix& matrix, float* gram,
                      ReduceArgs args, cudaStream_t stream) {
  for (int64_t I = 0; I < L.panels; ++I) {
    const float* A = matrix.rowPanel(I);
    for (int64_t J = I; J < L.panels; ++J) {
      const float* B = J == I ? A : matrix.columnPanel(J);
      KQKD_CUDA_CHECK(launchGram(A, B, L.ld, L.ld, gram, L.P, L.tiles(I), L.tiles(J), I == J, stream));

      args.rowBase = I * L.P;
      args.colBase = J * L.P;
      args.sBegin = firstSeg[size_t(I)];
      args.tBegin = firstSeg[size_t(J)];
      args.diagPanel = I == J ? 1 : 0;
      const int sCount = firstSeg[size_t(I) + 1] - firstSeg[size_t(I)];
      const int tCount = firstSeg[size_t(J) + 1] - firstSeg[size_t(J)];
      launchReduce(args, sCount, tCount, stream);
    }
  }
}

// The C x C sums and |cos| extrema (bits of non-negative doubles); empty blocks keep +inf / -inf like the CPU.
void decodeClassPairs(const core::Plan& plan, const std::vector<double>& cosSum,
                      const std::vector<unsigned long long>& cosMin, const std::vector<unsigned long long>& cosMax,
                      core::GramReductions& out) {
  const int32_t C = plan.numClasses;
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
}

// Each class's inter-class minimum from the per-row packed keys (ordered float code of the value, column).
void decodeInterArgmins(const core::Plan& plan, const std::vector<unsigned long long>& rowMin,
                        core::GramReductions& out) {
  for (int32_t c = 0; c < plan.numClasses; ++c) {
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
}

// Copies the accumulators back (one synchronisation) and decodes them into out.
void collectResults(const DeviceState& d, const core::Plan& plan, const ClassGramLayout& pca, cudaStream_t stream,
                    core::GramReductions& out) {
  std::vector<double> cosSum, intra, classGram;
  std::vector<unsigned long long> cosMin, cosMax, rowMin;
  toHost(cosSum, d.cosSum, stream);
  toHost(cosMin, d.cosMin, stream);
  toHost(cosMax, d.cosMax, stream);
  toHost(intra, d.intra, stream);
  toHost(rowMin, d.rowMin, stream);
  if (plan.pcaFromMain) toHost(classGram, d.classGram, stream);
  KQKD_CUDA_CHECK(cudaStreamSynchronize(stream));

  decodeClassPairs(plan, cosSum, cosMin, cosMax, out);
  out.intraDistSum = intra;
  decodeInterArgmins(plan, rowMin, out);
  if (plan.pcaFromMain)
    for (int32_t c = 0; c < plan.numClasses; ++c)
      std::copy(classGram.begin() + pca.offset[size_t(c)],
                classGram.begin() + pca.offset[size_t(c)] + plan.pcaCount[size_t(c)] * plan.pcaCount[size_t(c)],
                out.classGram[size_t(c)].begin());
}

}  // namespace

// The phases in order: check the plan, lay out panels and segments, upload the inputs and zeroed accumulators, then
// M (or its panels, as needed), Gram tile and reductions per panel pair, and the accumulators back.
core::GramReductions reduceGram(const core::Plan& plan, const Tuning& tuning, RunInfo* info) {
  requireDevice();
  const int64_t n = int64_t(plan.mainRows.size());
  const int32_t C = plan.numClasses;
  if (C <= 0 || plan.dim <= 0 || plan.classStart.size() != size_t(C) + 1 || plan.sqNorm.size() != size_t(n))
    throw GeometryError{"backend", "CUDA backend: malformed plan"};
  if (n > int64_t(0xffffffffu)) throw GeometryError{"backend", "CUDA backend: |M| must be below 2^32"};
  core::GramReductions out = emptyReductions(plan);
  if (n == 0) return out;

  Stream streamOwner;
  const cudaStream_t stream = streamOwner.get();
  const ClassGramLayout pca = classGramLayout(plan);
  const Layout L = planLayout(plan, tuning, pca.total);
  if (info) *info = RunInfo{L.P, L.panels, L.streaming, false};
  const Segments segs = splitSegments(plan, L);

  DeviceState state;
  uploadState(state, plan, segs.list, pca, stream);
  DeviceBuffer<float> gram(size_t(L.P) * size_t(L.P));
  DeviceMatrix matrix(plan, L, tuning.stagingBytes > 0 ? tuning.stagingBytes : kDefaultStagingBytes, stream);
  if (info) info->pinned = matrix.pinned();
  reducePanelPairs(L, segs.first, matrix, gram.get(), fixedArgs(state, gram.get(), L.P, C, plan.pcaFromMain), stream);
  collectResults(state, plan, pca, stream, out);
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
