// linear / linear_backward: three GEMMs and a column sum.
#include "kernels/linear.h"

#include <algorithm>
#include <vector>

#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/threads.h"

namespace fastdl::linear {

template <typename T>
void linear_forward(int64_t N, int64_t in, int64_t out, const T* x, const T* weight,
                    const T* bias, T* y) {
  gemm::GemmArgs<T> g;
  g.M = N;
  g.N = out;
  g.K = in;
  g.A = {x, in, 1};
  g.B = {weight, 1, in};  // weight^T: B(k, j) = weight[j, k]
  g.C = y;
  g.ldc = out;
  g.bias_col = bias;
  gemm::gemm(g);
}

template <typename T>
void linear_backward(int64_t N, int64_t in, int64_t out, const T* grad_y, const T* x,
                     const T* weight, T* grad_x, T* grad_weight, T* grad_bias) {
  if (grad_x != nullptr) {  // (N, out) @ (out, in)
    gemm::GemmArgs<T> g;
    g.M = N;
    g.N = in;
    g.K = out;
    g.A = {grad_y, out, 1};
    g.B = {weight, in, 1};
    g.C = grad_x;
    g.ldc = in;
    gemm::gemm(g);
  }
  if (grad_weight != nullptr) {  // (out, N) @ (N, in)
    gemm::GemmArgs<T> g;
    g.M = out;
    g.N = in;
    g.K = N;
    g.A = {grad_y, 1, out};  // grad_y^T
    g.B = {x, in, 1};
    g.C = grad_weight;
    g.ldc = in;
    gemm::gemm(g);
  }
  if (grad_bias != nullptr) column_sums(N, out, grad_y, out, grad_bias);
}

namespace {

// Rows summed into one partial before it joins the total.
constexpr int64_t kRowBlock = 128;
// Columns per work item of the column sum (a thread takes whole items).
constexpr int64_t kColChunk = 512;

template <typename T>
void column_sums_range(int64_t rows, int64_t j0, int64_t j1, const T* a, int64_t lda,
                       T* out) {
  const int64_t n = j1 - j0;
  std::vector<double> total(n, 0.0), part(n);
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = std::min(rows, r0 + kRowBlock);
    double* FASTDL_RESTRICT p = part.data();
    for (int64_t j = 0; j < n; ++j) p[j] = 0.0;
    for (int64_t i = r0; i < r1; ++i) {
      const T* FASTDL_RESTRICT row = a + i * lda + j0;
      for (int64_t j = 0; j < n; ++j) p[j] += static_cast<double>(row[j]);
    }
    double* FASTDL_RESTRICT t = total.data();
    for (int64_t j = 0; j < n; ++j) t[j] += p[j];
  }
  for (int64_t j = 0; j < n; ++j) out[j0 + j] = static_cast<T>(total[j]);
}

}  // namespace

template <typename T>
void column_sums(int64_t rows, int64_t cols, const T* a, int64_t lda, T* out) {
  const int64_t chunks = (cols + kColChunk - 1) / kColChunk;
  const int64_t work = rows * cols;
  const int nt = static_cast<int>(std::min<int64_t>(work < (int64_t{1} << 16) ? 1 : num_threads(), chunks));
  RegionErrors errors;  // column_sums_range allocates its sums
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
  for (int64_t c = 0; c < chunks; ++c) {
    errors.run([&] {
      const int64_t j0 = c * kColChunk;
      column_sums_range(rows, j0, std::min(cols, j0 + kColChunk), a, lda, out);
    });
  }
  errors.rethrow();
}

template void linear_forward<float>(int64_t, int64_t, int64_t, const float*, const float*,
                                    const float*, float*);
template void linear_forward<double>(int64_t, int64_t, int64_t, const double*, const double*,
                                     const double*, double*);
template void linear_backward<float>(int64_t, int64_t, int64_t, const float*, const float*,
                                     const float*, float*, float*, float*);
template void linear_backward<double>(int64_t, int64_t, int64_t, const double*, const double*,
                                      const double*, double*, double*, double*);
template void column_sums<float>(int64_t, int64_t, const float*, int64_t, float*);
template void column_sums<double>(int64_t, int64_t, const double*, int64_t, double*);

}  // namespace fastdl::linear
