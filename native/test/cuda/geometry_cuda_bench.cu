// geometry-cuda micro-benchmark (BENCHMARKS.md): our Gram kernel alone and the whole reduceGramCuda for
// N = 5000, D in {512, 4096, 16384}. One JSON line per size on stdout; compare with bench-vs-torch.py (cuBLAS)
// via tools/profile/gpu/run-gpu-bench.sh. Exit 77 without a usable device.
//
//   kqkd_geometry_cuda_bench [--n 5000] [--dims 512,4096,16384] [--classes 10] [--reps 10] [--gram-only]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/plan.h"
#include "cuda/cuda_check.h"
#include "cuda/gram_kernel.h"
#include "cuda/tile_math.h"

using namespace kqkd;

namespace {

struct Args {
  int64_t n = 5000;
  std::vector<int64_t> dims{512, 4096, 16384};
  int32_t classes = 10;
  int reps = 10;
  bool gramOnly = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value for %s\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--n") a.n = std::stoll(next());
    else if (k == "--classes") a.classes = std::stoi(next());
    else if (k == "--reps") a.reps = std::max(1, std::stoi(next()));
    else if (k == "--gram-only") a.gramOnly = true;
    else if (k == "--dims") {
      a.dims.clear();
      std::string s = next();
      for (size_t p = 0; p <= s.size();) {
        const size_t q = std::min(s.find(',', p), s.size());
        a.dims.push_back(std::stoll(s.substr(p, q - p)));
        p = q + 1;
      }
    } else {
      std::fprintf(stderr, "unknown argument %s (expected --n, --dims, --classes, --reps, --gram-only)\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::string reason;
  if (!core::cudaDeviceUsable(&reason)) {
    std::fprintf(stderr, "SKIP: %s\n", reason.c_str());
    return 77;
  }
  try {
    cudaDeviceProp prop{};
    int dev = 0;
    KQKD_CUDA_CHECK(cudaGetDevice(&dev));
    KQKD_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> uni(0.0f, 1.0f);

    for (const int64_t D : args.dims) {
      const int64_t n = args.n;
      std::vector<float> x(size_t(n) * size_t(D));
      for (float& v : x) v = uni(rng);

      // ---- Gram kernel alone: the whole upper triangle of the padded n x n Gram, data already on device ----
      const int64_t ld = cuda::roundUp(D, cuda::kGramK), nPad = cuda::roundUp(n, cuda::kGramTile);
      const int T = int(nPad / cuda::kGramTile);
      cuda::DeviceBuffer<float> dX(size_t(nPad) * size_t(ld)), dG(size_t(nPad) * size_t(nPad));
      KQKD_CUDA_CHECK(cudaMemset(dX.get(), 0, dX.bytes()));
      KQKD_CUDA_CHECK(cudaMemcpy2D(dX.get(), size_t(ld) * 4, x.data(), size_t(D) * 4, size_t(D) * 4, size_t(n),
                                   cudaMemcpyHostToDevice));
      cuda::Event start(cudaEventDefault), stop(cudaEventDefault);
      KQKD_CUDA_CHECK(cuda::launchGram(dX.get(), dX.get(), ld, ld, dG.get(), nPad, T, T, true, nullptr));  // warm-up
      KQKD_CUDA_CHECK(cudaDeviceSynchronize());
      std::vector<double> gramMs;
      for (int r = 0; r < args.reps; ++r) {
        KQKD_CUDA_CHECK(cudaEventRecord(start.get()));
        KQKD_CUDA_CHECK(cuda::launchGram(dX.get(), dX.get(), ld, ld, dG.get(), nPad, T, T, true, nullptr));
        KQKD_CUDA_CHECK(cudaEventRecord(stop.get()));
        KQKD_CUDA_CHECK(cudaEventSynchronize(stop.get()));
        float ms = 0;
        KQKD_CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
        gramMs.push_back(ms);
      }
      // Spot check against float64 on a few entries (a wrong fast kernel is worthless).
      double maxRel = 0;
      for (int probe = 0; probe < 64; ++probe) {
        const int64_t a = (probe * 7919) % n, b = std::min<int64_t>(n - 1, a + (probe * 104729) % (n - a));
        float g = 0;
        KQKD_CUDA_CHECK(cudaMemcpy(&g, dG.get() + a * nPad + b, 4, cudaMemcpyDeviceToHost));
        double want = 0;
        for (int64_t j = 0; j < D; ++j) want += double(x[size_t(a * D + j)]) * x[size_t(b * D + j)];
        maxRel = std::max(maxRel, std::fabs(g - want) / std::fabs(want));
      }
      const double tGram = median(gramMs);
      const double computedFlops = 2.0 * double(ld) * cuda::kGramTile * cuda::kGramTile * double(cuda::upperPairs(T));
      const double fullFlops = 2.0 * double(n) * double(n) * double(D);

      // ---- whole reduceGramCuda (host gather + upload + Gram + reductions + copy back) ----
      double tWhole = -1;
      if (!args.gramOnly) {
        std::vector<int32_t> labels(static_cast<size_t>(n));
        std::vector<int64_t> mainIdx(static_cast<size_t>(n)), pcaIdx;
        const int64_t perClassP = std::min<int64_t>(500, n / args.classes);
        std::vector<int64_t> taken(size_t(args.classes), 0);
        for (int64_t i = 0; i < n; ++i) {
          labels[size_t(i)] = int32_t(i % args.classes);
          mainIdx[size_t(i)] = i;
          if (taken[size_t(labels[size_t(i)])]++ < perClassP) pcaIdx.push_back(i);
        }
        GeometryInput in;
        in.features = x.data();
        in.rows = n;
        in.dim = D;
        in.labels = labels.data();
        in.numClasses = args.classes;
        in.mainIndices = mainIdx.data();
        in.mainCount = n;
        in.classIndices = pcaIdx.data();
        in.classCount = int64_t(pcaIdx.size());
        const core::Plan plan = core::buildPlan(in, GeometryOptions{});
        (void)core::reduceGramCuda(plan);  // warm-up (pinned allocations, module load)
        std::vector<double> wholeMs;
        for (int r = 0; r < std::max(1, args.reps / 2); ++r) {
          const auto t0 = std::chrono::steady_clock::now();
          const core::GramReductions red = core::reduceGramCuda(plan);
          wholeMs.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
          if (red.absCosSum.empty()) return 1;
        }
        tWhole = median(wholeMs);
      }
      std::printf(
          "{\"bench\":\"geometry-cuda\",\"device\":\"%s\",\"n\":%lld,\"d\":%lld,\"classes\":%d,"
          "\"gram_kernel_ms\":%.4f,\"gram_kernel_tflops\":%.3f,\"full_gram_equiv_tflops\":%.3f,"
          "\"gram_max_rel_err\":%.3g,\"reduce_gram_cuda_ms\":%.3f}\n",
          prop.name, (long long)n, (long long)D, args.classes, tGram, computedFlops / tGram * 1e-9,
          fullFlops / tGram * 1e-9, maxRel, tWhole);
      std::fflush(stdout);
    }
  } catch (const GeometryError& e) {
    std::fprintf(stderr, "error: %s: %s\n", e.argument.c_str(), e.message.c_str());
    return 1;
  }
  return 0;
}
