"""Determinism of every native kernel: every output (y, gradients, indices, updated
parameters and optimizer state, saved statistics, running statistics) is bitwise
identical for 1, 2 and 3 threads, and across repeated calls in one process (DESIGN.md,
"Threads: every output, not only the reductions, is bitwise identical for any thread
count").

The problems are sized so that the threaded paths really split the work:
- optimizer steps: one tensor of 300,000 elements (18 chunks of 16,384, over the 32,768
  parallel threshold of csrc/kernels/optim_driver.h) beside 50 tiny ones, every state
  list in use, three consecutive steps;
- GEMM (matmul, linear): output blocks and column chunks across threads, long K, few
  rows with many columns and the reverse (the shapes of the GEMM's own thread tests);
- convolution: batched and single-image layers, strided, grouped, depthwise, 1x1, 7x7
  (each of the forward's and backward's paths), im2col and col2im;
- batch norm: whole channels per thread, channels split between threads (C small),
  tiles of channels (small S), rows cut in pieces (S > 4096), training and eval,
  affine or not;
- pooling: N*C planes split over the threads, forward and backward of each kind.
"""

import numpy as np
import pytest

import fastdl
from fastdl import ops

DTYPES = [np.float32, np.float64]
THREADS = (1, 2, 3)


@pytest.fixture(autouse=True)
def restore_threads():
    old = fastdl.get_num_threads()
    yield
    fastdl.set_num_threads(old)


def _rand(rng, shape, dtype, offset=0.0):
    return np.asarray(offset + rng.standard_normal(shape), dtype=dtype)  # 0-d: an array


# ------------------------------------------------------------------ the kernels' runs
# Each run(dtype) builds its inputs from a fixed seed and returns every output array.

OPTIM = {  # state lists in use under the options below
    "sgd_step": (1, dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)),
    "adagrad_step": (1, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    "adadelta_step": (2, dict(lr=0.5, weight_decay=0.1)),
    "rmsprop_step": (3, dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
    "adam_step": (3, dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    "nadam_step": (2, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
}


def _optim_run(fname):
    nstate, kw = OPTIM[fname]

    def run(dtype):
        rng = np.random.default_rng(3)
        shapes = [(300_000,)] + [tuple(rng.integers(1, 6, size=rng.integers(0, 3)))
                                 for _ in range(50)]
        params = [_rand(rng, s, dtype) for s in shapes]
        states = [[np.asarray(rng.random(s) + 2.0, dtype=dtype) for s in shapes]
                  for _ in range(nstate)]
        mus = []
        mu = 1.0
        for t in (1, 2, 3):
            grads = [_rand(rng, s, dtype) for s in shapes]
            call = dict(kw, maximize=True)
            if fname in ("sgd_step", "adagrad_step", "adam_step", "nadam_step"):
                call["step"] = t
            if fname == "nadam_step":
                call["mu_product"] = mu
                mu = getattr(ops, fname)(params, grads, *states, **call)
                mus.append(np.array(mu))
            else:
                getattr(ops, fname)(params, grads, *states, **call)
        return params + [a for s in states for a in s] + mus

    return run


MATMUL_SHAPES = [(64, 2000, 300), (700, 50, 600), (300, 300, 1100), (5, 9000, 40),
                 (500, 13, 70), (37, 4500, 17), (1, 20000, 70)]


def _matmul(dtype):
    rng = np.random.default_rng(5)
    out = []
    for m, n, k in MATMUL_SHAPES:
        a, b = _rand(rng, (m, k), dtype), _rand(rng, (n, k), dtype).T  # b transposed
        out.append(ops.matmul(a, b))
    return out


def _linear(dtype):
    rng = np.random.default_rng(6)
    out = []
    for xs, f in (((300, 700), 130), ((4, 50, 90), 300)):
        x, w, b = _rand(rng, xs, dtype), _rand(rng, (f, xs[-1]), dtype), _rand(rng, f, dtype)
        gy = _rand(rng, xs[:-1] + (f,), dtype, offset=3.0)
        out += [ops.linear(x, w, b), *ops.linear_backward(gy, x, w)]
    return out


CONV_LAYERS = [((4, 16, 20, 20), (32, 16, 3, 3), 1, 1, 1, 1),
               ((3, 8, 33, 31), (16, 8, 7, 7), 2, 3, 1, 1),
               ((2, 32, 12, 12), (64, 32, 1, 1), 1, 0, 1, 1),
               ((2, 32, 12, 12), (32, 8, 3, 3), 1, 1, 1, 4),
               ((2, 24, 15, 15), (24, 1, 3, 3), 2, 1, 1, 24),
               ((5, 20, 9, 9), (40, 20, 3, 3), 1, 2, 2, 1),
               ((1, 6, 20, 21), (10, 6, 3, 3), 2, 1, 1, 1)]


def _conv(dtype):
    rng = np.random.default_rng(8)
    out = []
    for xs, ws, stride, padding, dil, groups in CONV_LAYERS:
        x, w, b = _rand(rng, xs, dtype), _rand(rng, ws, dtype), _rand(rng, ws[0], dtype)
        y = ops.conv2d(x, w, b, stride, padding, dil, groups)
        gy = _rand(rng, y.shape, dtype, offset=2.0)
        cols = ops.im2col(x, ws[2:], dil, padding, stride)
        out += [y, cols, ops.col2im(cols, xs[2:], ws[2:], dil, padding, stride),
                *ops.conv2d_backward(gy, x, w, stride, padding, dil, groups)]
    return out


BN_SHAPES = [(8, 64, 12, 12), (16, 3, 40, 40), (64, 40, 5, 5), (1024, 48), (2, 2, 90, 90),
             (300, 250)]


def _batch_norm(dtype):
    rng = np.random.default_rng(9)
    out = []
    for shape in BN_SHAPES:
        C = shape[1]
        x = _rand(rng, shape, dtype, offset=3.0)  # a mean far from 0: the block merge matters
        gamma, beta = rng.uniform(0.5, 1.5, C).astype(dtype), _rand(rng, C, dtype)
        rm, rv = _rand(rng, C, dtype), rng.uniform(0.5, 2, C).astype(dtype)
        dy = _rand(rng, shape, dtype, offset=1.0)
        rm_t, rv_t = rm.copy(), rv.copy()
        fw = ops.batch_norm(x, gamma, beta, rm_t, rv_t, True)
        ev = ops.batch_norm(x, gamma, beta, rm, rv, False)
        nb = ops.batch_norm(x, None, None, None, None, False)  # eval on batch statistics
        out += [*fw, rm_t, rv_t, *ev, *nb,
                *ops.batch_norm_backward(dy, x, gamma, *fw[1:], True),
                *ops.batch_norm_backward(dy, x, gamma, *ev[1:], False),
                ops.batch_norm_backward(dy, x, None, *fw[1:], True)[0]]
    return out


def _pooling(dtype):
    rng = np.random.default_rng(10)
    out = []
    for shape in ((3, 7, 23, 19), (2, 64, 30, 30)):
        x = _rand(rng, shape, dtype)
        y, ind = ops.max_pool2d(x, 3, 2, 1, ceil_mode=True)
        a = ops.avg_pool2d(x, (3, 2), 1, 1, count_include_pad=False)
        ad = ops.adaptive_avg_pool2d(x, (4, 5))
        out += [y, ind, ops.max_pool2d_backward(_rand(rng, y.shape, dtype), ind, x.shape), a,
                ops.avg_pool2d_backward(_rand(rng, a.shape, dtype), x.shape, (3, 2), 1, 1,
                                        count_include_pad=False),
                ad, ops.adaptive_avg_pool2d_backward(_rand(rng, ad.shape, dtype), x.shape)]
    return out


RUNS = {**{f: _optim_run(f) for f in OPTIM}, "matmul": _matmul, "linear": _linear,
        "conv": _conv, "batch_norm": _batch_norm, "pooling": _pooling}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kernel", list(RUNS))
def test_bitwise_identical_for_1_2_3_threads_and_repeated_calls(kernel, dtype):
    if not fastdl.build_info()["openmp"]:
        pytest.skip("built without OpenMP")
    run = RUNS[kernel]
    results = {}
    for nt in THREADS + (2,):  # 2 threads twice: repeated calls in one process
        fastdl.set_num_threads(nt)
        assert fastdl.get_num_threads() == nt
        results.setdefault(nt, []).append(run(dtype))
    first = results[1][0]
    assert first and all(a.size for a in first[:1])
    for nt, runs in results.items():
        for r in runs:
            assert len(r) == len(first)
            for i, (got, want) in enumerate(zip(r, first)):
                assert got.dtype == want.dtype and got.shape == want.shape
                assert got.tobytes() == want.tobytes(), f"{kernel}: output {i} with {nt} threads"
