#include "kernels/threads.h"

#include <atomic>

#include "kernels/common.h"

#if defined(_OPENMP) && defined(__has_include)
#if __has_include(<dlfcn.h>)
#include <dlfcn.h>
#define FASTDL_HAVE_DLADDR 1
#endif
#endif

namespace fastdl {

namespace {
std::atomic<int> g_num_threads{0};  // 0: not chosen yet
}

bool have_openmp() {
#if defined(_OPENMP)
  return true;
#else
  return false;
#endif
}

std::string openmp_library() {
#if defined(FASTDL_HAVE_DLADDR)
  // The address of omp_get_max_threads as this module calls it (through its GOT, so after
  // symbol interposition): the library that answers fastdl's OpenMP calls.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&omp_get_max_threads), &info) != 0 &&
      info.dli_fname != nullptr) {
    return info.dli_fname;
  }
#endif
  return "";
}

int num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n > 0) return n;
#if defined(_OPENMP)
  n = omp_get_max_threads();
#else
  n = 1;
#endif
  if (n < 1) n = 1;
  int expected = 0;
  g_num_threads.compare_exchange_strong(expected, n, std::memory_order_relaxed);
  return g_num_threads.load(std::memory_order_relaxed);
}

void set_num_threads(int n) {
#if !defined(_OPENMP)
  n = 1;  // without OpenMP every kernel is serial; report that honestly
#endif
  g_num_threads.store(n < 1 ? 1 : n, std::memory_order_relaxed);
}

}  // namespace fastdl
