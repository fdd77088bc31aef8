// The contract between the GEMM driver (gemm.cpp) and the per-ISA micro-kernels
// (isa/gemm_isa.cpp): one MicroKernel per dtype and instruction set, in the KernelTable.
#pragma once

#include <cstdint>

#include "kernels/gemm.h"

namespace fastdl::gemm {

// What a micro-tile does with its accumulators acc (the product over one KC block).
// first: c = alpha*acc + beta*c (c is not read when beta_zero); else c = c + alpha*acc.
// Then, on the last K block only (the pointers are null otherwise): c += bias_row[i],
// then c += bias_col[j]. Multiplies and adds are separate (never fused), in this order,
// on every path, so an element's value does not depend on which tile computed it.
template <typename T>
struct TileEpilogue {
  T alpha = T(1), beta = T(0);
  bool first = true;
  bool beta_zero = true;
  const T* bias_row = nullptr;  // the tile's first row's entry
  const T* bias_col = nullptr;  // the tile's first column's entry
};

// Products with at most this many rows and a transposed B go to MicroKernel::dot_rows.
inline constexpr int kDotRows = 4;

template <typename T>
struct MicroKernel {
  int mr = 0, nr = 0;              // register block: tiles of C are mr x nr
  int64_t mc = 0, kc = 0, nc = 0;  // cache blocking (the driver rounds mc, nc to panels)
  const char* name = "";           // the vector type and dtype, e.g. "zmm f32"
  // C (m, n) <- epilogue(a @ b): a is a packed mr x kc panel of A (k-major: a[k*mr + i]),
  // b a packed kc x nr panel of B (b[k*nr + j]); m <= mr, n <= nr; c row-major (ldc).
  // Every element is acc = 0; acc = fma(a[k*mr+i], b[k*nr+j], acc) for k = 0..kc-1
  // (a multiply then an add on the baseline ISA, which has no FMA), whatever m and n,
  // so edge tiles agree bitwise with full ones.
  void (*tile)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int m, int n,
               const TileEpilogue<T>& e) = nullptr;
  // Packs rows [i0, i0 + mc) x columns [k0, k0 + kc) of A into mr-row panels,
  // dst[p * kc * mr + k * mr + i] = A(i0 + p * mr + i, k0 + k), rows past mc zeroed.
  void (*pack_a)(const MatrixRef<T>& A, int64_t i0, int64_t mc, int64_t k0, int64_t kc,
                 T* dst) = nullptr;
  // Packs rows [k0, k0 + kc) x columns [j0, j0 + nc) of B into nr-column panels, in the
  // layout documented at PackB (gemm.h).
  void (*pack_b)(const MatrixRef<T>& B, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                 T* dst) = nullptr;
  // Columns [j0, j1) of C for g.M <= kDotRows, A with contiguous rows (A.cs == 1) and B
  // stored transposed (B.rs == 1), as dot products, nothing packed (see gemm_isa.cpp).
  void (*dot_rows)(const GemmArgs<T>& g, int64_t j0, int64_t j1) = nullptr;
};

}  // namespace fastdl::gemm
