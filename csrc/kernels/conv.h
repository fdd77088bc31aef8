// 2-D convolution (NCHW, torch's F.conv2d) by implicit im2col on the packed GEMM, its
// gradients, and im2col / col2im themselves (F.unfold / F.fold).
//
// Forward, per group, one GEMM with the images side by side as columns:
// y (F/G, N*OH*OW) = W_g (F/G, C/G*KH*KW) @ cols + bias, where cols is never stored: a
// custom B packer (conv_kernel.h, isa/conv_isa.cpp) writes the GEMM's packed panels
// straight from the padded, strided, dilated input, the bias is added in the GEMM's
// epilogue, and y's images are groups of C's columns (GemmArgs::c_group). A 1x1,
// stride-1, unpadded convolution packs the input planes as they are (no im2col).
// Backward: grad_weight = grad_y @ cols^T, per group one GEMM whose reduction runs over
// all N*OH*OW positions (both operands packed from the images); grad_x, with stride 1,
// is the convolution of grad_y with the flipped, transposed kernel (the forward again),
// and with a larger stride W^T @ grad_y, a few hundred columns at a time into a
// per-thread buffer, added back by col2im; grad_bias = sums in double. Convolutions with
// at most 4 output channels per group (depthwise and the like) run direct loops.
//
// Extra memory: the GEMM's per-thread panels plus one per-thread buffer (the flipped
// weights, or C/G*KH*KW x <= 512 columns of grad_cols, or a group's zero-padded input
// planes for the direct loops); nothing grows with the batch.
//
// Arrays are C-contiguous; the caller has validated the geometry. Every result is
// bitwise identical for any thread count (no reduction is ever split between threads).
#pragma once

#include <cstdint>

namespace fastdl::conv {

// The geometry of a convolution; im2col/col2im use it with G = 1 (F unused).
struct Geometry {
  int64_t N = 1, C = 1, H = 1, W = 1;  // x (N, C, H, W)
  int64_t F = 1, G = 1;                // weight (F, C/G, KH, KW), G groups
  int64_t KH = 1, KW = 1;
  int64_t SH = 1, SW = 1;              // stride
  int64_t DH = 1, DW = 1;              // dilation
  int64_t PH = 0, PW = 0;              // padding before (top, left); any value
  int64_t OH = 1, OW = 1;              // output size (implies the padding after)

  int64_t Cg() const { return C / G; }
  int64_t Fg() const { return F / G; }
  int64_t KK() const { return KH * KW; }
  int64_t L() const { return OH * OW; }
  int64_t HW() const { return H * W; }
};

// x (N, C, H, W) -> cols (N, C*KH*KW, OH*OW): row c*KH*KW + kh*KW + kw, column
// oh*OW + ow holds x[n, c, oh*SH - PH + kh*DH, ow*SW - PW + kw*DW] (0 outside).
template <typename T>
void im2col(const Geometry& g, const T* x, T* cols);

// cols (N, C*KH*KW, OH*OW) -> x (N, C, H, W): the adjoint of im2col (overlaps summed).
template <typename T>
void col2im(const Geometry& g, const T* cols, T* x);

// x (N, C, H, W), w (F, C/G, KH, KW), b (F) or null -> y (N, F, OH, OW)
template <typename T>
void conv2d_forward(const Geometry& g, const T* x, const T* w, const T* b, T* y);

// gy (N, F, OH, OW), x, w as in the forward -> gx (N, C, H, W), gw (F, C/G, KH, KW),
// gb (F) or null (not computed).
template <typename T>
void conv2d_backward(const Geometry& g, const T* gy, const T* x, const T* w, T* gx, T* gw,
                     T* gb);

}  // namespace fastdl::conv
