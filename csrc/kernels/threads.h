// The thread count fastdl's kernels use. Separate from OpenMP's global setting so that
// set_num_threads() affects fastdl only (not PyTorch or NumPy's BLAS in the same process).
#pragma once

#include <string>

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

}  // namespace fastdl
