// N-API binding of the native core: computeGeometry (Promise, AsyncWorker), cudaAvailable, buildInfo, the
// host optimizer step adamwUpdate (synchronous: a few ms on a ResNet9-sized tensor set), and mapFile (a file as an
// ArrayBuffer without reading it: feature files of hundreds of MB go straight from the page cache to BLAS).
// The TypeScript layer validates for users; this file re-checks types only so a wrong call is a TypeError,
// never a crash. Feature buffers are borrowed, never copied: the worker holds references to the typed arrays
// so the GC cannot free them while the computation runs on the thread pool.
#include <napi.h>

#include <cblas.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

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

template <typename T>
T typedArrayArg(const Napi::CallbackInfo& info, size_t index, napi_typedarray_type type, const char* name,
                const char* typeName) {
  const Napi::Value v = info[index];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(info.Env(), std::string("Expected a ") + typeName + " for " + name);
  return v.As<T>();
}

int64_t integerArg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  const Napi::Value v = info[index];
  if (!v.IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("Expected a number for ") + name);
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == double(int64_t(d))) || d < -9007199254740991.0 || d > 9007199254740991.0)
    throw Napi::TypeError::New(info.Env(), std::string("Expected an integer for ") + name);
  return int64_t(d);
}

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
  if (info.Length() < 8) throw Napi::TypeError::New(env, "computeGeometry expects 8 arguments");
  auto features = typedArrayArg<Napi::Float32Array>(info, 0, napi_float32_array, "features", "Float32Array");
  const int64_t rows = integerArg(info, 1, "rows"), dim = integerArg(info, 2, "dim");
  auto labels = typedArrayArg<Napi::Int32Array>(info, 3, napi_int32_array, "labels", "Int32Array");
  const int64_t numClasses = integerArg(info, 4, "numClasses");
  auto mainIdx = typedArrayArg<Napi::BigInt64Array>(info, 5, napi_bigint64_array, "mainIndices", "BigInt64Array");
  auto classIdx = typedArrayArg<Napi::BigInt64Array>(info, 6, napi_bigint64_array, "classIndices", "BigInt64Array");
  if (!info[7].IsObject()) throw Napi::TypeError::New(env, "Expected an object for options");
  const Napi::Object options = info[7].As<Napi::Object>();

  // Lengths must cover what the core will read (the core trusts rows/dim against the buffer).
  if (rows < 0 || dim < 0 || (dim > 0 && uint64_t(rows) > features.ElementLength() / uint64_t(dim)))
    throw Napi::RangeError::New(env, "Expected features.length >= rows * dim");
  if (labels.ElementLength() < size_t(std::max<int64_t>(rows, 0)))
    throw Napi::RangeError::New(env, "Expected labels.length >= rows");
  if (numClasses < INT32_MIN || numClasses > INT32_MAX) throw Napi::RangeError::New(env, "numClasses out of range");

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
    throw Napi::TypeError::New(env, "Expected 'cpu' or 'cuda' for options.backend");
  for (const char* key : {"threads", "tileRows"}) {
    const Napi::Value v = options.Get(key);
    if (v.IsUndefined()) continue;
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("Expected a number for options.") + key);
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d == double(int64_t(d))) || d < -2147483648.0 || d > 2147483647.0)
      throw Napi::TypeError::New(env, std::string("Expected an integer for options.") + key);
    if (std::string(key) == "threads") baton.options.threads = int(d);
    else baton.options.tileRows = int64_t(d);
  }

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
// weightDecay, alphaCorrection, betaCorrection} (float32 values; all required, finite). Wrong types: TypeError;
// unequal lengths, overlapping buffers, non-finite scalars, bad threads: RangeError.
Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) throw Napi::TypeError::New(env, "adamwUpdate expects 6 arguments");
  auto param = typedArrayArg<Napi::Float32Array>(info, 0, napi_float32_array, "param", "Float32Array");
  auto grad = typedArrayArg<Napi::Float32Array>(info, 1, napi_float32_array, "grad", "Float32Array");
  auto m = typedArrayArg<Napi::Float32Array>(info, 2, napi_float32_array, "m", "Float32Array");
  auto v = typedArrayArg<Napi::Float32Array>(info, 3, napi_float32_array, "v", "Float32Array");
  if (!info[4].IsObject()) throw Napi::TypeError::New(env, "Expected an object for scalars");
  const Napi::Object o = info[4].As<Napi::Object>();
  const int64_t threads = integerArg(info, 5, "threads");
  const size_t n = param.ElementLength();
  if (grad.ElementLength() != n || m.ElementLength() != n || v.ElementLength() != n)
    throw Napi::RangeError::New(env, "Expected param, grad, m and v of equal length");
  if (threads < 0 || threads > 1024) throw Napi::RangeError::New(env, "Expected threads in [0, 1024]");
  auto scalar = [&](const char* key) -> double {
    const Napi::Value x = o.Get(key);
    if (!x.IsNumber()) throw Napi::TypeError::New(env, std::string("Expected a number for scalars.") + key);
    const double d = x.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || !std::isfinite(static_cast<float>(d)))
      throw Napi::RangeError::New(env, std::string("Expected a finite float32 for scalars.") + key);
    return d;
  };
  kqkd::optim::AdamWScalars s;
  const double mode = scalar("adamMode");
  if (mode != 0 && mode != 1) throw Napi::RangeError::New(env, "Expected 0 or 1 for scalars.adamMode");
  s.adamMode = static_cast<int>(mode);
  s.alpha = static_cast<float>(scalar("alpha"));
  s.beta = static_cast<float>(scalar("beta"));
  s.oneMinusAlpha = static_cast<float>(scalar("oneMinusAlpha"));
  s.oneMinusBeta = static_cast<float>(scalar("oneMinusBeta"));
  s.epsilon = static_cast<float>(scalar("epsilon"));
  s.lrCorrected = static_cast<float>(scalar("lrCorrected"));
  s.lrWeightDecay = static_cast<float>(scalar("lrWeightDecay"));
  s.lr = static_cast<float>(scalar("lr"));
  s.weightDecay = static_cast<float>(scalar("weightDecay"));
  s.alphaCorrection = static_cast<float>(scalar("alphaCorrection"));
  s.betaCorrection = static_cast<float>(scalar("betaCorrection"));
  try {
    kqkd::optim::adamwUpdate(s, param.Data(), grad.Data(), m.Data(), v.Data(), n, static_cast<int>(threads));
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, std::string("adamwUpdate: ") + e.what());
  }
  return env.Undefined();
}

Napi::Value OptimThreads(const Napi::CallbackInfo& info) {
  const int64_t threads = info.Length() > 0 && !info[0].IsUndefined() ? integerArg(info, 0, "threads") : 0;
  if (threads < 0 || threads > 1024) throw Napi::RangeError::New(info.Env(), "Expected threads in [0, 1024]");
  return Napi::Number::New(info.Env(), kqkd::optim::resolveOptimThreads(static_cast<int>(threads)));
}

// convWeightGradient(x, dy, dw, shape, threads): dW of a 2-D ungrouped convolution from its input X [N, C, H, W] and
// output gradient dY [N, M, Ho, Wo] into dw [M, C, kh, kw] (see src/optim/conv_weight_grad.h). shape: {batch,
// inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth, strideHeight,
// strideWidth, padTop, padLeft, dilationHeight, dilationWidth} (integers). Wrong types: TypeError; sizes that do not
// match the arrays, bad shape values or threads: RangeError. Synchronous: the caller (a training step) waits anyway.
Napi::Value ConvWeightGradient(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throw Napi::TypeError::New(env, "Expected (x, dy, dw, shape, threads)");
  auto x = typedArrayArg<Napi::Float32Array>(info, 0, napi_float32_array, "x", "Float32Array");
  auto dy = typedArrayArg<Napi::Float32Array>(info, 1, napi_float32_array, "dy", "Float32Array");
  auto dw = typedArrayArg<Napi::Float32Array>(info, 2, napi_float32_array, "dw", "Float32Array");
  if (!info[3].IsObject()) throw Napi::TypeError::New(env, "Expected an object for shape");
  const Napi::Object o = info[3].As<Napi::Object>();
  auto field = [&](const char* key) -> int64_t {
    const Napi::Value v = o.Get(key);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("Expected a number for shape.") + key);
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d >= 2147483648.0)
      throw Napi::RangeError::New(env, std::string("Expected an integer in [0, 2^31) for shape.") + key);
    return static_cast<int64_t>(d);
  };
  kqkd::optim::ConvWeightGradShape g;
  g.batch = field("batch"), g.inChannels = field("inChannels"), g.inHeight = field("inHeight"), g.inWidth = field("inWidth");
  g.outChannels = field("outChannels"), g.outHeight = field("outHeight"), g.outWidth = field("outWidth");
  g.kernelHeight = field("kernelHeight"), g.kernelWidth = field("kernelWidth");
  g.strideHeight = field("strideHeight"), g.strideWidth = field("strideWidth");
  g.padTop = field("padTop"), g.padLeft = field("padLeft");
  g.dilationHeight = field("dilationHeight"), g.dilationWidth = field("dilationWidth");
  const int64_t threads = integerArg(info, 4, "threads");
  if (threads < 0 || threads > 1024) throw Napi::RangeError::New(env, "Expected threads in [0, 1024]");
  try {
    kqkd::optim::validateConvWeightGradShape(g);
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, std::string("convWeightGradient: ") + e.what());
  }
  const auto need = [&](const Napi::Float32Array& a, int64_t n, const char* name) {
    if (static_cast<int64_t>(a.ElementLength()) != n)
      throw Napi::RangeError::New(env, std::string("Expected ") + std::to_string(n) + " floats for " + name + " but received " +
                                           std::to_string(a.ElementLength()));
  };
  need(x, g.batch * g.inChannels * g.inHeight * g.inWidth, "x");
  need(dy, g.batch * g.outChannels * g.outHeight * g.outWidth, "dy");
  need(dw, g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth, "dw");
  const auto overlaps = [](const Napi::Float32Array& a, const Napi::Float32Array& b) {
    const float* pa = a.Data();
    const float* pb = b.Data();
    return pa < pb + b.ElementLength() && pb < pa + a.ElementLength();
  };
  if (overlaps(dw, x) || overlaps(dw, dy)) throw Napi::RangeError::New(env, "Expected dw not to overlap x or dy");
  try {
    kqkd::optim::convWeightGrad(g, x.Data(), dy.Data(), dw.Data(), static_cast<int>(threads));
  } catch (const std::invalid_argument& e) {
    throw Napi::RangeError::New(env, std::string("convWeightGradient: ") + e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "convWeightGradient: out of memory for the im2col buffer");
  }
  return env.Undefined();
}

// mapFile(path): the whole file as an ArrayBuffer backed by a private copy-on-write mapping (writes through the
// buffer never reach the file; pages are shared with the page cache until written). Not pre-faulted: the first pass
// over the data (the engine's parallel finite check) takes the page faults on all its threads. Unmapped when the
// buffer is garbage-collected.
// Errors name the path and the system's reason; an empty file is an empty buffer (mmap refuses length 0).
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "Expected a file path (string) for path");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
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
