// Convolution drivers: implicit im2col packers for the GEMM, the forward and backward
// passes, im2col and col2im. See conv.h for the plan.
#include "kernels/conv.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/threads.h"

namespace fastdl::conv {

namespace {

// Below this many elements touched, a parallel region costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

int threads_for(int64_t work, int64_t items) {
  if (work < kParallelMin) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), items)));
}

// --- rows of the column matrix ------------------------------------------------------------

// dst[t * ds] = plane[ih, iw0 + t * sw] for t < len, 0 outside the (H, W) plane.
template <typename T>
inline void gather_row(const T* plane, int64_t H, int64_t W, int64_t ih, int64_t iw0,
                       int64_t sw, int64_t len, T* dst, int64_t ds) {
  if (ih < 0 || ih >= H) {
    for (int64_t t = 0; t < len; ++t) dst[t * ds] = T(0);
    return;
  }
  // valid t: 0 <= iw0 + t * sw <= W - 1
  int64_t lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
  int64_t hi = iw0 > W - 1 ? 0 : (W - 1 - iw0) / sw + 1;
  lo = std::min(lo, len);
  hi = std::max(lo, std::min(hi, len));
  const T* src = plane + ih * W + iw0;
  for (int64_t t = 0; t < lo; ++t) dst[t * ds] = T(0);
  for (int64_t t = lo; t < hi; ++t) dst[t * ds] = src[t * sw];
  for (int64_t t = hi; t < len; ++t) dst[t * ds] = T(0);
}

// plane[ih, iw0 + t * sw] += src[t] for t < len where inside the (H, W) plane.
template <typename T>
inline void scatter_row(T* plane, int64_t H, int64_t W, int64_t ih, int64_t iw0, int64_t sw,
                        int64_t len, const T* src) {
  if (ih < 0 || ih >= H) return;
  int64_t lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
  int64_t hi = iw0 > W - 1 ? 0 : (W - 1 - iw0) / sw + 1;
  lo = std::min(lo, len);
  hi = std::max(lo, std::min(hi, len));
  T* d = plane + ih * W + iw0;
  for (int64_t t = lo; t < hi; ++t) d[t * sw] = d[t * sw] + src[t];
}

// Calls f(t, img, oh, ow, len) for the output-row segments that make up the columns
// [j0, j0 + n) of the images' column matrices laid side by side (column j is image
// j / L, position j % L); t is the segment's offset from j0.
template <class Fn>
inline void for_segments(const Geometry& g, int64_t j0, int64_t n, Fn&& f) {
  const int64_t L = g.L();
  int64_t img = j0 / L, l = j0 % L;
  int64_t oh = l / g.OW, ow = l % g.OW;
  for (int64_t t = 0; t < n;) {
    const int64_t len = std::min(g.OW - ow, n - t);
    f(t, img, oh, ow, len);
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
}

// The column matrices of one group, images side by side: B(k, j) with k = (c, kh, kw)
// over the group's C/G channels and j = (img, oh, ow).
template <typename T>
struct Cols {
  const Geometry* g;
  const T* x;          // channel 0 of the group in image 0
};

// Row k of the column matrix at columns [j0, j0 + n), written to dst[t * ds].
template <typename T>
inline void cols_row(const Cols<T>& cc, int64_t k, int64_t j0, int64_t n, T* dst, int64_t ds) {
  const Geometry& g = *cc.g;
  const int64_t c = k / g.KK(), kh = (k / g.KW) % g.KH, kw = k % g.KW;
  const int64_t img_stride = g.C * g.HW();
  const T* plane0 = cc.x + c * g.HW();
  for_segments(g, j0, n, [&](int64_t t, int64_t img, int64_t oh, int64_t ow, int64_t len) {
    gather_row(plane0 + img * img_stride, g.H, g.W, oh * g.SH - g.PH + kh * g.DH,
               ow * g.SW - g.PW + kw * g.DW, g.SW, len, dst + t * ds, ds);
  });
}

// gemm::PackB for B = cols (forward): panels of nr columns (output positions).
template <typename T>
void pack_cols(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr,
               T* dst) {
  const Cols<T>& cc = *static_cast<const Cols<T>*>(ctx);
  for (int64_t q = 0; q * nr < nc; ++q) {
    const int64_t n = std::min(nr, nc - q * nr);
    T* d = dst + q * kc * nr;
    for (int64_t k = 0; k < kc; ++k) {
      cols_row(cc, k0 + k, j0 + q * nr, n, d + k * nr, 1);
      for (int64_t jj = n; jj < nr; ++jj) d[k * nr + jj] = T(0);
    }
  }
}

// gemm::PackB for B = cols^T (the weight gradient): B(r, k) = cols(k, r), panels of nr
// columns k, rows r = (img, oh, ow) across the images.
template <typename T>
void pack_cols_t(const void* ctx, int64_t r0, int64_t rc, int64_t k0, int64_t nc, int64_t nr,
                 T* dst) {
  const Cols<T>& cc = *static_cast<const Cols<T>*>(ctx);
  for (int64_t q = 0; q * nr < nc; ++q) {
    const int64_t n = std::min(nr, nc - q * nr);
    T* d = dst + q * rc * nr;
    for (int64_t jj = 0; jj < n; ++jj) cols_row(cc, k0 + q * nr + jj, r0, rc, d + jj, nr);
    for (int64_t r = 0; r < rc; ++r) {
      for (int64_t jj = n; jj < nr; ++jj) d[r * nr + jj] = T(0);
    }
  }
}

// grad_y of one group, images side by side: A(f, r) = gy[img, f, l] with r = (img, l).
template <typename T>
struct GradY {
  const Geometry* g;
  const T* gy;  // channel 0 of the group in image 0
};

// gemm::PackA for A = grad_y across images (the weight gradient).
template <typename T>
void pack_grad_y(const void* ctx, int64_t i0, int64_t mc, int64_t r0, int64_t rc, int64_t mr,
                 T* dst) {
  const GradY<T>& gc = *static_cast<const GradY<T>*>(ctx);
  const Geometry& g = *gc.g;
  const int64_t L = g.L(), img_stride = g.F * L;
  for (int64_t p = 0; p * mr < mc; ++p) {
    const int64_t m = std::min(mr, mc - p * mr);
    T* d = dst + p * rc * mr;
    for (int64_t i = 0; i < m; ++i) {
      const T* row = gc.gy + (i0 + p * mr + i) * L;
      // walk r in runs that stay inside one image
      for (int64_t r = r0; r < r0 + rc;) {
        const int64_t img = r / L, l = r % L, len = std::min(L - l, r0 + rc - r);
        const T* s = row + img * img_stride + l;
        T* dd = d + (r - r0) * mr + i;
        for (int64_t t = 0; t < len; ++t) dd[t * mr] = s[t];
        r += len;
      }
    }
    for (int64_t r = 0; r < rc; ++r) {
      for (int64_t i = m; i < mr; ++i) d[r * mr + i] = T(0);
    }
  }
}

// Adds columns [l0, l0 + lc) of one image's column matrix rows for channel c (rows
// c*KK .. c*KK + KK - 1 of `cols`, row stride ld, column l0 at index 0) into the plane.
template <typename T>
void col2im_channel(const Geometry& g, const T* cols, int64_t ld, int64_t l0, int64_t lc,
                    T* plane) {
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const T* row = cols + (kh * g.KW + kw) * ld;
      for_segments(g, l0, lc, [&](int64_t t, int64_t, int64_t oh, int64_t ow, int64_t len) {
        scatter_row(plane, g.H, g.W, oh * g.SH - g.PH + kh * g.DH, ow * g.SW - g.PW + kw * g.DW,
                    g.SW, len, row + t);
      });
    }
  }
}

// A grow-only, 64-byte-aligned buffer per calling thread (reused across calls, like the
// GEMM's workspaces: fresh large buffers page-fault on every call).
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { std::free(p_); }
  void* get(size_t bytes) {
    if (bytes > cap_) {
      std::free(p_);
      p_ = nullptr;
      cap_ = 0;
      const size_t cap = (bytes + 4095) / 4096 * 4096;
      p_ = std::aligned_alloc(64, cap);
      if (p_ == nullptr) throw std::bad_alloc();
      cap_ = cap;
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t cap_ = 0;
};

Buffer& grad_cols_buffer() {
  thread_local Buffer b;
  return b;
}

// Columns of grad_cols per GEMM in the grad_x pass: the buffer (C/G*KH*KW x this) stays
// near L2-sized; whole 64-column panels.
constexpr int64_t kGradColsElems = int64_t{1} << 17;

bool is_pointwise(const Geometry& g) {
  return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0 &&
         g.OH == g.H && g.OW == g.W;
}

}  // namespace

template <typename T>
void im2col(const Geometry& g, const T* x, T* cols) {
  const int64_t KK = g.KK(), L = g.L(), planes = g.N * g.C;
  const int nt = threads_for(planes * KK * L, planes);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
  for (int64_t p = 0; p < planes; ++p) {
    const int64_t n = p / g.C, c = p % g.C;
    const Cols<T> cc{&g, x + n * g.C * g.HW()};
    T* out = cols + p * KK * L;
    for (int64_t k = 0; k < KK; ++k) cols_row(cc, c * KK + k, 0, L, out + k * L, 1);
  }
}

template <typename T>
void col2im(const Geometry& g, const T* cols, T* x) {
  const int64_t KK = g.KK(), L = g.L(), planes = g.N * g.C;
  const int nt = threads_for(planes * KK * L, planes);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
  for (int64_t p = 0; p < planes; ++p) {
    T* plane = x + p * g.HW();
    std::fill(plane, plane + g.HW(), T(0));
    col2im_channel(g, cols + p * KK * L, L, 0, L, plane);
  }
}

template <typename T>
void conv2d_forward(const Geometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t Cg = g.Cg(), Fg = g.Fg(), K = Cg * g.KK(), L = g.L();
  const bool pointwise = is_pointwise(g);
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t grp = 0; grp < g.G; ++grp) {
      const T* xg = x + (n * g.C + grp * Cg) * g.HW();
      const Cols<T> cc{&g, xg};
      gemm::GemmArgs<T> a;
      a.M = Fg;
      a.N = L;
      a.K = K;
      a.A = {w + grp * Fg * K, K, 1};
      if (pointwise) {
        a.B = {xg, L, 1};
      } else {
        a.pack_b = {&pack_cols<T>, &cc};
      }
      a.C = y + (n * g.F + grp * Fg) * L;
      a.ldc = L;
      a.bias_row = b != nullptr ? b + grp * Fg : nullptr;
      gemm::gemm(a);
    }
  }
}

namespace {

// gb[f] = sum over n and l of gy[n, f, l], in double: per image 8 interleaved partial
// sums (fixed lanes) added pairwise, the images added in order. One thread per channel.
template <typename T>
void grad_bias(const Geometry& g, const T* gy, T* gb) {
  const int64_t L = g.L();
  const int nt = threads_for(g.N * g.F * L, g.F);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
  for (int64_t f = 0; f < g.F; ++f) {
    double total = 0.0;
    for (int64_t n = 0; n < g.N; ++n) {
      const T* FASTDL_RESTRICT p = gy + (n * g.F + f) * L;
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t l = 0;
      for (; l + 8 <= L; l += 8) {
        for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(p[l + j]);
      }
      for (int j = 0; l < L; ++l, ++j) acc[j] += static_cast<double>(p[l]);
      total += ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    }
    gb[f] = static_cast<T>(total);
  }
}

// grad_x of image n, group grp: W_g^T @ gy_n in blocks of columns, each scattered into
// the image's planes by col2im (threads take whole channels: no two write one plane).
template <typename T>
void grad_x_image(const Geometry& g, const T* gy, const T* w, T* gx, int64_t n, int64_t grp) {
  const int64_t Cg = g.Cg(), Fg = g.Fg(), KK = g.KK(), K = Cg * KK, L = g.L();
  const T* gyg = gy + (n * g.F + grp * Fg) * L;
  T* gxg = gx + (n * g.C + grp * Cg) * g.HW();
  gemm::GemmArgs<T> a;
  a.K = Fg;
  a.A = {w + grp * Fg * K, 1, K};  // W_g^T: A(k, f) = w[f, k]
  if (is_pointwise(g)) {           // grad_x is the product itself
    a.M = Cg;
    a.N = L;
    a.B = {gyg, L, 1};
    a.C = gxg;
    a.ldc = L;
    gemm::gemm(a);
    return;
  }
  const int64_t lc_max = std::min(L, std::max<int64_t>(64, kGradColsElems / K / 64 * 64));
  T* buf = static_cast<T*>(grad_cols_buffer().get(sizeof(T) * size_t(K * lc_max)));
  for (int64_t l0 = 0; l0 < L; l0 += lc_max) {
    const int64_t lc = std::min(lc_max, L - l0);
    a.M = K;
    a.N = lc;
    a.B = {gyg + l0, L, 1};
    a.C = buf;
    a.ldc = lc;
    gemm::gemm(a);
    const int nt = threads_for(K * lc, Cg);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
    for (int64_t c = 0; c < Cg; ++c) {
      T* plane = gxg + c * g.HW();
      if (l0 == 0) std::fill(plane, plane + g.HW(), T(0));
      col2im_channel(g, buf + c * KK * lc, lc, l0, lc, plane);
    }
  }
}

}  // namespace

template <typename T>
void conv2d_backward(const Geometry& g, const T* gy, const T* x, const T* w, T* gx, T* gw,
                     T* gb) {
  const int64_t Cg = g.Cg(), Fg = g.Fg(), K = Cg * g.KK(), L = g.L();
  if (gb != nullptr) grad_bias(g, gy, gb);
  for (int64_t grp = 0; grp < g.G; ++grp) {
    // grad_w_g (F/G, K) = sum over images of gy_g (F/G, L) @ cols_g^T (L, K): one GEMM
    // whose reduction runs over all N*L positions in fixed KC blocks
    const Cols<T> cc{&g, x + grp * Cg * g.HW()};
    const GradY<T> gc{&g, gy + grp * Fg * L};
    gemm::GemmArgs<T> a;
    a.M = Fg;
    a.N = K;
    a.K = g.N * L;
    a.pack_a = {&pack_grad_y<T>, &gc};
    a.pack_b = {&pack_cols_t<T>, &cc};
    a.C = gw + grp * Fg * K;
    a.ldc = K;
    gemm::gemm(a);
  }
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t grp = 0; grp < g.G; ++grp) grad_x_image(g, gy, w, gx, n, grp);
  }
}

#define FASTDL_CONV_INSTANTIATE(T)                                                       \
  template void im2col<T>(const Geometry&, const T*, T*);                                \
  template void col2im<T>(const Geometry&, const T*, T*);                                \
  template void conv2d_forward<T>(const Geometry&, const T*, const T*, const T*, T*);    \
  template void conv2d_backward<T>(const Geometry&, const T*, const T*, const T*, T*, T*, \
                                   T*);
FASTDL_CONV_INSTANTIATE(float)
FASTDL_CONV_INSTANTIATE(double)
#undef FASTDL_CONV_INSTANTIATE

}  // namespace fastdl::conv
