// kqkd native core: the Gram geometry of one layer's features, as KQ-SPEC.md needs it.
// Plain C++17, no Node types: the N-API binding (src/binding) and the C++ tests/benches use this header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kqkd {

enum class Backend { Cpu, Cuda };

// Inputs. All pointers are borrowed for the duration of the call; nothing is retained.
struct GeometryInput {
  const float* features = nullptr;  // row-major [rows x dim], finite values
  int64_t rows = 0;                 // N: rows in `features`
  int64_t dim = 0;                  // D
  const int32_t* labels = nullptr;  // [rows], each in [0, numClasses)
  int32_t numClasses = 0;           // C >= 2
  const int64_t* mainIndices = nullptr;   // subset M (row indices into features), distinct
  int64_t mainCount = 0;
  const int64_t* classIndices = nullptr;  // subset P (row indices into features), distinct
  int64_t classCount = 0;
};

struct GeometryOptions {
  Backend backend = Backend::Cpu;
  int threads = 0;            // 0 = all hardware threads
  int64_t tileRows = 0;       // 0 = automatic (keeps the Gram tile within a memory budget)
};

// Outputs. Per-class vectors have length C; pair matrices are C x C row-major, entry [c * C + c'].
struct GeometryResult {
  int32_t numClasses = 0;
  // ---- on M (main subset) ----
  std::vector<int64_t> mainClassCount;  // n_c
  std::vector<double> normMin, normAvg, normMax;  // raw L2 norms over M_c
  // |cos| = |<x_a,x_b>| / (|x_a| |x_b|) over the FULL block M_c x M_c' (diagonal included when c == c')
  std::vector<double> dpsMin, dpsAvg, dpsMax;      // C x C
  std::vector<double> avgIntraDist;   // mean Euclidean distance over distinct pairs a != b in M_c (NaN if n_c < 2)
  std::vector<double> minInterDist;   // min over a in M_c, b in M \ M_c of ||x_a - x_b||, recomputed exactly
  std::vector<int64_t> minInterPair;  // C x 2: row indices (into features) of the winning pair (a in M_c, b)
  int64_t pcagid = 0;                 // min(|M|, D)
  // ---- on P (class PCA subset) ----
  std::vector<int64_t> pcaClassCount;   // m_c
  std::vector<int64_t> zeroColumns;     // z_c: features constant within P_c
  // Squared singular values of the centred class matrix Z_c, descending, length L_c = min(m_c, D).
  // Noise-level values are |lambda| (never clamped); exact zeros only by KQ-SPEC.md section 3 rule (b).
  std::vector<std::vector<double>> spectrum;
  // true when every P_c was inside M_c and every class block was taken from the main Gram (uncentred products,
  // double-centred); false when some entries or blocks were computed separately (P rows outside M, or features
  // with a large common offset, which are centred before their class Gram is formed).
  bool classGramFromMain = false;
};

// Thrown for invalid input (never a crash). `argument` names the offending input.
struct GeometryError {
  std::string argument;
  std::string message;
};

// Validates `in` completely; returns an empty optional-like error (argument == "") when valid.
GeometryError validate(const GeometryInput& in);

// Computes everything. Throws kqkd::GeometryError for invalid input or an unavailable backend.
GeometryResult computeGeometry(const GeometryInput& in, const GeometryOptions& opt);

// True when this build contains the CUDA backend AND a CUDA device is usable now. `reason` explains a false.
bool cudaAvailable(std::string* reason);

}  // namespace kqkd
