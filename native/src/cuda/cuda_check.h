// CUDA error handling and RAII owners for the CUDA backend. Every runtime call goes through KQKD_CUDA_CHECK so a
// failure becomes kqkd::GeometryError{"backend", ...} (the addon turns it into a rejected promise, never a crash).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "kqkd/geometry.h"

namespace kqkd::cuda {

inline std::string describe(cudaError_t err) {
  return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
}

[[noreturn]] inline void throwCuda(cudaError_t err, const char* what, const char* file, int line) {
  (void)cudaGetLastError();  // clear a non-sticky error so later calls in this process are not poisoned
  throw GeometryError{"backend", std::string("CUDA backend: ") + what + " failed with " + describe(err) + " at " +
                                     file + ":" + std::to_string(line)};
}

#define KQKD_CUDA_CHECK(expr)                                                   \
  do {                                                                          \
    const cudaError_t kqkdErr_ = (expr);                                        \
    if (kqkdErr_ != cudaSuccess) ::kqkd::cuda::throwCuda(kqkdErr_, #expr, __FILE__, __LINE__); \
  } while (0)

// Kernel launches report configuration errors only through cudaGetLastError.
#define KQKD_CUDA_CHECK_LAUNCH(name) KQKD_CUDA_CHECK(cudaGetLastError())

// Device allocation; frees in the destructor (errors there are ignored: we may already be unwinding).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) { reset(count); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}

  void reset(size_t count) {
    release();
    if (count == 0) return;
    void* p = nullptr;
    KQKD_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

 private:
  void release() {
    if (ptr_) (void)cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

// Page-locked host memory (needed for truly asynchronous copies). allocate() returns false instead of throwing
// when the OS refuses to pin, so callers can fall back to pageable memory.
template <typename T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() {
    if (ptr_) (void)cudaFreeHost(ptr_);
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  bool allocate(size_t count) {
    void* p = nullptr;
    if (cudaHostAlloc(&p, count * sizeof(T), cudaHostAllocDefault) != cudaSuccess) {
      (void)cudaGetLastError();
      return false;
    }
    ptr_ = static_cast<T*>(p);
    return true;
  }
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
};

class Stream {
 public:
  Stream() { KQKD_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) (void)cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  explicit Event(unsigned flags = cudaEventDisableTiming) { KQKD_CUDA_CHECK(cudaEventCreateWithFlags(&e_, flags)); }
  ~Event() {
    if (e_) (void)cudaEventDestroy(e_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

}  // namespace kqkd::cuda
