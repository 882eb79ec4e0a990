// Host optimizer step of kqkd's native training backend: ORT's AdamWOptimizer kernel (AdamW, and SGD-momentum
// expressed through it) in float32, operation for operation as the TypeScript emulation `adamwUpdate`
// (packages/distill/src/host-optimizer.ts), which is bit-identical to ORT's kernel. adamw.cc is compiled with
// -ffp-contract=off (no FMA contraction: every product and sum is rounded to float32 on its own) and
// -fno-math-errno (sqrtf vectorises to the correctly rounded sqrtps); no -ffast-math.
#pragma once

#include <cstddef>

namespace kqkd {
namespace optim {

// The float32 constants the kernel hoists out of the element loop for one update. The TS side computes them
// (`adamwScalars` in host-optimizer.ts) and hands them over, so both paths share one set of constants;
// `adamwScalars` below computes the same values in C++ (Math.pow ≡ std::pow in double, then rounded).
struct AdamWScalars {
  int adamMode = 1;      // 1: decoupled weight decay (AdamW, kqkd's configs); 0: L2 folded into the weight first
  float alpha = 0.9f;    // beta1 (SGD: momentum)
  float beta = 0.999f;   // beta2 (SGD: 1)
  float oneMinusAlpha = 0.1f;
  float oneMinusBeta = 0.001f;
  float epsilon = 1e-8f;
  // adamMode 1
  float lrCorrected = 0;    // lr · sqrt(1 − beta^t) / (1 − alpha^t), or lr without bias correction
  float lrWeightDecay = 0;  // lr · weightDecay
  // adamMode 0
  float lr = 0;
  float weightDecay = 0;
  float alphaCorrection = 1;  // 1 − alpha^t (1 without bias correction)
  float betaCorrection = 1;   // 1 − beta^t
};

// The constants for update `step` (= updates taken + 1) at float32 rate `lr`, exactly as the TS emulation.
AdamWScalars adamwScalars(float alpha, float beta, float epsilon, float weightDecay, int correctBias, int adamMode,
                          double step, float lr);

// Throws std::invalid_argument when a scalar is not finite or adamMode is not 0/1.
void validateAdamWScalars(const AdamWScalars& s);

// The thread count `threads` resolves to (0 = automatic: up to 4 OpenMP threads, the update is memory bound).
int resolveOptimThreads(int threads);

// One update of n values in place: param, m (first moment), v (second moment) from grad. The four ranges must
// not overlap (checked: std::invalid_argument), nor may a pointer be null when n > 0. threads: 0 = automatic,
// 1 = serial; a tensor below 32 Ki values always runs serially. Results do not depend on the thread count.
void adamwUpdate(const AdamWScalars& s, float* param, const float* grad, float* m, float* v, std::size_t n,
                 int threads = 0);

}  // namespace optim
}  // namespace kqkd
