// Convolution drivers: the GEMM calls of the forward and backward passes (their packers
// are in isa/conv_isa.cpp), col2im, the threads. See conv.h for the plan.
#include "kernels/conv.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/conv_kernel.h"
#include "kernels/dispatch.h"
#include "kernels/gemm.h"
#include "kernels/threads.h"
#include "kernels/workspace.h"

namespace fastdl::conv {

namespace {

// Below this many elements touched, a parallel region costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// work: elements touched, in double (the estimates multiply four sizes: no int64 overflow).
int threads_for(double work, int64_t items) {
  if (work < kParallelMin) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(num_threads(), items)));
}

// --- col2im --------------------------------------------------------------------------------

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

// Adds columns [j0, j0 + n) (images side by side) of the column-matrix rows of channel
// c (rows c*KK .. c*KK + KK - 1 of `cols`, row stride ld, column j0 at index 0) into
// that channel's planes: x_c is channel c of image 0, images img_stride apart.
template <typename T>
void col2im_channel(const Geometry& g, const T* cols, int64_t ld, int64_t j0, int64_t n, T* x_c,
                    int64_t img_stride) {
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const T* row = cols + (kh * g.KW + kw) * ld;
      for_segments(g, j0, n, [&](int64_t t, int64_t img, int64_t oh, int64_t ow, int64_t len) {
        scatter_row(x_c + img * img_stride, g.H, g.W, oh * g.SH - g.PH + kh * g.DH,
                    ow * g.SW - g.PW + kw * g.DW, g.SW, len, row + t);
      });
    }
  }
}

// The per-calling-thread scratch of the grad_x passes (the flipped weights, or a block of
// grad_cols).
Workspace& grad_cols_buffer() {
  thread_local Workspace b;
  return b;
}

// Columns of grad_cols per GEMM in the grad_x pass: the buffer (C/G*KH*KW x this) stays
// near L2-sized; whole 64-column panels.
constexpr int64_t kGradColsElems = int64_t{1} << 17;

// fn(i0, i1) over [0, items) cut into contiguous ranges, one per thread. The callers' units
// are computed the same way whichever range holds them.
template <class Fn>
void parallel_ranges(int64_t items, double work, Fn&& fn) {
  const int nt = threads_for(work, items);
  if (nt <= 1) {
    fn(int64_t{0}, items);
    return;
  }
#if defined(_OPENMP)
  RegionErrors errors;  // e.g. a thread's scratch not allocated: raised after the region
#pragma omp parallel num_threads(nt)
  errors.run([&] {
    const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    fn(t * items / n, (t + 1) * items / n);
  });
  errors.rethrow();
#else
  fn(int64_t{0}, items);
#endif
}

// The forward's GEMM blocking (ops.matmul and linear keep the micro-kernel's).
// Columns in blocks of NC = 512: with the packer reading panel by panel, 64 x 56x56 took
// 11.0 ms with 512 and 12.5 ms with the GEMM's 4096 (1 thread, N = 8); packing row by row
// (isa/conv_isa.cpp) the difference is down to 2-3%, still in 512's favour. K in blocks of
// up to 3 KB of a panel row (768 floats, 384 doubles) instead of the micro-kernel's 1 KB:
// C (the output, swept once per K block) is read and written fewer times; 2-8% faster
// (512 x 7x7: 9.2 -> 8.7 ms, 64 x 56x56: 9.9 -> 9.7), the stem unchanged.
constexpr int64_t kForwardNC = 512;
constexpr int64_t kForwardKC = 3072;

// Few output channels per group (depthwise and the like): direct loops. A GEMM packs each
// column value for only F/G multiply-adds. Measured (1 thread, N = 8, 3x3, forward /
// backward ms, direct against GEMM): depthwise 128 x 56x56 3.2 / 7.3 against 18 / 60;
// groups of 2, 128 x 28x28, 0.9 / 2.7 against 3.2 / 8.7; groups of 4 1.4 / 4.3 against
// 2.4 / 5.5; groups of 16 (F/G = 16) 9.1 / 27 against 2.4 / 5.4.
bool use_direct(const Geometry& g) { return g.G > 1 && g.Fg() <= 4; }

bool is_pointwise(const Geometry& g) {
  return g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PH == 0 && g.PW == 0 &&
         g.OH == g.H && g.OW == g.W;
}

}  // namespace

template <typename T>
void im2col(const Geometry& g, const T* x, T* cols) {
  // units: blocks of one image's columns (each writes every row of its columns)
  const int64_t L = g.L(), per_image = (L + kIm2colBlock - 1) / kIm2colBlock;
  const ConvLoops<T>& loops = kernels().conv<T>();
  parallel_ranges(g.N * per_image, double(g.N) * g.C * g.KK() * L, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / per_image, l0 = (u % per_image) * kIm2colBlock;
      loops.im2col_block(g, x, n, l0, std::min(kIm2colBlock, L - l0), cols);
    }
  });
}

template <typename T>
void col2im(const Geometry& g, const T* cols, T* x) {
  // units: whole planes (each plane's sums are the same whichever thread adds them)
  const int64_t KK = g.KK(), L = g.L(), planes = g.N * g.C;
  parallel_ranges(planes, double(planes) * KK * L, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* plane = x + p * g.HW();
      std::fill(plane, plane + g.HW(), T(0));
      col2im_channel(g, cols + p * KK * L, L, 0, L, plane, 0);
    }
  });
}

template <typename T>
void conv2d_forward(const Geometry& g, const T* x, const T* w, const T* b, T* y) {
  // One GEMM per group with the images side by side as columns: y's images are groups
  // of C's columns (GemmArgs::c_group). One GEMM per image filled the last 64-column
  // panel of a small image badly (7x7: 49 of 64) and packed the weights again for every
  // image: 512 x 7x7 took 14.0 ms and 256 x 14x14 14.8 ms that way, 9.8 and 9.4 batched
  // (1 thread, N = 8).
  const int64_t Cg = g.Cg(), Fg = g.Fg(), K = Cg * g.KK(), L = g.L();
  if (use_direct(g)) {
    parallel_ranges(g.N * g.G, double(g.N) * g.F * L * K, [&](int64_t u0, int64_t u1) {
      kernels().conv<T>().direct_forward(g, x, w, b, y, u0, u1);
    });
    return;
  }
  for (int64_t grp = 0; grp < g.G; ++grp) {
    const T* xg = x + grp * Cg * g.HW();
    const Cols<T> cc{&g, xg};
    const Planes<T> pc{xg, L, g.C * L};
    gemm::GemmArgs<T> a;
    a.M = Fg;
    a.N = g.N * L;
    a.K = K;
    a.A = {w + grp * Fg * K, K, 1};
    if (is_pointwise(g)) {  // cols is the input itself
      a.pack_b = {kernels().conv<T>().pack_planes, &pc};
    } else {
      a.pack_b = {kernels().conv<T>().pack_cols, &cc};
    }
    a.C = y + grp * Fg * L;
    a.ldc = L;
    a.c_group = L;
    a.c_group_stride = g.F * L;
    a.bias_row = b != nullptr ? b + grp * Fg : nullptr;
    a.nc = kForwardNC;
    a.kc = kForwardKC / int64_t(sizeof(T));
    gemm::gemm(a);
  }
}

namespace {

// gb[f] = sum over n and l of gy[n, f, l], in double: each image's plane summed in fixed
// lanes (ConvLoops::sum), the images added in order. One thread per channel.
template <typename T>
void grad_bias(const Geometry& g, const T* gy, T* gb) {
  const int64_t L = g.L();
  const ConvLoops<T>& loops = kernels().conv<T>();
  parallel_ranges(g.F, double(g.N) * g.F * L, [&](int64_t f0, int64_t f1) {
    for (int64_t f = f0; f < f1; ++f) {
      double total = 0.0;
      for (int64_t n = 0; n < g.N; ++n) total += loops.sum(gy + (n * g.F + f) * L, L);
      gb[f] = static_cast<T>(total);
    }
  });
}

// grad_x with stride 1: the convolution of grad_y with the flipped kernel, transposed
// per group (w_t (C, F/G, KH, KW): w_t[g*Cg + c, f, kh, kw] = w[g*Fg + f, c, KH-1-kh,
// KW-1-kw]) and padded by DH*(KH-1) - PH before (negative: cropped): grad_x[h] = sum over
// kh of w[kh] * grad_y[h + PH - kh*DH]. The forward's implicit im2col, no col2im.
template <typename T>
void grad_x_transposed(const Geometry& g, const T* gy, const T* w, T* gx) {
  const int64_t Cg = g.Cg(), Fg = g.Fg(), KK = g.KK();
  T* wt = static_cast<T*>(grad_cols_buffer().get(sizeof(T) * size_t(g.C * Fg * KK)));
  for (int64_t grp = 0; grp < g.G; ++grp) {
    for (int64_t c = 0; c < Cg; ++c) {
      for (int64_t f = 0; f < Fg; ++f) {
        const T* src = w + ((grp * Fg + f) * Cg + c) * KK;
        T* dst = wt + ((grp * Cg + c) * Fg + f) * KK;
        for (int64_t k = 0; k < KK; ++k) dst[k] = src[KK - 1 - k];
      }
    }
  }
  Geometry t;
  t.N = g.N;
  t.C = g.F;
  t.H = g.OH;
  t.W = g.OW;
  t.F = g.C;
  t.G = g.G;
  t.KH = g.KH;
  t.KW = g.KW;
  t.DH = g.DH;
  t.DW = g.DW;
  t.PH = g.DH * (g.KH - 1) - g.PH;
  t.PW = g.DW * (g.KW - 1) - g.PW;
  t.OH = g.H;
  t.OW = g.W;
  conv2d_forward(t, gy, wt, static_cast<const T*>(nullptr), gx);
}

// grad_x with stride > 1: per image and group, grad_cols = W_g^T @ grad_y_g a few hundred
// columns at a time into a per-thread buffer, each block added into grad_x by col2im. The
// blocks never cross an image, so an image's arithmetic is the same whoever runs it: with
// at least as many images as threads, each thread takes whole images (one parallel
// region; with a GEMM and a col2im region per block, a thread that the OS descheduled
// stalled every block: a strided 1x1 backward took 224 ms instead of 10 beside a busy
// neighbour process), otherwise the threads share each block (GEMM, then col2im with
// whole channels per thread).
template <typename T>
void grad_x_col2im(const Geometry& g, const T* gy, const T* w, T* gx) {
  const int64_t Cg = g.Cg(), Fg = g.Fg(), KK = g.KK(), K = Cg * KK, L = g.L();
  const int64_t lc_max = std::min(L, std::max<int64_t>(64, kGradColsElems / K / 64 * 64));
  auto image = [&](int64_t n, bool alone) {
    T* buf = static_cast<T*>(grad_cols_buffer().get(sizeof(T) * size_t(K * lc_max)));
    std::fill(gx + n * g.C * g.HW(), gx + (n + 1) * g.C * g.HW(), T(0));
    for (int64_t grp = 0; grp < g.G; ++grp) {
      T* gxg = gx + (n * g.C + grp * Cg) * g.HW();
      for (int64_t l0 = 0; l0 < L; l0 += lc_max) {
        const int64_t lc = std::min(lc_max, L - l0);
        gemm::GemmArgs<T> a;
        a.M = K;
        a.N = lc;
        a.K = Fg;
        a.A = {w + grp * Fg * K, 1, K};  // W_g^T: A(k, f) = w[f, k]
        a.B = {gy + (n * g.F + grp * Fg) * L + l0, L, 1};
        a.C = buf;
        a.ldc = lc;
        a.max_threads = alone ? 1 : 0;
        gemm::gemm(a);
        auto channels = [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c) {
            col2im_channel(g, buf + c * KK * lc, lc, l0, lc, gxg + c * g.HW(), 0);
          }
        };
        if (alone) {
          channels(0, Cg);
        } else {
          parallel_ranges(Cg, double(K) * lc, channels);
        }
      }
    }
  };
  if (g.N >= num_threads()) {
    parallel_ranges(g.N, double(g.N) * g.F * L * K, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) image(n, true);
    });
  } else {
    for (int64_t n = 0; n < g.N; ++n) image(n, false);
  }
}

// grad_w_g (F/G, K) = sum over images of gy_g (F/G, L) @ cols_g^T (L, K), per group one
// GEMM whose reduction runs over all N*L positions (in the GEMM's fixed KC blocks, in
// order: no thread count changes the sum).
template <typename T>
void grad_weight_gemm(const Geometry& g, const T* gy, const T* x, T* gw) {
  const int64_t Cg = g.Cg(), Fg = g.Fg(), K = Cg * g.KK(), L = g.L();
  for (int64_t grp = 0; grp < g.G; ++grp) {
    const Cols<T> cc{&g, x + grp * Cg * g.HW()};
    const GradY<T> gc{&g, gy + grp * Fg * L};
    gemm::GemmArgs<T> a;
    a.M = Fg;
    a.N = K;
    a.K = g.N * L;
    a.pack_a = {kernels().conv<T>().pack_grad_y, &gc};
    a.pack_b = {kernels().conv<T>().pack_cols_t, &cc};
    a.C = gw + grp * Fg * K;
    a.ldc = K;
    gemm::gemm(a);
  }
}

template <typename T>
bool any_nan(const T* a, int64_t n) {
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) nan |= a[i] != a[i];
  return nan;
}

template <typename T>
bool all_finite(const T* a, int64_t n) {
  bool finite = true;
  for (int64_t i = 0; i < n; ++i) finite &= std::isfinite(a[i]);
  return finite;
}

}  // namespace

// Non-finite operands. The direct loops and the transposed convolution run over grad_y
// or x with zero padding around them, and so form products with padding zeros that the
// gradient's true sum does not have: an inf or NaN meeting one gives 0 * inf = NaN where
// torch and the twin (which sum only the real terms) give a number. Both are caught
// cheaply and routed to the GEMM paths, whose im2col columns and W^T @ grad_y products
// hold the real terms only: a non-finite weight (a scan of the small weight tensor)
// takes grad_x by col2im; a NaN in grad_w from the direct loops (a scan of grad_w; it
// can only come from a non-finite x or grad_y) has grad_w recomputed by the GEMM.
template <typename T>
void conv2d_backward(const Geometry& g, const T* gy, const T* x, const T* w, T* gx, T* gw,
                     T* gb) {
  const int64_t K = g.Cg() * g.KK(), L = g.L();
  if (gb != nullptr) grad_bias(g, gy, gb);
  const ConvLoops<T>& loops = kernels().conv<T>();
  if (use_direct(g)) {
    parallel_ranges(g.G, double(g.N) * g.F * L * K, [&](int64_t u0, int64_t u1) {
      loops.direct_grad_w(g, gy, x, gw, u0, u1);
    });
    if (any_nan(gw, g.F * K)) grad_weight_gemm(g, gy, x, gw);
  } else {
    grad_weight_gemm(g, gy, x, gw);
  }
  // The transposed and direct paths meet the padding's zeros with w (0 * inf = NaN where
  // torch gives numbers): a non-finite w takes col2im. col2im is taken anyway when
  // neither applies, so w is scanned only when the scan can change the path.
  const bool unit_stride = g.SH == 1 && g.SW == 1;
  if ((unit_stride || use_direct(g)) && all_finite(w, g.F * K)) {
    if (unit_stride) {  // a convolution of grad_y (GEMM or direct)
      grad_x_transposed(g, gy, w, gx);
    } else {
      parallel_ranges(g.N * g.C, double(g.N) * g.F * L * K, [&](int64_t p0, int64_t p1) {
        loops.direct_grad_x(g, gy, w, gx, p0, p1);
      });
    }
  } else {
    grad_x_col2im(g, gy, w, gx);
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
