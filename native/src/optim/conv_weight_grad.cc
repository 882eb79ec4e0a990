#include "optim/conv_weight_grad.h"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/blas.h"

#ifdef KQKD_WITH_OPENMP
#include <omp.h>
#endif

namespace kqkd {
namespace optim {

namespace {
void require(bool ok, const std::string& field, const std::string& rule) {
  if (!ok) throw std::invalid_argument("Expected " + rule + " for " + field);
}
}  // namespace

void validateConvWeightGradShape(const ConvWeightGradShape& s) {
  const std::pair<const char*, int64_t> positive[] = {
      {"batch", s.batch}, {"inChannels", s.inChannels}, {"inHeight", s.inHeight}, {"inWidth", s.inWidth},
      {"outChannels", s.outChannels}, {"outHeight", s.outHeight}, {"outWidth", s.outWidth},
      {"kernelHeight", s.kernelHeight}, {"kernelWidth", s.kernelWidth}, {"strideHeight", s.strideHeight},
      {"strideWidth", s.strideWidth}, {"dilationHeight", s.dilationHeight}, {"dilationWidth", s.dilationWidth}};
  for (const auto& [name, v] : positive) require(v > 0 && v < (int64_t{1} << 31), std::string("shape.") + name, "an integer in [1, 2^31)");
  require(s.padTop >= 0 && s.padTop < (int64_t{1} << 31), "shape.padTop", "an integer in [0, 2^31)");
  require(s.padLeft >= 0 && s.padLeft < (int64_t{1} << 31), "shape.padLeft", "an integer in [0, 2^31)");
  // Any output size is safe: im2col bounds-checks every read and reads outside X as the zero padding.
  const int64_t ck = s.inChannels * s.kernelHeight * s.kernelWidth;
  require(ck <= std::numeric_limits<int>::max() && s.outChannels * ck <= std::numeric_limits<int>::max(), "shape",
          "dW with fewer than 2^31 elements");
  require(s.outHeight * s.outWidth <= std::numeric_limits<int>::max() / 2, "shape", "outHeight · outWidth below 2^30");
}

namespace {
// Stride 1: no im2col. With sample n's X padded and laid out channels-last over rows of the padded width Wp (plus a
// spare row), the window of kernel offset (i, j) over the output grid, taken at the padded width, is ONE contiguous
// [Ho·Wp, C] matrix starting at row i·dh·Wp + j·dw; dY zero-padded from Wo to Wp columns makes the extra columns
// contribute nothing. So dW_κ[M, C] += dYp_n[M, Ho·Wp] · window_κ: k·k plain GEMMs per sample on L2-resident
// blocks, samples spread over threads (each accumulating its own dW), no k·k-fold copy of X.
void convWeightGradWindows(const ConvWeightGradShape& s, const float* x, const float* dy, float* dw, int threads) {
  const int64_t N = s.batch, C = s.inChannels, H = s.inHeight, W = s.inWidth, M = s.outChannels;
  const int64_t Ho = s.outHeight, Wo = s.outWidth, kh = s.kernelHeight, kw = s.kernelWidth, K = kh * kw;
  const int64_t Wp = std::max(W + s.padLeft, (Wo - 1) + (kw - 1) * s.dilationWidth + 1);
  const int64_t Hp = std::max(H + s.padTop, (Ho - 1) + (kh - 1) * s.dilationHeight + 1) + 1;
  const int64_t L = Ho * Wp;
#ifdef KQKD_WITH_OPENMP
  const int nt = threads > 0 ? threads : omp_get_max_threads();
#else
  const int nt = 1;
#endif
  std::vector<float> partial(static_cast<size_t>(nt) * K * M * C, 0.0f);
  core::BlasThreadsScope serialBlas(1);  // one GEMM per thread at a time
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel num_threads(nt)
#endif
  {
#ifdef KQKD_WITH_OPENMP
    const int t = omp_get_thread_num();
    const int team = omp_get_num_threads();
#else
    const int t = 0, team = 1;
#endif
    std::vector<float> xp(static_cast<size_t>(Hp * Wp * C));
    std::vector<float> dyp(static_cast<size_t>(M * L));
    float* acc = partial.data() + static_cast<size_t>(t) * K * M * C;
    for (int64_t n = t; n < N; n += team) {
      // X_n → channels-last, padded: xp[(r, q), c] = X[n, c, r − padTop, q − padLeft] (0 outside)
      std::fill(xp.begin(), xp.end(), 0.0f);
      for (int64_t c = 0; c < C; ++c) {
        const float* plane = x + (n * C + c) * H * W;
        for (int64_t r = 0; r < H; ++r)
          for (int64_t q = 0; q < W; ++q) xp[((r + s.padTop) * Wp + (q + s.padLeft)) * C + c] = plane[r * W + q];
      }
      // dY_n → [M, Ho·Wp], columns Wo … Wp − 1 of each row zero
      for (int64_t m = 0; m < M; ++m) {
        const float* src = dy + (n * M + m) * Ho * Wo;
        float* out = dyp.data() + m * L;
        for (int64_t r = 0; r < Ho; ++r) {
          std::copy(src + r * Wo, src + (r + 1) * Wo, out + r * Wp);
          std::fill(out + r * Wp + Wo, out + (r + 1) * Wp, 0.0f);
        }
      }
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          const float* window = xp.data() + (i * s.dilationHeight * Wp + j * s.dilationWidth) * C;
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(C), static_cast<int>(L),
                      1.0f, dyp.data(), static_cast<int>(L), window, static_cast<int>(C), 1.0f,
                      acc + (i * kw + j) * M * C, static_cast<int>(C));
        }
    }
  }
  // dW[m, c, κ] = Σ_threads partial[t][κ][m][c]
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < K; ++k) {
        float v = 0.0f;
        for (int t = 0; t < nt; ++t) v += partial[((static_cast<size_t>(t) * K + k) * M + m) * C + c];
        dw[(m * C + c) * K + k] = v;
      }
}
}  // namespace

void convWeightGrad(const ConvWeightGradShape& s, const float* x, const float* dy, float* dw, int threads,
                    ConvWeightGradPath path, int64_t blockFloats) {
  validateConvWeightGradShape(s);
  const bool stride1 = s.strideHeight == 1 && s.strideWidth == 1;
  require(path != ConvWeightGradPath::Windows || stride1, "path", "Im2col or Auto for a strided convolution (Windows needs stride 1)");
  if (path == ConvWeightGradPath::Windows || (path == ConvWeightGradPath::Auto && stride1)) return convWeightGradWindows(s, x, dy, dw, threads);
  const int64_t C = s.inChannels, H = s.inHeight, W = s.inWidth, M = s.outChannels;
  const int64_t Ho = s.outHeight, Wo = s.outWidth, kh = s.kernelHeight, kw = s.kernelWidth;
  const int64_t P = Ho * Wo, K = kh * kw, CK = C * K;
  if (blockFloats <= 0) blockFloats = int64_t{16} << 20;
  // Samples per block: the im2col columns (CK × b·P) within blockFloats, at least one sample.
  const int64_t perSample = CK * P;
  const int64_t b = std::max<int64_t>(1, std::min<int64_t>(s.batch, blockFloats / std::max<int64_t>(perSample, 1)));
  require(b * P <= std::numeric_limits<int>::max(), "shape", "one sample's columns below 2^31");
  std::vector<float> col(static_cast<size_t>(CK * b * P));
  std::vector<float> dyBlock(static_cast<size_t>(M * b * P));
  std::vector<float> dwT(static_cast<size_t>(CK * M));
  core::BlasThreadsScope blasThreads(threads > 0 ? threads : openblas_get_num_threads());
#ifdef KQKD_WITH_OPENMP
  const int ompThreads = threads > 0 ? threads : omp_get_max_threads();
#endif

  for (int64_t n0 = 0; n0 < s.batch; n0 += b) {
    const int64_t nb = std::min(b, s.batch - n0);
    const int64_t ld = nb * P;  // columns of this block
    // im2col: col[(c, i, j), (n, oh, ow)] = X[n0 + n, c, oh·sh + i·dh − ph, ow·sw + j·dw − pw] (0 outside X)
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel for schedule(static) num_threads(ompThreads)
#endif
    for (int64_t row = 0; row < CK; ++row) {
      const int64_t c = row / K, i = (row % K) / kw, j = row % kw;
      float* out = col.data() + row * ld;
      for (int64_t n = 0; n < nb; ++n) {
        const float* plane = x + ((n0 + n) * C + c) * H * W;
        for (int64_t oh = 0; oh < Ho; ++oh) {
          const int64_t ih = oh * s.strideHeight + i * s.dilationHeight - s.padTop;
          float* o = out + n * P + oh * Wo;
          if (ih < 0 || ih >= H) {
            std::fill(o, o + Wo, 0.0f);
            continue;
          }
          const float* src = plane + ih * W;
          const int64_t shift = j * s.dilationWidth - s.padLeft;
          if (s.strideWidth == 1) {
            // contiguous: columns ow with 0 ≤ ow + shift < W
            const int64_t lo = std::clamp<int64_t>(-shift, 0, Wo), hi = std::clamp<int64_t>(W - shift, lo, Wo);
            std::fill(o, o + lo, 0.0f);
            std::copy(src + lo + shift, src + hi + shift, o + lo);
            std::fill(o + hi, o + Wo, 0.0f);
          } else {
            for (int64_t ow = 0; ow < Wo; ++ow) {
              const int64_t iw = ow * s.strideWidth + shift;
              o[ow] = (iw >= 0 && iw < W) ? src[iw] : 0.0f;
            }
          }
        }
      }
    }
    // dY block as [M, (n, p)]: sample n's [M, P] plane goes to columns n·P … (n + 1)·P − 1
#ifdef KQKD_WITH_OPENMP
#pragma omp parallel for schedule(static) num_threads(ompThreads)
#endif
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < nb; ++n) {
        const float* src = dy + ((n0 + n) * M + m) * P;
        std::copy(src, src + P, dyBlock.data() + m * ld + n * P);
      }
    }
    // dWᵀ[CK, M] (+)= col[CK, ld] · dYblockᵀ: OpenBLAS runs this orientation (many rows, few columns) ~2× faster
    // than dYblock · colᵀ when M is small (64 channels against CK = 576).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(CK), static_cast<int>(M), static_cast<int>(ld),
                1.0f, col.data(), static_cast<int>(ld), dyBlock.data(), static_cast<int>(ld), n0 == 0 ? 0.0f : 1.0f,
                dwT.data(), static_cast<int>(M));
  }
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < CK; ++k) dw[m * CK + k] = dwT[k * M + m];
}

}  // namespace optim
}  // namespace kqkd
