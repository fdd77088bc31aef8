// Shared helpers for the kernels: restrict, OpenMP guards, the fixed work partition.
// Pure C++17: nothing here (or anywhere under csrc/kernels/) includes Python headers.
#pragma once

#include <cstdint>
#include <type_traits>

#if defined(_OPENMP)
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FASTDL_RESTRICT __restrict__
#define FASTDL_INLINE inline __attribute__((always_inline))
#else
#define FASTDL_RESTRICT
#define FASTDL_INLINE inline
#endif

namespace fastdl {

// Calls f(std::true_type{}) or f(std::false_type{}) so that a run-time flag becomes a
// compile-time constant inside f: the hot loops then carry no per-element branches and
// vectorise cleanly.
template <class F>
FASTDL_INLINE void with_bool(bool b, F&& f) {
  if (b) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

}  // namespace fastdl
