// C++ tests of the native core. One executable; ctest runs one case per entry (`kqkd_tests <case>`).
// Exit codes: 0 pass, 1 fail, 77 skip (golden vectors missing).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "kqkd/geometry.h"
#include "npy.h"

namespace {

using kqkd::GeometryError;
using kqkd::GeometryInput;
using kqkd::GeometryOptions;
using kqkd::GeometryResult;

struct Skip {
  std::string why;
};

#define CHECK(cond, what)                                                                              \
  do {                                                                                                 \
    if (!(cond)) {                                                                                     \
      std::ostringstream _s;                                                                           \
      _s << __FILE__ << ":" << __LINE__ << ": " << what;                                               \
      throw std::runtime_error(_s.str());                                                              \
    }                                                                                                  \
  } while (0)

bool close(double got, double want, double rel, double abs = 1e-6) {
  return std::fabs(got - want) <= std::max(abs, rel * std::fabs(want));
}

void checkClose(const char* field, int index, double got, double want, double rel, double abs = 1e-6) {
  CHECK(close(got, want, rel, abs), field << "[" << index << "]: got " << got << ", want " << want);
}

// ---- a test problem: owned buffers + the GeometryInput view over them ----
struct Problem {
  int64_t rows = 0, dim = 0;
  int32_t C = 0;
  std::vector<float> X;
  std::vector<int32_t> y;
  std::vector<int64_t> M, P;
  GeometryInput input() const {
    GeometryInput in;
    in.features = X.data();
    in.rows = rows;
    in.dim = dim;
    in.labels = y.data();
    in.numClasses = C;
    in.mainIndices = M.data();
    in.mainCount = int64_t(M.size());
    in.classIndices = P.data();
    in.classCount = int64_t(P.size());
    return in;
  }
};

GeometryResult compute(const Problem& p, int64_t tileRows = 0, int threads = 0) {
  GeometryOptions opt;
  opt.tileRows = tileRows;
  opt.threads = threads;
  return kqkd::computeGeometry(p.input(), opt);
}

// Random features: class means + noise, so blocks differ. Labels cycle through the classes (balanced).
Problem randomProblem(uint64_t seed, int64_t rows, int64_t dim, int32_t C) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  Problem p;
  p.rows = rows;
  p.dim = dim;
  p.C = C;
  p.y.resize(rows);
  p.X.resize(size_t(rows * dim));
  std::vector<float> means(size_t(C * dim));
  for (float& v : means) v = normal(rng);
  for (int64_t r = 0; r < rows; ++r) {
    p.y[r] = int32_t(r % C);
    for (int64_t j = 0; j < dim; ++j) p.X[r * dim + j] = means[p.y[r] * dim + j] + 0.7f * normal(rng);
  }
  return p;
}

// Per class: a random subset of `take(c, available)` rows of that class, shuffled across classes.
std::vector<int64_t> stratified(const Problem& p, uint64_t seed, const std::function<int64_t(int32_t, int64_t)>& take) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int64_t>> byClass(p.C);
  for (int64_t r = 0; r < p.rows; ++r) byClass[p.y[r]].push_back(r);
  std::vector<int64_t> out;
  for (int32_t c = 0; c < p.C; ++c) {
    std::shuffle(byClass[c].begin(), byClass[c].end(), rng);
    const int64_t n = std::min<int64_t>(take(c, int64_t(byClass[c].size())), int64_t(byClass[c].size()));
    out.insert(out.end(), byClass[c].begin(), byClass[c].begin() + n);
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

// ---- float64 brute force ----

// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (small m only).
std::vector<double> jacobiEigenvalues(std::vector<double> A, int64_t m) {
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, total = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < m; ++j) (i == j ? total : off) += A[i * m + j] * A[i * m + j];
    if (off <= 1e-30 * (total + off) || off == 0) break;
    for (int64_t p = 0; p < m; ++p)
      for (int64_t q = p + 1; q < m; ++q) {
        const double apq = A[p * m + q];
        if (apq == 0) continue;
        const double theta = (A[q * m + q] - A[p * m + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < m; ++k) {  // A <- A J (columns p, q)
          const double akp = A[k * m + p], akq = A[k * m + q];
          A[k * m + p] = c * akp - s * akq;
          A[k * m + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < m; ++k) {  // A <- J^T A (rows p, q)
          const double apk = A[p * m + k], aqk = A[q * m + k];
          A[p * m + k] = c * apk - s * aqk;
          A[q * m + k] = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> w(m);
  for (int64_t i = 0; i < m; ++i) w[i] = A[i * m + i];
  return w;
}

struct Reference {
  std::vector<double> dpsMin, dpsAvg, dpsMax, normMin, normAvg, normMax, avgIntraDist, minInterDist;
  std::vector<int64_t> zeroColumns;
  std::vector<int64_t> ruleBZeros;  // trailing exact zeros by KQ-SPEC section 3 rule (b)
  std::vector<std::vector<double>> spectrum;
};

Reference bruteForce(const Problem& p) {
  const int64_t D = p.dim;
  const int32_t C = p.C;
  auto x = [&](int64_t r, int64_t j) { return double(p.X[r * D + j]); };
  auto dot = [&](int64_t a, int64_t b) {
    double s = 0;
    for (int64_t j = 0; j < D; ++j) s += x(a, j) * x(b, j);
    return s;
  };
  Reference ref;
  const double inf = std::numeric_limits<double>::infinity();
  ref.dpsMin.assign(C * C, inf);
  ref.dpsMax.assign(C * C, -inf);
  ref.dpsAvg.assign(C * C, 0);
  ref.normMin.assign(C, inf);
  ref.normMax.assign(C, 0);
  ref.normAvg.assign(C, 0);
  ref.avgIntraDist.assign(C, 0);
  ref.minInterDist.assign(C, inf);
  std::vector<double> count(C * C, 0), n(C, 0);
  std::vector<double> norm(p.rows);
  for (int64_t a : p.M) norm[a] = std::sqrt(dot(a, a));
  for (int64_t a : p.M) {
    const int32_t ca = p.y[a];
    const double ra = norm[a];
    n[ca] += 1;
    ref.normMin[ca] = std::min(ref.normMin[ca], ra);
    ref.normMax[ca] = std::max(ref.normMax[ca], ra);
    ref.normAvg[ca] += ra;
    for (int64_t b : p.M) {
      const int32_t cb = p.y[b];
      const double v = std::fabs(dot(a, b)) / (ra * norm[b]);
      const int k = ca * C + cb;
      ref.dpsMin[k] = std::min(ref.dpsMin[k], v);
      ref.dpsMax[k] = std::max(ref.dpsMax[k], v);
      ref.dpsAvg[k] += v;
      count[k] += 1;
      double d2 = 0;
      for (int64_t j = 0; j < D; ++j) d2 += (x(a, j) - x(b, j)) * (x(a, j) - x(b, j));
      if (ca == cb && a != b) ref.avgIntraDist[ca] += std::sqrt(d2);
      if (ca != cb) ref.minInterDist[ca] = std::min(ref.minInterDist[ca], std::sqrt(d2));
    }
  }
  for (int k = 0; k < C * C; ++k) ref.dpsAvg[k] /= count[k];
  for (int c = 0; c < C; ++c) {
    ref.normAvg[c] /= n[c];
    ref.avgIntraDist[c] /= n[c] * (n[c] - 1);
  }
  // Spectra: Gram of the centred class rows in float64, Jacobi, |lambda| descending, rule (b) zeros.
  ref.spectrum.resize(C);
  ref.zeroColumns.assign(C, 0);
  for (int32_t c = 0; c < C; ++c) {
    std::vector<int64_t> rows;
    for (int64_t r : p.P)
      if (p.y[r] == c) rows.push_back(r);
    const int64_t m = int64_t(rows.size());
    std::vector<double> Z(m * D);
    for (int64_t j = 0; j < D; ++j) {
      double mean = 0;
      bool constant = true;
      for (int64_t k = 0; k < m; ++k) {
        mean += x(rows[k], j);
        constant &= x(rows[k], j) == x(rows[0], j);
      }
      mean /= double(m);
      ref.zeroColumns[c] += constant;
      for (int64_t k = 0; k < m; ++k) Z[k * D + j] = constant ? 0.0 : x(rows[k], j) - mean;
    }
    std::vector<double> G(m * m);
    for (int64_t a = 0; a < m; ++a)
      for (int64_t b = 0; b < m; ++b) {
        double s = 0;
        for (int64_t j = 0; j < D; ++j) s += Z[a * D + j] * Z[b * D + j];
        G[a * m + b] = s;
      }
    std::vector<double> w = jacobiEigenvalues(G, m);
    for (double& v : w) v = std::fabs(v);
    std::sort(w.begin(), w.end(), std::greater<double>());
    const int64_t L = std::min(m, D);
    w.resize(L);
    const int64_t zeros = std::max<int64_t>(0, L - std::min(m, D - ref.zeroColumns[c]));
    std::fill(w.end() - zeros, w.end(), 0.0);
    ref.spectrum[c] = w;
    ref.ruleBZeros.push_back(zeros);
  }
  return ref;
}

// approximateDistances: distances come from the Gram form r_a^2 + r_b^2 - 2g in float32 (backend.h), which
// cancels when the norms dwarf the distances: avgIntraDist is then only roughly right, and the minInterDist
// winner may be a near-tie rather than the true minimum (its distance is still exact for the pair chosen).
void compareToReference(const GeometryResult& got, const Reference& ref, double rel = 1e-4,
                        bool approximateDistances = false) {
  const int C = int(ref.normAvg.size());
  CHECK(got.numClasses == C, "numClasses");
  for (int k = 0; k < C * C; ++k) {
    checkClose("dpsMin", k, got.dpsMin[k], ref.dpsMin[k], rel);
    checkClose("dpsAvg", k, got.dpsAvg[k], ref.dpsAvg[k], rel);
    checkClose("dpsMax", k, got.dpsMax[k], ref.dpsMax[k], rel);
  }
  for (int c = 0; c < C; ++c) {
    checkClose("normMin", c, got.normMin[c], ref.normMin[c], 1e-12);
    checkClose("normAvg", c, got.normAvg[c], ref.normAvg[c], 1e-12);
    checkClose("normMax", c, got.normMax[c], ref.normMax[c], 1e-12);
    if (approximateDistances) {
      // The Gram form loses about |x|^2 * 2^-24 of each squared distance: with norms ~3 500 and distances ~5 here,
      // a few percent of d^2. avgIntraDist averages many such pairs; the minInterDist winner may be a near-tie, never
      // below the true minimum (its distance is recomputed exactly) and never far above it.
      CHECK(std::isfinite(got.avgIntraDist[c]), "avgIntraDist[" << c << "] finite");
      checkClose("avgIntraDist", c, got.avgIntraDist[c], ref.avgIntraDist[c], 2e-2);
      CHECK(std::isfinite(got.minInterDist[c]), "minInterDist[" << c << "] finite");
      CHECK(got.minInterDist[c] >= ref.minInterDist[c] * (1 - 1e-12), "minInterDist below the true minimum");
      // A near-tie winner: its squared distance exceeds the true minimum's by at most the Gram form's rounding,
      // about (r_a^2 + r_b^2 + 2|g|) * 2^-24 for each of the two pairs compared (8 * max|x|^2 * 2^-24 in all).
      double nmax = 0;
      for (double v : ref.normMax) nmax = std::max(nmax, v);
      const double slack = 8 * nmax * nmax * std::ldexp(1.0, -24);
      CHECK(got.minInterDist[c] * got.minInterDist[c] <= ref.minInterDist[c] * ref.minInterDist[c] + slack,
            "minInterDist[" << c << "] " << got.minInterDist[c] << " beyond a near-tie of the true minimum " << ref.minInterDist[c]);
    } else {
      checkClose("avgIntraDist", c, got.avgIntraDist[c], ref.avgIntraDist[c], rel);
      checkClose("minInterDist", c, got.minInterDist[c], ref.minInterDist[c], rel);
    }
    CHECK(got.zeroColumns[c] == ref.zeroColumns[c], "zeroColumns[" << c << "]");
    CHECK(got.spectrum[c].size() == ref.spectrum[c].size(), "spectrum[" << c << "] length " << got.spectrum[c].size()
                                                                       << " vs " << ref.spectrum[c].size());
    const double top = ref.spectrum[c].empty() ? 0 : ref.spectrum[c][0];
    // Only rule (b) zeros must be exact: the float64 Jacobi reference can also land on an exact 0 in a rank
    // deficiency direction (m_c = 2), which KQ-SPEC section 3 calls rounding noise (checked as noise below).
    const size_t firstZero = ref.spectrum[c].size() - size_t(ref.ruleBZeros[c]);
    for (size_t k = 0; k < ref.spectrum[c].size(); ++k) {
      const double g = got.spectrum[c][k], w = ref.spectrum[c][k];
      if (k >= firstZero) {
        // An exact 0 here is either rule (b) (then the engine must give exactly 0) or a rank-deficiency direction
        // that the Jacobi reference happened to resolve exactly; the engine reports the latter as a tiny positive
        // value (KQ-SPEC section 3: noise is never 0). Either way nothing above 1e-25 of the top value.
        CHECK(g == 0.0 || (g > 0.0 && g <= 1e-25 * top),
              "spectrum[" << c << "][" << k << "] must be 0 (rule (b)) or noise-level, got " << g);
      } else {
        // Noise-level values only need to be noise-level; large ones must agree relatively.
        CHECK(std::fabs(g - w) <= rel * std::fabs(w) + 1e-5 * top,
              "spectrum[" << c << "][" << k << "]: got " << g << ", want " << w << " (top " << top << ")");
      }
    }
  }
}

void compareResults(const GeometryResult& a, const GeometryResult& b, double rel) {
  const size_t C = size_t(a.numClasses);
  for (size_t k = 0; k < C * C; ++k) {
    checkClose("dpsMin", int(k), a.dpsMin[k], b.dpsMin[k], rel);
    checkClose("dpsAvg", int(k), a.dpsAvg[k], b.dpsAvg[k], rel);
    checkClose("dpsMax", int(k), a.dpsMax[k], b.dpsMax[k], rel);
  }
  for (size_t c = 0; c < C; ++c) {
    checkClose("avgIntraDist", int(c), a.avgIntraDist[c], b.avgIntraDist[c], rel);
    checkClose("minInterDist", int(c), a.minInterDist[c], b.minInterDist[c], rel);
    CHECK(a.spectrum[c].size() == b.spectrum[c].size(), "spectrum length");
    for (size_t k = 0; k < a.spectrum[c].size(); ++k)
      CHECK(std::fabs(a.spectrum[c][k] - b.spectrum[c][k]) <= rel * (std::fabs(b.spectrum[c][k]) + b.spectrum[c][0]),
            "spectrum[" << c << "][" << k << "]");
  }
}

// ---- golden vectors ----

std::string sharedDir() {
  const char* env = std::getenv("KQKD_SHARED");
  return env && *env ? env : KQKD_DEFAULT_SHARED;
}

// The values of "key": [a, b, ...] (or a scalar) in expected.json; enough JSON for these flat files.
std::vector<double> jsonNumbers(const std::string& json, const std::string& key) {
  const size_t k = json.find("\"" + key + "\"");
  if (k == std::string::npos) throw std::runtime_error("expected.json lacks " + key);
  size_t pos = json.find(':', k) + 1;
  while (json[pos] == ' ' || json[pos] == '\n') ++pos;
  const bool list = json[pos] == '[';
  const std::string body = list ? json.substr(pos + 1, json.find(']', pos) - pos - 1)
                                : json.substr(pos, json.find_first_of(",}\n", pos) - pos);
  std::vector<double> out;
  std::stringstream s(body);
  std::string tok;
  while (std::getline(s, tok, ',')) out.push_back(std::stod(tok));
  return out;
}

// KQ-SPEC.md sections 1-4 from a GeometryResult: an independent transcription of the spec, used to check the
// native quantities end to end against the golden S, I, E, Q.
struct Kq {
  double S, I, E, Q;
};

Kq kqFromResult(const GeometryResult& r, double datasetSize) {
  const int C = r.numClasses;
  double intra = 0, inter = 0, minIntra = 0, minDist = 0, norm = 0;
  for (int c = 0; c < C; ++c) {
    intra += r.dpsAvg[c * C + c] / C;
    minIntra += r.dpsMin[c * C + c] / C;
    minDist += r.minInterDist[c] / C;
    norm += r.normAvg[c] / C;
    for (int d = 0; d < C; ++d)
      if (d != c) inter += r.dpsAvg[c * C + d] / (C * (C - 1));
  }
  Kq kq{};
  kq.S = intra - inter;
  kq.E = std::pow(datasetSize / M_PI, 1.0 / double(r.pcagid)) * 2 * minDist / norm;
  int64_t W = 0;
  for (int64_t m : r.pcaClassCount) W = std::max(W, m);
  std::vector<std::vector<double>> rho(C, std::vector<double>(W, 0.0));  // zero padding beyond L_c
  int64_t edSum = 0;
  for (int c = 0; c < C; ++c) {
    const double total = std::accumulate(r.spectrum[c].begin(), r.spectrum[c].end(), 0.0);
    for (size_t k = 0; k < r.spectrum[c].size(); ++k) rho[c][k] = r.spectrum[c][k] / total;  // NaN if total = 0
    int64_t ed = 0;
    double prefix = 0;
    while (prefix < 0.95 && ed < W - 1) prefix += rho[c][ed++];
    edSum += ed;
  }
  const int64_t w = std::min(edSum, W);
  double H = 0;
  for (int c = 0; c < C; ++c) {
    double norm = 0, h = 0;
    bool degenerate = w == 0;
    for (int64_t k = 0; k < w; ++k) norm += rho[c][k];
    for (int64_t k = 0; k < w; ++k) {
      const double pk = rho[c][k] / norm;
      if (pk == 0 || std::isnan(pk)) degenerate = true;
      else h -= pk * std::log(pk);
    }
    H += (degenerate ? 0.0 : h) / C;
  }
  kq.I = (1 - minIntra) * H / std::log(5.0);
  kq.Q = kq.S + std::sqrt(kq.I * kq.E);
  return kq;
}

void golden(const std::string& name) {
  const std::string dir = sharedDir() + "/golden/kq/" + name;
  std::ifstream jf(dir + "/expected.json");
  if (!jf) throw Skip{"golden vectors not found at " + dir + " (set KQKD_SHARED to the shared folder)"};
  const std::string json((std::istreambuf_iterator<char>(jf)), std::istreambuf_iterator<char>());
  const auto X = kqkd::test::readNpy(dir + "/features.npy");
  const auto labels = kqkd::test::readNpy(dir + "/labels.npy").as<int64_t>();
  Problem p;
  p.rows = X.shape[0];
  p.dim = 1;
  for (size_t k = 1; k < X.shape.size(); ++k) p.dim *= X.shape[k];  // flatten C-order (no pooling needed here)
  p.X = X.as<float>();
  p.y.assign(labels.begin(), labels.end());
  p.C = int32_t(*std::max_element(labels.begin(), labels.end()) + 1);
  p.M = kqkd::test::readNpy(dir + "/idx_main.npy").as<int64_t>();
  p.P = kqkd::test::readNpy(dir + "/idx_class.npy").as<int64_t>();
  const GeometryResult r = compute(p);

  const double rel = 1e-4;
  const auto avgIntra = jsonNumbers(json, "AvgIntraClassDPS"), minIntra = jsonNumbers(json, "MinIntraClassDPS");
  const auto avgNorm = jsonNumbers(json, "AvgClassNorm"), minInter = jsonNumbers(json, "MinInterClassDist");
  CHECK(int(avgIntra.size()) == p.C, "class count");
  for (int c = 0; c < p.C; ++c) {
    checkClose("AvgIntraClassDPS", c, r.dpsAvg[c * p.C + c], avgIntra[c], rel);
    checkClose("MinIntraClassDPS", c, r.dpsMin[c * p.C + c], minIntra[c], rel);
    checkClose("AvgClassNorm", c, r.normAvg[c], avgNorm[c], rel);
    checkClose("MinInterClassDist", c, r.minInterDist[c], minInter[c], rel);
  }
  CHECK(r.pcagid == int64_t(jsonNumbers(json, "PCAGID")[0]), "PCAGID " << r.pcagid);
  // End to end: S, I, E, Q assembled from this result as the TypeScript layer does (KQ-SPEC.md sections 1-4).
  // The golden files hold no per-class spectra, so I is what checks them (and the rule (b) zeros).
  const Kq kq = kqFromResult(r, jsonNumbers(json, "dataset_size")[0]);
  checkClose("S", 0, kq.S, jsonNumbers(json, "S")[0], rel);
  checkClose("I", 0, kq.I, jsonNumbers(json, "I")[0], rel);
  checkClose("E", 0, kq.E, jsonNumbers(json, "E")[0], rel);
  checkClose("Q", 0, kq.Q, jsonNumbers(json, "Q")[0], rel);
  if (p.rows * p.rows * p.dim < int64_t(1) << 28) compareToReference(r, bruteForce(p));  // small ones only
}

// ---- cases ----

void bruteDense() {
  Problem p = randomProblem(1, 240, 20, 5);
  p.M = stratified(p, 2, [](int32_t, int64_t n) { return n * 3 / 5; });
  // P drawn independently (not inside M); class 0 gets more rows than D so L_c = D there.
  p.P = stratified(p, 3, [](int32_t c, int64_t n) { return c == 0 ? n : 12; });
  const GeometryResult r = compute(p);
  CHECK(!r.classGramFromMain, "P is not inside M, the class Grams must be computed separately");
  CHECK(r.spectrum[0].size() == 20, "L_0 = min(m_0, D) = D");
  compareToReference(r, bruteForce(p));
}

void bruteManyClasses() {
  Problem p = randomProblem(4, 400, 24, 100);
  p.M = stratified(p, 5, [](int32_t c, int64_t) { return 2 + c % 2; });
  p.P = stratified(p, 6, [](int32_t c, int64_t) { return 1 + c % 3; });
  compareToReference(compute(p), bruteForce(p));
}

void bruteSinglePSample() {
  Problem p = randomProblem(7, 60, 10, 3);
  p.M = stratified(p, 8, [](int32_t, int64_t n) { return n; });
  p.P = stratified(p, 9, [](int32_t c, int64_t) { return c == 1 ? 1 : 6; });
  const GeometryResult r = compute(p);
  CHECK(r.spectrum[1].size() == 1 && r.spectrum[1][0] == 0.0, "m_c = 1 gives one exact 0");
  CHECK(r.zeroColumns[1] == 10, "a single row makes every column constant");
  compareToReference(r, bruteForce(p));
}

void bruteConstantColumns() {
  Problem p = randomProblem(10, 90, 8, 3);
  // Constant features within some classes: class 0 columns {2, 5}, class 1 column {3}, class 2 columns {0, 1, 4}.
  const std::vector<std::vector<int>> constant = {{2, 5}, {3}, {0, 1, 4}};
  for (int64_t r = 0; r < p.rows; ++r)
    for (int j : constant[p.y[r]]) p.X[r * p.dim + j] = 0.25f * float(j + 1);
  p.M = stratified(p, 11, [](int32_t, int64_t n) { return n / 2; });
  // m_0 = 12 > D (L=8, 8-2=6 -> 2 zeros); m_1 = 4 < D (L=4, no zero); m_2 = 6 (L=6, min(6, 5) -> 1 zero).
  p.P = stratified(p, 12, [](int32_t c, int64_t) { return c == 0 ? 12 : c == 1 ? 4 : 6; });
  const GeometryResult r = compute(p);
  const std::vector<int> wantZeros = {2, 0, 1};
  for (int c = 0; c < 3; ++c) {
    CHECK(r.zeroColumns[c] == int64_t(constant[c].size()), "zeroColumns[" << c << "]");
    const auto& s = r.spectrum[c];
    const int zeros = int(std::count(s.begin(), s.end(), 0.0));
    CHECK(zeros == wantZeros[c], "class " << c << ": " << zeros << " exact zeros, want " << wantZeros[c]);
    for (size_t k = 0; k + wantZeros[c] < s.size(); ++k) CHECK(s[k] > 0, "only rule (b) makes zeros");
  }
  compareToReference(r, bruteForce(p));
}

void bruteP_subsetOfM() {
  Problem p = randomProblem(13, 200, 16, 4);
  p.M = stratified(p, 14, [](int32_t, int64_t n) { return n; });
  p.P = stratified(p, 15, [](int32_t c, int64_t) { return 10 + 5 * c; });  // m_3 = 25 > D
  const GeometryResult r = compute(p);
  CHECK(r.classGramFromMain, "every P_c is inside M_c");
  compareToReference(r, bruteForce(p));
}

void tiledMatchesUntiled() {
  Problem p = randomProblem(16, 300, 32, 6);
  p.M = stratified(p, 17, [](int32_t, int64_t n) { return n - 3; });
  p.P = stratified(p, 18, [](int32_t, int64_t) { return 20; });  // inside M mostly? not necessarily
  const GeometryResult whole = compute(p);
  for (int64_t tile : {2, 7, 13, 64}) compareResults(compute(p, tile), whole, 1e-5);
  // Also with P inside M, so the class Grams are copied out of many tiles.
  p.P = p.M;
  const GeometryResult wholeFromMain = compute(p);
  CHECK(wholeFromMain.classGramFromMain, "P = M");
  for (int64_t tile : {5, 64}) compareResults(compute(p, tile), wholeFromMain, 1e-5);
}

void threadsMatch() {
  Problem p = randomProblem(19, 500, 48, 10);
  p.M = stratified(p, 20, [](int32_t, int64_t n) { return n; });
  p.P = stratified(p, 21, [](int32_t, int64_t) { return 30; });
  compareResults(compute(p, 0, 1), compute(p, 0, 2), 1e-6);
  compareResults(compute(p, 50, 1), compute(p, 50, 3), 1e-6);
}

// A large common offset: the class Grams must still give the spread's spectrum (centring before the product).
void largeOffsetPrecision() {
  Problem p = randomProblem(22, 120, 12, 3);
  for (float& v : p.X) v += 1000.0f;
  p.M = stratified(p, 23, [](int32_t, int64_t n) { return n / 2; });
  p.P = stratified(p, 24, [](int32_t, int64_t) { return 10; });
  compareToReference(compute(p), bruteForce(p), 1e-4, /*approximateDistances=*/true);
}

void expectError(const Problem& p, const std::string& argument, const std::string& fragment,
                 GeometryOptions opt = {}) {
  try {
    kqkd::computeGeometry(p.input(), opt);
  } catch (const GeometryError& e) {
    CHECK(e.argument == argument, "argument '" << e.argument << "' (want '" << argument << "'): " << e.message);
    CHECK(e.message.find(fragment) != std::string::npos, "message lacks '" << fragment << "': " << e.message);
    CHECK(argument == "backend" || e.message.rfind("Expected ", 0) == 0, "message style: " << e.message);
    const GeometryError v = kqkd::validate(p.input());
    CHECK(argument.rfind("options.", 0) == 0 || argument == "backend" || v.argument == argument,
          "validate() agrees");
    return;
  }
  CHECK(false, "no error for " << argument << " / " << fragment);
}

void validationErrors() {
  Problem good = randomProblem(25, 40, 6, 2);
  good.M = stratified(good, 26, [](int32_t, int64_t n) { return n; });
  good.P = stratified(good, 27, [](int32_t, int64_t) { return 3; });
  CHECK(kqkd::validate(good.input()).argument.empty(), "the base problem is valid");

  Problem p = good;
  p.X = std::vector<float>();
  expectError(p, "features", "non-null");
  p = good;
  p.rows = 0;
  expectError(p, "features", "rows > 0");
  p = good;
  p.dim = 0;
  expectError(p, "features", "dim > 0");
  p = good;
  p.X[5 * p.dim + 3] = NAN;
  expectError(p, "features", "row 5, column 3");
  p = good;
  p.X[7 * p.dim + 0] = -INFINITY;
  expectError(p, "features", "row 7, column 0");
  p = good;
  p.C = 1;
  expectError(p, "numClasses", "at least 2 classes");
  p = good;
  p.y[4] = 2;
  expectError(p, "labels", "2 at row 4");
  p = good;
  p.y[4] = -1;
  expectError(p, "labels", "-1 at row 4");
  p = good;
  p.M[0] = 40;
  expectError(p, "mainIndices", "[0, 40)");
  p = good;
  p.M[3] = p.M[1];
  expectError(p, "mainIndices", "distinct");
  p = good;
  p.M.clear();
  expectError(p, "mainIndices", "non-empty");
  p = good;
  p.P[0] = -2;
  expectError(p, "classIndices", "-2 at position 0");
  p = good;
  p.P.push_back(p.P[0]);
  expectError(p, "classIndices", "distinct");
  p = good;  // class 1 has a single sample in M
  p.M.erase(std::remove_if(p.M.begin(), p.M.end(), [&](int64_t r) { return p.y[r] == 1; }), p.M.end());
  p.M.push_back(std::find(p.y.begin(), p.y.end(), 1) - p.y.begin());
  expectError(p, "mainIndices", "fewer than 2 samples in M");
  p = good;  // class 0 has nothing in P
  p.P.erase(std::remove_if(p.P.begin(), p.P.end(), [&](int64_t r) { return p.y[r] == 0; }), p.P.end());
  expectError(p, "classIndices", "none of class 0");
  p = good;
  for (int64_t j = 0; j < p.dim; ++j) p.X[p.M[2] * p.dim + j] = 0.0f;
  expectError(p, "features", "zero vector at row " + std::to_string(p.M[2]));
  GeometryOptions opt;
  opt.threads = -1;
  expectError(good, "options.threads", "threads >= 0", opt);
  opt = {};
  opt.tileRows = -5;
  expectError(good, "options.tileRows", "tileRows >= 0", opt);
  opt = {};
  opt.backend = static_cast<kqkd::Backend>(9);
  expectError(good, "backend", "'cpu' or 'cuda'", opt);
}

void cudaBackendUnavailable() {
  std::string reason;
  const bool available = kqkd::cudaAvailable(&reason);
  if (available) throw Skip{"a CUDA device is usable here; this case checks the unavailable path"};
  CHECK(!reason.empty(), "cudaAvailable gives a reason");
  Problem p = randomProblem(28, 40, 6, 2);
  p.M = stratified(p, 29, [](int32_t, int64_t n) { return n; });
  p.P = p.M;
  GeometryOptions opt;
  opt.backend = kqkd::Backend::Cuda;
  expectError(p, "backend", "CUDA", opt);
}

const std::map<std::string, std::function<void()>>& cases() {
  static const std::map<std::string, std::function<void()>> all = {
      {"golden_dense2d", [] { golden("dense2d"); }},
      {"golden_conv4d", [] { golden("conv4d"); }},
      {"brute_dense", bruteDense},
      {"brute_many_classes", bruteManyClasses},
      {"brute_single_p_sample", bruteSinglePSample},
      {"brute_constant_columns", bruteConstantColumns},
      {"brute_p_subset_of_m", bruteP_subsetOfM},
      {"tiled_matches_untiled", tiledMatchesUntiled},
      {"threads_match", threadsMatch},
      {"large_offset_precision", largeOffsetPrecision},
      {"validation_errors", validationErrors},
      {"cuda_backend_unavailable", cudaBackendUnavailable},
  };
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names;
  for (int k = 1; k < argc; ++k) names.push_back(argv[k]);
  if (names.empty())
    for (const auto& [name, fn] : cases()) names.push_back(name);
  int failed = 0, skipped = 0;
  for (const std::string& name : names) {
    const auto it = cases().find(name);
    if (it == cases().end()) {
      std::fprintf(stderr, "unknown case %s\n", name.c_str());
      return 2;
    }
    try {
      it->second();
      std::printf("PASS %s\n", name.c_str());
    } catch (const Skip& s) {
      std::printf("SKIP %s: %s\n", name.c_str(), s.why.c_str());
      ++skipped;
    } catch (const GeometryError& e) {
      std::printf("FAIL %s: GeometryError(%s): %s\n", name.c_str(), e.argument.c_str(), e.message.c_str());
      ++failed;
    } catch (const std::exception& e) {
      std::printf("FAIL %s: %s\n", name.c_str(), e.what());
      ++failed;
    }
  }
  if (failed) return 1;
  return skipped == int(names.size()) ? 77 : 0;
}
