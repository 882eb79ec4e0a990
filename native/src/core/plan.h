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
// classGram (the backend's partial class blocks) is consumed when plan.pcaFromMain: the missing entries are
// computed here, or the whole block when too few came from M or the features' offset needs centring first.
// Sets out.classGramFromMain (true when every class block came entirely from the main Gram).
void classSpectra(const GeometryInput& in, const Plan& plan, std::vector<std::vector<double>>& classGram,
                  GeometryResult& out);

}  // namespace kqkd::core
