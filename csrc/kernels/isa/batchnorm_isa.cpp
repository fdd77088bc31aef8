// The loops of batch normalization over one block (see BatchNormLoops in batchnorm.h).
// Compiled once per instruction set (FASTDL_ISA_NS = baseline, avx2 or avx512).
//
// Reductions keep kLanes partial sums in T (128 bytes: four 256-bit registers, so the
// adds of consecutive vectors do not wait on each other), each lane summing a fixed
// subset of the block's elements; the lanes are then added in double in a fixed order.
// The compiler vectorises `acc[l] += p[k + l]` over l without reassociating anything
// (each lane is its own sum), so the result depends only on the block, never on the
// thread that ran it.
//
// The first pass over a block is the one that reads x (and dy) from memory, prefetching
// ahead of itself; the later passes find the block in cache.
#include <algorithm>
#include <cmath>
#include <limits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

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
// the sums of the deviations from it and of their squares, over 1/inv_n values.
FASTDL_INLINE void finish_moments(double m, double s1, double s2, double inv_n, double* mean,
                                  double* m2) {
  if (!std::isfinite(m)) {
    // An inf (or NaN) in the block: its plain mean m is the block's mean (+-inf, or NaN
    // for inf - inf), as torch's and the twin's, while the deviations from it would be
    // inf - inf = NaN and make it NaN. The variance is NaN in all three.
    *mean = m;
    *m2 = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  const double d = s1 * inv_n;
  *mean = m + d;
  // s1^2/n <= s2 for exact sums; rounding could push the difference below zero. Not
  // std::max(0.0, .): that turns a NaN (from a NaN or inf in x) into 0, a finite
  // variance where torch and the twin give NaN.
  const double m2v = s2 - s1 * d;
  *m2 = m2v < 0.0 ? 0.0 : m2v;
}

// --- reading a block from memory -------------------------------------------------------

// The first pass over a block keeps software prefetches kAheadBytes ahead of where it
// reads, through the block's rows and on into the rows after it (the rest of the group,
// `ahead` rows). The hardware prefetcher restarts at every row (rows are C*S values apart
// in memory); this keeps the memory busy across the jumps. Measured on the read pattern
// of the backward on (32, 64, 56, 56), rows of 12.5 KB: 31.6 GB/s without, 39.5 GB/s
// with a 4 KB lead (and 60 GB/s for the same bytes read linearly); with the kernels, an
// 8 KB lead took 10-30% off the backward and 15% off BatchNorm1d's forward, 2 KB lost.
constexpr int64_t kAheadBytes = 8192;
// First passes go through long rows kChunk values at a time (a multiple of kLanes, so the
// chunks never change which lane sums which value).
constexpr int64_t kChunk = 256;

class Prefetcher {
 public:
  template <typename T>
  Prefetcher(const T* base, const Rect& r)
      : base_(reinterpret_cast<const char*>(base)),
        ld_(r.ld * static_cast<int64_t>(sizeof(T))),
        row_(r.cols * static_cast<int64_t>(sizeof(T))),
        rows_(r.rows + r.ahead) {
    issue(kAheadBytes);  // the lead; later blocks of a group find it already in cache
  }
  // Prefetches the next `bytes` bytes of the rows (call before reading as many).
  FASTDL_INLINE void issue(int64_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
    for (int64_t b = 0; b < bytes && i_ < rows_; b += 64) {
      const char* row = base_ + i_ * ld_;
      __builtin_prefetch(row + off_, 0, 3);
      off_ += 64;
      if (off_ >= row_) {
        __builtin_prefetch(row + row_ - 1, 0, 3);  // the row's last line, if partial
        off_ = 0;
        ++i_;
      }
    }
#else
    (void)bytes;
#endif
  }

 private:
  const char* base_;
  int64_t ld_, row_, rows_;
  int64_t i_ = 0, off_ = 0;
};

// --- statistics: one channel per block (plane) --------------------------------------------

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
  Prefetcher pf(x, r);
  alignas(64) T acc[L] = {};
  for (int64_t i = 0; i < r.rows; ++i) {
    for (int64_t k = 0; k < r.cols; k += kChunk) {
      const int64_t len = std::min(kChunk, r.cols - k);
      pf.issue(len * static_cast<int64_t>(sizeof(T)));
      row_sum(x + i * r.ld + k, len, acc);
    }
  }
  const double n = static_cast<double>(r.rows * r.cols);
  const T m = static_cast<T>(lane_sum(acc) / n);
  alignas(64) T a1[L] = {};
  alignas(64) T a2[L] = {};
  for (int64_t i = 0; i < r.rows; ++i) row_dev_sums(x + i * r.ld, r.cols, m, a1, a2);
  finish_moments(static_cast<double>(m), lane_sum(a1), lane_sum(a2), 1 / n, out_mean, out_m2);
}

// --- statistics: W channels side by side (tile), sums down the rows ---------------------

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
// (Four running sums: one chain of S dependent adds per channel and pass cost as much as
// the rest of a block's work when S is ~50.)
template <typename T>
FASTDL_INLINE double chan_sum(const T* acc, int64_t c, int64_t S) {
  const T* a = acc + c * S;
  if (S == 1) return static_cast<double>(a[0]);
  double s[4] = {0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 4 <= S; k += 4) {
    for (int l = 0; l < 4; ++l) s[l] += static_cast<double>(a[k + l]);
  }
  for (int l = 0; k + l < S; ++l) s[l] += static_cast<double>(a[k + l]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

template <typename T>
void tile_stats(const T* x, Rect r, int64_t S, T* scratch, double* out_mean, double* out_m2) {
  const int64_t cols = r.cols, W = cols / S;
  Prefetcher pf(x, r);
  T* a1 = scratch;
  T* a2 = scratch + cols;
  T* mv = scratch + 2 * cols;
  std::fill(a1, a1 + cols, T(0));
  for (int64_t i = 0; i < r.rows; ++i) {
    pf.issue(cols * static_cast<int64_t>(sizeof(T)));
    col_add(x + i * r.ld, cols, a1);
  }
  const double inv_n = 1 / static_cast<double>(r.rows * S);
  for (int64_t c = 0; c < W; ++c) mv[c * S] = static_cast<T>(chan_sum(a1, c, S) * inv_n);
  if (S > 1) {
    for (int64_t c = 0; c < W; ++c) std::fill(mv + c * S + 1, mv + (c + 1) * S, mv[c * S]);
  }
  std::fill(a1, a1 + cols, T(0));
  std::fill(a2, a2 + cols, T(0));
  for (int64_t i = 0; i < r.rows; ++i) col_dev_add(x + i * r.ld, mv, cols, a1, a2);
  for (int64_t c = 0; c < W; ++c) {
    finish_moments(static_cast<double>(mv[c * S]), chan_sum(a1, c, S), chan_sum(a2, c, S), inv_n,
                   out_mean + c, out_m2 + c);
  }
}

// --- outputs: plain or non-temporal stores -----------------------------------------------
//
// An output much larger than the caches is written with non-temporal (streaming) stores:
// a plain store first reads the line it writes (read-for-ownership), so y costs 8 bytes of
// traffic per float instead of 4 (measured on Zen 5 with the loop of the forward on
// (32, 64, 56, 56): 26 GB/s with plain stores, 41 GB/s streaming). The values are computed
// by the same loop either way, into a small buffer that is then streamed out, so both
// give the same bits.

constexpr int64_t kStreamBuf = 1024;  // elements per buffered chunk (4-8 KB, in L1)

// Copies n values to dst with streaming stores for the vector-aligned body (dst is
// aligned to T: the head and tail are at most a vector each, copied one value at a time).
// Streaming stores are weakly ordered: the driver fences (sfence) once a thread has
// written its share.
template <typename T>
FASTDL_INLINE void stream_copy(T* FASTDL_RESTRICT dst, const T* FASTDL_RESTRICT src, int64_t n) {
#if defined(__AVX512F__)
  constexpr int64_t V = 64;
#elif defined(__AVX__)
  constexpr int64_t V = 32;
#elif defined(__SSE2__)
  constexpr int64_t V = 16;
#else
  constexpr int64_t V = 0;
#endif
  constexpr int64_t E = static_cast<int64_t>(sizeof(T));
  int64_t k = 0;
  if constexpr (V > 0) {
    // W == V here; V itself in a modulus would draw a division-by-zero warning from GCC
    // on targets without SSE2 (aarch64), where V is 0 and this branch is discarded.
    constexpr int64_t W = V > 0 ? V : 1;
    const int64_t head = std::min<int64_t>(n, (W - reinterpret_cast<uintptr_t>(dst) % W) % W / E);
    for (; k < head; ++k) dst[k] = src[k];
    for (; k + V / E <= n; k += V / E) {
      char* d = reinterpret_cast<char*>(dst + k);
      const char* q = reinterpret_cast<const char*>(src + k);
#if defined(__AVX512F__)
      _mm512_stream_si512(reinterpret_cast<__m512i*>(d), _mm512_loadu_si512(q));
#elif defined(__AVX__)
      _mm256_stream_si256(reinterpret_cast<__m256i*>(d),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
#elif defined(__SSE2__)
      _mm_stream_si128(reinterpret_cast<__m128i*>(d),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
#endif
    }
  }
  for (; k < n; ++k) dst[k] = src[k];
}

// Writes n outputs: f(out, k, len) computes outputs [k, k + len) into out[0, len).
template <bool kStream, typename T, class F>
FASTDL_INLINE void emit(T* dst, int64_t n, F&& f) {
  if constexpr (!kStream) {
    f(dst, 0, n);
  } else {
    alignas(64) T buf[kStreamBuf];
    for (int64_t k = 0; k < n; k += kStreamBuf) {
      const int64_t len = std::min(kStreamBuf, n - k);
      f(buf, k, len);
      stream_copy(dst + k, buf, len);
    }
  }
}

// --- normalize ---------------------------------------------------------------------------

template <typename T>
void row_normalize(const T* FASTDL_RESTRICT x, T* FASTDL_RESTRICT y, int64_t n, const T m,
                   const T a, const T b) {
  for (int64_t k = 0; k < n; ++k) y[k] = (x[k] - m) * a + b;
}

template <bool kStream, typename T>
void plane_normalize_impl(const T* x, T* y, Rect r, T mean, T scale, T shift) {
  for (int64_t i = 0; i < r.rows; ++i) {
    const T* xi = x + i * r.ld;
    emit<kStream>(y + i * r.ld, r.cols, [&](T* out, int64_t k, int64_t len) {
      row_normalize(xi + k, out, len, mean, scale, shift);
    });
  }
}

template <typename T>
void plane_normalize(const T* x, T* y, Rect r, T mean, T scale, T shift, bool stream) {
  with_bool(stream, [&](auto ST) {
    plane_normalize_impl<decltype(ST)::value>(x, y, r, mean, scale, shift);
  });
}

template <typename T>
void col_normalize(const T* FASTDL_RESTRICT x, T* FASTDL_RESTRICT y, int64_t n,
                   const T* FASTDL_RESTRICT m, const T* FASTDL_RESTRICT a,
                   const T* FASTDL_RESTRICT b) {
  for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - m[j]) * a[j] + b[j];
}

// One value per column: v spread over each channel's S columns into out (or v itself
// when S == 1).
template <typename T>
FASTDL_INLINE const T* spread(const T* v, int64_t W, int64_t S, T* out) {
  if (S == 1) return v;
  for (int64_t c = 0; c < W; ++c) std::fill(out + c * S, out + (c + 1) * S, v[c]);
  return out;
}

template <bool kStream, typename T>
void tile_normalize_impl(const T* x, T* y, Rect r, const T* mv, const T* av, const T* bv) {
  for (int64_t i = 0; i < r.rows; ++i) {
    const T* xi = x + i * r.ld;
    emit<kStream>(y + i * r.ld, r.cols, [&](T* out, int64_t k, int64_t len) {
      col_normalize(xi + k, out, len, mv + k, av + k, bv + k);
    });
  }
}

template <typename T>
void tile_normalize(const T* x, T* y, Rect r, int64_t S, const T* mean, const T* scale,
                    const T* shift, T* scratch, bool stream) {
  const int64_t cols = r.cols, W = cols / S;
  const T* mv = spread(mean, W, S, scratch);
  const T* av = spread(scale, W, S, scratch + cols);
  const T* bv = spread(shift, W, S, scratch + 2 * cols);
  with_bool(stream, [&](auto ST) {
    tile_normalize_impl<decltype(ST)::value>(x, y, r, mv, av, bv);
  });
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
  Prefetcher pfd(dy, r), pfx(x, r);
  alignas(64) T a1[L] = {};
  alignas(64) T a2[L] = {};
  for (int64_t i = 0; i < r.rows; ++i) {
    for (int64_t k = 0; k < r.cols; k += kChunk) {
      const int64_t len = std::min(kChunk, r.cols - k), o = i * r.ld + k;
      pfd.issue(len * static_cast<int64_t>(sizeof(T)));
      pfx.issue(len * static_cast<int64_t>(sizeof(T)));
      row_grad_sums(dy + o, x + o, len, mean, a1, a2);
    }
  }
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
  Prefetcher pfd(dy, r), pfx(x, r);
  T* a1 = scratch;
  T* a2 = scratch + cols;
  const T* mv = spread(mean, W, S, scratch + 2 * cols);
  std::fill(a1, a1 + 2 * cols, T(0));
  for (int64_t i = 0; i < r.rows; ++i) {
    pfd.issue(cols * static_cast<int64_t>(sizeof(T)));
    pfx.issue(cols * static_cast<int64_t>(sizeof(T)));
    col_grad_add(dy + i * r.ld, x + i * r.ld, mv, cols, a1, a2);
  }
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

template <bool kStream, typename T>
void plane_grad_apply_impl(const T* dy, const T* x, T* dx, Rect r, T mean, T a, T b, T c) {
  for (int64_t i = 0; i < r.rows; ++i) {
    const T* dyi = dy + i * r.ld;
    const T* xi = x ? x + i * r.ld : nullptr;
    emit<kStream>(dx + i * r.ld, r.cols, [&](T* out, int64_t k, int64_t len) {
      if (xi == nullptr) {
        row_scale(dyi + k, out, len, a);
      } else {
        row_grad_apply(dyi + k, xi + k, out, len, mean, a, b, c);
      }
    });
  }
}

template <typename T>
void plane_grad_apply(const T* dy, const T* x, T* dx, Rect r, T mean, T a, T b, T c,
                      bool stream) {
  with_bool(stream, [&](auto ST) {
    plane_grad_apply_impl<decltype(ST)::value>(dy, x, dx, r, mean, a, b, c);
  });
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

template <bool kStream, typename T>
void tile_grad_apply_impl(const T* dy, const T* x, T* dx, Rect r, const T* mv, const T* av,
                          const T* bv, const T* cv) {
  for (int64_t i = 0; i < r.rows; ++i) {
    const T* dyi = dy + i * r.ld;
    const T* xi = x ? x + i * r.ld : nullptr;
    emit<kStream>(dx + i * r.ld, r.cols, [&](T* out, int64_t k, int64_t len) {
      if (xi == nullptr) {
        col_scale(dyi + k, out, len, av + k);
      } else {
        col_grad_apply(dyi + k, xi + k, out, len, mv + k, av + k, bv + k, cv + k);
      }
    });
  }
}

template <typename T>
void tile_grad_apply(const T* dy, const T* x, T* dx, Rect r, int64_t S, const T* mean,
                     const T* a, const T* b, const T* c, T* scratch, bool stream) {
  const int64_t cols = r.cols, W = cols / S;
  const T* av = spread(a, W, S, scratch);
  const T* mv = x ? spread(mean, W, S, scratch + cols) : nullptr;
  const T* bv = x ? spread(b, W, S, scratch + 2 * cols) : nullptr;
  const T* cv = x ? spread(c, W, S, scratch + 3 * cols) : nullptr;
  with_bool(stream, [&](auto ST) {
    tile_grad_apply_impl<decltype(ST)::value>(dy, x, dx, r, mv, av, bv, cv);
  });
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
