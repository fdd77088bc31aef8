// The contract between the convolution drivers (conv.cpp) and the per-ISA packing loops
// (isa/conv_isa.cpp): the GEMM operands a convolution never stores, described by small
// contexts, and the functions that pack them into the GEMM's panels (gemm.h: PackA,
// PackB). One ConvLoops per dtype and instruction set, in the KernelTable.
#pragma once

#include <cstdint>

#include "kernels/conv.h"

namespace fastdl::conv {

// The column matrices (im2col) of one group, the images side by side: B(k, j) with
// k = (c, kh, kw) over the group's C/G channels and j = (img, oh, ow) over N*OH*OW,
// B(k, j) = x[img, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW], 0 outside the image.
template <typename T>
struct Cols {
  const Geometry* g;
  const T* x;  // channel 0 of the group in image 0 (images C*H*W apart)
};

// Arrays (N, rows, L), the images side by side: B(k, j) = p[img * img_stride + k * L + l]
// for (img, l) = column j0 + j. The input of a 1x1 convolution, or grad_y for
// W^T @ grad_y (j0: the first column of a block).
template <typename T>
struct Planes {
  const T* p;
  int64_t L, img_stride;
  int64_t j0 = 0;
};

// grad_y of one group as the A operand of the weight gradient: A(f, r) = gy[img, f, l]
// with r = (img, l) over N*OH*OW.
template <typename T>
struct GradY {
  const Geometry* g;
  const T* gy;  // channel 0 of the group in image 0 (images F*OH*OW apart)
};

template <typename T>
struct ConvLoops {
  // gemm::PackB of B = Cols (ctx: const Cols<T>*): the forward pass.
  void (*pack_cols)(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr,
                    T* dst) = nullptr;
  // gemm::PackB of B = Cols^T (ctx: const Cols<T>*; B's rows are Cols' columns): the
  // weight gradient.
  void (*pack_cols_t)(const void* ctx, int64_t r0, int64_t rc, int64_t k0, int64_t nc,
                      int64_t nr, T* dst) = nullptr;
  // gemm::PackB of B = Planes (ctx: const Planes<T>*).
  void (*pack_planes)(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                      int64_t nr, T* dst) = nullptr;
  // gemm::PackA of A = GradY (ctx: const GradY<T>*).
  void (*pack_grad_y)(const void* ctx, int64_t i0, int64_t mc, int64_t r0, int64_t rc,
                      int64_t mr, T* dst) = nullptr;

  // Direct loops for convolutions with few channels per group (depthwise and the like),
  // where a GEMM would pack more than it multiplies. Each covers a range of whole output
  // units, computed the same way whichever thread runs them:
  // y for the units u = n*G + grp (image, group) in [u0, u1) (+ bias after the sum; b
  // may be null);
  void (*direct_forward)(const Geometry& g, const T* x, const T* w, const T* b, T* y,
                         int64_t u0, int64_t u1) = nullptr;
  // grad_x planes p = n*C + c in [p0, p1);
  void (*direct_grad_x)(const Geometry& g, const T* gy, const T* w, T* gx, int64_t p0,
                        int64_t p1) = nullptr;
  // grad_weight of the groups [u0, u1), each a sum over the batch (images in order).
  void (*direct_grad_w)(const Geometry& g, const T* gy, const T* x, T* gw, int64_t u0,
                        int64_t u1) = nullptr;

  // The sum of n values, in double (grad_bias).
  double (*sum)(const T* p, int64_t n) = nullptr;

  // ops.im2col: columns [l0, l0 + ln) of image n's column matrix (every row) into cols
  // (N, C*KH*KW, OH*OW); ln <= kIm2colBlock.
  void (*im2col_block)(const Geometry& g, const T* x, int64_t n, int64_t l0, int64_t ln,
                       T* cols) = nullptr;
};

// Columns per im2col_block call (the packers' planning unit).
inline constexpr int64_t kIm2colBlock = 512;

}  // namespace fastdl::conv
