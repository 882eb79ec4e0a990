// Driver-internal steps shared by computeGeometry and the tests: plan building and class spectra.
#pragma once

#include "core/backend.h"

namespace kqkd::core {

// Largest |M|, D, m_c the BLAS/LAPACK 32-bit integer interface accepts.
constexpr int64_t kMaxBlasDim = 2147483647;

// Resolved thread count: opt.threads, or all hardware threads when 0.
int resolveThreads(int requested);

// Builds the class-sorted plan of a VALIDATED input (call validate() first).
Plan buildPlan(const GeometryInput& in, const GeometryOptions& opt);

// Per class: squared singular values of the centred P_c (KQ-SPEC.md section 3), with zeroColumns filled.
// classGram is consumed (moved from) when plan.pcaFromMain; otherwise the Gram of P_c is computed here.
void classSpectra(const GeometryInput& in, const Plan& plan, std::vector<std::vector<double>>& classGram,
                  GeometryResult& out);

}  // namespace kqkd::core
