// See adamw.h. Compiled with -ffp-contract=off -fno-math-errno (CMakeLists.txt): do not add -ffast-math.
#include "optim/adamw.h"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#ifdef KQKD_WITH_OPENMP
#include <omp.h>
#endif

namespace kqkd {
namespace optim {

namespace {

constexpr std::size_t kParallelMin = std::size_t(1) << 15;  // below this, thread start-up costs more than it saves
constexpr int kAutoThreadsMax = 4;

inline float f32(double x) { return static_cast<float>(x); }

// adamMode 1, one contiguous range. Each expression is one float32 operation of the TS emulation.
void rangeMode1(const AdamWScalars& s, float* __restrict param, const float* __restrict grad,
                float* __restrict m, float* __restrict v, std::size_t lo, std::size_t hi) {
  const float alpha = s.alpha, beta = s.beta, oma = s.oneMinusAlpha, omb = s.oneMinusBeta, eps = s.epsilon;
  const float lrc = s.lrCorrected, lrwd = s.lrWeightDecay;
#pragma omp simd
  for (std::size_t i = lo; i < hi; ++i) {
    const float g = grad[i];
    const float am = alpha * m[i];
    const float og = oma * g;
    const float mi = am + og;
    const float bv = beta * v[i];
    const float ogg = (omb * g) * g;
    const float vi = bv + ogg;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) + eps;
    const float step = (lrc * mi) / denom;
    float w = param[i] - step;
    const float decay = lrwd * w;
    w = w - decay;
    param[i] = w;
  }
}

// adamMode 0 (not used by kqkd's configs; kept complete like the TS emulation).
void rangeMode0(const AdamWScalars& s, float* __restrict param, const float* __restrict grad,
                float* __restrict m, float* __restrict v, std::size_t lo, std::size_t hi) {
  const float alpha = s.alpha, beta = s.beta, oma = s.oneMinusAlpha, omb = s.oneMinusBeta, eps = s.epsilon;
  const float lr = s.lr, wd = s.weightDecay, ac = s.alphaCorrection, bc = s.betaCorrection;
#pragma omp simd
  for (std::size_t i = lo; i < hi; ++i) {
    float w = param[i];
    const float g = grad[i];
    const float wl = w * lr;
    const float wlwd = wl * wd;
    w = w - wlwd;
    const float am = alpha * m[i];
    const float og = oma * g;
    const float mi = am + og;
    const float bv = beta * v[i];
    const float ogg = (omb * g) * g;
    const float vi = bv + ogg;
    m[i] = mi;
    v[i] = vi;
    const float q = vi / bc;
    const float denom = std::sqrt(q) + eps;
    const float num = lr * mi;
    const float den = ac * denom;
    param[i] = w - num / den;
  }
}

bool overlaps(const void* a, const void* b, std::size_t bytes) {
  const auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
  return x < y + bytes && y < x + bytes;
}

}  // namespace

AdamWScalars adamwScalars(float alpha, float beta, float epsilon, float weightDecay, int correctBias, int adamMode,
                          double step, float lr) {
  AdamWScalars s;
  s.adamMode = adamMode;
  s.alpha = alpha;
  s.beta = beta;
  s.oneMinusAlpha = 1.0f - alpha;
  s.oneMinusBeta = 1.0f - beta;
  s.epsilon = epsilon;
  s.lr = lr;
  s.weightDecay = weightDecay;
  s.lrCorrected = lr;
  s.alphaCorrection = 1.0f;
  s.betaCorrection = 1.0f;
  if (correctBias == 1) {
    const float ac = 1.0f - f32(std::pow(static_cast<double>(alpha), step));
    const float bc = 1.0f - f32(std::pow(static_cast<double>(beta), step));
    s.alphaCorrection = ac;
    s.betaCorrection = bc;
    s.lrCorrected = lr * (std::sqrt(bc) / ac);
  }
  s.lrWeightDecay = lr * weightDecay;
  return s;
}

void validateAdamWScalars(const AdamWScalars& s) {
  if (s.adamMode != 0 && s.adamMode != 1) throw std::invalid_argument("adamMode must be 0 or 1");
  const float values[] = {s.alpha, s.beta, s.oneMinusAlpha, s.oneMinusBeta, s.epsilon, s.lrCorrected,
                          s.lrWeightDecay, s.lr, s.weightDecay, s.alphaCorrection, s.betaCorrection};
  const char* names[] = {"alpha", "beta", "oneMinusAlpha", "oneMinusBeta", "epsilon", "lrCorrected",
                         "lrWeightDecay", "lr", "weightDecay", "alphaCorrection", "betaCorrection"};
  for (std::size_t k = 0; k < sizeof(values) / sizeof(values[0]); ++k) {
    if (!std::isfinite(values[k])) throw std::invalid_argument(std::string(names[k]) + " must be finite");
  }
}

int resolveOptimThreads(int threads) {
  if (threads < 0) throw std::invalid_argument("threads must be >= 0");
#ifdef KQKD_WITH_OPENMP
  if (threads == 0) {
    const int avail = omp_get_max_threads();
    return avail < kAutoThreadsMax ? (avail < 1 ? 1 : avail) : kAutoThreadsMax;
  }
  return threads;
#else
  return 1;
#endif
}

void adamwUpdate(const AdamWScalars& s, float* param, const float* grad, float* m, float* v, std::size_t n,
                 int threads) {
  validateAdamWScalars(s);
  const int nt = resolveOptimThreads(threads);
  if (n == 0) return;
  if (!param || !grad || !m || !v) throw std::invalid_argument("null buffer");
  if (n > SIZE_MAX / sizeof(float)) throw std::invalid_argument("length overflows");
  const std::size_t bytes = n * sizeof(float);
  if (overlaps(param, grad, bytes) || overlaps(param, m, bytes) || overlaps(param, v, bytes) ||
      overlaps(grad, m, bytes) || overlaps(grad, v, bytes) || overlaps(m, v, bytes)) {
    throw std::invalid_argument("param, grad, m and v must not overlap");
  }
  auto range = s.adamMode == 1 ? rangeMode1 : rangeMode0;
  if (nt <= 1 || n < kParallelMin) {
    range(s, param, grad, m, v, 0, n);
    return;
  }
#ifdef KQKD_WITH_OPENMP
  // Contiguous chunks, 64-byte aligned boundaries (16 floats) so no two threads share a cache line.
  const std::size_t chunks = static_cast<std::size_t>(nt);
  const std::size_t per = ((n + chunks - 1) / chunks + 15) & ~std::size_t(15);
#pragma omp parallel for num_threads(nt) schedule(static, 1)
  for (std::int64_t c = 0; c < static_cast<std::int64_t>(chunks); ++c) {
    const std::size_t lo = static_cast<std::size_t>(c) * per;
    const std::size_t hi = lo + per < n ? lo + per : n;
    if (lo < hi) range(s, param, grad, m, v, lo, hi);
  }
#else
  range(s, param, grad, m, v, 0, n);
#endif
}

}  // namespace optim
}  // namespace kqkd
