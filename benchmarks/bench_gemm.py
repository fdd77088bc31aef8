"""Matrix multiply: fastdl.ops.matmul (our packed GEMM) vs numpy.matmul (OpenBLAS) vs
torch.matmul, float32, 1 and 2 threads. The shapes and cases are in
fastdl/bench/gemm.py.

Run (unset the environment's OpenBLAS overrides for this command only, so that NumPy
runs the kernel OpenBLAS picks for this CPU; the table prints which one that is):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_gemm.py \
        --benchmark-enable --benchmark-group-by=group --benchmark-columns=median,iqr,rounds \
        -p no:cacheprovider
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastdl bench gemm   # table

Each group ("gemm-64x25088x576-t2") holds the three implementations at one thread
count, set for every library (fastdl.set_num_threads, torch.set_num_threads,
threadpoolctl for NumPy's BLAS: the `threads` fixture of conftest.py). The table takes
turns between the implementations (time_rotated) and reports medians, GFLOP/s and
ratios.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastdl
from fastdl.bench import try_threadpoolctl
from fastdl.bench.gemm import SHAPES, blas_info, call, impls, operands, run

IMPLS = impls()


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_gemm(benchmark, shape, impl, threads):
    if impl == "numpy" and try_threadpoolctl() is None:
        pytest.skip("threadpoolctl is needed to set NumPy's BLAS threads")
    m, n, k = shape
    benchmark.group = f"gemm-{m}x{n}x{k}-t{threads}"
    benchmark.extra_info["blas"] = blas_info()
    fn = call(impl, shape)
    out = benchmark.pedantic(fn, rounds=7, warmup_rounds=1, iterations=1)
    benchmark.extra_info["gflops"] = 2.0 * m * n * k / benchmark.stats.stats.median / 1e9
    assert out.shape == (m, n)


def test_fastdl_matches_numpy_on_the_benchmark_shapes():
    # The benchmark's own result check (always runs): each product against NumPy's.
    for shape in SHAPES:
        a, b, _, _ = operands(shape)
        got, want = fastdl.ops.matmul(a, b), a @ b
        # entries ~ sqrt(K) for N(0, 1) data, rounding errors ~ K eps of that at worst
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * a.shape[1], err_msg=str(shape))


if __name__ == "__main__":
    run()
