"""Matrix multiply: fastdl.ops.matmul (our packed GEMM) vs numpy.matmul (its BLAS) vs
torch.matmul, float32.

Shapes: squares 512, 1024, 2048 (4096 with FASTDL_BENCH_4096=1: slow on 2 cores) and
the products of ResNet convolutions as im2col + GEMM, (M, N, K) = (out channels,
batch 8 x output pixels, in channels x 3 x 3): (64, 25088, 576), (128, 6272, 1152),
(256, 1568, 2304), (512, 392, 4608). Every timing includes allocating the (M, N)
output, as all three allocate it.

NumPy's BLAS reads its environment when NumPy is imported: to let OpenBLAS pick the
kernel for this CPU, run with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` when
those are set; the table prints which kernel it runs.
"""

from __future__ import annotations

import os
import time

import numpy as np

from fastdl.bench import try_threadpoolctl, all_threads, echo, try_torch

SQUARES = [512, 1024, 2048] + ([4096] if os.environ.get("FASTDL_BENCH_4096") else [])
CONV_SHAPES = [(64, 25088, 576), (128, 6272, 1152), (256, 1568, 2304), (512, 392, 4608)]
SHAPES = [(n, n, n) for n in SQUARES] + CONV_SHAPES

_cache: dict = {}


def impls(with_torch: bool = True) -> list[str]:
    return ["fastdl", "numpy"] + (["torch"] if with_torch and try_torch() is not None else [])


def operands(shape):
    """(a, b, torch a, torch b) for (M, N, K); one shape's arrays are kept at a time."""
    if shape not in _cache:
        _cache.clear()
        m, n, k = shape
        rng = np.random.default_rng(0)
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        torch = try_torch()
        _cache[shape] = (a, b, torch.from_numpy(a) if torch else None,
                         torch.from_numpy(b) if torch else None)
    return _cache[shape]


def call(impl: str, shape):
    """A zero-argument callable: ``impl``'s product of the shape's operands."""
    import fastdl

    a, b, ta, tb = operands(shape)
    if impl == "fastdl":
        return lambda: fastdl.ops.matmul(a, b)
    if impl == "numpy":
        return lambda: np.matmul(a, b)
    torch = try_torch()
    return lambda: torch.matmul(ta, tb)


def blas_info() -> str:
    threadpoolctl = try_threadpoolctl()
    if threadpoolctl is None:
        return "threadpoolctl not installed: NumPy's BLAS threads not set"
    infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
                     for i in infos) or "no BLAS found"


def time_rotated(cases, rounds=5, calls=3, settle=0.05):
    """Median seconds per call of each case. Each round runs every case in turn (the
    order rotating from round to round): a pause, one untimed call, then `calls` timed
    ones. The pause and the untimed call let the previous library's thread pool stop
    spinning (OpenBLAS's workers spin for a while after each call and would steal a
    core from the next library); rotating spreads any drift of the machine over all."""
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


def run(threads=(1, 2), repeats: int = 5, with_torch: bool = True, out=echo) -> list[dict]:
    """GFLOP/s of each implementation per shape and thread count, printed as a table (a
    row as soon as it is measured); returns the rows. ``repeats`` rounds of 3 timed
    calls each (time_rotated)."""
    import fastdl

    names = impls(with_torch)
    torch = try_torch() if with_torch else None
    out(f"fastdl: {fastdl.build_info()['gemm']}")
    out(f"numpy:  {blas_info()}")
    if torch is not None:
        out(f"torch:  {torch.__version__}")
    out(f"GFLOP/s from the median of {3 * repeats} timed calls each (wall clock, output "
        "allocation included)")
    out(f"{'M x N x K':>18} {'thr':>3} " + " ".join(f"{i + ' GF/s':>12}" for i in names) +
        "   fastdl/numpy" + ("  fastdl/torch" if torch is not None else ""))
    rows = []
    for nt in threads:
        with all_threads(nt, with_torch):
            for shape in SHAPES:
                m, n, k = shape
                med = time_rotated({i: call(i, shape) for i in names}, rounds=repeats)
                gf = {i: 2.0 * m * n * k / t / 1e9 for i, t in med.items()}
                row = f"{m:>5}x{n:>5}x{k:>5} {nt:>3} " + " ".join(f"{gf[i]:>12.1f}" for i in names)
                row += f"   {gf['fastdl'] / gf['numpy']:>12.2f}"
                if torch is not None:
                    row += f"  {gf['fastdl'] / gf['torch']:>12.2f}"
                out(row)
                rows.append({"shape": shape, "threads": nt, "gflops": gf, **med})
    _cache.clear()
    return rows
