// The thread count fastdl's kernels use. Separate from OpenMP's global setting so that
// set_num_threads() affects fastdl only (not PyTorch or NumPy's BLAS in the same process).
#pragma once

#include <atomic>
#include <exception>
#include <string>
#include <utility>

namespace fastdl {

bool have_openmp();
// The OpenMP runtime library this process actually runs fastdl's kernels with: the file
// that defines omp_get_max_threads as the dynamic linker resolved it (dladdr), e.g.
// "/lib/x86_64-linux-gnu/libgomp.so.1", or ".../fastdl.libs/libgomp-<hash>.so.1.0.0" in
// a wheel repaired by auditwheel. "" without OpenMP or where it cannot be found out.
std::string openmp_library();
// Threads a kernel may use: the value of set_num_threads(), else OpenMP's default
// (omp_get_max_threads(), which honours OMP_NUM_THREADS) read at first use; 1 without
// OpenMP.
int num_threads();
// n >= 1; the caller validates.
void set_num_threads(int n);

// An exception must not leave an OpenMP parallel region: one escaping the region's block
// calls std::terminate, so a std::bad_alloc from one thread's scratch would abort the
// Python process instead of raising MemoryError. Each thread runs its share through
// run(), which keeps the first exception thrown (by any thread) and swallows the rest;
// after the region, rethrow() hands it to the caller. The other threads finish their
// shares, whose results are thrown away with the error. The try/catch costs nothing
// until something throws.
//
//   RegionErrors errors;
//   #pragma omp parallel num_threads(nt)
//   errors.run([&] { work(omp_get_thread_num(), omp_get_num_threads()); });
//   errors.rethrow();
//
// Not for bodies with an `omp barrier`: a thread that threw would skip the barriers the
// others wait at. Such regions allocate everything before the region (batchnorm.cpp).
class RegionErrors {
 public:
  template <class Fn>
  void run(Fn&& fn) noexcept {
    try {
      fn();
    } catch (...) {
      if (!claimed_.exchange(true, std::memory_order_acq_rel)) first_ = std::current_exception();
    }
  }
  // The region's closing barrier orders first_'s write before this read.
  void rethrow() {
    if (first_) std::rethrow_exception(std::exchange(first_, nullptr));
  }

 private:
  std::atomic<bool> claimed_{false};
  std::exception_ptr first_;
};

}  // namespace fastdl
