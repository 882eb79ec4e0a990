# Optional CUDA backend of the kqkd native core. Included (OPTIONAL) by native/CMakeLists.txt and by the
# standalone GPU bench project tools/profile/gpu/CMakeLists.txt. Defines the static target kqkd_cuda and sets
# KQKD_HAVE_CUDA=ON when a working nvcc is found; otherwise prints one status line and defines nothing, so the
# CPU-only build never needs CUDA.
#
#   -DKQKD_ENABLE_CUDA=OFF               skip the backend even when nvcc exists
#   -DKQKD_CUDA_ARCHITECTURES="80;90"    (or CUDA_ARCHITECTURES / CMAKE_CUDA_ARCHITECTURES / env CUDAARCHS)
#   -DKQKD_CPU_BACKEND_TARGET=<target>   library providing reduceGramCpu for the CUDA-vs-CPU test
#                                        (default: kqkd_core when it exists)
include_guard(GLOBAL)

option(KQKD_ENABLE_CUDA "Build the optional CUDA backend when a CUDA compiler is found" ON)
set(KQKD_HAVE_CUDA OFF)
get_filename_component(_kqkd_native_dir "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)

if(NOT KQKD_ENABLE_CUDA)
  message(STATUS "kqkd: CUDA backend disabled (KQKD_ENABLE_CUDA=OFF)")
else()
  # Architectures must be chosen before enable_language(CUDA), which otherwise picks the compiler default.
  if(DEFINED KQKD_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "${KQKD_CUDA_ARCHITECTURES}")
  elseif(DEFINED CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "${CUDA_ARCHITECTURES}")
  elseif(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
    # SASS for A100 and H100 plus PTX of each, so newer GPUs JIT-compile instead of failing.
    set(CMAKE_CUDA_ARCHITECTURES "80;90")
  endif()
  # Same host compiler as the C++ core: one C++ ABI inside the .node addon.
  if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER AND NOT DEFINED ENV{CUDAHOSTCXX} AND CMAKE_CXX_COMPILER)
    set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}")
  endif()

  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(STATUS "kqkd: no CUDA compiler found (nvcc); building without the CUDA backend")
  else()
    enable_language(CUDA)
    find_package(CUDAToolkit QUIET)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Static)  # cudart_static: the addon must not need libcudart.so at run time

    file(GLOB _kqkd_cuda_sources CONFIGURE_DEPENDS "${_kqkd_native_dir}/src/cuda/*.cu")
    add_library(kqkd_cuda STATIC ${_kqkd_cuda_sources})
    set_target_properties(kqkd_cuda PROPERTIES
      POSITION_INDEPENDENT_CODE ON  # linked into the Node .node shared object
      CUDA_STANDARD 17
      CUDA_STANDARD_REQUIRED ON
      CUDA_RUNTIME_LIBRARY Static)
    target_include_directories(kqkd_cuda PUBLIC "${_kqkd_native_dir}/include" PRIVATE "${_kqkd_native_dir}/src")
    # backend.h declares reduceGramCuda/cudaDeviceUsable only under KQKD_WITH_CUDA.
    target_compile_definitions(kqkd_cuda PUBLIC KQKD_WITH_CUDA)
    # -lineinfo: source lines in Nsight Compute at no run-time cost.
    target_compile_options(kqkd_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo>)
    # Consumers are plain C++ targets: give them the static runtime (and its -ldl/-lpthread/-lrt) explicitly.
    if(TARGET CUDA::cudart_static)
      target_link_libraries(kqkd_cuda PUBLIC CUDA::cudart_static)
    endif()
    set(KQKD_HAVE_CUDA ON)
    message(STATUS "kqkd: CUDA backend (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")

    # ---- tests and bench (never required by the product) ----
    if(NOT DEFINED KQKD_BUILD_TESTS OR KQKD_BUILD_TESTS)
      enable_testing()
      set(_kqkd_cuda_test_dir "${_kqkd_native_dir}/test/cuda")
      if(NOT DEFINED KQKD_CPU_BACKEND_TARGET AND TARGET kqkd_core)
        set(KQKD_CPU_BACKEND_TARGET kqkd_core)
      endif()

      add_executable(kqkd_cuda_vs_cpu_test "${_kqkd_cuda_test_dir}/cuda_vs_cpu_test.cc")
      target_include_directories(kqkd_cuda_vs_cpu_test PRIVATE "${_kqkd_native_dir}/src" "${_kqkd_cuda_test_dir}")
      if(KQKD_CPU_BACKEND_TARGET AND TARGET ${KQKD_CPU_BACKEND_TARGET})
        # Compare with the real CPU backend (and use the real plan builder).
        target_link_libraries(kqkd_cuda_vs_cpu_test PRIVATE ${KQKD_CPU_BACKEND_TARGET} kqkd_cuda)
        target_compile_definitions(kqkd_cuda_vs_cpu_test PRIVATE KQKD_CUDA_TEST_WITH_CPU)
      else()
        # No CPU backend here (e.g. GPU machine without OpenBLAS): the float64 reference in the test only.
        target_sources(kqkd_cuda_vs_cpu_test PRIVATE "${_kqkd_native_dir}/src/core/plan.cc")
        target_link_libraries(kqkd_cuda_vs_cpu_test PRIVATE kqkd_cuda)
      endif()
      add_test(NAME cuda_vs_cpu COMMAND kqkd_cuda_vs_cpu_test)
      set_tests_properties(cuda_vs_cpu PROPERTIES SKIP_RETURN_CODE 77 LABELS cuda)

      # Bench: needs only src/cuda and the plan builder (no OpenBLAS). Not part of ctest.
      add_executable(kqkd_geometry_cuda_bench "${_kqkd_cuda_test_dir}/geometry_cuda_bench.cu"
                                              "${_kqkd_native_dir}/src/core/plan.cc")
      target_include_directories(kqkd_geometry_cuda_bench PRIVATE "${_kqkd_native_dir}/src")
      set_target_properties(kqkd_geometry_cuda_bench PROPERTIES CUDA_STANDARD 17 CUDA_RUNTIME_LIBRARY Static)
      target_link_libraries(kqkd_geometry_cuda_bench PRIVATE kqkd_cuda)
    endif()
  endif()
endif()

# Pure host test of the tiling/index math of the kernels: runs everywhere, GPU or not.
if(KQKD_ENABLE_CUDA AND (NOT DEFINED KQKD_BUILD_TESTS OR KQKD_BUILD_TESTS) AND
   EXISTS "${_kqkd_native_dir}/test/cuda/tile_math_test.cc" AND NOT TARGET kqkd_cuda_tile_math_test)
  enable_testing()
  add_executable(kqkd_cuda_tile_math_test "${_kqkd_native_dir}/test/cuda/tile_math_test.cc")
  target_include_directories(kqkd_cuda_tile_math_test PRIVATE "${_kqkd_native_dir}/src")
  set_target_properties(kqkd_cuda_tile_math_test PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
  add_test(NAME cuda_tile_math COMMAND kqkd_cuda_tile_math_test)
endif()
