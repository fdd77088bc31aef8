// fastdl's own packed matrix multiply (Goto/BLIS structure), float32 and float64.
//
//   C (M,N) = alpha * A (M,K) @ B (K,N) + beta * C  [+ bias_row[i]] [+ bias_col[j]]
//
// Why not link a BLAS (measured on the 2-core Zen machine this was written on): a BLAS
// brings its own thread pool, whose spinning threads fight OpenMP's; our own B packing
// can read a convolution's input directly (implicit im2col) and our epilogue adds the
// bias; and we promise results that are bitwise identical for any thread count.
//
// Structure (see gemm.cpp): each thread owns a rectangle of C; it packs B once per
// (KC, NC) block and A once per (MC, KC) block into its workspace, and a register-blocked
// micro-kernel per ISA (isa/gemm_isa.cpp) computes MR x NR tiles of C. Threads split M
// and N, never K, and the K blocking is fixed, so each element of C is the same chain of
// fused multiply-adds whatever the thread count. Workspaces belong to the calling thread
// and are reused across calls (a fresh 58 MB buffer per call cost +50%, measured).
//
// Operands are strided views: element (i, j) of a matrix is p[i * rs + j * cs], so
// transposed and non-contiguous operands need no copy. C is row-major (ldc, unit column
// stride).
#pragma once

#include <cstdint>

namespace fastdl::gemm {

// A read-only strided matrix view: element (i, j) is p[i * rs + j * cs].
template <typename T>
struct MatrixRef {
  const T* p = nullptr;
  int64_t rs = 0;  // row stride, in elements
  int64_t cs = 1;  // column stride, in elements
};

// The packed layout of B, which a custom packer must write. B's columns are cut into
// panels of nr columns (nr = the micro-kernel's NR, passed in). For the block of rows
// [k0, k0 + kc) and the panels covering columns [j0, j0 + nc) (j0 is a multiple of nr),
// panel q holds kc rows of nr values each:
//
//   dst[q * kc * nr + k * nr + jj] = B(k0 + k, j0 + q * nr + jj)   for jj < nr,
//
// with zeros for the columns past j0 + nc (padding up to the panel's nr). The driver
// calls the packer from several threads at once (each for the columns it owns): it must
// be thread-safe (read-only on its context).
//
// Implicit im2col (convolution as GEMM without a cols buffer): for one image, B is the
// (C*KH*KW, OH*OW) matrix of F.unfold, B(k, j) = x[c, oh*sh - ph + kh*dh, ow*sw - pw +
// kw*dw] (0 outside the image) with k = (c, kh, kw) and j = (oh, ow); a PackB whose fn
// writes exactly those values in the layout above replaces the copy. pack_b_reference
// below is the plain model of such a packer.
template <typename T>
struct PackB {
  void (*fn)(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr,
             T* dst) = nullptr;
  const void* ctx = nullptr;
};

// The packed layout of A, which a custom packer must write: rows [i0, i0 + mc) and the
// columns [k0, k0 + kc) of A cut into panels of mr rows (mr = the micro-kernel's MR,
// passed in),
//
//   dst[p * kc * mr + k * mr + i] = A(i0 + p * mr + i, k0 + k)   for i < mr,
//
// with zeros for the rows past i0 + mc. Thread-safe like PackB. A convolution's weight
// gradient needs it: there A(f, r) = grad_y[n, f, l] with the reduction index r = (n, l)
// running across the images of the batch, which no single stride describes.
template <typename T>
struct PackA {
  void (*fn)(const void* ctx, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t mr,
             T* dst) = nullptr;
  const void* ctx = nullptr;
};

// Everything a call needs. Fill M, N, K, A, B (or pack_b), C, ldc; the rest is optional.
template <typename T>
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  T alpha = T(1);
  T beta = T(0);        // beta == 0: C is written without being read (NaNs in C vanish)
  MatrixRef<T> A;       // M x K; ignored when pack_a.fn is set
  PackA<T> pack_a;      // a custom packer of A (a weight gradient across images); see PackA
  MatrixRef<T> B;       // K x N; ignored when pack_b.fn is set
  PackB<T> pack_b;      // a custom packer of B (implicit im2col); see PackB
  T* C = nullptr;       // M x N, row-major
  int64_t ldc = 0;
  // C's columns in groups (a batch of NCHW images side by side: group q is image q's
  // (channels, positions) matrix): with c_group > 0, C(i, j) lives at
  // C[(j / c_group) * c_group_stride + i * ldc + j % c_group]. Tiles that straddle two
  // groups go through a buffer, with the same arithmetic.
  int64_t c_group = 0;
  int64_t c_group_stride = 0;
  // The column block NC (rounded to whole NR panels); 0: the micro-kernel's. A custom
  // packer that is slow to write its panels may want the packed KC x NC block of B to
  // stay in L2.
  int64_t nc = 0;
  // The largest K block KC; 0: the micro-kernel's. (K is cut into ceil(K / KC) equal
  // blocks; C is swept once per block.)
  int64_t kc = 0;
  // At most this many threads (0: fastdl::num_threads()); 1 from inside a caller's own
  // parallel region, whose threads each run their own products.
  int max_threads = 0;
  const T* bias_row = nullptr;  // M values: C(i, j) += bias_row[i]  (conv: per channel)
  const T* bias_col = nullptr;  // N values: C(i, j) += bias_col[j]  (linear: per output)
};

// The general entry: C = alpha * A @ B + beta * C (+ biases), multithreaded with
// fastdl::num_threads(). Arguments are the caller's to validate; this cannot fail
// (except std::bad_alloc for its workspace). Each element is computed as: acc =
// fma-chain over one KC block of K (in order); the first block stores alpha*acc
// (+ beta*C), each later block adds alpha*acc; after the last block the biases are added
// (row bias, then column bias). With K == 0, C = beta*C (+ biases). Products of at most
// kDotRows (4) rows with a transposed B (and the default packers) are dot products
// instead (see gemm_kernel.h); either way the result does not depend on the thread
// count.
template <typename T>
void gemm(const GemmArgs<T>& args);

// The BLAS-style entry for dense operands: op(A) is A (M,K) with leading dimension lda,
// or, transposed, A^T where A is stored (K,M); likewise op(B) (K,N).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// gemm's default B packer (the ISA's vectorised one) as a PackB; ctx is a
// const MatrixRef<T>*.
template <typename T>
void pack_b_strided(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                    int64_t nr, T* dst);

// The same, written plainly from the layout documented at PackB: the model for custom
// packers (implicit im2col), and what the tests run the PackB hook with.
template <typename T>
void pack_b_reference(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                      int64_t nr, T* dst);

// "fastdl packed gemm, avx512 f32 12x32 / f64 12x16 micro-kernels, ..." for build_info.
const char* describe();

}  // namespace fastdl::gemm
