// The GEMM micro-kernels. This file is compiled once per instruction set (FASTDL_ISA_NS
// = baseline, avx2 or avx512, with that ISA's -m flags); each unit picks the widest
// vector type its flags allow and registers its kernels with fill_gemm.
//
//   avx512: zmm intrinsics (the unit's -mprefer-vector-width=256 only steers
//           auto-vectorisation). On the AMD EPYC this was tuned on (family 1Ah, Zen 5:
//           full-width AVX-512) a zmm FMA does twice the work of a ymm one (measured,
//           a register-only FMA loop on one core: ~250 vs ~126 GFLOP/s), so zmm it is.
//   avx2:   ymm + FMA intrinsics, 16 registers.
//   other:  GCC/Clang vector extensions on 16-byte vectors (SSE2 on x86-64, NEON on
//           aarch64); no fused multiply-add (the baseline x86-64 has none), so the
//           accumulation is a multiply then an add.
//
// The micro-kernel keeps an M x W block of vector accumulators in registers (M rows of
// C, W vectors of L columns each) and, per k, loads W vectors of the packed B panel and
// broadcasts M values of the packed A panel. Edge tiles use the same code with fewer
// rows (M < MR) or vectors (W < NV); a tile whose width is not a whole number of
// vectors goes through a small buffer. Every path computes each element as the same
// chain acc = fma(a, b, acc) over k, so an element's bits do not depend on the tile
// (and therefore the thread) that computed it.
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/common.h"
#include "kernels/dispatch.h"
#include "kernels/gemm_kernel.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__AVX512F__)
#include "kernels/isa/transpose_avx512.h"
#endif

#ifndef FASTDL_ISA_NS
#error "FASTDL_ISA_NS must name the instruction set this unit is compiled for"
#endif

namespace fastdl::FASTDL_ISA_NS {

namespace {

using gemm::MicroKernel;
using gemm::TileEpilogue;

// --- vector traits: V, L (lanes), load/store (unaligned), broadcast, fma, add, mul ----

#if defined(__AVX512F__)
#define FASTDL_GEMM_VEC "zmm"
template <typename T> struct Vec;
template <> struct Vec<float> {
  using V = __m512;
  static constexpr int L = 16;
  static FASTDL_INLINE V zero() { return _mm512_setzero_ps(); }
  static FASTDL_INLINE V load(const float* p) { return _mm512_loadu_ps(p); }
  static FASTDL_INLINE void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static FASTDL_INLINE V bcast(const float* p) { return _mm512_set1_ps(*p); }
  static FASTDL_INLINE V set1(float s) { return _mm512_set1_ps(s); }
  static FASTDL_INLINE V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static FASTDL_INLINE V add(V a, V b) { return _mm512_add_ps(a, b); }
  static FASTDL_INLINE V mul(V a, V b) { return _mm512_mul_ps(a, b); }
};
template <> struct Vec<double> {
  using V = __m512d;
  static constexpr int L = 8;
  static FASTDL_INLINE V zero() { return _mm512_setzero_pd(); }
  static FASTDL_INLINE V load(const double* p) { return _mm512_loadu_pd(p); }
  static FASTDL_INLINE void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static FASTDL_INLINE V bcast(const double* p) { return _mm512_set1_pd(*p); }
  static FASTDL_INLINE V set1(double s) { return _mm512_set1_pd(s); }
  static FASTDL_INLINE V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static FASTDL_INLINE V add(V a, V b) { return _mm512_add_pd(a, b); }
  static FASTDL_INLINE V mul(V a, V b) { return _mm512_mul_pd(a, b); }
};
// 32 zmm registers: 6 x 4 accumulators + 4 B vectors + a broadcast: 6 x 64 floats.
// Measured on one core against 12 x 32 (12 x 2 vectors), 8 x 48, 14 x 32, 10 x 48,
// 7 x 64, 5 x 64 and 4 x 64: 6 x 64 was as fast or faster on every benchmark shape and
// ~8% faster on (64, 25088, 576) (fewer broadcasts per FMA: 10 loads per 24 FMAs).
constexpr int kMR = 6, kNV = 4;

#elif defined(__AVX2__) && defined(__FMA__)
#define FASTDL_GEMM_VEC "ymm"
template <typename T> struct Vec;
template <> struct Vec<float> {
  using V = __m256;
  static constexpr int L = 8;
  static FASTDL_INLINE V zero() { return _mm256_setzero_ps(); }
  static FASTDL_INLINE V load(const float* p) { return _mm256_loadu_ps(p); }
  static FASTDL_INLINE void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static FASTDL_INLINE V bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static FASTDL_INLINE V set1(float s) { return _mm256_set1_ps(s); }
  static FASTDL_INLINE V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static FASTDL_INLINE V add(V a, V b) { return _mm256_add_ps(a, b); }
  static FASTDL_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
};
template <> struct Vec<double> {
  using V = __m256d;
  static constexpr int L = 4;
  static FASTDL_INLINE V zero() { return _mm256_setzero_pd(); }
  static FASTDL_INLINE V load(const double* p) { return _mm256_loadu_pd(p); }
  static FASTDL_INLINE void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static FASTDL_INLINE V bcast(const double* p) { return _mm256_broadcast_sd(p); }
  static FASTDL_INLINE V set1(double s) { return _mm256_set1_pd(s); }
  static FASTDL_INLINE V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static FASTDL_INLINE V add(V a, V b) { return _mm256_add_pd(a, b); }
  static FASTDL_INLINE V mul(V a, V b) { return _mm256_mul_pd(a, b); }
};
// 16 ymm registers: 4 x 3 accumulators + 3 B vectors + 1 broadcast: 4 x 24 floats.
// Measured 2-4% faster than the classic 6 x 16 (6 x 2 vectors) on one Zen core.
constexpr int kMR = 4, kNV = 3;

#else
#define FASTDL_GEMM_VEC "vec128"
// GCC/Clang vector extensions: 16-byte vectors, which every x86-64 (SSE2) and aarch64
// (NEON) has. Loads and stores go through memcpy (unaligned, and no aliasing games).
template <typename T> struct Vec;
template <> struct Vec<float> {
  typedef float V __attribute__((vector_size(16)));
  static constexpr int L = 4;
  static FASTDL_INLINE V zero() { return V{}; }
  static FASTDL_INLINE V load(const float* p) { V v; std::memcpy(&v, p, sizeof v); return v; }
  static FASTDL_INLINE void store(float* p, V v) { std::memcpy(p, &v, sizeof v); }
  static FASTDL_INLINE V set1(float s) { return V{s, s, s, s}; }
  static FASTDL_INLINE V bcast(const float* p) { return set1(*p); }
  static FASTDL_INLINE V fma(V a, V b, V c) { return a * b + c; }  // ISO C++: not contracted
  static FASTDL_INLINE V add(V a, V b) { return a + b; }
  static FASTDL_INLINE V mul(V a, V b) { return a * b; }
};
template <> struct Vec<double> {
  typedef double V __attribute__((vector_size(16)));
  static constexpr int L = 2;
  static FASTDL_INLINE V zero() { return V{}; }
  static FASTDL_INLINE V load(const double* p) { V v; std::memcpy(&v, p, sizeof v); return v; }
  static FASTDL_INLINE void store(double* p, V v) { std::memcpy(p, &v, sizeof v); }
  static FASTDL_INLINE V set1(double s) { return V{s, s}; }
  static FASTDL_INLINE V bcast(const double* p) { return set1(*p); }
  static FASTDL_INLINE V fma(V a, V b, V c) { return a * b + c; }
  static FASTDL_INLINE V add(V a, V b) { return a + b; }
  static FASTDL_INLINE V mul(V a, V b) { return a * b; }
};
// 16 xmm registers on x86-64: 6 x 2 accumulators + 2 B vectors + 1 broadcast.
constexpr int kMR = 6, kNV = 2;
#endif

// --- the micro-kernel -------------------------------------------------------------------

// C (M rows, W vectors) <- epilogue(a @ b) over kc, with a the packed panel (stride kMR
// per k) and b the packed panel (stride NR = kNV * L per k). ldc in elements.
template <typename T, int M, int W>
void tile_kernel(int64_t kc, const T* FASTDL_RESTRICT a, const T* FASTDL_RESTRICT b,
                 T* FASTDL_RESTRICT c, int64_t ldc, const TileEpilogue<T>& e) {
  using Vt = Vec<T>;
  using V = typename Vt::V;
  constexpr int L = Vt::L;
  constexpr int NR = kNV * L;
  // C's tile is read in the epilogue, after the k loop; fetch it now so that the misses
  // (C is swept once per K block) overlap the arithmetic.
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < W; ++v) __builtin_prefetch(c + i * ldc + v * L, 1, 3);
  }
  V acc[M][W];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < W; ++v) acc[i][v] = Vt::zero();
  }
  // Unrolled by 4 (GCC does not on its own): 3-5% faster on one core, measured.
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    V bv[W];
#pragma GCC unroll 4
    for (int v = 0; v < W; ++v) bv[v] = Vt::load(b + v * L);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const V ai = Vt::bcast(a + i);
#pragma GCC unroll 4
      for (int v = 0; v < W; ++v) acc[i][v] = Vt::fma(ai, bv[v], acc[i][v]);
    }
    a += kMR;
    b += NR;
  }
  const V alpha = Vt::set1(e.alpha);
  const V beta = Vt::set1(e.beta);
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    T* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int v = 0; v < W; ++v) {
      V r;
      if (e.first) {
        r = Vt::mul(alpha, acc[i][v]);
        if (!e.beta_zero) r = Vt::add(r, Vt::mul(beta, Vt::load(ci + v * L)));
      } else {
        r = Vt::add(Vt::load(ci + v * L), Vt::mul(alpha, acc[i][v]));
      }
      if (e.bias_row != nullptr) r = Vt::add(r, Vt::set1(e.bias_row[i]));
      if (e.bias_col != nullptr) r = Vt::add(r, Vt::load(e.bias_col + v * L));
      Vt::store(ci + v * L, r);
    }
  }
}

template <typename T>
using TileFn = void (*)(int64_t, const T*, const T*, T*, int64_t, const TileEpilogue<T>&);

// kTiles<T>[m-1][w-1] = tile_kernel<T, m, w>.
template <typename T, int M, size_t... Ws>
constexpr std::array<TileFn<T>, kNV> row_of_tiles(std::index_sequence<Ws...>) {
  return {&tile_kernel<T, M, static_cast<int>(Ws) + 1>...};
}
template <typename T, size_t... Ms>
constexpr std::array<std::array<TileFn<T>, kNV>, kMR> make_tiles(std::index_sequence<Ms...>) {
  return {row_of_tiles<T, static_cast<int>(Ms) + 1>(std::make_index_sequence<kNV>{})...};
}
template <typename T>
constexpr std::array<std::array<TileFn<T>, kNV>, kMR> kTiles =
    make_tiles<T>(std::make_index_sequence<kMR>{});

// Any m x n tile (1 <= m <= MR, 1 <= n <= NR): the kernel with m rows and the fewest
// whole vectors covering n columns. When n is not a whole number of vectors the tile
// runs on a buffer (C's columns copied in, the result copied out), with the column bias
// padded the same way: the arithmetic is exactly that of a full tile.
template <typename T>
void tile(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int m, int n,
          const TileEpilogue<T>& e) {
  constexpr int L = Vec<T>::L;
  constexpr int NR = kNV * L;
  const int w = (n + L - 1) / L;
  const TileFn<T> fn = kTiles<T>[m - 1][w - 1];
  if (n == w * L) {
    fn(kc, a, b, c, ldc, e);
    return;
  }
  alignas(64) T buf[kMR * NR];
  alignas(64) T bias[NR];
  TileEpilogue<T> eb = e;
  const bool reads_c = !(e.first && e.beta_zero);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < w * L; ++j) buf[i * NR + j] = (reads_c && j < n) ? c[i * ldc + j] : T(0);
  }
  if (e.bias_col != nullptr) {
    for (int j = 0; j < w * L; ++j) bias[j] = j < n ? e.bias_col[j] : T(0);
    eb.bias_col = bias;
  }
  fn(kc, a, b, buf, NR, eb);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) c[i * ldc + j] = buf[i * NR + j];
  }
}

// --- packing --------------------------------------------------------------------------
// Whole panels copy fixed-size rows (kMR or NR values), which the compiler turns into
// vector moves; transposing copies read each source row or column once, contiguously.
// An edge panel is filled only as far as its micro-kernel reads: m rows of A, and the
// columns of B up to a whole vector (zeros past n). Zeroing whole 64-column panels made
// (8, 512) x (512, 10) twice as slow.

// Transposed panels of B (B(k, j) = p[k + j * cs], linear's weight): 16 x 16 blocks
// transposed in zmm registers. Scalar, this copy took ~1.2 cycles per element and made
// ops.linear 30% slower than numpy on (64, 4096) x (4096, 4096)^T.
#if defined(__AVX512F__)
// Whole 16-column groups of a transposed panel, 16 rows at a time; returns the rows done.
FASTDL_INLINE int64_t pack_b_transposed_simd(const float* src, int64_t cs, int64_t kc, int n,
                                             float* FASTDL_RESTRICT d) {
  constexpr int NR = kNV * 16;
  if (n != NR) return 0;
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    for (int jb = 0; jb < kNV; ++jb) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + (jb * 16 + i) * cs + k);
      transpose16(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(d + (k + i) * NR + jb * 16, r[i]);
    }
  }
  return k;
}

// Row-major A (x of linear, a convolution's weight): a panel's kMR rows, 16 columns at
// a time, through the same transpose (rows past kMR are zeros); the first kMR lanes of
// each transposed vector are one k of the panel. 2x faster than the scalar copy.
FASTDL_INLINE int64_t pack_a_rows_simd(const float* src, int64_t rs, int64_t kc,
                                       float* FASTDL_RESTRICT d) {
  static_assert(kMR <= 16, "one zmm holds a k of the panel");
  const __mmask16 mask = static_cast<__mmask16>((1u << kMR) - 1);
  int64_t k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < kMR ? _mm512_loadu_ps(src + i * rs + k) : _mm512_setzero_ps();
    transpose16(r);
    for (int i = 0; i < 16; ++i) _mm512_mask_storeu_ps(d + (k + i) * kMR, mask, r[i]);
  }
  return k;
}
#endif
template <typename T>
FASTDL_INLINE int64_t pack_b_transposed_simd(const T*, int64_t, int64_t, int, T*) {
  return 0;
}
template <typename T>
FASTDL_INLINE int64_t pack_a_rows_simd(const T*, int64_t, int64_t, T*) {
  return 0;
}

template <typename T>
void pack_a(const gemm::MatrixRef<T>& A, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
            T* FASTDL_RESTRICT dst) {
  const int64_t full = mc / kMR * kMR;  // rows in whole panels
  if (A.rs == 1) {
    // A stored transposed: for each k the block's rows are contiguous; all whole panels
    // take their kMR values of one source row before the next k (panel by panel, each
    // source line was fetched once per panel: 1.4x slower, 512 x 4608).
    const T* src = A.p + i0 + k0 * A.cs;
    for (int64_t k = 0; k < kc; ++k) {
      const T* s = src + k * A.cs;
      for (int64_t p = 0; p < full; p += kMR) {
#pragma GCC unroll 16
        for (int i = 0; i < kMR; ++i) dst[p * kc + k * kMR + i] = s[p + i];
      }
    }
  }
  for (int64_t p = A.rs == 1 ? full : 0; p < mc; p += kMR) {
    const int m = static_cast<int>(std::min<int64_t>(kMR, mc - p));
    T* FASTDL_RESTRICT d = dst + p * kc;
    const T* src = A.p + (i0 + p) * A.rs + k0 * A.cs;
    if (A.cs == 1) {  // row-major A: read each row once, write with stride kMR
      const int64_t done = m == kMR ? pack_a_rows_simd(src, A.rs, kc, d) : 0;
      for (int i = 0; i < m; ++i) {
        const T* s = src + i * A.rs;
        for (int64_t k = done; k < kc; ++k) d[k * kMR + i] = s[k];
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        for (int i = 0; i < m; ++i) d[k * kMR + i] = src[i * A.rs + k * A.cs];
      }
    }
  }
}

template <typename T>
void pack_b(const gemm::MatrixRef<T>& B, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
            T* FASTDL_RESTRICT dst) {
  using Vt = Vec<T>;
  constexpr int L = Vt::L;
  constexpr int NR = kNV * L;
  for (int64_t q = 0; q * NR < nc; ++q) {
    const int n = static_cast<int>(std::min<int64_t>(NR, nc - q * NR));
    const int padded = (n + L - 1) / L * L;  // the columns the micro-kernel reads
    T* FASTDL_RESTRICT d = dst + q * kc * NR;
    const T* src = B.p + k0 * B.rs + (j0 + q * NR) * B.cs;
    if (B.cs == 1 && n == NR) {  // row-major B: NR contiguous values per k
      for (int64_t k = 0; k < kc; ++k) {
#pragma GCC unroll 4
        for (int v = 0; v < kNV; ++v) Vt::store(d + k * NR + v * L, Vt::load(src + k * B.rs + v * L));
      }
    } else if (B.rs == 1) {  // B stored transposed (linear's weight): read columns
      const int64_t done = pack_b_transposed_simd(src, B.cs, kc, n, d);
      for (int j = 0; j < n; ++j) {
        const T* s = src + j * B.cs;
        for (int64_t k = done; k < kc; ++k) d[k * NR + j] = s[k];
      }
      for (int64_t k = 0; k < kc; ++k) {
        for (int j = n; j < padded; ++j) d[k * NR + j] = T(0);
      }
    } else {
      for (int64_t k = 0; k < kc; ++k) {
        for (int j = 0; j < n; ++j) d[k * NR + j] = src[k * B.rs + j * B.cs];
        for (int j = n; j < padded; ++j) d[k * NR + j] = T(0);
      }
    }
  }
}

// --- few rows times a transposed B: dot products, nothing packed -------------------------
// For M <= gemm::kDotRows and B stored transposed (B(k, j) = p[k + j * cs]: linear's
// weight), packing B would cost more than the product (a K x N copy for M x K x N
// multiply-adds; ops.linear on one row was 5x slower than numpy's gemv): each element
// is instead a dot product of a row of A with a row of B's storage, vectorised over k.
// An element's value: L lane-wise fma chains over k (k = lane mod L), summed pairwise,
// then the K % L leftover terms added in order, then the epilogue of a first K block.

template <typename T>
FASTDL_INLINE T lanes_sum(typename Vec<T>::V v) {
  constexpr int L = Vec<T>::L;
  alignas(64) T t[L];
  Vec<T>::store(t, v);
  for (int w = L / 2; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) t[l] = t[l] + t[l + w];
  }
  return t[0];
}

// Columns j .. j + NJ - 1 of the M rows of C; A rows contiguous along k (cs == 1).
template <typename T, int M, int NJ>
void dot_block(const gemm::GemmArgs<T>& g, int64_t j) {
  using Vt = Vec<T>;
  using V = typename Vt::V;
  constexpr int L = Vt::L;
  const int64_t K = g.K, kv = K / L * L;
  const T* a[M];
  const T* b[NJ];
  for (int i = 0; i < M; ++i) a[i] = g.A.p + i * g.A.rs;
  for (int jj = 0; jj < NJ; ++jj) b[jj] = g.B.p + (j + jj) * g.B.cs;
  V acc[M][NJ];
  for (int i = 0; i < M; ++i) {
    for (int jj = 0; jj < NJ; ++jj) acc[i][jj] = Vt::zero();
  }
  for (int64_t k = 0; k < kv; k += L) {
    V av[M];
    for (int i = 0; i < M; ++i) av[i] = Vt::load(a[i] + k);
    for (int jj = 0; jj < NJ; ++jj) {
      const V bv = Vt::load(b[jj] + k);
      for (int i = 0; i < M; ++i) acc[i][jj] = Vt::fma(av[i], bv, acc[i][jj]);
    }
  }
  for (int i = 0; i < M; ++i) {
    T* c = g.C + i * g.ldc + j;
    for (int jj = 0; jj < NJ; ++jj) {
      T s = lanes_sum<T>(acc[i][jj]);
      for (int64_t k = kv; k < K; ++k) s = s + a[i][k] * b[jj][k];
      T r = g.alpha * s;
      if (g.beta != T(0)) r = r + g.beta * c[jj];
      if (g.bias_row != nullptr) r = r + g.bias_row[i];
      if (g.bias_col != nullptr) r = r + g.bias_col[j + jj];
      c[jj] = r;
    }
  }
}

template <typename T, int M>
void dot_rows_m(const gemm::GemmArgs<T>& g, int64_t j0, int64_t j1) {
  constexpr int NJ = 4;  // 4 x M independent chains hide the FMA latency
  int64_t j = j0;
  for (; j + NJ <= j1; j += NJ) dot_block<T, M, NJ>(g, j);
  for (; j < j1; ++j) dot_block<T, M, 1>(g, j);
}

// C[:, j0:j1] = epilogue(A @ B) for g.M <= kDotRows, g.A.cs == 1, g.B.rs == 1.
template <typename T>
void dot_rows(const gemm::GemmArgs<T>& g, int64_t j0, int64_t j1) {
  static_assert(gemm::kDotRows == 4, "one instantiation per row count");
  switch (g.M) {
    case 1: dot_rows_m<T, 1>(g, j0, j1); break;
    case 2: dot_rows_m<T, 2>(g, j0, j1); break;
    case 3: dot_rows_m<T, 3>(g, j0, j1); break;
    default: dot_rows_m<T, 4>(g, j0, j1); break;
  }
}

template <typename T>
MicroKernel<T> micro_kernel(int64_t mc, int64_t kc, int64_t nc) {
  MicroKernel<T> k;
  k.mr = kMR;
  k.nr = kNV * Vec<T>::L;
  k.mc = mc;
  k.kc = kc;
  k.nc = nc;
  k.tile = &tile<T>;
  k.pack_a = &pack_a<T>;
  k.pack_b = &pack_b<T>;
  k.dot_rows = &dot_rows<T>;
  return k;
}

}  // namespace

void fill_gemm(KernelTable& t) {
  // Cache blocking (see gemm.cpp for the loops). Zen 5 here: L1d 48 KB, L2 1 MB per
  // core. The kc x nr panel of B is reused by every mr-row panel of the mc x kc block of
  // A (kept in L2); C is swept once per K block. Measured (f32, 6 x 64, one core, the
  // benchmark shapes): KC 128, 192 and 256 and MC 60..516 all within 2% of each other,
  // KC 256 sweeps C least often; f64 likewise with KC 128. NC bounds the packed B block
  // (KC x NC, shared by the threads, in L3).
  t.gemm_f32 = micro_kernel<float>(kMR * 20, 256, 4096);
  t.gemm_f64 = micro_kernel<double>(kMR * 20, 128, 4096);
  t.gemm_f32.name = FASTDL_GEMM_VEC " f32";
  t.gemm_f64.name = FASTDL_GEMM_VEC " f64";
}

}  // namespace fastdl::FASTDL_ISA_NS
