// geometry-cpu benchmark (BENCHMARKS.md): the full computeGeometry of one layer against one bare OpenBLAS
// cblas_ssyrk of the same N x D matrix, timed in the same process. Prints one JSON line per configuration.
//
// Usage: geometry_cpu_bench [--n N] [--dims 512,4096,16384] [--classes 10,100] [--reps R] [--threads T]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/blas.h"
#include "core/plan.h"
#include "kqkd/geometry.h"

namespace {

std::vector<int64_t> parseList(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream in(s);
  std::string tok;
  while (std::getline(in, tok, ',')) out.push_back(std::stoll(tok));
  return out;
}

std::string cpuModel() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (ch != '\n') out += ch;
  }
  return out;
}

template <typename F>
std::vector<double> timeReps(int reps, F&& fn) {
  std::vector<double> seconds;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds;
}

double median(const std::vector<double>& sorted) {
  const size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

std::string jsonList(const std::vector<double>& v) {
  std::ostringstream s;
  s << "[";
  for (size_t k = 0; k < v.size(); ++k) s << (k ? "," : "") << v[k];
  return s.str() + "]";
}

}  // namespace

int main(int argc, char** argv) {
  int64_t N = 5000;
  std::vector<int64_t> dims = {512, 4096, 16384}, classCounts = {10, 100};
  int reps = 5, threads = 0;
  for (int k = 1; k + 1 < argc; k += 2) {
    const std::string flag = argv[k], value = argv[k + 1];
    if (flag == "--n") N = std::stoll(value);
    else if (flag == "--dims") dims = parseList(value);
    else if (flag == "--classes") classCounts = parseList(value);
    else if (flag == "--reps") reps = std::stoi(value);
    else if (flag == "--threads") threads = std::stoi(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  threads = kqkd::core::resolveThreads(threads);
  const std::string machine = "{\"cpu\":\"" + jsonEscape(cpuModel()) + "\",\"cores\":" +
                              std::to_string(std::thread::hardware_concurrency()) + "}";
  const std::string versions = std::string("{\"kqkd\":\"") + KQKD_VERSION + "\",\"openblas\":\"" +
                               jsonEscape(openblas_get_config()) + "\"}";

  for (int64_t D : dims) {
    std::mt19937_64 rng(42);
    std::normal_distribution<float> normal;
    std::vector<float> X(size_t(N * D));
    for (float& v : X) v = normal(rng);
    std::vector<float> gram(size_t(N * N));
    for (int64_t C : classCounts) {
      // Subsets as KQ-SPEC.md section 0 draws them: M = floor(5000 / C) per class, P = min(500, N / C).
      std::vector<int32_t> labels(N);
      for (int64_t r = 0; r < N; ++r) labels[r] = int32_t(rng() % C);
      std::vector<std::vector<int64_t>> byClass(C);
      for (int64_t r = 0; r < N; ++r) byClass[labels[r]].push_back(r);
      std::vector<int64_t> M, P;
      for (auto& rows : byClass) {
        std::shuffle(rows.begin(), rows.end(), rng);
        M.insert(M.end(), rows.begin(), rows.begin() + std::min<int64_t>(int64_t(rows.size()), 5000 / C));
        std::shuffle(rows.begin(), rows.end(), rng);
        P.insert(P.end(), rows.begin(), rows.begin() + std::min<int64_t>(int64_t(rows.size()), std::min<int64_t>(500, N / C)));
      }
      kqkd::GeometryInput in;
      in.features = X.data();
      in.rows = N;
      in.dim = D;
      in.labels = labels.data();
      in.numClasses = int32_t(C);
      in.mainIndices = M.data();
      in.mainCount = int64_t(M.size());
      in.classIndices = P.data();
      in.classCount = int64_t(P.size());
      kqkd::GeometryOptions opt;
      opt.threads = threads;

      bool fromMain = false;
      const auto full = timeReps(reps, [&] { fromMain = kqkd::computeGeometry(in, opt).classGramFromMain; });
      const auto syrk = timeReps(reps, [&] {
        kqkd::core::BlasThreadsScope blas(threads);
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, int(N), int(D), 1.0f, X.data(), int(D), 0.0f,
                    gram.data(), int(N));
      });
      std::printf(
          "{\"name\":\"geometry-cpu\",\"sizes\":{\"N\":%lld,\"D\":%lld,\"C\":%lld,\"M\":%lld,\"P\":%lld},"
          "\"threads\":%d,\"backend\":\"cpu\",\"machine\":%s,\"versions\":%s,\"reps\":%d,"
          "\"classGramFromMain\":%s,\"timings\":{\"full_s\":%s,\"syrk_s\":%s,\"full_min_s\":%.6f,"
          "\"full_median_s\":%.6f,\"syrk_min_s\":%.6f,\"syrk_median_s\":%.6f},"
          "\"ratio\":%.4f,\"ratio_median\":%.4f,\"goal\":%s}\n",
          (long long)N, (long long)D, (long long)C, (long long)M.size(), (long long)P.size(), threads,
          machine.c_str(), versions.c_str(), reps, fromMain ? "true" : "false", jsonList(full).c_str(),
          jsonList(syrk).c_str(), full.front(), median(full), syrk.front(), median(syrk),
          full.front() / syrk.front(), median(full) / median(syrk), D >= 4096 ? "1.3" : "null");
      std::fflush(stdout);
    }
  }
  return 0;
}
