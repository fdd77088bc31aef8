// The loops of batch normalization over one block (see BatchNormLoops in batchnorm.h).
// Compiled once per instruction set (FASTDL_ISA_NS = baseline, avx2 or avx512).
//
// Reductions keep kLanes partial sums in T (128 bytes: four 256-bit registers, so the
// adds of consecutive vectors do not wait on each other), each lane summing a fixed
// subset of the block's elements; the lanes are then added in double in a fixed order.
// The compiler vectorises `acc[l] += p[k + l]` over l without reassociating anything
// (each lane is its own sum), so the result depends only on the block, never on the ISA's
// vector width or the thread that ran it.
#include <algorithm>
#include <cmath>

#include "kernels/batchnorm.h"
#include "kernels/common.h"
#include "kernels/dispatch.h"

#ifndef FASTDL_ISA_NS
#error "FASTDL_ISA_NS must name the instruction set this unit is compiled for"
#endif

namespace fastdl::FASTDL_ISA_NS {

namespace {

using bn::Rect;

template <typename T>
inline constexpr int kLanes = static_cast<int>(128 / sizeof(T));

template <typename T>
FASTDL_INLINE double lane_sum(const T* acc) {
  double s = 0;
  for (int l = 0; l < kLanes<T>; ++l) s += static_cast<double>(acc[l]);
  return s;
}

// Finishes the corrected two-pass algorithm: m the first pass's rough mean, s1 and s2
// the sums of the deviations from it and of their squares, over n values.
FASTDL_INLINE void finish_moments(double m, double s1, double s2, double n, double* mean,
                                  double* m2) {
  *mean = m + s1 / n;
  // s1^2/n <= s2 for exact sums; rounding could push the difference below zero.
  *m2 = std::max(0.0, s2 - s1 * s1 / n);
}

// --- sum over a row into lanes: the two passes of plane_stats -------------------------

template <typename T>
void row_sum(const T* FASTDL_RESTRICT p, int64_t n, T* FASTDL_RESTRICT acc) {
  constexpr int L = kLanes<T>;
  int64_t k = 0;
  for (; k + L <= n; k += L) {
    for (int l = 0; l < L; ++l) acc[l] += p[k + l];
  }
  for (int l = 0; k + l < n; ++l) acc[l] += p[k + l];
}

template <typename T>
void row_dev_sums(const T* FASTDL_RESTRICT p, int64_t n, const T m, T* FASTDL_RESTRICT a1,
                  T* FASTDL_RESTRICT a2) {
  constexpr int L = kLanes<T>;
  int64_t k = 0;
  for (; k + L <= n; k += L) {
    for (int l = 0; l < L; ++l) {
      const T d = p[k + l] - m;
      a1[l] += d;
      a2[l] += d * d;
    }
  }
  for (int l = 0; k + l < n; ++l) {
    const T d = p[k + l] - m;
    a1[l] += d;
    a2[l] += d * d;
  }
}

template <typename T>
void plane_stats(const T* x, Rect r, double* out_mean, double* out_m2) {
  constexpr int L = kLanes<T>;
  alignas(64) T acc[L] = {};
  for (int64_t i = 0; i < r.rows; ++i) row_sum(x + i * r.ld, r.cols, acc);
  const double n = static_cast<double>(r.rows * r.cols);
  const T m = static_cast<T>(lane_sum(acc) / n);
  alignas(64) T a1[L] = {};
  alignas(64) T a2[L] = {};
  for (int64_t i = 0; i < r.rows; ++i) row_dev_sums(x + i * r.ld, r.cols, m, a1, a2);
  finish_moments(static_cast<double>(m), lane_sum(a1), lane_sum(a2), n, out_mean, out_m2);
}

// --- tiles: sums down the rows, one lane per column ------------------------------------

template <typename T>
void col_add(const T* FASTDL_RESTRICT p, int64_t n, T* FASTDL_RESTRICT acc) {
  for (int64_t j = 0; j < n; ++j) acc[j] += p[j];
}

template <typename T>
void col_dev_add(const T* FASTDL_RESTRICT p, const T* FASTDL_RESTRICT m, int64_t n,
                 T* FASTDL_RESTRICT a1, T* FASTDL_RESTRICT a2) {
  for (int64_t j = 0; j < n; ++j) {
    const T d = p[j] - m[j];
    a1[j] += d;
    a2[j] += d * d;
  }
}

// Sum of the S columns of channel c in double.
template <typename T>
FASTDL_INLINE double chan_sum(const T* acc, int64_t c, int64_t S) {
  double s = 0;
  for (int64_t k = 0; k < S; ++k) s += static_cast<double>(acc[c * S + k]);
  return s;
}

template <typename T>
void tile_stats(const T* x, Rect r, int64_t S, T* scratch, double* out_mean, double* out_m2) {
  const int64_t cols = r.cols, W = cols / S;
  T* a1 = scratch;
  T* a2 = scratch + cols;
  T* mv = scratch + 2 * cols;
  std::fill(a1, a1 + cols, T(0));
  for (int64_t i = 0; i < r.rows; ++i) col_add(x + i * r.ld, cols, a1);
  const double n = static_cast<double>(r.rows * S);
  for (int64_t c = 0; c < W; ++c) {
    std::fill(mv + c * S, mv + (c + 1) * S, static_cast<T>(chan_sum(a1, c, S) / n));
  }
  std::fill(a1, a1 + cols, T(0));
  std::fill(a2, a2 + cols, T(0));
  for (int64_t i = 0; i < r.rows; ++i) col_dev_add(x + i * r.ld, mv, cols, a1, a2);
  for (int64_t c = 0; c < W; ++c) {
    finish_moments(static_cast<double>(mv[c * S]), chan_sum(a1, c, S), chan_sum(a2, c, S), n,
                   out_mean + c, out_m2 + c);
  }
}

// --- normalize ---------------------------------------------------------------------------

template <typename T>
void row_normalize(const T* FASTDL_RESTRICT x, T* FASTDL_RESTRICT y, int64_t n, const T m,
                   const T a, const T b) {
  for (int64_t k = 0; k < n; ++k) y[k] = (x[k] - m) * a + b;
}

template <typename T>
void plane_normalize(const T* x, T* y, Rect r, T mean, T scale, T shift) {
  for (int64_t i = 0; i < r.rows; ++i) row_normalize(x + i * r.ld, y + i * r.ld, r.cols, mean, scale, shift);
}

template <typename T>
void col_normalize(const T* FASTDL_RESTRICT x, T* FASTDL_RESTRICT y, int64_t n,
                   const T* FASTDL_RESTRICT m, const T* FASTDL_RESTRICT a,
                   const T* FASTDL_RESTRICT b) {
  for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m[j]) * a[j] + b[j];
}

// Spreads one value per channel over the channel's S columns.
template <typename T>
FASTDL_INLINE void spread(const T* v, int64_t W, int64_t S, T* out) {
  for (int64_t c = 0; c < W; ++c) std::fill(out + c * S, out + (c + 1) * S, v[c]);
}

template <typename T>
void tile_normalize(const T* x, T* y, Rect r, int64_t S, const T* mean, const T* scale,
                    const T* shift, T* scratch) {
  const int64_t cols = r.cols, W = cols / S;
  T* mv = scratch;
  T* av = scratch + cols;
  T* bv = scratch + 2 * cols;
  spread(mean, W, S, mv);
  spread(scale, W, S, av);
  spread(shift, W, S, bv);
  for (int64_t i = 0; i < r.rows; ++i) col_normalize(x + i * r.ld, y + i * r.ld, cols, mv, av, bv);
}

// --- backward: sums ---------------------------------------------------------------------

template <typename T>
void row_grad_sums(const T* FASTDL_RESTRICT dy, const T* FASTDL_RESTRICT x, int64_t n,
                   const T m, T* FASTDL_RESTRICT a1, T* FASTDL_RESTRICT a2) {
  constexpr int L = kLanes<T>;
  int64_t k = 0;
  for (; k + L <= n; k += L) {
    for (int l = 0; l < L; ++l) {
      const T g = dy[k + l];
      a1[l] += g;
      a2[l] += g * (x[k + l] - m);
    }
  }
  for (int l = 0; k + l < n; ++l) {
    const T g = dy[k + l];
    a1[l] += g;
    a2[l] += g * (x[k + l] - m);
  }
}

template <typename T>
void plane_grad_sums(const T* dy, const T* x, Rect r, T mean, double* sum_dy, double* sum_dyxm) {
  constexpr int L = kLanes<T>;
  alignas(64) T a1[L] = {};
  alignas(64) T a2[L] = {};
  for (int64_t i = 0; i < r.rows; ++i) row_grad_sums(dy + i * r.ld, x + i * r.ld, r.cols, mean, a1, a2);
  *sum_dy = lane_sum(a1);
  *sum_dyxm = lane_sum(a2);
}

template <typename T>
void col_grad_add(const T* FASTDL_RESTRICT dy, const T* FASTDL_RESTRICT x,
                  const T* FASTDL_RESTRICT m, int64_t n, T* FASTDL_RESTRICT a1,
                  T* FASTDL_RESTRICT a2) {
  for (int64_t j = 0; j < n; ++j) {
    const T g = dy[j];
    a1[j] += g;
    a2[j] += g * (x[j] - m[j]);
  }
}

template <typename T>
void tile_grad_sums(const T* dy, const T* x, Rect r, int64_t S, const T* mean, T* scratch,
                    double* sum_dy, double* sum_dyxm) {
  const int64_t cols = r.cols, W = cols / S;
  T* a1 = scratch;
  T* a2 = scratch + cols;
  T* mv = scratch + 2 * cols;
  spread(mean, W, S, mv);
  std::fill(a1, a1 + 2 * cols, T(0));
  for (int64_t i = 0; i < r.rows; ++i) col_grad_add(dy + i * r.ld, x + i * r.ld, mv, cols, a1, a2);
  for (int64_t c = 0; c < W; ++c) {
    sum_dy[c] = chan_sum(a1, c, S);
    sum_dyxm[c] = chan_sum(a2, c, S);
  }
}

// --- backward: grad_x ------------------------------------------------------------------

template <typename T>
void row_grad_apply(const T* FASTDL_RESTRICT dy, const T* FASTDL_RESTRICT x,
                    T* FASTDL_RESTRICT dx, int64_t n, const T m, const T a, const T b,
                    const T c) {
  for (int64_t k = 0; k < n; ++k) dx[k] = dy[k] * a + ((x[k] - m) * b + c);
}

template <typename T>
void row_scale(const T* FASTDL_RESTRICT dy, T* FASTDL_RESTRICT dx, int64_t n, const T a) {
  for (int64_t k = 0; k < n; ++k) dx[k] = dy[k] * a;
}

template <typename T>
void plane_grad_apply(const T* dy, const T* x, T* dx, Rect r, T mean, T a, T b, T c) {
  for (int64_t i = 0; i < r.rows; ++i) {
    const int64_t o = i * r.ld;
    if (x == nullptr) {
      row_scale(dy + o, dx + o, r.cols, a);
    } else {
      row_grad_apply(dy + o, x + o, dx + o, r.cols, mean, a, b, c);
    }
  }
}

template <typename T>
void col_grad_apply(const T* FASTDL_RESTRICT dy, const T* FASTDL_RESTRICT x,
                    T* FASTDL_RESTRICT dx, int64_t n, const T* FASTDL_RESTRICT m,
                    const T* FASTDL_RESTRICT a, const T* FASTDL_RESTRICT b,
                    const T* FASTDL_RESTRICT c) {
  for (int64_t j = 0; j < n; ++j) dx[j] = dy[j] * a[j] + ((x[j] - m[j]) * b[j] + c[j]);
}

template <typename T>
void col_scale(const T* FASTDL_RESTRICT dy, T* FASTDL_RESTRICT dx, int64_t n,
               const T* FASTDL_RESTRICT a) {
  for (int64_t j = 0; j < n; ++j) dx[j] = dy[j] * a[j];
}

template <typename T>
void tile_grad_apply(const T* dy, const T* x, T* dx, Rect r, int64_t S, const T* mean,
                     const T* a, const T* b, const T* c, T* scratch) {
  const int64_t cols = r.cols, W = cols / S;
  T* av = scratch;
  spread(a, W, S, av);
  if (x == nullptr) {
    for (int64_t i = 0; i < r.rows; ++i) col_scale(dy + i * r.ld, dx + i * r.ld, cols, av);
    return;
  }
  T* mv = scratch + cols;
  T* bv = scratch + 2 * cols;
  T* cv = scratch + 3 * cols;
  spread(mean, W, S, mv);
  spread(b, W, S, bv);
  spread(c, W, S, cv);
  for (int64_t i = 0; i < r.rows; ++i) {
    const int64_t o = i * r.ld;
    col_grad_apply(dy + o, x + o, dx + o, cols, mv, av, bv, cv);
  }
}

template <typename T>
void fill(bn::BatchNormLoops<T>& t) {
  t.plane_stats = &plane_stats<T>;
  t.tile_stats = &tile_stats<T>;
  t.plane_normalize = &plane_normalize<T>;
  t.tile_normalize = &tile_normalize<T>;
  t.plane_grad_sums = &plane_grad_sums<T>;
  t.tile_grad_sums = &tile_grad_sums<T>;
  t.plane_grad_apply = &plane_grad_apply<T>;
  t.tile_grad_apply = &tile_grad_apply<T>;
}

}  // namespace

void fill_batchnorm(KernelTable& table) {
  fill(table.batchnorm_f32);
  fill(table.batchnorm_f64);
}

}  // namespace fastdl::FASTDL_ISA_NS
