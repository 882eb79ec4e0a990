// CPU backend: tiled Gram of the class-sorted main subset M (OpenBLAS ssyrk/sgemm) with fused reductions.
//
// Only the upper triangle of the Gram is formed (tile pairs J >= I, and b >= a inside diagonal tiles). The Gram
// order is either class-sorted M (rows gathered) or, when M is (nearly) a contiguous run of the input, that run
// in its original order (zero-copy). Either way each class is reached through its sorted list of Gram
// positions, and every visited entry stands for the unordered pair {a, b}: statistics are accumulated into the
// upper class pair (min class, max class) and mirrored to the lower one at the end (the Gram is symmetric).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>

#include <sys/mman.h>

#include "core/backend.h"
#include "core/blas.h"
#include "core/trace.h"

#ifdef KQKD_WITH_OPENMP
#include <omp.h>
#endif

// Hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time (no -march=native in a
// distributed addon).
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && \
    ((defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8) || (defined(__clang__) && __clang_major__ >= 14))
#define KQKD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KQKD_CLONES
#endif

namespace kqkd::core {
namespace {

constexpr int64_t kTileBytes = int64_t(128) << 20;    // Gram tile budget
constexpr int64_t kGatherBytes = int64_t(256) << 20;  // per gathered row block (two when tiled)
constexpr int64_t kMinParallelEntries = 1 << 16;      // smaller tiles: a parallel region costs more than it saves

// ---- vectorised kernels over one class segment of one Gram row ----

// |g_b| * invRa * invR_b: sum, min and max over the segment.
KQKD_CLONES void absCosStats(const float* g, const float* invR, float invRa, int64_t len, float* sum, float* mn,
                             float* mx) {
  float s = 0, lo = std::numeric_limits<float>::infinity(), hi = -lo;
#pragma omp simd reduction(+ : s) reduction(min : lo) reduction(max : hi)
  for (int64_t b = 0; b < len; ++b) {
    const float v = std::fabs(g[b]) * invRa * invR[b];
    s += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  *sum = s;
  *mn = lo;
  *mx = hi;
}

// Sum of sqrt(r_a^2 + r_b^2 - 2 g_b), clamped at 0 (the approximate form; only used for averages).
KQKD_CLONES float distSum(const float* g, const float* sq, float sqA, int64_t len) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t b = 0; b < len; ++b) s += std::sqrt(std::max(0.0f, sqA + sq[b] - 2.0f * g[b]));
  return s;
}

// min over the segment of r_a^2 + r_b^2 - 2 g_b.
KQKD_CLONES float minSqDist(const float* g, const float* sq, float sqA, int64_t len) {
  float lo = std::numeric_limits<float>::infinity();
#pragma omp simd reduction(min : lo)
  for (int64_t b = 0; b < len; ++b) lo = std::min(lo, sqA + sq[b] - 2.0f * g[b]);
  return lo;
}

// Best inter-class candidate of one class; ties go to the smaller (a, b) so results do not depend on threads.
struct MinPair {
  float value = std::numeric_limits<float>::infinity();
  int64_t a = -1, b = -1;
  void offer(float v, int64_t pa, int64_t pb) {
    if (v < value || (v == value && (pa < a || (pa == a && pb < b)))) *this = {v, pa, pb};
  }
};

// Per-thread accumulators over the upper class pairs (merged once at the end).
struct Accumulators {
  std::vector<double> sum, mn, mx, intraDist;
  std::vector<MinPair> minInter;
  explicit Accumulators(int32_t C)
      : sum(size_t(C) * C, 0.0),
        mn(size_t(C) * C, std::numeric_limits<double>::infinity()),
        mx(size_t(C) * C, -std::numeric_limits<double>::infinity()),
        intraDist(C, 0.0),
        minInter(C) {}
};

int64_t chooseTileRows(int64_t n, int64_t D, int64_t requested) {
  if (requested > 0) return std::min(requested, n);
  const int64_t byTile = int64_t(std::sqrt(double(kTileBytes / int64_t(sizeof(float)))));
  // A single tile needs one gathered block, so it may use both gather budgets.
  if (n <= byTile && n * D * int64_t(sizeof(float)) <= 2 * kGatherBytes) return n;
  const int64_t byGather = kGatherBytes / (D * int64_t(sizeof(float)));
  return std::max<int64_t>(1, std::min({n, byTile, byGather}));
}

// Zero-copy mode: when M is (nearly) a contiguous run of the input, the Gram is formed over that run in its
// ORIGINAL row order, straight from the caller's buffer, and the reductions reach each class through sorted
// position lists. Rows of the run that are not in M cost 2·w·|M|·D extra flop; gathering M instead costs one
// copy of |M|·D floats (fresh pages included), which at measured speeds (~250 GFLOP/s vs ~1.5 GB/s on two
// cores) is worth about 350 such rows, independently of |M| and D.
constexpr int64_t kMaxWasteRows = 384;

int threadIndex() {
#ifdef KQKD_WITH_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

class TiledGram {
 public:
  explicit TiledGram(const Plan& plan)
      : p_(plan), nM_(int64_t(plan.mainRows.size())), D_(plan.dim), C_(plan.numClasses) {
    // Gram order: the input run [lo, hi] (zero-copy) or class-sorted M (gathered).
    int64_t lo = nM_ ? plan.mainRows[0] : 0, hi = lo;
    for (int64_t r : plan.mainRows) lo = std::min(lo, r), hi = std::max(hi, r);
    zeroCopy_ = nM_ > 0 && (hi - lo + 1) - nM_ <= kMaxWasteRows;
    first_ = zeroCopy_ ? lo : 0;
    n_ = zeroCopy_ ? hi - lo + 1 : nM_;
    // Per class: Gram positions (ascending) and, in the same order, 1/r, r^2, class-sorted index, P slot.
    posStart_.assign(plan.classStart.begin(), plan.classStart.end());
    pos_.resize(nM_);
    cls_.assign(n_, -1);
    kOf_.assign(n_, -1);
    for (int64_t k = 0; k < nM_; ++k) {
      const int64_t g = zeroCopy_ ? plan.mainRows[k] - first_ : k;
      pos_[k] = g;
      cls_[g] = plan.mainClass[k];
      kOf_[g] = k;
    }
    contiguous_.assign(C_, 1);
    for (int32_t c = 0; c < C_; ++c) {
      int64_t* b = pos_.data() + posStart_[c];
      int64_t* e = pos_.data() + posStart_[c + 1];
      std::sort(b, e);
      contiguous_[c] = e == b || e[-1] - b[0] == e - b - 1;
    }
    invR_.resize(nM_);
    sq_.resize(nM_);
    slot_.assign(nM_, -1);
    const bool pca = plan.pcaFromMain;
    for (int64_t t = 0; t < nM_; ++t) {
      const int64_t k = kOf_[pos_[t]];
      invR_[t] = float(1.0 / std::sqrt(plan.sqNorm[k]));
      sq_[t] = float(plan.sqNorm[k]);
      if (pca) slot_[t] = plan.pcaSlot[k];
    }
    T_ = chooseTileRows(n_, D_, plan.tileRows);
    accs_.assign(plan.threads, Accumulators(C_));
    scratch_.assign(plan.threads, std::vector<float>(size_t(std::min(n_, T_))));
    if (pca) {
      out_.classGram.resize(C_);
      for (int32_t c = 0; c < C_; ++c) out_.classGram[c].assign(size_t(plan.pcaCount[c] * plan.pcaCount[c]), 0.0);
    }
  }

  GramReductions run() {
    Buffer tileBuf, bufA, bufB;  // the tile too: BLAS overwrites it, so no zero-fill of up to 128 MiB
    float* const tile = tileBuf.reserve(size_t(T_) * size_t(T_));
    std::vector<int64_t> colBegin(C_), colEnd(C_);
    for (int64_t i0 = 0; i0 < n_; i0 += T_) {
      const int64_t ti = std::min(T_, n_ - i0);
      const float* A = rowBlock(i0, ti, bufA);
      trace_.mark("  gather");
      for (int64_t j0 = i0; j0 < n_; j0 += T_) {
        const int64_t tj = std::min(T_, n_ - j0);
        {
          BlasThreadsScope blasThreads(p_.threads);
          if (j0 == i0) {
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, int(ti), int(D_), 1.0f, A, int(D_), 0.0f,
                        tile, int(tj));
          } else {
            const float* B = rowBlock(j0, tj, bufB);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(ti), int(tj), int(D_), 1.0f, A, int(D_), B,
                        int(D_), 0.0f, tile, int(tj));
          }
        }
        trace_.mark("  blas");
        for (int32_t c = 0; c < C_; ++c) {  // each class's entries among the tile's columns
          colBegin[c] = lowerBound(c, j0);
          colEnd[c] = lowerBound(c, j0 + tj);
        }
        // After the BLAS call, not during it, so OpenBLAS's threads and OpenMP's do not compete for cores.
        reduceTile(tile, i0, ti, j0, tj, colBegin, colEnd);
        trace_.mark("  reduce");
      }
    }
    return finish();
  }

 private:
  // Gather buffer: allocated once at its largest size and left uninitialised (it is overwritten entirely).
  // Hundreds of MiB of fresh 4 KiB pages cost ~100 ms of page faults per call, so ask for transparent huge
  // pages (2 MiB alignment, madvise) where the kernel offers them.
  struct Buffer {
    struct Free {
      void operator()(float* p) const { std::free(p); }
    };
    std::unique_ptr<float, Free> data;
    size_t size = 0;
    float* reserve(size_t n) {
      if (n <= size) return data.get();
      constexpr size_t kHuge = size_t(2) << 20;
      const size_t bytes = (n * sizeof(float) + kHuge - 1) / kHuge * kHuge;
      data.reset(static_cast<float*>(std::aligned_alloc(kHuge, bytes)));
      if (!data) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
      madvise(data.get(), bytes, MADV_HUGEPAGE);
#endif
      size = n;
      return data.get();
    }
  };

  // Position in class c's sorted position list of the first Gram position >= g.
  int64_t lowerBound(int32_t c, int64_t g) const {
    return std::lower_bound(pos_.begin() + posStart_[c], pos_.begin() + posStart_[c + 1], g) - pos_.begin();
  }

  // Gram rows [k0, k0 + count): zero-copy when they are a contiguous run of the input.
  const float* rowBlock(int64_t k0, int64_t count, Buffer& buf) const {
    if (zeroCopy_) return p_.features + (first_ + k0) * D_;
    const int64_t* rows = p_.mainRows.data() + k0;
    bool contiguous = true;
    for (int64_t k = 1; k < count && contiguous; ++k) contiguous = rows[k] == rows[0] + k;
    if (contiguous) return p_.features + rows[0] * D_;
    float* out = buf.reserve(size_t(T_) * size_t(D_));
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel for schedule(static) num_threads(p_.threads)
#endif
    for (int64_t k = 0; k < count; ++k)
      std::memcpy(out + k * D_, p_.features + rows[k] * D_, size_t(D_) * sizeof(float));
    return out;
  }

  void reduceTile(const float* tile, int64_t i0, int64_t ti, int64_t j0, int64_t tj,
                  const std::vector<int64_t>& colBegin, const std::vector<int64_t>& colEnd) {
    const bool diagonal = i0 == j0;
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel for schedule(dynamic, 16) num_threads(p_.threads) if (ti * tj >= kMinParallelEntries)
#endif
    for (int64_t r = 0; r < ti; ++r) {
      const int64_t a = i0 + r;
      if (cls_[a] < 0) continue;  // a run row outside M (zero-copy mode)
      const int t = threadIndex();
      reduceRow(accs_[t], scratch_[t].data(), a, tile + r * tj, j0, diagonal, colBegin, colEnd);
    }
  }

  // Gram row a against the tile's columns starting at Gram position j0 (row[0] is entry (a, j0)); only entries
  // (a, b) with b >= a are visited. Each visited entry stands for the unordered pair {a, b}, so class-pair
  // statistics go to the upper pair (min class, max class) and are mirrored at the end.
  void reduceRow(Accumulators& acc, float* scratch, int64_t a, const float* row, int64_t j0, bool diagonal,
                 const std::vector<int64_t>& colBegin, const std::vector<int64_t>& colEnd) {
    const int32_t ca = cls_[a];
    const int64_t ka = kOf_[a];
    const float invRa = float(1.0 / std::sqrt(p_.sqNorm[ka])), sqA = float(p_.sqNorm[ka]);
    for (int32_t cb = 0; cb < C_; ++cb) {
      const int64_t t0 = diagonal ? lowerBound(cb, a) : colBegin[cb], t1 = colEnd[cb];
      const int64_t len = t1 - t0;
      if (len <= 0) continue;
      const float* gs;
      if (contiguous_[cb]) {
        gs = row + (pos_[t0] - j0);
      } else {  // the class's columns, visited through its sorted positions (the row sits in cache)
        const int64_t* pos = pos_.data() + t0;
        for (int64_t t = 0; t < len; ++t) scratch[t] = row[pos[t] - j0];
        gs = scratch;
      }
      const size_t pair = size_t(std::min(ca, cb)) * C_ + std::max(ca, cb);

      float sum, mn, mx;
      absCosStats(gs, invR_.data() + t0, invRa, len, &sum, &mn, &mx);
      // Inside a class block every visited entry also stands for its transpose (b < a is never visited),
      // except the diagonal entry (a, a). Across classes the transpose belongs to the mirrored block.
      const bool hasDiagonal = pos_[t0] == a;
      if (ca == cb)
        acc.sum[pair] += 2.0 * double(sum) - (hasDiagonal ? double(std::fabs(gs[0]) * invRa * invRa) : 0.0);
      else
        acc.sum[pair] += double(sum);
      acc.mn[pair] = std::min(acc.mn[pair], double(mn));
      acc.mx[pair] = std::max(acc.mx[pair], double(mx));

      if (ca == cb) {
        const int64_t skip = hasDiagonal ? 1 : 0;  // distances over a != b only
        acc.intraDist[ca] += 2.0 * double(distSum(gs + skip, sq_.data() + t0 + skip, sqA, len - skip));
        if (p_.pcaFromMain) copyClassGram(ca, ka, gs, t0, t1);
      } else {
        const float lo = minSqDist(gs, sq_.data() + t0, sqA, len);
        MinPair& bestA = acc.minInter[ca];
        MinPair& bestB = acc.minInter[cb];
        if (lo <= bestA.value || lo <= bestB.value) {
          // Rare: offer every entry equal to the minimum, as class-sorted positions, so the winner is the
          // smallest (value, a, b) whatever the Gram order, tiling or thread count.
          for (int64_t t = 0; t < len; ++t)
            if (sqA + sq_[t0 + t] - 2.0f * gs[t] == lo) {
              const int64_t kb = kOf_[pos_[t0 + t]];
              bestA.offer(lo, ka, kb);
              bestB.offer(lo, kb, ka);
            }
        }
      }
    }
  }

  void copyClassGram(int32_t c, int64_t ka, const float* gs, int64_t t0, int64_t t1) {
    const int64_t sa = p_.pcaSlot[ka];
    if (sa < 0) return;
    const int64_t m = p_.pcaCount[c];
    double* G = out_.classGram[c].data();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t sb = slot_[t];
      if (sb < 0) continue;
      G[sa * m + sb] = G[sb * m + sa] = double(gs[t - t0]);
    }
  }

  GramReductions finish() {
    const size_t CC = size_t(C_) * C_;
    out_.absCosSum.assign(CC, 0.0);
    out_.absCosMin.assign(CC, std::numeric_limits<double>::infinity());
    out_.absCosMax.assign(CC, -std::numeric_limits<double>::infinity());
    out_.intraDistSum.assign(C_, 0.0);
    std::vector<MinPair> best(C_);
    for (const Accumulators& acc : accs_) {
      for (size_t k = 0; k < CC; ++k) {
        out_.absCosSum[k] += acc.sum[k];
        out_.absCosMin[k] = std::min(out_.absCosMin[k], acc.mn[k]);
        out_.absCosMax[k] = std::max(out_.absCosMax[k], acc.mx[k]);
      }
      for (int32_t c = 0; c < C_; ++c) {
        out_.intraDistSum[c] += acc.intraDist[c];
        best[c].offer(acc.minInter[c].value, acc.minInter[c].a, acc.minInter[c].b);
      }
    }
    for (int32_t c = 0; c < C_; ++c)
      for (int32_t d = 0; d < c; ++d) {  // mirror the upper class pairs
        const size_t lower = size_t(c) * C_ + d, upper = size_t(d) * C_ + c;
        out_.absCosSum[lower] = out_.absCosSum[upper];
        out_.absCosMin[lower] = out_.absCosMin[upper];
        out_.absCosMax[lower] = out_.absCosMax[upper];
      }
    out_.minInterSqDist.resize(C_);
    out_.minInterArg.resize(size_t(2) * C_);
    for (int32_t c = 0; c < C_; ++c) {
      out_.minInterSqDist[c] = best[c].value;
      out_.minInterArg[2 * c] = best[c].a;
      out_.minInterArg[2 * c + 1] = best[c].b;
    }
    return std::move(out_);
  }

  const Plan& p_;
  const int64_t nM_, D_;
  const int32_t C_;
  bool zeroCopy_ = false;
  int64_t first_ = 0;  // zero-copy: input row of Gram position 0
  int64_t n_ = 0;      // Gram size
  int64_t T_ = 0;
  std::vector<int64_t> posStart_, pos_;  // per class [posStart_[c], posStart_[c+1]) of pos_: sorted Gram positions
  std::vector<int32_t> cls_;             // Gram position -> class (-1: not in M)
  std::vector<int64_t> kOf_;             // Gram position -> class-sorted index into plan arrays
  std::vector<unsigned char> contiguous_;
  std::vector<float> invR_, sq_;         // in pos_ order
  std::vector<int64_t> slot_;            // in pos_ order: P slot or -1
  std::vector<Accumulators> accs_;
  std::vector<std::vector<float>> scratch_;
  GramReductions out_;
  PhaseTrace trace_;
};

}  // namespace

GramReductions reduceGramCpu(const Plan& plan) { return TiledGram(plan).run(); }

}  // namespace kqkd::core
