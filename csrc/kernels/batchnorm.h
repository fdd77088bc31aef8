// Batch normalization, forward and backward, fused: x (N, C, S) viewed with S the product
// of the spatial sizes (1 for BatchNorm1d on (N, C)); statistics per channel c over the
// N*S values x[n, c, s].
//
// The caller (the binding) has validated every argument; these functions cannot fail.
// Optional arrays are nullptr. All outputs are bitwise identical for any thread count.
#pragma once

#include <cstdint>

namespace fastdl::bn {

template <typename T>
struct Forward {
  int64_t N = 0, C = 0, S = 1;
  const T* x = nullptr;            // (N, C, S)
  const T* gamma = nullptr;        // (C,) or nullptr (scale 1)
  const T* beta = nullptr;         // (C,) or nullptr (shift 0)
  T* running_mean = nullptr;       // (C,) or nullptr; updated in place when training
  T* running_var = nullptr;        // (C,) or nullptr (both or neither)
  bool training = true;
  double momentum = 0.1, eps = 1e-5;
  T* y = nullptr;                  // (N, C, S) output
  T* save_mean = nullptr;          // (C,) output
  T* save_invstd = nullptr;        // (C,) output
};

template <typename T>
struct Backward {
  int64_t N = 0, C = 0, S = 1;
  const T* grad_y = nullptr;       // (N, C, S)
  const T* x = nullptr;            // (N, C, S)
  const T* gamma = nullptr;        // (C,) or nullptr
  const T* save_mean = nullptr;    // (C,)
  const T* save_invstd = nullptr;  // (C,)
  bool training = true;
  T* grad_x = nullptr;             // (N, C, S) output
  T* grad_gamma = nullptr;         // (C,) output, or nullptr (then grad_beta is too)
  T* grad_beta = nullptr;          // (C,) output, or nullptr
};

// y = (x - mean) * invstd * gamma + beta, with the batch statistics (training, or no
// running stats) or the running ones (eval). Training with running stats updates them:
// running = momentum * batch_stat + (1 - momentum) * running, the variance unbiased.
// Needs N*S >= 2 when training (checked by the caller); N*S == 0 leaves the running stats
// alone and saves zeros.
template <typename T> void batch_norm(const Forward<T>& a);

// Training: grad_x = gamma*invstd * (dy - mean(dy) - x_hat * mean(dy * x_hat)), with
// x_hat = (x - save_mean) * save_invstd recomputed. Eval: grad_x = dy * gamma * invstd.
// Both: grad_gamma = sum(dy * x_hat), grad_beta = sum(dy).
template <typename T> void batch_norm_backward(const Backward<T>& a);

// --- the per-ISA loops (isa/batchnorm_isa.cpp) -------------------------------------------
// The driver (batchnorm.cpp) cuts each channel's values into fixed blocks, rectangles of
// `rows` rows of `cols` contiguous values, consecutive rows `ld` apart in x, y, dy and dx,
// and calls these on each. Two shapes of block:
//  - plane: one channel's span of a row (S of 512 bytes or more): reductions run along it;
//  - tile: W whole channels side by side (cols = W*S, small S, BatchNorm1d): reductions
//    run down the rows, so the loops vectorise across channels.
// Partial sums are kept in T in a fixed set of lanes and returned in double, so that
// the blocks can be merged in double in a fixed order.
//
// The first pass over a block (statistics, or the gradient sums) is the one that reads
// memory: it prefetches rows ahead, up to `ahead` rows past the block (the rest of the
// group, read next).
struct Rect {
  int64_t rows, cols, ld;
  int64_t ahead = 0;
};

template <typename T>
struct BatchNormLoops {
  // Exact two-pass statistics of one block: a rough mean m from a first pass, then the
  // deviations from it: out_mean = m + sum(x - m)/n, out_m2 = sum((x-m)^2) - sum(x-m)^2/n
  // (the corrected two-pass algorithm; the second pass reads the block from L1/L2).
  // plane: one channel; tile: W = cols/S channels, one (mean, m2) per channel.
  // scratch (tile loops): 4*cols values of T.
  void (*plane_stats)(const T* x, Rect r, double* out_mean, double* out_m2) = nullptr;
  void (*tile_stats)(const T* x, Rect r, int64_t S, T* scratch, double* out_mean,
                     double* out_m2) = nullptr;
  // y = (x - mean) * scale + shift per channel (tile: one value per channel). `stream`:
  // write y with non-temporal stores (same values; the caller fences).
  void (*plane_normalize)(const T* x, T* y, Rect r, T mean, T scale, T shift,
                          bool stream) = nullptr;
  void (*tile_normalize)(const T* x, T* y, Rect r, int64_t S, const T* mean, const T* scale,
                         const T* shift, T* scratch, bool stream) = nullptr;
  // sum(dy) and sum(dy * (x - mean)) of one block.
  void (*plane_grad_sums)(const T* dy, const T* x, Rect r, T mean, double* sum_dy,
                          double* sum_dyxm) = nullptr;
  void (*tile_grad_sums)(const T* dy, const T* x, Rect r, int64_t S, const T* mean,
                         T* scratch, double* sum_dy, double* sum_dyxm) = nullptr;
  // dx = dy * a + (x - mean) * b + c per channel; with x == nullptr, dx = dy * a.
  void (*plane_grad_apply)(const T* dy, const T* x, T* dx, Rect r, T mean, T a, T b, T c,
                           bool stream) = nullptr;
  void (*tile_grad_apply)(const T* dy, const T* x, T* dx, Rect r, int64_t S, const T* mean,
                          const T* a, const T* b, const T* c, T* scratch,
                          bool stream) = nullptr;
};

}  // namespace fastdl::bn
