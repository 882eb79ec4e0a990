// Our SGEMM-style Gram kernel (no cuBLAS): G = X_I * X_J^T for 128x128 tiles of row panels I and J.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace kqkd::cuda {

// A: tilesRows*128 rows, B: tilesCols*128 rows, both with row stride ld floats (ld % 8 == 0, 16-byte aligned
// base) and k columns (k % 8 == 0, zero padded). Writes G[i * ldg + j] for every computed tile. upperOnly
// (requires A == B panels, tilesRows == tilesCols) computes only tile pairs bi <= bj: the lower tiles are not
// written. No bounds checks inside: callers pad rows and k with zeros.
cudaError_t launchGram(const float* A, const float* B, int64_t ld, int64_t k, float* G, int64_t ldg, int tilesRows,
                       int tilesCols, bool upperOnly, cudaStream_t stream);

// Attributes of the Gram kernel: fails with cudaErrorNoKernelImageForDevice when this binary has no code for
// the current device (used by cudaDeviceUsable).
cudaError_t gramKernelAttributes(cudaFuncAttributes* attr);

}  // namespace kqkd::cuda
