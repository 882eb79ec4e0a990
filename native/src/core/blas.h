// OpenBLAS access for the core: CBLAS, the two LAPACK eigen-solvers we call, and thread-count control.
#pragma once

#include <cblas.h>  // OpenBLAS's cblas.h (also declares openblas_set_num_threads / openblas_get_config)

#include <cstddef>

extern "C" {
// LAPACK (Fortran ABI, provided by libopenblas). The trailing size_t are gfortran's hidden string lengths.
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
             double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t, size_t);
}

namespace kqkd::core {

// OpenBLAS's thread count is process-global; this sets it for a scope and restores the previous value.
class BlasThreadsScope {
 public:
  explicit BlasThreadsScope(int threads) : previous_(openblas_get_num_threads()) {
    openblas_set_num_threads(threads);
  }
  ~BlasThreadsScope() { openblas_set_num_threads(previous_); }
  BlasThreadsScope(const BlasThreadsScope&) = delete;
  BlasThreadsScope& operator=(const BlasThreadsScope&) = delete;

 private:
  int previous_;
};

}  // namespace kqkd::core
