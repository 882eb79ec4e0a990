// Weight gradient of a 2-D ungrouped convolution on the host, for kqkd's native training backend: the ONNX Runtime
// session returns the convolution's input X and output gradient dY, and this computes
//   dW[m, c, kh, kw] = Σ_n Σ_{oh,ow} dY[n, m, oh, ow] · X[n, c, oh·sh + kh·dh − ph, ow·sw + kw·dw − pw]
// with OpenBLAS SGEMMs: standard ONNX has no weight-gradient op, and writing it as k·k MatMuls over shifted copies
// of X was ~30 % of a ResNet training step in ONNX Runtime.
#pragma once

#include <cstdint>

namespace kqkd {
namespace optim {

struct ConvWeightGradShape {
  int64_t batch = 0, inChannels = 0, inHeight = 0, inWidth = 0;  // X [N, C, H, W]
  int64_t outChannels = 0, outHeight = 0, outWidth = 0;           // dY [N, M, Ho, Wo]
  int64_t kernelHeight = 0, kernelWidth = 0;                       // dW [M, C, kh, kw]
  int64_t strideHeight = 1, strideWidth = 1;
  int64_t padTop = 0, padLeft = 0;  // the bottom/right pads are implied by the output size
  int64_t dilationHeight = 1, dilationWidth = 1;
};

// Throws std::invalid_argument naming the field when a size is not a positive integer below 2^31 (pads: not
// negative) or dW would not fit BLAS's int sizes. Any output size is memory-safe: reads outside X are the padding.
void validateConvWeightGradShape(const ConvWeightGradShape& s);

// How dW is computed. Windows (stride 1 only): per sample, X padded channels-last so that every kernel offset's
// window is one contiguous matrix, k·k GEMMs on L2-resident blocks, samples spread over threads — ~160 GFLOP/s on
// 2 AVX-512 cores for ResNet layers, twice im2col's. Im2col: explicit columns per block of samples + one SGEMM per
// block (any stride). Auto: Windows at stride 1, else Im2col.
enum class ConvWeightGradPath { Auto, Im2col, Windows };

// dW (M·C·kh·kw floats, overwritten) from X and dY (NCHW, float32). `threads`: OpenMP / OpenBLAS threads (0 = the
// runtime's default). `blockFloats` caps Im2col's column buffer (0 = 16 Mi floats, 64 MB); results do not depend on
// the path, threads or block beyond float32 summation order. Windows with a stride ≠ 1: std::invalid_argument.
void convWeightGrad(const ConvWeightGradShape& s, const float* x, const float* dy, float* dw, int threads,
                    ConvWeightGradPath path = ConvWeightGradPath::Auto, int64_t blockFloats = 0);

}  // namespace optim
}  // namespace kqkd
