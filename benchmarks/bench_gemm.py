"""Matrix multiply: fastdl.ops.matmul (our packed GEMM) vs numpy.matmul (OpenBLAS) vs
torch.matmul, float32, 1 and 2 threads.

Shapes: squares 512, 1024, 2048 (4096 with FASTDL_BENCH_4096=1: slow on 2 cores) and
the products of ResNet convolutions as im2col + GEMM, (M, N, K) = (out channels,
batch 8 x output pixels, in channels x 3 x 3): (64, 25088, 576), (128, 6272, 1152),
(256, 1568, 2304), (512, 392, 4608).

Run (unset the environment's OpenBLAS overrides for this command only, so that NumPy
runs the kernel OpenBLAS picks for this CPU; the table prints which one that is):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_gemm.py \
        --benchmark-enable --benchmark-group-by=group --benchmark-columns=median,iqr,rounds \
        -p no:cacheprovider
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_gemm.py   # table

Each group ("gemm-64x25088x576-t2") holds the three implementations at one thread
count, set for every library (fastdl.set_num_threads, torch.set_num_threads,
threadpoolctl for NumPy's BLAS). Every timing includes allocating the (M, N) output,
as all three allocate it. The table takes turns between the implementations (see
time_rotated) and reports medians, GFLOP/s and ratios.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

import fastdl

try:
    import torch
except ImportError:
    torch = None
try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None

SQUARES = [512, 1024, 2048] + ([4096] if os.environ.get("FASTDL_BENCH_4096") else [])
CONV_SHAPES = [(64, 25088, 576), (128, 6272, 1152), (256, 1568, 2304), (512, 392, 4608)]
SHAPES = [(n, n, n) for n in SQUARES] + CONV_SHAPES
IMPLS = ["fastdl", "numpy"] + (["torch"] if torch is not None else [])

_cache: dict = {}


def _operands(shape):
    if shape not in _cache:
        _cache.clear()  # keep one shape's arrays alive at a time
        m, n, k = shape
        rng = np.random.default_rng(0)
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        _cache[shape] = (a, b, torch.from_numpy(a) if torch else None,
                         torch.from_numpy(b) if torch else None)
    return _cache[shape]


def _call(impl, shape):
    a, b, ta, tb = _operands(shape)
    if impl == "fastdl":
        return lambda: fastdl.ops.matmul(a, b)
    if impl == "numpy":
        return lambda: np.matmul(a, b)
    return lambda: torch.matmul(ta, tb)


@contextlib.contextmanager
def all_threads(n):
    """n threads for fastdl, torch and NumPy's BLAS alike."""
    old = fastdl.get_num_threads()
    fastdl.set_num_threads(n)
    told = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    limits = threadpoolctl.threadpool_limits(n) if threadpoolctl is not None else contextlib.nullcontext()
    try:
        with limits:
            yield
    finally:
        fastdl.set_num_threads(old)
        if torch is not None:
            torch.set_num_threads(told)


def blas_info() -> str:
    if threadpoolctl is None:
        return "threadpoolctl not installed: NumPy's BLAS threads not set"
    infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                     for i in infos) or "no BLAS found"


@pytest.fixture
def threads(request):
    with all_threads(request.param):
        yield request.param


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gemm(benchmark, shape, impl, threads):
    if impl == "numpy" and threadpoolctl is None:
        pytest.skip("threadpoolctl is needed to set NumPy's BLAS threads")
    m, n, k = shape
    benchmark.group = f"gemm-{m}x{n}x{k}-t{threads}"
    benchmark.extra_info["blas"] = blas_info()
    fn = _call(impl, shape)
    out = benchmark.pedantic(fn, rounds=7, warmup_rounds=1, iterations=1)
    benchmark.extra_info["gflops"] = 2.0 * m * n * k / benchmark.stats.stats.median / 1e9
    assert out.shape == (m, n)


def test_fastdl_matches_numpy_on_the_benchmark_shapes():
    # The benchmark's own result check (always runs): each product against NumPy's.
    for shape in SHAPES:
        a, b, _, _ = _operands(shape)
        got, want = fastdl.ops.matmul(a, b), a @ b
        # entries ~ sqrt(K) for N(0, 1) data, rounding errors ~ K eps of that at worst
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * a.shape[1], err_msg=str(shape))


def time_rotated(cases, rounds=5, calls=3, settle=0.05):
    """Median seconds per call of each case. Each round runs every case in turn (the
    order rotating from round to round): a pause, one untimed call, then `calls` timed
    ones. The pause and the untimed call let the previous library's thread pool stop
    spinning (OpenBLAS's workers spin for a while after each call and would steal a
    core from the next library); rotating spreads any drift of the machine over all."""
    import time

    names = list(cases)
    times = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(settle)
            cases[n]()
            for _ in range(calls):
                t0 = time.perf_counter()
                cases[n]()
                times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(v)) for n, v in times.items()}


def main():
    print(f"fastdl: {fastdl.build_info()['gemm']}")
    print(f"numpy:  {blas_info()}")
    if torch is not None:
        print(f"torch:  {torch.__version__}")
    print("GFLOP/s from the median of 15 timed calls each (wall clock, output allocation included)")
    print(f"{'M x N x K':>18} {'thr':>3} " + " ".join(f"{i + ' GF/s':>12}" for i in IMPLS) +
          "   fastdl/numpy" + ("  fastdl/torch" if torch is not None else ""))
    for nt in (1, 2):
        with all_threads(nt):
            for shape in SHAPES:
                m, n, k = shape
                med = time_rotated({i: _call(i, shape) for i in IMPLS})
                gf = {i: 2.0 * m * n * k / t / 1e9 for i, t in med.items()}
                row = f"{m:>5}x{n:>5}x{k:>5} {nt:>3} " + " ".join(f"{gf[i]:>12.1f}" for i in IMPLS)
                row += f"   {gf['fastdl'] / gf['numpy']:>12.2f}"
                if torch is not None:
                    row += f"  {gf['fastdl'] / gf['torch']:>12.2f}"
                print(row, flush=True)


if __name__ == "__main__":
    main()
