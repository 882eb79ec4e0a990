// N-API binding of the native core: computeGeometry (Promise, AsyncWorker), cudaAvailable, buildInfo, the
// host optimizer step adamwUpdate (synchronous: a few ms on a ResNet9-sized tensor set), and mapFile (a file as an
// ArrayBuffer without reading it: feature files of hundreds of MB go straight from the page cache to BLAS).
// The TypeScript layer validates for users; this file re-checks every argument with the helpers of args.h (one
// error: a TypeError with code KQKD_INVALID_ARGUMENT naming the argument), so a wrong call is that error, never a
// crash. Feature buffers are borrowed, never copied: the worker holds references to the typed arrays
// so the GC cannot free them while the computation runs on the thread pool.
#include <napi.h>

#include <cblas.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "binding/args.h"
#include "kqkd/geometry.h"
#include "optim/adamw.h"
#include "optim/conv_weight_grad.h"

namespace {

// Plain data the worker thread uses (no Napi types touched off the main thread).
struct Baton {
  kqkd::GeometryInput input;
  kqkd::GeometryOptions options;
  kqkd::GeometryResult result;
  kqkd::GeometryError error;      // argument non-empty on a GeometryError
  std::string internalError;      // any other exception (e.g. out of memory)
};

using kqkd::binding::invalidArgument;
using kqkd::binding::kMaxInt32;
using kqkd::binding::kMaxSafeInteger;
using kqkd::binding::requireDisjoint;
using kqkd::binding::requireFiniteFloat32;
using kqkd::binding::requireInteger;
using kqkd::binding::requireLength;
using kqkd::binding::requireObject;
using kqkd::binding::requirePath;
using kqkd::binding::requireTypedArray;

constexpr int64_t kMaxThreads = 1024;  // every `threads`: 0 = automatic, else at most this many

Napi::Float64Array toFloat64Array(Napi::Env env, const std::vector<double>& v) {
  Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

Napi::Float64Array toFloat64Array(Napi::Env env, const std::vector<int64_t>& v) {
  Napi::Float64Array a = Napi::Float64Array::New(env, v.size());
  for (size_t k = 0; k < v.size(); ++k) a[k] = double(v[k]);
  return a;
}

Napi::Object resultToJs(Napi::Env env, const kqkd::GeometryResult& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("numClasses", r.numClasses);
  o.Set("mainClassCount", toFloat64Array(env, r.mainClassCount));
  o.Set("normMin", toFloat64Array(env, r.normMin));
  o.Set("normAvg", toFloat64Array(env, r.normAvg));
  o.Set("normMax", toFloat64Array(env, r.normMax));
  o.Set("dpsMin", toFloat64Array(env, r.dpsMin));
  o.Set("dpsAvg", toFloat64Array(env, r.dpsAvg));
  o.Set("dpsMax", toFloat64Array(env, r.dpsMax));
  o.Set("avgIntraDist", toFloat64Array(env, r.avgIntraDist));
  o.Set("minInterDist", toFloat64Array(env, r.minInterDist));
  o.Set("minInterPair", toFloat64Array(env, r.minInterPair));
  o.Set("pcagid", double(r.pcagid));
  o.Set("pcaClassCount", toFloat64Array(env, r.pcaClassCount));
  o.Set("zeroColumns", toFloat64Array(env, r.zeroColumns));
  Napi::Array spectrum = Napi::Array::New(env, r.spectrum.size());
  for (size_t c = 0; c < r.spectrum.size(); ++c) spectrum[uint32_t(c)] = toFloat64Array(env, r.spectrum[c]);
  o.Set("spectrum", spectrum);
  o.Set("classGramFromMain", r.classGramFromMain);
  return o;
}

class GeometryWorker : public Napi::AsyncWorker {
 public:
  GeometryWorker(Napi::Env env, Baton baton, std::vector<Napi::Value> keepAlive)
      : Napi::AsyncWorker(env, "kqkd:computeGeometry"), baton_(std::move(baton)), deferred_(env) {
    for (const Napi::Value& v : keepAlive) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      baton_.result = kqkd::computeGeometry(baton_.input, baton_.options);
    } catch (const kqkd::GeometryError& e) {
      baton_.error = e;
      SetError(e.message);
    } catch (const std::exception& e) {
      baton_.internalError = e.what();
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(resultToJs(Env(), baton_.result)); }
  void OnError(const Napi::Error& e) override {
    Napi::Error error = Napi::Error::New(Env(), e.Message());
    if (!baton_.error.argument.empty()) {
      error.Set("argument", baton_.error.argument);
      // The binding only ever passes a valid backend, so a "backend" error means it is not available.
      error.Set("code", baton_.error.argument == "backend" ? "KQKD_BACKEND_UNAVAILABLE" : "KQKD_INVALID_ARGUMENT");
    } else {
      error.Set("code", "KQKD_INTERNAL");
    }
    deferred_.Reject(error.Value());
  }

 private:
  Baton baton_;
  Napi::Promise::Deferred deferred_;
  std::vector<Napi::ObjectReference> refs_;  // released on the main thread when the worker is destroyed
};

// computeGeometry(features, rows, dim, labels, numClasses, mainIndices, classIndices, options) -> Promise
Napi::Value ComputeGeometry(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // The ranges of @kqkd/geometry's checks; the rules on values (labels, indices, finite features, class counts) are
  // the core's (GeometryError, a rejected promise).
  auto features = requireTypedArray<Napi::Float32Array>(env, info[0], "features");
  const int64_t rows = requireInteger(env, info[1], "rows", 1, kMaxSafeInteger);
  const int64_t dim = requireInteger(env, info[2], "dim", 1, kMaxSafeInteger);
  requireLength(env, features, double(rows) * double(dim), "features");  // the core reads rows * dim values
  auto labels = requireTypedArray<Napi::Int32Array>(env, info[3], "labels");
  requireLength(env, labels, double(rows), "labels");
  const int64_t numClasses = requireInteger(env, info[4], "numClasses", 2, kMaxInt32);
  auto mainIdx = requireTypedArray<Napi::BigInt64Array>(env, info[5], "mainIndices");
  auto classIdx = requireTypedArray<Napi::BigInt64Array>(env, info[6], "classIndices");
  const Napi::Object options = requireObject(env, info[7], "options");

  Baton baton;
  baton.input.features = features.ElementLength() ? features.Data() : nullptr;
  baton.input.rows = rows;
  baton.input.dim = dim;
  baton.input.labels = labels.Data();
  baton.input.numClasses = int32_t(numClasses);
  baton.input.mainIndices = mainIdx.Data();
  baton.input.mainCount = int64_t(mainIdx.ElementLength());
  baton.input.classIndices = classIdx.Data();
  baton.input.classCount = int64_t(classIdx.ElementLength());

  const Napi::Value backend = options.Get("backend");
  if (backend.IsUndefined() || (backend.IsString() && backend.As<Napi::String>().Utf8Value() == "cpu"))
    baton.options.backend = kqkd::Backend::Cpu;
  else if (backend.IsString() && backend.As<Napi::String>().Utf8Value() == "cuda")
    baton.options.backend = kqkd::Backend::Cuda;
  else
    invalidArgument(env, "options.backend", "one of \"cpu\", \"cuda\"", kqkd::binding::describe(backend));
  const Napi::Value threads = options.Get("threads"), tileRows = options.Get("tileRows");
  if (!threads.IsUndefined()) baton.options.threads = int(requireInteger(env, threads, "options.threads", 0, kMaxThreads));
  if (!tileRows.IsUndefined()) baton.options.tileRows = requireInteger(env, tileRows, "options.tileRows", 0, kMaxInt32);

  auto* worker = new GeometryWorker(env, std::move(baton), {features, labels, mainIdx, classIdx});
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  std::string reason;
  const bool ok = kqkd::cudaAvailable(&reason);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("available", ok);
  o.Set("reason", reason);
  return o;
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
#ifdef KQKD_WITH_CUDA
  o.Set("cuda", true);
#else
  o.Set("cuda", false);
#endif
  o.Set("blas", std::string("OpenBLAS ") + openblas_get_config());
#ifdef KQKD_WITH_OPENMP
  o.Set("openmp", true);
#else
  o.Set("openmp", false);
#endif
  o.Set("version", KQKD_VERSION);
  return o;
}

// adamwUpdate(param, grad, m, v, scalars, threads): one AdamW-kernel update in place (see src/optim/adamw.h).
// scalars: {adamMode, alpha, beta, oneMinusAlpha, oneMinusBeta, epsilon, lrCorrected, lrWeightDecay, lr,
// weightDecay, alphaCorrection, betaCorrection} (float32 values; all required, finite; adamMode 0 or 1). param, grad,
// m and v of param's length, no two overlapping; threads in [0, 1024]. Anything else: the one argument error.
Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto param = requireTypedArray<Napi::Float32Array>(env, info[0], "param");
  auto grad = requireTypedArray<Napi::Float32Array>(env, info[1], "grad");
  auto m = requireTypedArray<Napi::Float32Array>(env, info[2], "m");
  auto v = requireTypedArray<Napi::Float32Array>(env, info[3], "v");
  const Napi::Object o = requireObject(env, info[4], "scalars");
  const int64_t threads = requireInteger(env, info[5], "threads", 0, kMaxThreads);
  const size_t n = param.ElementLength();
  requireLength(env, grad, double(n), "grad");
  requireLength(env, m, double(n), "m");
  requireLength(env, v, double(n), "v");
  requireDisjoint(env, grad, "grad", param, "param");
  requireDisjoint(env, m, "m", param, "param");
  requireDisjoint(env, m, "m", grad, "grad");
  requireDisjoint(env, v, "v", param, "param");
  requireDisjoint(env, v, "v", grad, "grad");
  requireDisjoint(env, v, "v", m, "m");
  const auto scalar = [&](const char* key) { return requireFiniteFloat32(env, o.Get(key), std::string("scalars.") + key); };
  kqkd::optim::AdamWScalars s;
  s.adamMode = static_cast<int>(requireInteger(env, o.Get("adamMode"), "scalars.adamMode", 0, 1));
  s.alpha = scalar("alpha");
  s.beta = scalar("beta");
  s.oneMinusAlpha = scalar("oneMinusAlpha");
  s.oneMinusBeta = scalar("oneMinusBeta");
  s.epsilon = scalar("epsilon");
  s.lrCorrected = scalar("lrCorrected");
  s.lrWeightDecay = scalar("lrWeightDecay");
  s.lr = scalar("lr");
  s.weightDecay = scalar("weightDecay");
  s.alphaCorrection = scalar("alphaCorrection");
  s.betaCorrection = scalar("betaCorrection");
  try {
    kqkd::optim::adamwUpdate(s, param.Data(), grad.Data(), m.Data(), v.Data(), n, static_cast<int>(threads));
  } catch (const std::invalid_argument& e) {  // the core's own checks, all made above: a bug if it fires
    Napi::Error error = Napi::Error::New(env, std::string("adamwUpdate: ") + e.what());
    error.Set("code", "KQKD_INTERNAL");
    throw error;
  }
  return env.Undefined();
}

// optimThreads(threads = 0): the thread count adamwUpdate's `threads` resolves to.
Napi::Value OptimThreads(const Napi::CallbackInfo& info) {
  const int64_t threads = info[0].IsUndefined() ? 0 : requireInteger(info.Env(), info[0], "threads", 0, kMaxThreads);
  return Napi::Number::New(info.Env(), kqkd::optim::resolveOptimThreads(static_cast<int>(threads)));
}

// convWeightGradient(x, dy, dw, shape, threads): dW of a 2-D ungrouped convolution from its input X [N, C, H, W] and
// output gradient dY [N, M, Ho, Wo] into dw [M, C, kh, kw] (see src/optim/conv_weight_grad.h). shape: {batch,
// inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth, strideHeight,
// strideWidth, padTop, padLeft, dilationHeight, dilationWidth}: integers in [1, 2^31 - 1] (pads from 0), dW below
// 2^31 elements, outHeight · outWidth at most 2^30 - 1 (the core's BLAS limits); x, dy and dw of exactly the shape's
// sizes, dw overlapping neither; threads in [0, 1024]. Anything else: the one argument error. Synchronous: the
// caller (a training step) waits anyway.
Napi::Value ConvWeightGradient(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto x = requireTypedArray<Napi::Float32Array>(env, info[0], "x");
  auto dy = requireTypedArray<Napi::Float32Array>(env, info[1], "dy");
  auto dw = requireTypedArray<Napi::Float32Array>(env, info[2], "dw");
  const Napi::Object o = requireObject(env, info[3], "shape");
  const auto field = [&](const char* key, int64_t min) { return requireInteger(env, o.Get(key), std::string("shape.") + key, min, kMaxInt32); };
  kqkd::optim::ConvWeightGradShape g;
  g.batch = field("batch", 1), g.inChannels = field("inChannels", 1), g.inHeight = field("inHeight", 1), g.inWidth = field("inWidth", 1);
  g.outChannels = field("outChannels", 1), g.outHeight = field("outHeight", 1), g.outWidth = field("outWidth", 1);
  g.kernelHeight = field("kernelHeight", 1), g.kernelWidth = field("kernelWidth", 1);
  g.strideHeight = field("strideHeight", 1), g.strideWidth = field("strideWidth", 1);
  g.padTop = field("padTop", 0), g.padLeft = field("padLeft", 0);
  g.dilationHeight = field("dilationHeight", 1), g.dilationWidth = field("dilationWidth", 1);
  const int64_t threads = requireInteger(env, info[4], "threads", 0, kMaxThreads);
  // Products in double: fields below 2^31 make int64 products of four of them wrap.
  const double dwSize = double(g.outChannels) * double(g.inChannels) * double(g.kernelHeight) * double(g.kernelWidth);
  if (dwSize > double(kMaxInt32))
    invalidArgument(env, "shape", "outChannels · inChannels · kernelHeight · kernelWidth below 2^31 (dW's BLAS size)", kqkd::binding::integerText(dwSize));
  const double outPlane = double(g.outHeight) * double(g.outWidth);
  if (outPlane > double(kMaxInt32 / 2))
    invalidArgument(env, "shape", "outHeight · outWidth below 2^30", kqkd::binding::integerText(outPlane));
  requireLength(env, x, double(g.batch) * double(g.inChannels) * double(g.inHeight) * double(g.inWidth), "x");
  requireLength(env, dy, double(g.batch) * double(g.outChannels) * double(g.outHeight) * double(g.outWidth), "dy");
  requireLength(env, dw, dwSize, "dw");
  requireDisjoint(env, dw, "dw", x, "x");
  requireDisjoint(env, dw, "dw", dy, "dy");
  try {
    kqkd::optim::convWeightGrad(g, x.Data(), dy.Data(), dw.Data(), static_cast<int>(threads));
  } catch (const std::invalid_argument& e) {  // the core's own checks, all made above: a bug if it fires
    Napi::Error error = Napi::Error::New(env, std::string("convWeightGradient: ") + e.what());
    error.Set("code", "KQKD_INTERNAL");
    throw error;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "convWeightGradient: out of memory for the im2col buffer");
  }
  return env.Undefined();
}

// mapFile(path): the whole file as an ArrayBuffer backed by a private copy-on-write mapping (writes through the
// buffer never reach the file; pages are shared with the page cache until written). Not pre-faulted: the first pass
// over the data (the engine's parallel finite check) takes the page faults on all its threads. Unmapped when the
// buffer is garbage-collected.
// A path that is not a non-empty string without NUL bytes is the one argument error; a file that cannot be opened or
// mapped is an Error naming the path and the system's reason; an empty file is an empty buffer (mmap refuses length 0).
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = requirePath(env, info[0], "path");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(env, "mapFile: cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int err = errno;
    ::close(fd);
    throw Napi::Error::New(env, "mapFile: " + path + " is not a regular file" + (err ? std::string(": ") + std::strerror(err) : ""));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Napi::ArrayBuffer::New(env, 0);
  }
  void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file open
  if (data == MAP_FAILED) throw Napi::Error::New(env, "mapFile: cannot map " + path + ": " + std::strerror(err));
  return Napi::ArrayBuffer::New(
      env, data, size, [](Napi::Env, void* p, size_t* length) {
        ::munmap(p, *length);
        delete length;
      },
      new size_t(size));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("computeGeometry", Napi::Function::New(env, ComputeGeometry, "computeGeometry"));
  exports.Set("cudaAvailable", Napi::Function::New(env, CudaAvailable, "cudaAvailable"));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo, "buildInfo"));
  exports.Set("adamwUpdate", Napi::Function::New(env, AdamwUpdate, "adamwUpdate"));
  exports.Set("optimThreads", Napi::Function::New(env, OptimThreads, "optimThreads"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
  exports.Set("convWeightGradient", Napi::Function::New(env, ConvWeightGradient, "convWeightGradient"));
  return exports;
}

}  // namespace

NODE_API_MODULE(kqkd_native, Init)
