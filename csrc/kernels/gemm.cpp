// The GEMM driver: cache blocking, packing, threads and workspaces (Goto/BLIS).
//
// C is cut into a grid of rectangles, one per thread (choose_grid); each thread runs
//
//   for jc in its columns, step NC:
//     for pc in K, KC blocks:                  pack B[pc, jc] (KC x NC, L2/L3)
//       for ic in its rows, step MC:           pack A[ic, pc] (MC x KC, in L2)
//         for jr in the NC block, step NR:     B micro-panel (KC x NR) in L1/L2
//           for ir in the MC block, step MR:   micro-kernel: MR x NR tile of C
//
// B is packed once per (KC, NC) block and reused by every MR-row panel of A. K is never
// split and the K blocks depend on K alone, so every element of C is the same chain of
// operations for any thread count (bitwise identical results).
#include "kernels/gemm.h"

#include <algorithm>
#include <string>

#include "kernels/common.h"
#include "kernels/dispatch.h"
#include "kernels/threads.h"
#include "kernels/workspace.h"

namespace fastdl::gemm {

namespace {

// Below this many flops per thread a parallel region costs more than it saves.
constexpr double kMinFlopsPerThread = double(1 << 21);

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// The address of C(i, j) (see GemmArgs::c_group).
template <typename T>
FASTDL_INLINE T* c_at(const GemmArgs<T>& g, int64_t i, int64_t j) {
  if (g.c_group <= 0) return g.C + i * g.ldc + j;
  return g.C + (j / g.c_group) * g.c_group_stride + i * g.ldc + j % g.c_group;
}

// C = beta * C (+ biases): the whole product when K == 0.
template <typename T>
void scale_only(const GemmArgs<T>& g) {
  for (int64_t i = 0; i < g.M; ++i) {
    for (int64_t j = 0; j < g.N; ++j) {
      T* c = c_at(g, i, j);
      T r = g.beta == T(0) ? T(0) : g.beta * *c;
      if (g.bias_row != nullptr) r = r + g.bias_row[i];
      if (g.bias_col != nullptr) r = r + g.bias_col[j];
      *c = r;
    }
  }
}

// An m x n tile whose columns straddle two groups of C (GemmArgs::c_group): computed on
// a buffer (mr x nr, ldc nr) with C's values copied in and out, so that its arithmetic
// is exactly that of a tile computed in place.
template <typename T>
void tile_straddling(const GemmArgs<T>& g, const MicroKernel<T>& mk, int64_t kc, const T* a,
                     const T* b, int64_t i, int64_t j, int m, int n, const TileEpilogue<T>& e,
                     T* buf) {
  const bool reads_c = !(e.first && e.beta_zero);
  // the tile's columns, one run per group
  auto for_runs = [&](auto&& f) {
    for (int jj = 0; jj < n;) {
      const int64_t in_group = (j + jj) % g.c_group;
      const int len = static_cast<int>(std::min<int64_t>(n - jj, g.c_group - in_group));
      f(jj, len, c_at(g, i, j + jj));
      jj += len;
    }
  };
  if (reads_c) {
    for_runs([&](int jj, int len, const T* c) {
      for (int ii = 0; ii < m; ++ii) std::copy(c + ii * g.ldc, c + ii * g.ldc + len, buf + ii * mk.nr + jj);
    });
  }
  mk.tile(kc, a, b, buf, mk.nr, m, n, e);
  for_runs([&](int jj, int len, T* c) {
    for (int ii = 0; ii < m; ++ii) std::copy(buf + ii * mk.nr + jj, buf + ii * mk.nr + jj + len, c + ii * g.ldc);
  });
}

// The thread grid: the threads own a tm x tn grid of rectangles of C (rows in whole MR
// panels, columns in whole NR panels) and each multiplies its own rectangle, packing its
// own blocks of A and B: no barrier anywhere (a thread that the OS descheduled delays
// nobody but itself; with a B block shared through barriers, every block waited for the
// slowest thread, and a busy neighbour process made 2 threads slower than 1). The price
// is packing twice: with tn > 1 every thread packs all of its rows of A, with tm > 1 all
// of its columns of B; the grid minimises the busiest thread's multiply-adds plus that
// packing. A packed element costs about a cycle (measured: 0.25-0.5 ns), a multiply-add
// 1/32 of one (two 16-lane FMAs per cycle), hence kPackCost.
constexpr double kPackCost = 32;

struct Grid {
  int tm = 1, tn = 1;
};

// Rows (or columns) of part t of n when `panels` panels of `width` (the last one `len`
// - (panels - 1) * width wide) are split evenly into n parts.
int64_t part_begin(int64_t t, int64_t n, int64_t panels, int64_t width, int64_t len) {
  return std::min(len, (t * panels / n) * width);
}

Grid choose_grid(int nt, int64_t M, int64_t N, int64_t K, int mr, int nr, int64_t nc) {
  const int64_t mp = ceil_div(M, mr), np = ceil_div(N, nr);
  Grid best;
  double best_cost = -1;
  for (int tm = nt; tm >= 1; --tm) {
    if (nt % tm != 0) continue;
    const int tn = nt / tm;
    if (tm > mp || tn > np) continue;
    double rows = 0, cols = 0;  // the largest part; a panel of m rows costs ~ m + 2 rows
    for (int t = 0; t < tm; ++t) {
      double r = 0;
      for (int64_t p = t * mp / tm; p < (t + 1) * mp / tm; ++p) r += double(std::min<int64_t>(mr, M - p * mr) + 2);
      rows = std::max(rows, r);
    }
    for (int t = 0; t < tn; ++t) {
      cols = std::max(cols, double(part_begin(t + 1, tn, np, nr, N) - part_begin(t, tn, np, nr, N)));
    }
    const double macs = rows * cols * double(K);
    const double packing = kPackCost * double(K) * (rows * double(ceil_div(int64_t(cols), nc)) + cols);
    const double cost = macs + packing;
    if (best_cost < 0 || cost < best_cost * 0.999) {
      best_cost = cost;
      best = {tm, tn};
    }
  }
  return best;
}

template <typename T>
struct Plan {
  const GemmArgs<T>* g;
  const MicroKernel<T>* mk;
  PackB<T> pack_b;
  int64_t mc, nc;     // MC and NC, whole panels
  int64_t nkb;        // number of K blocks (K split evenly into blocks of <= KC)
  T* ws;              // per-thread workspaces, ws_stride apart: packed B block, then A,
  int64_t ws_stride, a_offset, c_offset;  // then an MR x NR tile buffer
  Grid grid;
};

// C[r0:r1, c0:c1] by one thread, the Goto way; ws holds its packed B and A blocks.
template <typename T>
void multiply_rect(const Plan<T>& pl, int64_t r0, int64_t r1, int64_t c0, int64_t c1, T* ws) {
  const GemmArgs<T>& g = *pl.g;
  const MicroKernel<T>& mk = *pl.mk;
  const int mr = mk.mr, nr = mk.nr;
  T* bpack = ws;
  T* apack = ws + pl.a_offset;
  T* cbuf = ws + pl.c_offset;
  TileEpilogue<T> e;
  e.alpha = g.alpha;
  e.beta = g.beta;
  e.beta_zero = g.beta == T(0);
  for (int64_t jc = c0; jc < c1; jc += pl.nc) {
    const int64_t nc = std::min(pl.nc, c1 - jc);
    for (int64_t kb = 0; kb < pl.nkb; ++kb) {
      const int64_t k0 = kb * g.K / pl.nkb;
      const int64_t kc = (kb + 1) * g.K / pl.nkb - k0;
      pl.pack_b.fn(pl.pack_b.ctx, k0, kc, jc, nc, nr, bpack);
      e.first = kb == 0;
      const bool last = kb == pl.nkb - 1;
      for (int64_t ic = r0; ic < r1; ic += pl.mc) {
        const int64_t mc = std::min(pl.mc, r1 - ic);
        if (g.pack_a.fn != nullptr) {
          g.pack_a.fn(g.pack_a.ctx, ic, mc, k0, kc, mr, apack);
        } else {
          mk.pack_a(g.A, ic, mc, k0, kc, apack);
        }
        for (int64_t jr = 0; jr < nc; jr += nr) {
          const int64_t j = jc + jr;
          const int n = static_cast<int>(std::min<int64_t>(nr, nc - jr));
          const T* bp = bpack + jr * kc;
          e.bias_col = last && g.bias_col != nullptr ? g.bias_col + j : nullptr;
          const bool straddles = g.c_group > 0 && j % g.c_group + n > g.c_group;
          for (int64_t ir = 0; ir < mc; ir += mr) {
            const int m = static_cast<int>(std::min<int64_t>(mr, mc - ir));
            const int64_t i = ic + ir;
            e.bias_row = last && g.bias_row != nullptr ? g.bias_row + i : nullptr;
            if (straddles) {
              tile_straddling(g, mk, kc, apack + ir * kc, bp, i, j, m, n, e, cbuf);
            } else {
              mk.tile(kc, apack + ir * kc, bp, c_at(g, i, j), g.ldc, m, n, e);
            }
          }
        }
      }
    }
  }
}

// Thread tid of a team of nth multiplies rectangles tid, tid + nth, ... of the grid (one
// each when the team has the size asked for; a smaller team, e.g. inside another
// parallel region, shares them out).
template <typename T>
void run(const Plan<T>& pl, int tid, int nth) {
  const GemmArgs<T>& g = *pl.g;
  const int mr = pl.mk->mr, nr = pl.mk->nr;
  const int64_t mp = ceil_div(g.M, mr), np = ceil_div(g.N, nr);
  const int tm = pl.grid.tm, tn = pl.grid.tn;
  for (int t = tid; t < tm * tn; t += nth) {
    const int ti = t / tn, tj = t % tn;
    const int64_t r0 = part_begin(ti, tm, mp, mr, g.M), r1 = part_begin(ti + 1, tm, mp, mr, g.M);
    const int64_t c0 = part_begin(tj, tn, np, nr, g.N), c1 = part_begin(tj + 1, tn, np, nr, g.N);
    if (r1 > r0 && c1 > c0) multiply_rect(pl, r0, r1, c0, c1, pl.ws + tid * pl.ws_stride);
  }
}

Workspace& workspace() {
  thread_local Workspace ws;
  return ws;
}

}  // namespace

template <typename T>
void pack_b_strided(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                    int64_t nr, T* dst) {
  const MicroKernel<T>& mk = kernels().gemm<T>();
  (void)nr;  // always mk.nr: the driver passes its kernel's
  mk.pack_b(*static_cast<const MatrixRef<T>*>(ctx), k0, kc, j0, nc, dst);
}

template <typename T>
void pack_b_reference(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                      int64_t nr, T* dst) {
  const MatrixRef<T>& B = *static_cast<const MatrixRef<T>*>(ctx);
  for (int64_t q = 0; q * nr < nc; ++q) {
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t jj = 0; jj < nr; ++jj) {
        const int64_t j = q * nr + jj;  // column within [j0, j0 + nc)
        dst[q * kc * nr + k * nr + jj] = j < nc ? B.p[(k0 + k) * B.rs + (j0 + j) * B.cs] : T(0);
      }
    }
  }
}

// A few rows times a transposed B (linear on a single sample): dot products, nothing
// packed (MicroKernel::dot_rows). Threads take contiguous column ranges; an element's
// arithmetic does not depend on which.
template <typename T>
void gemm_dot_rows(const GemmArgs<T>& g0, const MicroKernel<T>& mk) {
  GemmArgs<T> g = g0;
  if (g.A.cs != 1) {  // the rows of A, contiguous (at most kDotRows x K values)
    T* a = static_cast<T*>(workspace().get(sizeof(T) * size_t(g.M * g.K)));
    for (int64_t i = 0; i < g.M; ++i) {
      for (int64_t k = 0; k < g.K; ++k) a[i * g.K + k] = g.A.p[i * g.A.rs + k * g.A.cs];
    }
    g.A = {a, g.K, 1};
  }
  const double flops = 2.0 * double(g.M) * double(g.N) * double(g.K);
  const int nt = static_cast<int>(
      std::max<double>(1, std::min<double>({double(g.max_threads > 0 ? std::min(g.max_threads, num_threads())
                                                                      : num_threads()),
                                            double(g.N), flops / kMinFlopsPerThread})));
  if (nt <= 1) {
    mk.dot_rows(g, 0, g.N);
    return;
  }
#if defined(_OPENMP)
  RegionErrors errors;
#pragma omp parallel num_threads(nt)
  errors.run([&] {
    const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    mk.dot_rows(g, t * g.N / n, (t + 1) * g.N / n);
  });
  errors.rethrow();
#else
  mk.dot_rows(g, 0, g.N);
#endif
}

template <typename T>
void gemm(const GemmArgs<T>& g) {
  if (g.M <= 0 || g.N <= 0) return;
  if (g.K <= 0) {
    scale_only(g);
    return;
  }
  const MicroKernel<T>& mk = kernels().gemm<T>();
  if (g.M <= kDotRows && g.pack_a.fn == nullptr && g.pack_b.fn == nullptr && g.B.rs == 1 &&
      g.c_group <= 0) {
    gemm_dot_rows(g, mk);
    return;
  }
  Plan<T> pl;
  pl.g = &g;
  pl.mk = &mk;
  pl.pack_b = g.pack_b.fn != nullptr ? g.pack_b : PackB<T>{&pack_b_strided<T>, &g.B};
  pl.mc = std::max<int64_t>(mk.mr, mk.mc / mk.mr * mk.mr);
  pl.nc = std::max<int64_t>(mk.nr, (g.nc > 0 ? g.nc : mk.nc) / mk.nr * mk.nr);
  pl.nkb = ceil_div(g.K, g.kc > 0 ? g.kc : mk.kc);
  const int64_t kc_max = ceil_div(g.K, pl.nkb);

  const double flops = 2.0 * double(g.M) * double(g.N) * double(g.K);
  int nt = g.max_threads > 0 ? std::min(g.max_threads, num_threads()) : num_threads();
  nt = static_cast<int>(std::max<double>(1, std::min<double>(nt, flops / kMinFlopsPerThread)));
  pl.grid = choose_grid(nt, g.M, g.N, g.K, mk.mr, mk.nr, pl.nc);
  nt = pl.grid.tm * pl.grid.tn;

  // Workspace: per thread a packed B block (KC x NC), a packed A block (MC x KC) and an
  // MR x NR tile buffer (for tiles straddling groups of C), each 64-byte aligned;
  // threads' slices a whole number of pages apart.
  const int64_t align = 64 / int64_t(sizeof(T));
  const int64_t bsize = round_up(kc_max * round_up(std::min(pl.nc, g.N), mk.nr), align);
  const int64_t asize = round_up(kc_max * round_up(std::min(pl.mc, g.M), mk.mr), align);
  pl.a_offset = bsize;
  pl.c_offset = bsize + asize;
  pl.ws_stride = round_up(bsize + asize + int64_t(mk.mr) * mk.nr, 4096 / int64_t(sizeof(T)));
  pl.ws = static_cast<T*>(workspace().get(sizeof(T) * size_t(nt * pl.ws_stride)));

  if (nt <= 1) {
    run(pl, 0, 1);
    return;
  }
#if defined(_OPENMP)
  // The packers may allocate (conv's per-thread row plans, isa/conv_isa.cpp).
  RegionErrors errors;
#pragma omp parallel num_threads(nt)
  errors.run([&] { run(pl, omp_get_thread_num(), omp_get_num_threads()); });
  errors.rethrow();
#else
  run(pl, 0, 1);
#endif
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  GemmArgs<T> g;
  g.M = M;
  g.N = N;
  g.K = K;
  g.alpha = alpha;
  g.beta = beta;
  g.A = trans_a ? MatrixRef<T>{A, 1, lda} : MatrixRef<T>{A, lda, 1};
  g.B = trans_b ? MatrixRef<T>{B, 1, ldb} : MatrixRef<T>{B, ldb, 1};
  g.C = C;
  g.ldc = ldc;
  gemm(g);
}

const char* describe() {
  static const std::string s = [] {
    const MicroKernel<float>& f = kernels().gemm<float>();
    const MicroKernel<double>& d = kernels().gemm<double>();
    auto blk = [](auto& k) {
      return std::to_string(k.mr) + "x" + std::to_string(k.nr) + " (MC " + std::to_string(k.mc) +
             ", KC " + std::to_string(k.kc) + ", NC " + std::to_string(k.nc) + ")";
    };
    return std::string("fastdl packed gemm, ") + kernels().isa + " micro-kernels: " + f.name + " " +
           blk(f) + ", " + d.name + " " + blk(d);
  }();
  return s.c_str();
}

template void gemm<float>(const GemmArgs<float>&);
template void gemm<double>(const GemmArgs<double>&);
template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
template void pack_b_strided<float>(const void*, int64_t, int64_t, int64_t, int64_t, int64_t, float*);
template void pack_b_strided<double>(const void*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                     double*);
template void pack_b_reference<float>(const void*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                      float*);
template void pack_b_reference<double>(const void*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                       double*);

}  // namespace fastdl::gemm
