// The packing loops of the convolution (conv_kernel.h): they write the GEMM's panels
// straight from the images (implicit im2col), so no column matrix is ever stored.
// Compiled once per instruction set (FASTDL_ISA_NS = baseline, avx2 or avx512).
//
// A panel's columns (output positions, images side by side) fall into segments, each a
// run of positions along one output row of one image; a segment of kernel row k reads
// one input row at a fixed stride, with zeros where it leaves the image. The segments of
// a panel are worked out once and reused by all its KC rows (a division-free inner loop).
// With AVX-512 a segment is copied 16 (float) or 8 (double) values at a time by masked
// loads and stores (the masks make the zero padding); stride 2 takes every other lane
// of two loads. The transposed panels of the weight gradient gather 16 rows that way
// and transpose them in registers.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>

#include "kernels/isa/transpose_avx512.h"
#endif

#include "kernels/common.h"
#include "kernels/conv_kernel.h"
#include "kernels/dispatch.h"

#ifndef FASTDL_ISA_NS
#error "FASTDL_ISA_NS must name the instruction set this unit is compiled for"
#endif

namespace fastdl::FASTDL_ISA_NS {

namespace {

using conv::Cols;
using conv::Geometry;
using conv::GradY;
using conv::Planes;

// A run of consecutive columns inside one output row of one image (and one panel).
struct Segment {
  int64_t t;       // its first column, counted from the start of the range
  int64_t dst;     // where that column goes in the destination row(s)
  int64_t len;
  int64_t base;    // the image's offset in the input
  int64_t ih, iw;  // the input position its first column reads at kernel offset (0, 0)
};

// Columns at most per call of segments(): pack_cols cuts its column blocks (NC, in whole
// panels) and pack_cols_t its K blocks of rows into pieces of this many.
constexpr int64_t kMaxRun = conv::kIm2colBlock;

// The segments of the columns [j0, j0 + n) (n <= kMaxRun); returns their number. The
// destination is cut into panels of `split` columns, `panel` apart: column t of the range
// goes to (t / split) * panel + t % split, and no segment crosses a panel.
int64_t segments(const Geometry& g, int64_t img_stride, int64_t j0, int64_t n, int64_t split,
                 int64_t panel, Segment* out) {
  const int64_t L = g.L();
  int64_t img = j0 / L, l = j0 % L;
  int64_t oh = l / g.OW, ow = l % g.OW;
  int64_t ns = 0;
  for (int64_t t = 0; t < n;) {
    const int64_t len = std::min({g.OW - ow, n - t, split - t % split});
    out[ns++] = {t, (t / split) * panel + t % split, len, img * img_stride, oh * g.SH - g.PH,
                 ow * g.SW - g.PW};
    t += len;
    ow += len;
    if (ow == g.OW) {
      ow = 0;
      if (++oh == g.OH) {
        oh = 0;
        ++img;
      }
    }
  }
  return ns;
}

// --- one segment of one row ----------------------------------------------------------------

// dst[t] = row[iw + t * sw] for t < len, 0 where iw + t * sw is outside [0, W).
template <typename T>
FASTDL_INLINE void copy_segment_scalar(const T* row, int64_t iw, int64_t sw, int64_t W,
                                       int64_t len, T* FASTDL_RESTRICT dst) {
  int64_t lo = iw >= 0 ? 0 : (-iw + sw - 1) / sw;  // valid t: [lo, hi)
  int64_t hi = iw > W - 1 ? 0 : (W - 1 - iw) / sw + 1;
  lo = std::min(lo, len);
  hi = std::max(lo, std::min(hi, len));
  const T* src = row + iw;
  for (int64_t t = 0; t < lo; ++t) dst[t] = T(0);
  for (int64_t t = lo; t < hi; ++t) dst[t] = src[t * sw];
  for (int64_t t = hi; t < len; ++t) dst[t] = T(0);
}

#if defined(__AVX512F__)
template <typename T>
struct Simd;
template <>
struct Simd<float> {
  static constexpr int L = 16;
  using Mask = __mmask16;
  using Wide = __mmask32;  // a mask over 2 L positions (stride 2)
  static FASTDL_INLINE void copy(const float* src, Mask load, Mask store, float* dst) {
    _mm512_mask_storeu_ps(dst, store, _mm512_maskz_loadu_ps(load, src));
  }
  // the even lanes of the 2 L values at src
  static FASTDL_INLINE void copy_even(const float* src, Wide load, Mask store, float* dst) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512 lo = _mm512_maskz_loadu_ps(static_cast<Mask>(load), src);
    const __m512 hi = _mm512_maskz_loadu_ps(static_cast<Mask>(load >> 16), src + 16);
    _mm512_mask_storeu_ps(dst, store, _mm512_permutex2var_ps(lo, even, hi));
  }
};
template <>
struct Simd<double> {
  static constexpr int L = 8;
  using Mask = __mmask8;
  using Wide = __mmask16;
  static FASTDL_INLINE void copy(const double* src, Mask load, Mask store, double* dst) {
    _mm512_mask_storeu_pd(dst, store, _mm512_maskz_loadu_pd(load, src));
  }
  static FASTDL_INLINE void copy_even(const double* src, Wide load, Mask store, double* dst) {
    const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    const __m512d lo = _mm512_maskz_loadu_pd(static_cast<Mask>(load), src);
    const __m512d hi = _mm512_maskz_loadu_pd(static_cast<Mask>(load >> 8), src + 8);
    _mm512_mask_storeu_pd(dst, store, _mm512_permutex2var_pd(lo, even, hi));
  }
};

// Lanes [a, b) of a mask (clamped to [0, 64)).
FASTDL_INLINE uint64_t lanes(int64_t a, int64_t b) {
  auto low = [](int64_t c) { return c <= 0 ? uint64_t{0} : c >= 64 ? ~uint64_t{0} : (uint64_t{1} << c) - 1; };
  return low(b) & ~low(a);
}

#endif

// Iterates k = (c, kh, kw) from k0 without dividing on every step.
struct KernelIndex {
  int64_t c, kh, kw;
  KernelIndex(const Geometry& g, int64_t k) : c(k / (g.KH * g.KW)), kh((k / g.KW) % g.KH), kw(k % g.KW) {}
  void next(const Geometry& g) {
    if (++kw == g.KW) {
      kw = 0;
      if (++kh == g.KH) {
        kh = 0;
        ++c;
      }
    }
  }
};

// Rows of the column matrix over one range of columns: plan() once per range, then
// row() for any k = (c, kh, kw). The plain version walks the segments for every row.
template <typename T>
class PlainRows {
 public:
  void plan(const Geometry& g, int64_t img_stride, int64_t j0, int64_t n, int64_t split,
            int64_t panel) {
    g_ = &g;
    ns_ = segments(g, img_stride, j0, n, split, panel, segs_);
  }
  // Row k into dst (n contiguous values); x_c: channel c of image 0.
  void row(const T* x_c, const KernelIndex& ki, T* dst) const {
    const Geometry& g = *g_;
    const int64_t dh = ki.kh * g.DH, dw = ki.kw * g.DW;
    for (int64_t s = 0; s < ns_; ++s) {
      const Segment& sg = segs_[s];
      const int64_t ih = sg.ih + dh;
      if (ih < 0 || ih >= g.H) {
        std::fill(dst + sg.dst, dst + sg.dst + sg.len, T(0));
      } else {
        copy_segment_scalar(x_c + sg.base + ih * g.W, sg.iw + dw, g.SW, g.W, sg.len, dst + sg.dst);
      }
    }
  }

 private:
  const Geometry* g_ = nullptr;
  Segment segs_[kMaxRun];
  int64_t ns_ = 0;
};

#if defined(__AVX512F__)
// The AVX-512 version: plan() turns the segments into a list of masked vector copies for
// every kernel offset (kh, kw), relative to the channel's plane, so that a row is just
// its copies: a load under the mask of the lanes inside the image, a store under the
// mask of the lanes inside the segment (zeros where the row leaves the image). Walking
// the segments for every row cost ~0.8 cycles per packed value (3x3, 56x56), which the
// 64-channel layers' 64 multiply-adds per value (2 cycles) could not hide.
template <typename T>
class SimdRows {
 public:
  void plan(const Geometry& g, int64_t img_stride, int64_t j0, int64_t n, int64_t split,
            int64_t panel) {
    using S = Simd<T>;
    constexpr int64_t L = S::L;
    if (g.SW > 2) {  // rare: the plain rows
      plain_ = true;
      plain_rows_.plan(g, img_stride, j0, n, split, panel);
      return;
    }
    plain_ = false;
    stride2_ = g.SW == 2;
    kw_ = g.KW;
    const int64_t ns = segments(g, img_stride, j0, n, split, panel, segs_);
    const Segment* segs = segs_;
    ops_.clear();
    begin_.clear();
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        begin_.push_back(static_cast<int64_t>(ops_.size()));
        for (int64_t s = 0; s < ns; ++s) {
          const Segment& sg = segs[s];
          const int64_t ih = sg.ih + kh * g.DH, iw = sg.iw + kw * g.DW;
          const bool inside = ih >= 0 && ih < g.H;
          const int64_t row = sg.base + ih * g.W;
          for (int64_t t = 0; t < sg.len; t += L) {
            const int64_t m = std::min(L, sg.len - t);
            const uint64_t store = lanes(0, m);
            int64_t p = iw + t;
            uint64_t load = store;
            if (stride2_) {
              p = iw + 2 * t;
              load = lanes(0, 2 * m - 1);
            }
            load &= lanes(-p, g.W - p);
            if (!inside) load = 0;
            ops_.push_back({inside ? row + p : 0, sg.dst + t, load, store});
          }
        }
      }
    }
    begin_.push_back(static_cast<int64_t>(ops_.size()));
  }
  void row(const T* x_c, const KernelIndex& ki, T* dst) const {
    if (plain_) {
      plain_rows_.row(x_c, ki, dst);
      return;
    }
    using S = Simd<T>;
    const int64_t kk = ki.kh * kw_ + ki.kw;
    const Op* op = ops_.data() + begin_[kk];
    const Op* end = ops_.data() + begin_[kk + 1];
    if (stride2_) {
      for (; op < end; ++op) {
        S::copy_even(x_c + op->src, static_cast<typename S::Wide>(op->load),
                     static_cast<typename S::Mask>(op->store), dst + op->dst);
      }
    } else {
      for (; op < end; ++op) {
        S::copy(x_c + op->src, static_cast<typename S::Mask>(op->load),
                static_cast<typename S::Mask>(op->store), dst + op->dst);
      }
    }
  }

 private:
  struct Op {
    int64_t src;  // offset from the channel's plane in image 0
    int64_t dst;  // offset in the row
    uint64_t load, store;
  };
  Segment segs_[kMaxRun];
  std::vector<Op> ops_;
  std::vector<int64_t> begin_;  // the copies of kernel offset kk: [begin_[kk], begin_[kk + 1])
  bool plain_ = false, stride2_ = false;
  int64_t kw_ = 1;  // KW
  PlainRows<T> plain_rows_;
};
template <typename T>
using Rows = SimdRows<T>;
#else
template <typename T>
using Rows = PlainRows<T>;
#endif

// --- the packers -----------------------------------------------------------------------------

// Per calling thread (the GEMM's threads pack concurrently); reused across calls.
template <typename T>
Rows<T>& rows_of_thread() {
  thread_local Rows<T> r;
  return r;
}

// Row by row over a piece of whole panels (each row k of the column matrix written into
// every panel before the next): the input is then read along its rows, which the
// hardware prefetcher follows; panel by panel, each row of 64 columns jumped to another
// channel and the loads waited on the memory (~0.18 ns per packed value against ~0.1).
template <typename T>
void pack_cols(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr,
               T* dst) {
  const Cols<T>& cc = *static_cast<const Cols<T>*>(ctx);
  const Geometry& g = *cc.g;
  Rows<T>& rows = rows_of_thread<T>();
  const int64_t piece = std::max(nr, kMaxRun / nr * nr);
  for (int64_t p0 = 0; p0 < nc; p0 += piece) {
    const int64_t pn = std::min(piece, nc - p0);
    rows.plan(g, g.C * g.HW(), j0 + p0, pn, nr, kc * nr);
    T* d = dst + (p0 / nr) * kc * nr;
    const int64_t tail = pn % nr;  // columns of a last, partial panel
    T* dt = d + (pn / nr) * kc * nr;
    KernelIndex ki(g, k0);
    for (int64_t k = 0; k < kc; ++k, ki.next(g)) {
      rows.row(cc.x + ki.c * g.HW(), ki, d + k * nr);
      if (tail > 0) std::fill(dt + k * nr + tail, dt + (k + 1) * nr, T(0));
    }
  }
}

// ops.im2col: the columns [l0, l0 + ln) (ln <= kMaxRun) of image n's column matrix, every
// row, into cols (N, C*KH*KW, OH*OW).
template <typename T>
void im2col_block(const Geometry& g, const T* x, int64_t n, int64_t l0, int64_t ln, T* cols) {
  Rows<T>& rows = rows_of_thread<T>();
  const int64_t L = g.L(), KK = g.KK();
  rows.plan(g, g.C * g.HW(), n * L + l0, ln, kMaxRun, 0);
  T* out = cols + n * g.C * KK * L + l0;
  KernelIndex ki(g, 0);
  for (int64_t k = 0; k < g.C * KK; ++k, ki.next(g)) rows.row(x + ki.c * g.HW(), ki, out + k * L);
}

// Transposed panels: B(r, k) = cols(k, r), panel q holds the columns k0 + q*nr .. and the
// rows r0 .. r0 + rc. Rows of the column matrix are gathered contiguously into a small
// buffer (kBlock of them), then transposed into the panel.
//
// transpose_block: src holds kBlock rows (ld apart); dst[i * nr + j] = src[j * ld + i] for
// i < rows and j < width (width = kBlock, except in the last block of a panel whose nr
// is not a multiple of kBlock).
#if defined(__AVX512F__)
template <typename T>
constexpr int64_t kBlock = Simd<T>::L;  // one register transpose (nr is a multiple of it)
FASTDL_INLINE void transpose_block(const float* src, int64_t ld, float* dst, int64_t nr, int64_t rows,
                                   int64_t) {
  __m512 r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld);
  transpose16(r);
  for (int64_t i = 0; i < rows; ++i) _mm512_storeu_ps(dst + i * nr, r[i]);
}
FASTDL_INLINE void transpose_block(const double* src, int64_t ld, double* dst, int64_t nr,
                                   int64_t rows, int64_t) {
  __m512d r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_pd(src + i * ld);
  transpose8(r);
  for (int64_t i = 0; i < rows; ++i) _mm512_storeu_pd(dst + i * nr, r[i]);
}
#else
template <typename T>
constexpr int64_t kBlock = 8;
template <typename T>
FASTDL_INLINE void transpose_block(const T* src, int64_t ld, T* dst, int64_t nr, int64_t rows,
                                   int64_t width) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < width; ++j) dst[i * nr + j] = src[j * ld + i];
  }
}
#endif

template <typename T>
void pack_cols_t(const void* ctx, int64_t r0, int64_t rc, int64_t k0, int64_t nc, int64_t nr,
                 T* dst) {
  const Cols<T>& cc = *static_cast<const Cols<T>*>(ctx);
  const Geometry& g = *cc.g;
  constexpr int64_t B = kBlock<T>;
  Rows<T>& plan = rows_of_thread<T>();
  // kBlock rows of the column matrix over a piece of the r range, padded to whole blocks
  alignas(64) T rows[kBlock<T> * kMaxRun];
  for (int64_t p0 = 0; p0 < rc; p0 += kMaxRun) {
    const int64_t pn = std::min(kMaxRun, rc - p0);
    const int64_t ld = (pn + B - 1) / B * B;
    plan.plan(g, g.C * g.HW(), r0 + p0, pn, kMaxRun, 0);
    for (int64_t q = 0; q * nr < nc; ++q) {
      const int64_t n = std::min(nr, nc - q * nr);
      T* d = dst + q * rc * nr + p0 * nr;
      for (int64_t jb = 0; jb < nr; jb += B) {  // B columns of the panel at a time
        const int64_t nb = std::max<int64_t>(0, std::min(B, n - jb));
        if (nb > 0) {
          KernelIndex ki(g, k0 + q * nr + jb);
          for (int64_t i = 0; i < nb; ++i, ki.next(g)) {
            plan.row(cc.x + ki.c * g.HW(), ki, rows + i * ld);
            std::fill(rows + i * ld + pn, rows + (i + 1) * ld, T(0));
          }
        }
        std::fill(rows + nb * ld, rows + B * ld, T(0));  // columns past n: zeros
        for (int64_t rr = 0; rr < pn; rr += B) {
          transpose_block(rows + rr, ld, d + rr * nr + jb, nr, std::min(B, pn - rr), std::min(B, nr - jb));
        }
      }
    }
  }
}

template <typename T>
void pack_planes(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr,
                 T* dst) {
  const Planes<T>& pc = *static_cast<const Planes<T>*>(ctx);
  for (int64_t q = 0; q * nr < nc; ++q) {
    const int64_t jb = pc.j0 + j0 + q * nr, n = std::min(nr, nc - q * nr);
    T* d = dst + q * kc * nr;
    // the panel's runs inside one image: (offset in the panel, source offset, length)
    int64_t t_run[kMaxRun], src_run[kMaxRun], len_run[kMaxRun], nrun = 0;
    for (int64_t t = 0; t < n;) {
      const int64_t img = (jb + t) / pc.L, l = (jb + t) % pc.L, len = std::min(pc.L - l, n - t);
      t_run[nrun] = t;
      src_run[nrun] = img * pc.img_stride + l;
      len_run[nrun++] = len;
      t += len;
    }
    for (int64_t k = 0; k < kc; ++k) {
      T* row = d + k * nr;
      const T* src = pc.p + (k0 + k) * pc.L;
      for (int64_t r = 0; r < nrun; ++r) std::memcpy(row + t_run[r], src + src_run[r], sizeof(T) * len_run[r]);
      std::fill(row + n, row + nr, T(0));
    }
  }
}

// The panel rows of grad_y: m rows (L apart) of len values -> dd[t * mr + i], rows past
// m zero. With AVX-512, blocks of a register width are transposed in registers (the
// scalar copy, ~1 cycle per value, was a tenth of a 1x1 convolution's backward); returns
// the values done.
#if defined(__AVX512F__)
FASTDL_INLINE int64_t grad_y_block_simd(const float* s, int64_t L, int64_t m, int64_t mr,
                                        int64_t len, float* dd) {
  if (mr > 16) return 0;
  const __mmask16 keep = static_cast<__mmask16>((1u << mr) - 1);
  int64_t t = 0;
  for (; t + 16 <= len; t += 16) {
    __m512 r[16];
    for (int64_t i = 0; i < 16; ++i) r[i] = i < m ? _mm512_loadu_ps(s + i * L + t) : _mm512_setzero_ps();
    transpose16(r);
    for (int64_t j = 0; j < 16; ++j) _mm512_mask_storeu_ps(dd + (t + j) * mr, keep, r[j]);
  }
  return t;
}
FASTDL_INLINE int64_t grad_y_block_simd(const double* s, int64_t L, int64_t m, int64_t mr,
                                        int64_t len, double* dd) {
  if (mr > 8) return 0;
  const __mmask8 keep = static_cast<__mmask8>((1u << mr) - 1);
  int64_t t = 0;
  for (; t + 8 <= len; t += 8) {
    __m512d r[8];
    for (int64_t i = 0; i < 8; ++i) r[i] = i < m ? _mm512_loadu_pd(s + i * L + t) : _mm512_setzero_pd();
    transpose8(r);
    for (int64_t j = 0; j < 8; ++j) _mm512_mask_storeu_pd(dd + (t + j) * mr, keep, r[j]);
  }
  return t;
}
#else
template <typename T>
FASTDL_INLINE int64_t grad_y_block_simd(const T*, int64_t, int64_t, int64_t, int64_t, T*) {
  return 0;
}
#endif

template <typename T>
void pack_grad_y(const void* ctx, int64_t i0, int64_t mc, int64_t r0, int64_t rc, int64_t mr,
                 T* dst) {
  const GradY<T>& gc = *static_cast<const GradY<T>*>(ctx);
  const Geometry& g = *gc.g;
  const int64_t L = g.L(), img_stride = g.F * L;
  for (int64_t p = 0; p * mr < mc; ++p) {
    const int64_t m = std::min(mr, mc - p * mr);
    T* d = dst + p * rc * mr;
    const T* rows = gc.gy + (i0 + p * mr) * L;
    for (int64_t r = r0; r < r0 + rc;) {  // runs inside one image
      const int64_t img = r / L, l = r % L, len = std::min(L - l, r0 + rc - r);
      const T* s = rows + img * img_stride + l;
      T* FASTDL_RESTRICT dd = d + (r - r0) * mr;
      const int64_t done = grad_y_block_simd(s, L, m, mr, len, dd);
      for (int64_t t = done; t < len; ++t) {
        for (int64_t i = 0; i < m; ++i) dd[t * mr + i] = s[i * L + t];
        for (int64_t i = m; i < mr; ++i) dd[t * mr + i] = T(0);
      }
      r += len;
    }
  }
}

// --- direct loops (few channels per group) -------------------------------------------------

// The widest vectors this unit's flags allow, as GCC/Clang vector types.
template <typename T>
struct Wide {
#if defined(__AVX512F__)
  static constexpr int kBytes = 64;
#elif defined(__AVX2__)
  static constexpr int kBytes = 32;
#else
  static constexpr int kBytes = 16;
#endif
  typedef T V __attribute__((vector_size(kBytes)));
  static constexpr int64_t L = kBytes / static_cast<int>(sizeof(T));
  static FASTDL_INLINE V load(const T* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static FASTDL_INLINE void store(T* p, V v) { std::memcpy(p, &v, sizeof v); }
  // lanes 0, 2, 4, ... of the 2 L values at p
  static FASTDL_INLINE V load_even(const T* p) { return __builtin_shuffle(load(p), load(p + L), even()); }
  // v's lanes spread to the even lanes of two vectors (odd lanes 0): lo, then hi
  static FASTDL_INLINE void spread_even(V v, V* lo, V* hi) {
    *lo = __builtin_shuffle(v, V{}, spread(0));
    *hi = __builtin_shuffle(v, V{}, spread(L / 2));
  }

 private:
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef I M __attribute__((vector_size(kBytes)));
  static FASTDL_INLINE M even() {
    M m;
    for (int64_t i = 0; i < L; ++i) m[i] = static_cast<I>(2 * i);
    return m;
  }
  static FASTDL_INLINE M spread(int64_t from) {  // lane 2i <- v[from + i], lane 2i+1 <- 0
    M m;
    for (int64_t i = 0; i < L; ++i) m[i] = static_cast<I>(i % 2 == 0 ? from + i / 2 : L);
    return m;
  }
};

#if defined(__GNUC__)
#define FASTDL_INLINE_LAMBDA __attribute__((always_inline))
#else
#define FASTDL_INLINE_LAMBDA
#endif

// Output positions per block: 16 floats, one zmm (two ymm, four xmm) of accumulators.
constexpr int64_t kOutBlock = 16;

// The direct forward works on a zero-padded copy of a group's input planes (per calling
// thread), wide enough for whole blocks: no bounds checks in the inner loops. Tap by
// tap on the image itself, the left and right edge positions cost as much as the rest
// of a 56-wide row (measured: 4.0 ms for a 3x3 depthwise 128 x 56x56 batch of 8).
struct Padded {
  int64_t hq, wq;  // padded plane size
  int64_t owr;     // OW rounded up to whole blocks
};

inline Padded padded_size(const Geometry& g) {
  Padded p;
  p.owr = (g.OW + kOutBlock - 1) / kOutBlock * kOutBlock;
  p.hq = (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1;
  p.wq = (p.owr - 1) * g.SW + (g.KW - 1) * g.DW + 1;
  return p;
}

// dst (hq, wq) = the plane src (H, W) placed at (PH, PW) (negative: cropped), zeros around.
template <typename T>
void pad_plane(const Geometry& g, const Padded& pd, const T* src, T* FASTDL_RESTRICT dst) {
  std::fill(dst, dst + pd.hq * pd.wq, T(0));
  const int64_t c0 = std::max<int64_t>(0, -g.PW), c1 = std::min(g.W, pd.wq - g.PW);
  for (int64_t h = std::max<int64_t>(0, -g.PH); h < std::min(g.H, pd.hq - g.PH); ++h) {
    if (c1 > c0) std::copy(src + h * g.W + c0, src + h * g.W + c1, dst + (h + g.PH) * pd.wq + c0 + g.PW);
  }
}

// One block of output positions: columns [ow0, ow0 + kOutBlock) of the R rows from oh of
// output plane f (wf: its weights), from the padded planes xq; `out` (row oh, column ow0;
// rows OW apart) gets the first `keep` columns. R rows make R independent chains of
// multiply-adds: with one (R = 1) each waited on the last (the FMA latency), 2.0 ms
// against 0.9 ms with R = 4 for a 3x3 convolution with groups of 4, 128 x 28x28, batch 8.
template <typename T, bool Unit, int R>
FASTDL_INLINE void direct_block(const Geometry& g, const Padded& pd, const T* xq, const T* wf,
                                int64_t oh, int64_t ow0, T bias, T* out, int64_t keep) {
  using Wv = Wide<T>;
  using V = typename Wv::V;
  constexpr int64_t NV = kOutBlock / Wv::L;
  static_assert(NV * Wv::L == kOutBlock, "a block is a whole number of vectors");
  const int64_t sw = Unit ? 1 : g.SW;
  const int64_t rstep = g.SH * pd.wq;  // from one output row's input rows to the next's
  V acc[R][NV];
  for (int r = 0; r < R; ++r) {
    for (int64_t v = 0; v < NV; ++v) acc[r][v] = V{};
  }
  const int64_t plane = pd.hq * pd.wq;
  for (int64_t c = 0; c < g.Cg(); ++c) {
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const T* row = xq + c * plane + (oh * g.SH + kh * g.DH) * pd.wq + ow0 * sw;
      const T* wk = wf + (c * g.KH + kh) * g.KW;
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T wv = wk[kw];
        for (int r = 0; r < R; ++r) {
          const T* s = row + r * rstep + kw * g.DW;
          if constexpr (Unit) {
            for (int64_t v = 0; v < NV; ++v) acc[r][v] += wv * Wv::load(s + v * Wv::L);
          } else if (sw == 2) {
            for (int64_t v = 0; v < NV; ++v) acc[r][v] += wv * Wv::load_even(s + 2 * v * Wv::L);
          } else {
            alignas(64) T tmp[kOutBlock];
            for (int64_t j = 0; j < kOutBlock; ++j) tmp[j] = s[j * sw];
            for (int64_t v = 0; v < NV; ++v) acc[r][v] += wv * Wv::load(tmp + v * Wv::L);
          }
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    alignas(64) T res[kOutBlock];
    for (int64_t v = 0; v < NV; ++v) Wv::store(res + v * Wv::L, acc[r][v] + bias);
    std::copy(res, res + keep, out + r * g.OW);
  }
}

template <typename T>
T* direct_buffer(int64_t n) {
  thread_local std::vector<T> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}

template <typename T>
void direct_forward(const Geometry& g, const T* x, const T* w, const T* b, T* y, int64_t u0,
                    int64_t u1) {
  const int64_t Cg = g.Cg(), Fg = g.Fg(), KK = g.KK(), L = g.L();
  const Padded pd = padded_size(g);
  T* xq = direct_buffer<T>(Cg * pd.hq * pd.wq);
  for (int64_t u = u0; u < u1; ++u) {  // u = (image, group)
    const int64_t n = u / g.G, grp = u % g.G;
    for (int64_t c = 0; c < Cg; ++c) {
      pad_plane(g, pd, x + (n * g.C + grp * Cg + c) * g.HW(), xq + c * pd.hq * pd.wq);
    }
    for (int64_t f = grp * Fg; f < (grp + 1) * Fg; ++f) {
      const T* wf = w + f * Cg * KK;
      const T bias = b != nullptr ? b[f] : T(0);
      T* yp = y + (n * g.F + f) * L;
      with_bool(g.SW == 1, [&](auto unit) {
        constexpr bool U = decltype(unit)::value;
        int64_t oh = 0;
        for (; oh + 4 <= g.OH; oh += 4) {
          for (int64_t ow0 = 0; ow0 < g.OW; ow0 += kOutBlock) {
            direct_block<T, U, 4>(g, pd, xq, wf, oh, ow0, bias, yp + oh * g.OW + ow0,
                                  std::min(kOutBlock, g.OW - ow0));
          }
        }
        for (; oh < g.OH; ++oh) {
          for (int64_t ow0 = 0; ow0 < g.OW; ow0 += kOutBlock) {
            direct_block<T, U, 1>(g, pd, xq, wf, oh, ow0, bias, yp + oh * g.OW + ow0,
                                  std::min(kOutBlock, g.OW - ow0));
          }
        }
      });
    }
  }
}

// grad_x planes (n, c) for strided convolutions (stride 1 is a direct forward of grad_y):
// grad_y scattered into a padded plane as in the forward (whole blocks, no bounds
// checks; stride 2 spreads a block over the even lanes of two vectors), then cropped.
template <typename T>
void direct_grad_x(const Geometry& g, const T* gy, const T* w, T* gx, int64_t p0, int64_t p1) {
  using Wv = Wide<T>;
  using V = typename Wv::V;
  constexpr int64_t NV = kOutBlock / Wv::L;
  const int64_t Cg = g.Cg(), Fg = g.Fg(), KK = g.KK(), L = g.L();
  const Padded pd = padded_size(g);
  T* gq = direct_buffer<T>(pd.hq * pd.wq + g.OH * pd.owr);
  T* gyq = gq + pd.hq * pd.wq;  // a grad_y plane, rows padded to owr with zeros
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t n = p / g.C, c = p % g.C, grp = c / Cg, cl = c % Cg;
    std::fill(gq, gq + pd.hq * pd.wq, T(0));
    for (int64_t fl = 0; fl < Fg; ++fl) {
      const int64_t f = grp * Fg + fl;
      const T* gyp = gy + (n * g.F + f) * L;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        std::copy(gyp + oh * g.OW, gyp + (oh + 1) * g.OW, gyq + oh * pd.owr);
        std::fill(gyq + oh * pd.owr + g.OW, gyq + (oh + 1) * pd.owr, T(0));
      }
      const T* wfc = w + (f * Cg + cl) * KK;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          T* row = gq + (oh * g.SH + kh * g.DH) * pd.wq;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const T wv = wfc[kh * g.KW + kw];
            for (int64_t ow0 = 0; ow0 < pd.owr; ow0 += kOutBlock) {
              T* d = row + ow0 * g.SW + kw * g.DW;
              const T* src = gyq + oh * pd.owr + ow0;
              if (g.SW == 2) {
                for (int64_t v = 0; v < NV; ++v) {
                  V lo, hi;
                  Wv::spread_even(wv * Wv::load(src + v * Wv::L), &lo, &hi);
                  T* dv = d + 2 * v * Wv::L;
                  Wv::store(dv, Wv::load(dv) + lo);
                  Wv::store(dv + Wv::L, Wv::load(dv + Wv::L) + hi);
                }
              } else {
                for (int64_t j = 0; j < kOutBlock; ++j) d[j * g.SW] += wv * src[j];
              }
            }
          }
        }
      }
    }
    // crop: gx[h, w] = gq[h + PH, w + PW] (0 where that is outside gq)
    T* plane = gx + p * g.HW();
    for (int64_t h = 0; h < g.H; ++h) {
      for (int64_t x0 = 0; x0 < g.W; ++x0) {
        const int64_t qh = h + g.PH, qw = x0 + g.PW;
        plane[h * g.W + x0] = (qh >= 0 && qh < pd.hq && qw >= 0 && qw < pd.wq) ? gq[qh * pd.wq + qw] : T(0);
      }
    }
  }
}

// grad_weight of the groups [u0, u1): per image, the group's input planes padded as in
// the forward and grad_y's planes padded to whole blocks; then per tap (c, kh, kw) four
// vectors of partial sums over the image's rows (row oh in chain oh % 4), added into the
// tap's lanes (images in order), whose sum in double is the result. (Summing each
// image's lanes in double cost as much as the multiply-adds for 3x3 groups of 4.)
template <typename T>
void direct_grad_w(const Geometry& g, const T* gy, const T* x, T* gw, int64_t u0, int64_t u1) {
  using Wv = Wide<T>;
  using V = typename Wv::V;
  constexpr int64_t NV = kOutBlock / Wv::L;
  const int64_t Cg = g.Cg(), Fg = g.Fg(), KK = g.KK(), L = g.L();
  const Padded pd = padded_size(g);
  const int64_t plane = pd.hq * pd.wq, blocks = pd.owr / kOutBlock;
  T* xq = direct_buffer<T>(Cg * plane + g.OH * pd.owr + Fg * Cg * KK * kOutBlock);
  T* gq = xq + Cg * plane;      // grad_y's plane, rows padded to owr
  T* taps = gq + g.OH * pd.owr;  // per tap, kOutBlock lanes of partial sums
  for (int64_t grp = u0; grp < u1; ++grp) {
    std::fill(taps, taps + Fg * Cg * KK * kOutBlock, T(0));
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t c = 0; c < Cg; ++c) {
        pad_plane(g, pd, x + (n * g.C + grp * Cg + c) * g.HW(), xq + c * plane);
      }
      for (int64_t fl = 0; fl < Fg; ++fl) {
        const T* gyp = gy + (n * g.F + grp * Fg + fl) * L;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          std::copy(gyp + oh * g.OW, gyp + (oh + 1) * g.OW, gq + oh * pd.owr);
          std::fill(gq + oh * pd.owr + g.OW, gq + (oh + 1) * pd.owr, T(0));
        }
        for (int64_t c = 0; c < Cg; ++c) {
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              // 4 chains of partial sums (output row oh goes to chain oh % 4), so that the
              // multiply-adds do not wait on each other
              V acc[4][NV];
              for (int a = 0; a < 4; ++a) {
                for (int64_t v = 0; v < NV; ++v) acc[a][v] = V{};
              }
              auto add_row = [&](int64_t oh, V* ac) FASTDL_INLINE_LAMBDA {
                const T* xr = xq + c * plane + (oh * g.SH + kh * g.DH) * pd.wq + kw * g.DW;
                const T* gr = gq + oh * pd.owr;
                for (int64_t blk = 0; blk < blocks; ++blk) {
                  const T* xs = xr + blk * kOutBlock * g.SW;
                  const T* gs = gr + blk * kOutBlock;
                  if (g.SW == 1) {
                    for (int64_t v = 0; v < NV; ++v) ac[v] += Wv::load(gs + v * Wv::L) * Wv::load(xs + v * Wv::L);
                  } else if (g.SW == 2) {
                    for (int64_t v = 0; v < NV; ++v) {
                      ac[v] += Wv::load(gs + v * Wv::L) * Wv::load_even(xs + 2 * v * Wv::L);
                    }
                  } else {
                    alignas(64) T tmp[kOutBlock];
                    for (int64_t j = 0; j < kOutBlock; ++j) tmp[j] = xs[j * g.SW];
                    for (int64_t v = 0; v < NV; ++v) ac[v] += Wv::load(gs + v * Wv::L) * Wv::load(tmp + v * Wv::L);
                  }
                }
              };
              // (constant indices keep the chains in registers)
              int64_t oh = 0;
              for (; oh + 4 <= g.OH; oh += 4) {
                add_row(oh, acc[0]);
                add_row(oh + 1, acc[1]);
                add_row(oh + 2, acc[2]);
                add_row(oh + 3, acc[3]);
              }
              if (oh < g.OH) add_row(oh, acc[0]);
              if (oh + 1 < g.OH) add_row(oh + 1, acc[1]);
              if (oh + 2 < g.OH) add_row(oh + 2, acc[2]);
              T* tap = taps + ((fl * Cg + c) * KK + kh * g.KW + kw) * kOutBlock;
              for (int64_t v = 0; v < NV; ++v) {
                const V image = (acc[0][v] + acc[1][v]) + (acc[2][v] + acc[3][v]);
                Wv::store(tap + v * Wv::L, Wv::load(tap + v * Wv::L) + image);
              }
            }
          }
        }
      }
    }
    T* out = gw + grp * Fg * Cg * KK;
    for (int64_t i = 0; i < Fg * Cg * KK; ++i) {
      double s = 0;
      for (int64_t j = 0; j < kOutBlock; ++j) s += static_cast<double>(taps[i * kOutBlock + j]);
      out[i] = static_cast<T>(s);
    }
  }
}

// The sum of n values in double: 16 interleaved partial sums (fixed lanes), added
// pairwise. (In the baseline-compiled driver this loop ran at ~1 cycle per value, a
// twentieth of a 1x1 convolution's backward.)
template <typename T>
double sum(const T* FASTDL_RESTRICT p, int64_t n) {
  constexpr int K = 16;
  double acc[K] = {};
  int64_t i = 0;
  for (; i + K <= n; i += K) {
    for (int j = 0; j < K; ++j) acc[j] += static_cast<double>(p[i + j]);
  }
  for (int j = 0; i < n; ++i, ++j) acc[j] += static_cast<double>(p[i]);
  for (int w = K / 2; w >= 1; w /= 2) {
    for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
  }
  return acc[0];
}

template <typename T>
conv::ConvLoops<T> loops() {
  conv::ConvLoops<T> l;
  l.pack_cols = &pack_cols<T>;
  l.pack_cols_t = &pack_cols_t<T>;
  l.pack_planes = &pack_planes<T>;
  l.pack_grad_y = &pack_grad_y<T>;
  l.direct_forward = &direct_forward<T>;
  l.direct_grad_x = &direct_grad_x<T>;
  l.direct_grad_w = &direct_grad_w<T>;
  l.sum = &sum<T>;
  l.im2col_block = &im2col_block<T>;
  return l;
}

}  // namespace

void fill_conv(KernelTable& t) {
  t.conv_f32 = loops<float>();
  t.conv_f64 = loops<double>();
}

}  // namespace fastdl::FASTDL_ISA_NS
