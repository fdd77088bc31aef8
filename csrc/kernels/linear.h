// The fully connected layer on the packed GEMM (gemm.h). Row-major, contiguous arrays;
// the caller has validated shapes. Results are bitwise identical for any thread count.
#pragma once

#include <cstdint>

namespace fastdl::linear {

// x (N, in), weight (out, in), bias (out) or null -> y (N, out) = x @ weight^T + bias
template <typename T>
void linear_forward(int64_t N, int64_t in, int64_t out, const T* x, const T* weight,
                    const T* bias, T* y);

// grad_y (N, out), x (N, in), weight (out, in) -> grad_x (N, in) = grad_y @ weight,
// grad_weight (out, in) = grad_y^T @ x, grad_bias (out) = column sums of grad_y.
// Any of the three outputs may be null (not computed).
template <typename T>
void linear_backward(int64_t N, int64_t in, int64_t out, const T* grad_y, const T* x,
                     const T* weight, T* grad_x, T* grad_weight, T* grad_bias);

// out[j] = sum_i a[i * lda + j] for a (rows, cols): accumulated in double, in blocks of
// rows (a two-level sum, error ~ (block + rows/block) ulp, not rows ulp). Threads take
// fixed chunks of columns, so the result does not depend on the thread count.
template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* a, int64_t lda, T* out);

}  // namespace fastdl::linear
