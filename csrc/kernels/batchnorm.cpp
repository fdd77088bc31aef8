// The driver of batch normalization: how each channel's values are cut into blocks, how
// the blocks are spread over threads, how their partial results are merged, and the
// per-channel scalars. The loops over a block live in isa/batchnorm_isa.cpp.
//
// Memory traffic is the whole cost (about 10 flops per element), so the work goes group
// by group (a channel, or a tile of channels when S is small). The first pass over a
// group (statistics; gradient sums) reads it from memory once, prefetching ahead; the
// second pass (normalize; grad_x) finds it still in cache. So the forward reads x once
// from memory and writes y once, and the backward reads x and dy once and writes dx once
// (x_hat is recomputed, never stored). Groups aim at a few hundred KB, to stay in L2; a
// larger one (one big channel, or a tile of many rows) comes back from L3 instead.
//
// Outputs larger than kStreamBytes are written with streaming stores (no read for
// ownership; they would not stay in cache anyway).
//
// Determinism: the blocks of a channel are fixed by (N, C, S, dtype) alone, each block's
// partial result is computed by one fixed loop, and the partials are merged in block
// order. Threads only decide who computes which block, so every output is bitwise
// identical for any thread count. With many groups each thread takes whole groups, the
// next free one each time (mode "groups"; a thread slowed down by a neighbour on a
// shared machine then does fewer); with few groups (C small next to the thread count)
// the blocks of every group are split between threads, statistics and normalization in
// two phases separated by barriers (mode "split"). Both modes produce the same bits.
#include "kernels/batchnorm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "kernels/common.h"
#include "kernels/dispatch.h"
#include "kernels/threads.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace fastdl::bn {

namespace {

// Elements per block: both passes of the block's statistics run in L1 (16 KB in float32).
constexpr int64_t kBlock = 4096;
// Row segments (one channel's S values) from this many bytes on are long enough to stream
// from memory on their own; shorter ones are read a tile of channels at a time. (S = 196
// float32, 784 bytes: 16% faster forward as planes; S = 49: 1.9x slower.)
constexpr int64_t kPlaneMinBytes = 512;
// Tiles: W channels side by side, all N rows. About kTileBytes a group, so that it is
// still in L2 for the second pass, but rows of at least kTileMinRowBytes: the memory
// reads of short rows stream badly (BatchNorm1d on (1024, 4096) ran 17% faster forward
// with rows of 4 KB than of 1 KB), while the backward reads two inputs and its taller
// groups fall out of L2 sooner (it lost 46% to rows of 4 KB, 24% to 2 KB). At most
// kTileMaxCols values a row. Blocks of about kTileBlock values (128 KB in float32: the
// second pass over a block reads L2) with at least kTileMinPer values of each channel,
// since every block costs some work per channel besides its elements (16-row blocks ran
// at half the speed on (1024, 4096), with an earlier pairwise merge), and at most
// kTileMaxRows rows: each column is summed down the rows in T, and this bounds the length
// of a float32 sum as the plane loops' 32 lanes do (4096 / 32 = 128 values a lane).
// Tuned on Zen 5 (1 MB L2).
constexpr int64_t kTileBytes = int64_t{256} << 10;
constexpr int64_t kTileMinRowBytes[2] = {4096, 1024};  // forward (1 input), backward (2)
constexpr int64_t kTileMaxCols = 1024;
constexpr int64_t kTileBlock = 32768;
constexpr int64_t kTileMinPer = 128;
constexpr int64_t kTileMaxRows = 256;
// Below this many elements one thread does it all.
constexpr int64_t kParallelMin = int64_t{1} << 15;
// Outputs of this many bytes or more are written with streaming stores: they cannot stay
// in cache for the next operation anyway (half of a 32 MB L3), and plain stores would read
// every line before writing it.
constexpr int64_t kStreamBytes = int64_t{16} << 20;

// How the (N, C, S) array is cut. A group is a channel (plane) or a tile of W channels;
// each group has nblocks blocks, numbered row-block major. Plane blocks are R rows by
// `piece` columns (piece == S unless S > kBlock); tile blocks are R rows of the tile.
// `inputs` is the number of arrays read, 1 forward and 2 backward.
struct Plan {
  int64_t N, C, S;
  bool tile;
  int64_t W;           // channels per group (1 for planes)
  int64_t groups;
  int64_t R;           // rows per block
  int64_t pieces;      // column pieces per row (planes)
  int64_t piece;       // columns per piece (planes)
  int64_t nblocks;     // blocks per group
  bool stream;         // write the output with streaming stores

  Plan(int64_t n, int64_t c, int64_t s, int64_t elem_size, int inputs)
      : N(n), C(c), S(s) {
    tile = S * elem_size < kPlaneMinBytes;
    if (tile) {
      const int64_t min_cols = kTileMinRowBytes[inputs - 1] / elem_size;
      const int64_t cols = std::clamp(kTileBytes / std::max<int64_t>(1, N * elem_size),
                                      min_cols, std::max(min_cols, kTileMaxCols));
      W = std::clamp<int64_t>(cols / S, 1, std::max<int64_t>(C, 1));
      groups = (C + W - 1) / W;
      R = std::min(std::max((kTileMinPer + S - 1) / S, kTileBlock / (W * S)), kTileMaxRows);
      pieces = 1;
      piece = S;
    } else {
      W = 1;
      groups = C;
      if (S <= kBlock) {
        pieces = 1;
        piece = S;
        R = std::max<int64_t>(1, kBlock / S);
      } else {
        pieces = (S + kBlock - 1) / kBlock;
        piece = (S + pieces - 1) / pieces;
        R = 1;
      }
    }
    R = std::min(R, N);
    nblocks = ((N + R - 1) / R) * pieces;
    stream = N * C * S * elem_size >= kStreamBytes;
  }

  int64_t first_channel(int64_t g) const { return g * W; }
  int64_t channels(int64_t g) const { return std::min(W, C - g * W); }

  // Offset of block b of group g into an (N, C, S) array, and its rectangle.
  int64_t offset(int64_t g, int64_t b, Rect* r) const {
    const int64_t rb = b / pieces, pc = b % pieces;
    const int64_t n0 = rb * R;
    r->rows = std::min(R, N - n0);
    r->ld = C * S;
    r->ahead = N - n0 - r->rows;
    const int64_t s0 = pc * piece;
    r->cols = tile ? channels(g) * S : std::min(piece, S - s0);
    return n0 * C * S + first_channel(g) * S + s0;
  }
  // Number of values of block b (per channel).
  double count(int64_t g, int64_t b) const {
    Rect r;
    offset(g, b, &r);
    return static_cast<double>(r.rows * (tile ? S : r.cols));
  }
};

// The merge of the blocks' (count, mean, M2), in double and in block order: Chan et al.'s
// formula for many parts at once (the parallel-axis theorem). With K the first block's
// mean, mean = K + sum(n_b (m_b - K)) / n and M2 = sum(M2_b + n_b (m_b - K)^2) - n (mean - K)^2.
// No division per block. The last subtraction loses (mean - K)^2 / var of relative
// precision in double, and since the first block alone has n_0 (K - mean)^2 <= M2, that
// factor is at most n / n_0, the number of blocks: harmless.
struct Moments {
  double n = 0, k = 0, s1 = 0, s2 = 0;
  void add(double nb, double mb, double m2b) {
    // the shift is the first block's mean, unless that is inf or NaN (an inf in the
    // block): then 0, so that the other blocks' finite means still add up to +-inf
    if (n == 0) k = std::isfinite(mb) ? mb : 0.0;
    const double d = mb - k;
    n += nb;
    s1 += nb * d;
    s2 += m2b + nb * d * d;
  }
  double mean() const { return k + s1 / n; }
  // clamped at 0 against rounding; a NaN (from a NaN or inf in x) stays NaN (std::max
  // would make it 0)
  double m2() const {
    const double m = s2 - s1 * (s1 / n);
    return m < 0.0 ? 0.0 : m;
  }
};

// How many threads, and whether they split groups: groups must outnumber threads well
// for whole groups to balance.
struct Threads {
  int nt;
  bool split;
};
Threads choose_threads(const Plan& p) {
  const int64_t total = p.N * p.C * p.S;
  int nt = total < kParallelMin ? 1 : num_threads();
  nt = static_cast<int>(std::min<int64_t>(nt, p.groups * p.nblocks));
  nt = std::max(nt, 1);
  return {nt, nt > 1 && p.groups < 4 * static_cast<int64_t>(nt)};
}

// Streaming stores are weakly ordered: each thread fences after writing its share, before
// the join (or a barrier) lets anyone read the output.
FASTDL_INLINE void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Runs body(tid, nt) on nt threads, each fencing its streaming stores when done. The
// bodies must not throw (an exception cannot leave an OpenMP region, and the bodies wait
// at barriers: RegionErrors would leave the other threads waiting for one that threw), so
// every body's scratch is allocated before the region (PerThread).
template <class Body>
void parallel(int nt, Body&& body) {
#if defined(_OPENMP)
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      body(omp_get_thread_num(), omp_get_num_threads());
      stream_fence();
    }
    return;
  }
#endif
  body(0, 1);
  stream_fence();
}

// Scratch of nt threads, allocated by the calling thread: at(tid) is thread tid's len
// values. Slices a whole number of 64-byte lines apart, with a line between them.
template <typename V>
class PerThread {
 public:
  PerThread(int nt, int64_t len)
      : stride_(len == 0 ? 0 : (len * int64_t(sizeof(V)) + 127) / 64 * 64 / int64_t(sizeof(V))),
        v_(static_cast<size_t>(std::max(nt, 1) * stride_)) {}
  V* at(int tid) { return v_.data() + tid * stride_; }

 private:
  int64_t stride_;
  std::vector<V> v_;
};

// The item range [lo, hi) of thread tid out of nt: a fixed, contiguous partition.
FASTDL_INLINE void item_range(int64_t items, int tid, int nt, int64_t* lo, int64_t* hi) {
  *lo = items * tid / nt;
  *hi = items * (tid + 1) / nt;
}

void barrier() {
#if defined(_OPENMP)
#pragma omp barrier
#endif
}

// --- forward ---------------------------------------------------------------------------

// Per-channel coefficients of y = (x - mean) * scale + shift.
template <typename T>
struct Coeffs {
  std::vector<T> mean, scale, shift;
  explicit Coeffs(int64_t C) : mean(C), scale(C), shift(C) {}
};

template <typename T>
void set_coeffs(const Forward<T>& a, int64_t c, double mean, double invstd, Coeffs<T>* k) {
  k->mean[c] = static_cast<T>(mean);
  k->scale[c] = static_cast<T>(a.gamma ? static_cast<double>(a.gamma[c]) * invstd : invstd);
  k->shift[c] = a.beta ? a.beta[c] : T(0);
}

// Batch statistics of channel c are final: save them, update the running stats.
template <typename T>
void finish_channel(const Forward<T>& a, int64_t c, const Moments& m, bool update,
                    Coeffs<T>* k) {
  const double mean = m.mean(), m2 = m.m2();
  const double invstd = 1.0 / std::sqrt(m2 / m.n + a.eps);
  a.save_mean[c] = static_cast<T>(mean);
  a.save_invstd[c] = static_cast<T>(invstd);
  if (update) {
    // torch's order of operations, in double (ATen's accscalar_t for float).
    const double unbiased = m2 / (m.n - 1), keep = 1 - a.momentum;
    const double rm = static_cast<double>(a.running_mean[c]);
    const double rv = static_cast<double>(a.running_var[c]);
    a.running_mean[c] = static_cast<T>(a.momentum * mean + keep * rm);
    a.running_var[c] = static_cast<T>(a.momentum * unbiased + keep * rv);
  }
  set_coeffs(a, c, mean, invstd, k);
}

// Statistics of block b of group g: one (mean, m2) per channel of the group.
template <typename T>
void stats_block(const Plan& p, const BatchNormLoops<T>& L, const T* x, int64_t g, int64_t b,
                 T* scratch, double* mean, double* m2) {
  Rect r;
  const int64_t o = p.offset(g, b, &r);
  if (p.tile) {
    L.tile_stats(x + o, r, p.S, scratch, mean, m2);
  } else {
    L.plane_stats(x + o, r, mean, m2);
  }
}

template <typename T>
void normalize_block(const Plan& p, const BatchNormLoops<T>& L, const Forward<T>& a,
                     const Coeffs<T>& k, int64_t g, int64_t b, T* scratch) {
  Rect r;
  const int64_t o = p.offset(g, b, &r);
  const int64_t c0 = p.first_channel(g);
  if (p.tile) {
    L.tile_normalize(a.x + o, a.y + o, r, p.S, &k.mean[c0], &k.scale[c0], &k.shift[c0], scratch,
                     p.stream);
  } else {
    L.plane_normalize(a.x + o, a.y + o, r, k.mean[c0], k.scale[c0], k.shift[c0], p.stream);
  }
}

template <typename T>
void forward_batch_stats(const Forward<T>& a, const Plan& p, bool update) {
  const BatchNormLoops<T>& L = kernels().batchnorm<T>();
  Coeffs<T> k(p.C);
  const Threads th = choose_threads(p);
  const int64_t scratch_len = p.tile ? 4 * p.W * p.S : 0;  // the tile loops' column sums
  if (!th.split) {
    std::atomic<int64_t> next{0};  // groups are handed out first come, first served
    PerThread<T> scratch_t(th.nt, scratch_len);
    PerThread<double> bm_t(th.nt, p.W), bm2_t(th.nt, p.W);
    PerThread<Moments> mom_t(th.nt, p.W);
    parallel(th.nt, [&](int tid, int nt) {
      T* scratch = scratch_t.at(tid);
      double *bm = bm_t.at(tid), *bm2 = bm2_t.at(tid);
      Moments* mom = mom_t.at(tid);
      (void)nt;
      for (int64_t g = next++; g < p.groups; g = next++) {
        const int64_t c0 = p.first_channel(g), w = p.channels(g);
        std::fill(mom, mom + p.W, Moments{});
        for (int64_t b = 0; b < p.nblocks; ++b) {
          stats_block(p, L, a.x, g, b, scratch, bm, bm2);
          const double n = p.count(g, b);
          for (int64_t j = 0; j < w; ++j) mom[j].add(n, bm[j], bm2[j]);
        }
        for (int64_t j = 0; j < w; ++j) finish_channel(a, c0 + j, mom[j], update, &k);
        for (int64_t b = 0; b < p.nblocks; ++b) normalize_block(p, L, a, k, g, b, scratch);
      }
    });
    return;
  }
  // Split: partials[(c * nblocks + b) * 2 + {0, 1}] = (mean, m2) of channel c in block b.
  std::vector<double> partials(static_cast<size_t>(p.C * p.nblocks * 2));
  const int64_t items = p.groups * p.nblocks;
  PerThread<T> scratch_t(th.nt, scratch_len);
  PerThread<double> bm_t(th.nt, p.W), bm2_t(th.nt, p.W);
  parallel(th.nt, [&](int tid, int nt) {
    T* scratch = scratch_t.at(tid);
    double *bm = bm_t.at(tid), *bm2 = bm2_t.at(tid);
    int64_t lo, hi;
    item_range(items, tid, nt, &lo, &hi);
    for (int64_t it = lo; it < hi; ++it) {
      const int64_t g = it / p.nblocks, b = it % p.nblocks;
      stats_block(p, L, a.x, g, b, scratch, bm, bm2);
      const int64_t c0 = p.first_channel(g);
      for (int64_t j = 0; j < p.channels(g); ++j) {
        partials[((c0 + j) * p.nblocks + b) * 2] = bm[j];
        partials[((c0 + j) * p.nblocks + b) * 2 + 1] = bm2[j];
      }
    }
    barrier();
    int64_t clo, chi;
    item_range(p.C, tid, nt, &clo, &chi);
    for (int64_t c = clo; c < chi; ++c) {
      Moments m;
      const int64_t g = c / p.W;
      for (int64_t b = 0; b < p.nblocks; ++b) {
        const double* pb = &partials[(c * p.nblocks + b) * 2];
        m.add(p.count(g, b), pb[0], pb[1]);
      }
      finish_channel(a, c, m, update, &k);
    }
    barrier();
    for (int64_t it = lo; it < hi; ++it) {
      normalize_block(p, L, a, k, it / p.nblocks, it % p.nblocks, scratch);
    }
  });
}

// Eval with running statistics: one streaming pass in memory order, split evenly between
// threads. Small S: whole rows of C*S values against per-column coefficients (up to
// kEvalRowMax values, so that the coefficient rows stay in L1/L2), kEvalRows rows a call;
// otherwise each (n, c) row segment with its channel's scalars.
constexpr int64_t kEvalRowMax = 32768;
constexpr int64_t kEvalRows = 16;

template <typename T>
void forward_running_stats(const Forward<T>& a) {
  Coeffs<T> k(a.C);
  for (int64_t c = 0; c < a.C; ++c) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(a.running_var[c]) + a.eps);
    a.save_mean[c] = a.running_mean[c];
    a.save_invstd[c] = static_cast<T>(invstd);
    set_coeffs(a, c, static_cast<double>(a.running_mean[c]), invstd, &k);
  }
  const int64_t N = a.N, C = a.C, S = a.S, row = C * S;
  if (N * row == 0) return;
  const BatchNormLoops<T>& L = kernels().batchnorm<T>();
  const bool stream = N * row * static_cast<int64_t>(sizeof(T)) >= kStreamBytes;
  const bool rows = S * static_cast<int64_t>(sizeof(T)) < kPlaneMinBytes && row <= kEvalRowMax;
  const int64_t items = rows ? (N + kEvalRows - 1) / kEvalRows : N * C;
  const int nt =
      N * row < kParallelMin ? 1 : static_cast<int>(std::min<int64_t>(num_threads(), items));
  PerThread<T> scratch_t(nt, rows ? 3 * row : 0);
  parallel(nt, [&](int tid, int nth) {
    T* scratch = scratch_t.at(tid);
    int64_t lo, hi;
    item_range(items, tid, nth, &lo, &hi);
    for (int64_t it = lo; it < hi; ++it) {
      if (rows) {
        const int64_t n0 = it * kEvalRows, o = n0 * row;
        const Rect r{std::min(kEvalRows, N - n0), row, row};
        L.tile_normalize(a.x + o, a.y + o, r, S, k.mean.data(), k.scale.data(),
                         k.shift.data(), scratch, stream);
      } else {
        const int64_t c = it % C, o = it * S;
        L.plane_normalize(a.x + o, a.y + o, Rect{1, S, S}, k.mean[c], k.scale[c], k.shift[c],
                          stream);
      }
    }
  });
}

// --- backward --------------------------------------------------------------------------

// Per-channel coefficients of dx = dy * a + (x - mean) * b + c.
template <typename T>
struct GradCoeffs {
  std::vector<T> mean, a, b, c;
  std::vector<double> sum_dy;  // kept for channels whose scale is not finite
  explicit GradCoeffs(int64_t C) : mean(C), a(C), b(C), c(C), sum_dy(C) {}
};

template <typename T>
void finish_grad_channel(const Backward<T>& g, int64_t ch, double n, double sum_dy,
                         double sum_dyxm, GradCoeffs<T>* k) {
  const double invstd = static_cast<double>(g.save_invstd[ch]);
  const double w = g.gamma ? static_cast<double>(g.gamma[ch]) * invstd : invstd;
  k->mean[ch] = g.save_mean[ch];
  k->sum_dy[ch] = sum_dy;
  k->a[ch] = static_cast<T>(w);
  if (g.training) {
    // dx = (dy - mean(dy) - (x - mean) * dot * invstd^2 / n) * w
    const double proj = sum_dyxm * invstd * invstd / n;
    k->b[ch] = static_cast<T>(-proj * w);
    k->c[ch] = static_cast<T>(-(sum_dy / n) * w);
  } else {
    k->b[ch] = T(0);
    k->c[ch] = T(0);
  }
  if (g.grad_gamma) {
    g.grad_gamma[ch] = static_cast<T>(sum_dyxm * invstd);
    g.grad_beta[ch] = static_cast<T>(sum_dy);
  }
}

template <typename T>
void grad_sums_block(const Plan& p, const BatchNormLoops<T>& L, const Backward<T>& g,
                     int64_t gr, int64_t b, T* scratch, double* s1, double* s2) {
  Rect r;
  const int64_t o = p.offset(gr, b, &r);
  const int64_t c0 = p.first_channel(gr);
  if (p.tile) {
    L.tile_grad_sums(g.grad_y + o, g.x + o, r, p.S, g.save_mean + c0, scratch, s1, s2);
  } else {
    L.plane_grad_sums(g.grad_y + o, g.x + o, r, g.save_mean[c0], s1, s2);
  }
}

template <typename T>
void grad_apply_block(const Plan& p, const BatchNormLoops<T>& L, const Backward<T>& g,
                      const GradCoeffs<T>& k, int64_t gr, int64_t b, T* scratch) {
  Rect r;
  const int64_t o = p.offset(gr, b, &r);
  const int64_t c0 = p.first_channel(gr);
  const T* x = g.training ? g.x + o : nullptr;  // eval: dx = dy * gamma * invstd
  if (p.tile) {
    L.tile_grad_apply(g.grad_y + o, x, g.grad_x + o, r, p.S, &k.mean[c0], &k.a[c0], &k.b[c0],
                      &k.c[c0], scratch, p.stream);
  } else {
    L.plane_grad_apply(g.grad_y + o, x, g.grad_x + o, r, k.mean[c0], k.a[c0], k.b[c0], k.c[c0],
                       p.stream);
  }
}

// A channel whose scale gamma * invstd is infinite or NaN. In training the expanded form
// dy * a + (x - mean) * b + c meets inf - inf (NaN) where the factored form of torch and
// the twin, scale / n * (n * dy - sum(dy) - x_hat * sum(dy * x_hat)), gives +-inf; and
// with an infinite invstd, sum(dy * x_hat) is a sum of infinities (NaN when their signs
// differ), not sum(dy * (x - mean)) * invstd. Such channels are recomputed as the twin
// does, in T with the sum in double; finite channels (every channel of a sane model) are
// untouched, so this costs one scan of C values.
template <typename T>
void factored_nonfinite_channels(const Backward<T>& g, const GradCoeffs<T>& k, double n) {
  for (int64_t ch = 0; ch < g.C; ++ch) {
    const T invstd = g.save_invstd[ch];
    const T scale = g.gamma ? g.gamma[ch] * invstd : invstd;
    if (std::isfinite(scale)) continue;
    const T mean = g.save_mean[ch];
    double dot = 0;  // sum(dy * x_hat)
    for (int64_t i = 0; i < g.N; ++i) {
      const int64_t o = (i * g.C + ch) * g.S;
      for (int64_t s = 0; s < g.S; ++s) dot += g.grad_y[o + s] * ((g.x[o + s] - mean) * invstd);
    }
    if (g.grad_gamma) g.grad_gamma[ch] = static_cast<T>(dot);
    if (!g.training) continue;
    const T m = static_cast<T>(n), sum_dy = static_cast<T>(k.sum_dy[ch]);
    const T sum_dyxhat = static_cast<T>(dot);
    for (int64_t i = 0; i < g.N; ++i) {
      const int64_t o = (i * g.C + ch) * g.S;
      for (int64_t s = 0; s < g.S; ++s) {
        const T x_hat = (g.x[o + s] - mean) * invstd;
        g.grad_x[o + s] = scale / m * (m * g.grad_y[o + s] - sum_dy - x_hat * sum_dyxhat);
      }
    }
  }
}

template <typename T>
void backward_impl(const Backward<T>& g) {
  const Plan p(g.N, g.C, g.S, sizeof(T), 2);
  const BatchNormLoops<T>& L = kernels().batchnorm<T>();
  GradCoeffs<T> k(p.C);
  // The sums feed grad_x in training and grad_gamma/grad_beta in both modes.
  const bool sums = g.training || g.grad_gamma != nullptr;
  const Threads th = choose_threads(p);
  const int64_t scratch_len = p.tile ? 4 * p.W * p.S : 0;  // the tile loops' column sums
  const double n = static_cast<double>(p.N * p.S);
  if (!th.split) {
    std::atomic<int64_t> next{0};  // groups are handed out first come, first served
    PerThread<T> scratch_t(th.nt, scratch_len);
    PerThread<double> b1_t(th.nt, p.W), b2_t(th.nt, p.W), t1_t(th.nt, p.W), t2_t(th.nt, p.W);
    parallel(th.nt, [&](int tid, int nt) {
      T* scratch = scratch_t.at(tid);
      double *b1 = b1_t.at(tid), *b2 = b2_t.at(tid), *t1 = t1_t.at(tid), *t2 = t2_t.at(tid);
      (void)nt;
      for (int64_t gr = next++; gr < p.groups; gr = next++) {
        const int64_t c0 = p.first_channel(gr), w = p.channels(gr);
        std::fill(t1, t1 + p.W, 0.0);
        std::fill(t2, t2 + p.W, 0.0);
        for (int64_t b = 0; sums && b < p.nblocks; ++b) {
          grad_sums_block(p, L, g, gr, b, scratch, b1, b2);
          for (int64_t j = 0; j < w; ++j) {
            t1[j] += b1[j];
            t2[j] += b2[j];
          }
        }
        for (int64_t j = 0; j < w; ++j) finish_grad_channel(g, c0 + j, n, t1[j], t2[j], &k);
        for (int64_t b = 0; b < p.nblocks; ++b) grad_apply_block(p, L, g, k, gr, b, scratch);
      }
    });
    factored_nonfinite_channels(g, k, n);
    return;
  }
  std::vector<double> partials(sums ? static_cast<size_t>(p.C * p.nblocks * 2) : 0);
  const int64_t items = p.groups * p.nblocks;
  PerThread<T> scratch_t(th.nt, scratch_len);
  PerThread<double> b1_t(th.nt, p.W), b2_t(th.nt, p.W);
  parallel(th.nt, [&](int tid, int nt) {
    T* scratch = scratch_t.at(tid);
    double *b1 = b1_t.at(tid), *b2 = b2_t.at(tid);
    int64_t lo, hi;
    item_range(items, tid, nt, &lo, &hi);
    for (int64_t it = lo; sums && it < hi; ++it) {
      const int64_t gr = it / p.nblocks, b = it % p.nblocks;
      grad_sums_block(p, L, g, gr, b, scratch, b1, b2);
      const int64_t c0 = p.first_channel(gr);
      for (int64_t j = 0; j < p.channels(gr); ++j) {
        partials[((c0 + j) * p.nblocks + b) * 2] = b1[j];
        partials[((c0 + j) * p.nblocks + b) * 2 + 1] = b2[j];
      }
    }
    barrier();
    int64_t clo, chi;
    item_range(p.C, tid, nt, &clo, &chi);
    for (int64_t c = clo; c < chi; ++c) {
      double s1 = 0, s2 = 0;
      for (int64_t b = 0; sums && b < p.nblocks; ++b) {
        s1 += partials[(c * p.nblocks + b) * 2];
        s2 += partials[(c * p.nblocks + b) * 2 + 1];
      }
      finish_grad_channel(g, c, n, s1, s2, &k);
    }
    barrier();
    for (int64_t it = lo; it < hi; ++it) {
      grad_apply_block(p, L, g, k, it / p.nblocks, it % p.nblocks, scratch);
    }
  });
  factored_nonfinite_channels(g, k, n);
}

}  // namespace

template <typename T>
void batch_norm(const Forward<T>& a) {
  const bool have_running = a.running_mean != nullptr;
  if (!a.training && have_running) {
    forward_running_stats(a);
    return;
  }
  if (a.N * a.S == 0) {
    // An empty batch (torch returns it untouched): no statistics, nothing updated.
    std::fill(a.save_mean, a.save_mean + a.C, T(0));
    std::fill(a.save_invstd, a.save_invstd + a.C, T(0));
    return;
  }
  forward_batch_stats(a, Plan(a.N, a.C, a.S, sizeof(T), 1), a.training && have_running);
}

template <typename T>
void batch_norm_backward(const Backward<T>& g) {
  if (g.N * g.S == 0) {
    if (g.grad_gamma) {
      std::fill(g.grad_gamma, g.grad_gamma + g.C, T(0));
      std::fill(g.grad_beta, g.grad_beta + g.C, T(0));
    }
    return;
  }
  backward_impl(g);
}

template void batch_norm<float>(const Forward<float>&);
template void batch_norm<double>(const Forward<double>&);
template void batch_norm_backward<float>(const Backward<float>&);
template void batch_norm_backward<double>(const Backward<double>&);

}  // namespace fastdl::bn
