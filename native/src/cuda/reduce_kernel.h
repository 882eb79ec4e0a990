// The reduction kernel of the CUDA backend (the flow is described in gram_reduce.cu): one block per (row segment,
// column segment) pair of a P x P Gram tile reduces its entries into the class-pair accumulators.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace kqkd::cuda {

constexpr uint64_t kPosInfBits = 0x7ff0000000000000ull;  // bits of +inf: the identity of the |cos| minima

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

// Launches the reduction blocks of the panel pair in args: tCount column segments times sCount row segments, at
// most 65535 row segments per launch, in order. Throws (KQKD_CUDA_CHECK) on a launch error.
void launchReduce(const ReduceArgs& args, int sCount, int tCount, cudaStream_t stream);

}  // namespace kqkd::cuda
