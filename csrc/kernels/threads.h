// The thread count fastdl's kernels use. Separate from OpenMP's global setting so that
// set_num_threads() affects fastdl only (not PyTorch or NumPy's BLAS in the same process).
#pragma once

namespace fastdl {

bool have_openmp();
// Threads a kernel may use: the value of set_num_threads(), else OpenMP's default
// (omp_get_max_threads(), which honours OMP_NUM_THREADS) read at first use; 1 without
// OpenMP.
int num_threads();
// n >= 1; the caller validates.
void set_num_threads(int n);

}  // namespace fastdl
