// C++ tests of the host optimizer step (src/optim/adamw.h). ctest runs one case per entry (`kqkd_test_optim <case>`).
// The reference below is the TS emulation transcribed with JS semantics: every operation in double, then rounded
// to float32 (Math.fround), which is what the vectorised float32 kernel must reproduce bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "optim/adamw.h"
#include "optim/conv_weight_grad.h"

namespace {

using kqkd::optim::AdamWScalars;

#define CHECK(cond, what)                                                                              \
  do {                                                                                                 \
    if (!(cond)) {                                                                                     \
      std::ostringstream _s;                                                                           \
      _s << __FILE__ << ":" << __LINE__ << ": " << what;                                               \
      throw std::runtime_error(_s.str());                                                              \
    }                                                                                                  \
  } while (0)

inline float fr(double x) { return static_cast<float>(x); }

// adamwUpdate of host-optimizer.ts, line for line (f = fround, arithmetic in double).
void reference(const AdamWScalars& s, std::vector<float>& p, const std::vector<float>& g, std::vector<float>& m,
               std::vector<float>& v) {
  const double alpha = s.alpha, beta = s.beta, oma = s.oneMinusAlpha, omb = s.oneMinusBeta, eps = s.epsilon;
  for (size_t i = 0; i < p.size(); ++i) {
    const double gi = g[i];
    const float mi = fr(double(fr(alpha * m[i])) + double(fr(oma * gi)));
    const float vi = fr(double(fr(beta * v[i])) + double(fr(double(fr(omb * gi)) * gi)));
    m[i] = mi;
    v[i] = vi;
    if (s.adamMode == 1) {
      float w = fr(double(p[i]) - double(fr(double(fr(double(s.lrCorrected) * mi)) / double(fr(double(fr(std::sqrt(double(vi)))) + eps)))));
      w = fr(double(w) - double(fr(double(s.lrWeightDecay) * w)));
      p[i] = w;
    } else {
      float w = p[i];
      w = fr(double(w) - double(fr(double(fr(double(w) * s.lr)) * s.weightDecay)));
      const float denom = fr(double(fr(std::sqrt(double(fr(double(vi) / s.betaCorrection))))) + eps);
      p[i] = fr(double(w) - double(fr(double(fr(double(s.lr) * mi)) / double(fr(double(s.alphaCorrection) * denom)))));
    }
  }
}

bool sameBits(const std::vector<float>& a, const std::vector<float>& b, size_t* at) {
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) {
      *at = i;
      return false;
    }
  }
  return true;
}

std::vector<float> randomVector(std::mt19937& rng, size_t n, float scale, bool edges) {
  std::normal_distribution<float> nd(0.f, scale);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = nd(rng);
  if (edges && n > 8) {
    x[0] = 0.f;
    x[1] = -0.f;
    x[2] = 1e-30f;
    x[3] = -1e-38f;
    x[4] = std::numeric_limits<float>::denorm_min();
    x[5] = 1e-20f;
    x[6] = 3e4f;
  }
  return x;
}

// Several steps of AdamW / SGD-momentum settings / adamMode 0, every thread count against the reference.
void runSteps(int adamMode, float alpha, float beta, float eps, float wd, int correctBias, float lr) {
  std::mt19937 rng(1234);
  const size_t n = 100003;  // odd: vector tails and uneven thread chunks
  std::vector<float> p0 = randomVector(rng, n, 0.2f, true);
  std::vector<float> pr = p0, mr(n), vr(n);
  std::vector<std::vector<float>> pt(4, p0), mt(4, std::vector<float>(n)), vt(4, std::vector<float>(n));
  for (int step = 1; step <= 6; ++step) {
    const std::vector<float> g = randomVector(rng, n, step == 3 ? 1e-20f : 0.05f, true);
    const AdamWScalars s = kqkd::optim::adamwScalars(alpha, beta, eps, wd, correctBias, adamMode, step, lr);
    reference(s, pr, g, mr, vr);
    for (int t = 0; t < 4; ++t) {
      kqkd::optim::adamwUpdate(s, pt[t].data(), g.data(), mt[t].data(), vt[t].data(), n, t);
      size_t at = 0;
      CHECK(sameBits(pt[t], pr, &at), "param differs at " << at << " step " << step << " threads " << t << ": "
                                                          << pt[t][at] << " vs " << pr[at]);
      CHECK(sameBits(mt[t], mr, &at), "m differs at " << at << " step " << step << " threads " << t);
      CHECK(sameBits(vt[t], vr, &at), "v differs at " << at << " step " << step << " threads " << t);
    }
  }
}

template <typename F>
void expectInvalid(F f, const char* what) {
  try {
    f();
  } catch (const std::invalid_argument&) {
    return;
  }
  throw std::runtime_error(std::string("expected std::invalid_argument: ") + what);
}

// Conv weight gradient against its definition, summed in double:
//   dW[m, c, i, j] = Σ_n Σ_{oh,ow} dY[n, m, oh, ow] · X[n, c, oh·sh + i·dh − ph, ow·sw + j·dw − pw]  (0 outside X).
// Tolerance: float32 sums of B·Ho·Wo products of O(1) values, ~1e-6 relative each: 2e-5·max|dW|.
void checkConvWeightGrad(const kqkd::optim::ConvWeightGradShape& g, int threads, kqkd::optim::ConvWeightGradPath path,
                         int64_t blockFloats = 0) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(g.batch * g.inChannels * g.inHeight * g.inWidth), dy(g.batch * g.outChannels * g.outHeight * g.outWidth);
  for (float& v : x) v = normal(rng);
  for (float& v : dy) v = normal(rng);
  std::vector<float> dw(g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth, 123.f);  // overwritten
  kqkd::optim::convWeightGrad(g, x.data(), dy.data(), dw.data(), threads, path, blockFloats);
  double maxRef = 0, maxErr = 0;
  size_t k = 0;
  for (int64_t m = 0; m < g.outChannels; ++m)
    for (int64_t c = 0; c < g.inChannels; ++c)
      for (int64_t i = 0; i < g.kernelHeight; ++i)
        for (int64_t j = 0; j < g.kernelWidth; ++j, ++k) {
          double ref = 0;
          for (int64_t n = 0; n < g.batch; ++n)
            for (int64_t oh = 0; oh < g.outHeight; ++oh)
              for (int64_t ow = 0; ow < g.outWidth; ++ow) {
                const int64_t ih = oh * g.strideHeight + i * g.dilationHeight - g.padTop;
                const int64_t iw = ow * g.strideWidth + j * g.dilationWidth - g.padLeft;
                if (ih < 0 || ih >= g.inHeight || iw < 0 || iw >= g.inWidth) continue;
                ref += double(dy[((n * g.outChannels + m) * g.outHeight + oh) * g.outWidth + ow]) *
                       double(x[((n * g.inChannels + c) * g.inHeight + ih) * g.inWidth + iw]);
              }
          maxRef = std::max(maxRef, std::fabs(ref));
          maxErr = std::max(maxErr, std::fabs(ref - dw[k]));
        }
  CHECK(maxRef > 0, "degenerate case");
  CHECK(maxErr <= 2e-5 * maxRef, "conv weight gradient off by " << maxErr << " (max |dW| " << maxRef << ", threads "
                                                                 << threads << ", block " << blockFloats << ")");
}

kqkd::optim::ConvWeightGradShape convShape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t m, int64_t k, int64_t s,
                                           int64_t p, int64_t d) {
  kqkd::optim::ConvWeightGradShape g;
  g.batch = n, g.inChannels = c, g.inHeight = h, g.inWidth = w, g.outChannels = m, g.kernelHeight = k, g.kernelWidth = k;
  g.strideHeight = g.strideWidth = s, g.padTop = g.padLeft = p, g.dilationHeight = g.dilationWidth = d;
  g.outHeight = (h + 2 * p - d * (k - 1) - 1) / s + 1;
  g.outWidth = (w + 2 * p - d * (k - 1) - 1) / s + 1;
  return g;
}

const std::map<std::string, std::function<void()>> kCases = {
    {"optim_adamw_matches_reference", [] { runSteps(1, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 0.001f); }},
    {"optim_sgd_matches_reference",
     [] { runSteps(1, 0.9f, 1.f, 1.f, 5e-4f * (1 - 0.9f), 0, fr(0.1 / (1 - 0.9))); }},
    {"optim_mode0_matches_reference", [] { runSteps(0, 0.8f, 0.99f, 1e-6f, 0.05f, 1, 0.01f); }},
    {"optim_argument_checks",
     [] {
       std::vector<float> p(64, 1.f), g(64, 0.5f), m(64), v(64), big(200);
       AdamWScalars ok = kqkd::optim::adamwScalars(0.9f, 0.999f, 1e-8f, 0.01f, 1, 1, 1, 0.001f);
       kqkd::optim::adamwUpdate(ok, p.data(), g.data(), m.data(), v.data(), 64, 0);  // fine
       kqkd::optim::adamwUpdate(ok, nullptr, nullptr, nullptr, nullptr, 0, 1);       // empty: fine
       expectInvalid([&] { kqkd::optim::adamwUpdate(ok, nullptr, g.data(), m.data(), v.data(), 64, 1); }, "null");
       expectInvalid([&] { kqkd::optim::adamwUpdate(ok, p.data(), g.data(), m.data(), v.data(), 64, -1); }, "threads");
       expectInvalid([&] { kqkd::optim::adamwUpdate(ok, big.data(), big.data() + 10, m.data(), v.data(), 64, 1); },
                     "overlap param/grad");
       expectInvalid([&] { kqkd::optim::adamwUpdate(ok, p.data(), g.data(), m.data(), m.data(), 64, 1); },
                     "m aliases v");
       for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
         AdamWScalars s = ok;
         s.lrCorrected = bad;
         expectInvalid([&] { kqkd::optim::adamwUpdate(s, p.data(), g.data(), m.data(), v.data(), 64, 1); }, "lr");
         s = ok;
         s.epsilon = bad;
         expectInvalid([&] { kqkd::optim::validateAdamWScalars(s); }, "epsilon");
       }
       AdamWScalars mode = ok;
       mode.adamMode = 2;
       expectInvalid([&] { kqkd::optim::validateAdamWScalars(mode); }, "adamMode");
       // a rejected call leaves the buffers untouched
       std::vector<float> before = p;
       AdamWScalars s = ok;
       s.lrWeightDecay = std::numeric_limits<float>::infinity();
       expectInvalid([&] { kqkd::optim::adamwUpdate(s, p.data(), g.data(), m.data(), v.data(), 64, 1); }, "inf");
       size_t at = 0;
       CHECK(sameBits(p, before, &at), "rejected call modified param");
       CHECK(kqkd::optim::resolveOptimThreads(0) >= 1, "auto threads");
     }},
    {"conv_weight_grad_matches_reference",
     [] {
       // 3×3 pad 1 stride 1 (ResNet), stride 2 with odd sizes (unused last row), dilation 2, 1×1 stride 2, 5×3-like
       // non-square input; each serial, on 2 threads, and with blocks of 1–2 samples (the accumulation across blocks).
       for (const auto& g : {convShape(3, 5, 8, 8, 6, 3, 1, 1, 1), convShape(4, 4, 9, 7, 3, 3, 2, 1, 1),
                             convShape(2, 3, 9, 9, 4, 3, 1, 2, 2), convShape(3, 6, 7, 7, 5, 1, 2, 0, 1),
                             convShape(2, 2, 6, 11, 3, 2, 3, 0, 1)}) {
         using Path = kqkd::optim::ConvWeightGradPath;
         const int64_t perSample = g.inChannels * g.kernelHeight * g.kernelWidth * g.outHeight * g.outWidth;
         for (int threads : {1, 2}) {
           checkConvWeightGrad(g, threads, Path::Auto);
           checkConvWeightGrad(g, threads, Path::Im2col);
           checkConvWeightGrad(g, threads, Path::Im2col, perSample);          // one sample per block
           checkConvWeightGrad(g, threads, Path::Im2col, 2 * perSample + 1);  // two, and a last partial block
           if (g.strideHeight == 1) checkConvWeightGrad(g, threads, Path::Windows);
         }
       }
     }},
    {"conv_weight_grad_argument_checks",
     [] {
       std::vector<float> buf(4096);
       auto bad = [&](kqkd::optim::ConvWeightGradShape g, const char* what) {
         expectInvalid([&] { kqkd::optim::convWeightGrad(g, buf.data(), buf.data(), buf.data(), 1); }, what);
       };
       auto g = convShape(2, 3, 5, 5, 4, 3, 1, 1, 1);
       g.batch = 0;
       bad(g, "batch 0");
       g = convShape(2, 3, 5, 5, 4, 3, 1, 1, 1);
       g.strideWidth = -1;
       bad(g, "negative stride");
       g = convShape(2, 3, 5, 5, 4, 3, 1, 1, 1);
       g.padTop = -1;
       bad(g, "negative pad");
       g = convShape(2, 3, 5, 5, 4, 3, 1, 1, 1);
       g.inChannels = int64_t{1} << 40;
       bad(g, "huge channels");
       g = convShape(2, 3, 5, 5, 4, 3, 2, 1, 1);
       expectInvalid([&] { kqkd::optim::convWeightGrad(g, buf.data(), buf.data(), buf.data(), 1, kqkd::optim::ConvWeightGradPath::Windows); },
                     "windows at stride 2");
     }},
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    for (const auto& c : kCases) std::printf("%s\n", c.first.c_str());
    return 0;
  }
  int failed = 0;
  for (int k = 1; k < argc; ++k) {
    auto it = kCases.find(argv[k]);
    if (it == kCases.end()) {
      std::fprintf(stderr, "unknown case %s\n", argv[k]);
      return 1;
    }
    try {
      it->second();
      std::printf("PASS %s\n", argv[k]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "FAIL %s: %s\n", argv[k], e.what());
      failed = 1;
    }
  }
  return failed;
}
