"""Batch normalization (training mode, float32): native vs NumPy twin vs PyTorch.

Run:  pytest benchmarks/bench_batchnorm.py --benchmark-enable --benchmark-group-by=group \\
          --benchmark-columns=median,iqr,rounds
 or:  python benchmarks/bench_batchnorm.py    (the same cases interleaved, as a table of
                                               medians, ratios and GB/s)

Each group ("batchnorm-fwd-32x64x56x56-t1") holds one direction on one shape at one
thread count:
  fastdl           ops.batch_norm / ops.batch_norm_backward as a user calls them: the
                   timing includes allocating the output (a fresh numpy array each call;
                   glibc hands back the pages of the previous call's freed array once it
                   has raised its mmap threshold, so after warm-up this costs no page
                   faults; a cold array of this size would add ~1-2 ms of faults)
  fastdl_prealloc  the same kernel writing into a preallocated output (fastdl._core's
                   private ``out=``): the kernel alone
  numpy            the NumPy twin, fastdl.reference (single-threaded)
  torch            forward: F.batch_norm(training=True) (allocates its output);
                   backward: torch.ops.aten.native_batch_norm_backward, the kernel alone
                   (no autograd graph; allocates grad_input)
GB/s counts 8 bytes per element forward (read x, write y) and 12 backward (read x and dy,
write grad_x); DESIGN.md puts this machine's streaming bandwidth at ~25 GB/s on one core
and ~37 GB/s on two.
"""

import numpy as np
import pytest

import fastdl
from fastdl import _core, ops, reference

torch = None
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    pass

SHAPES = [(32, 64, 56, 56), (32, 256, 14, 14), (256, 512, 7, 7), (1024, 4096)]
IMPLS = ["fastdl", "fastdl_prealloc", "numpy"] + (["torch"] if torch is not None else [])
BYTES_PER_ELEMENT = {"fwd": 8, "bwd": 12}
BOUND_GBS = {1: 25.0, 2: 37.0}  # DESIGN.md's streaming figures for this machine
_cache: dict = {}


def _name(shape):
    return "x".join(map(str, shape))


def make_cases(shape, direction, with_torch=True, seed=0):
    """The callables of one group, on shared inputs (training mode, float32)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32) + 1
    dy = rng.standard_normal(shape, dtype=np.float32)
    C = shape[1]
    gamma = rng.uniform(0.5, 1.5, C).astype(np.float32)
    beta = rng.standard_normal(C).astype(np.float32)
    rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
    out = np.zeros_like(x)  # touched once, so the prealloc timings see no page faults
    _, mean, invstd = ops.batch_norm(x, gamma, beta, None, None, True)
    cases = {}
    if direction == "fwd":
        cases["fastdl"] = lambda: ops.batch_norm(x, gamma, beta, rm, rv, True)
        cases["fastdl_prealloc"] = lambda: _core._batch_norm(x, gamma, beta, rm, rv, True, 0.1,
                                                             1e-5, out)
        rm2, rv2 = rm.copy(), rv.copy()
        cases["numpy"] = lambda: reference.batch_norm(x, gamma, beta, rm2, rv2, True)
    else:
        cases["fastdl"] = lambda: ops.batch_norm_backward(dy, x, gamma, mean, invstd, True)
        cases["fastdl_prealloc"] = lambda: _core._batch_norm_backward(dy, x, gamma, mean, invstd,
                                                                      True, out)
        cases["numpy"] = lambda: reference.batch_norm_backward(dy, x, gamma, mean, invstd, True)
    if with_torch and torch is not None:
        xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)
        gt, bt = torch.from_numpy(gamma), torch.from_numpy(beta)
        rmt, rvt = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
        if direction == "fwd":
            cases["torch"] = lambda: F.batch_norm(xt, rmt, rvt, gt, bt, True, 0.1, 1e-5)
        else:
            _, tm, tinv = torch.ops.aten.native_batch_norm(xt, gt, bt, None, None, True, 0.1, 1e-5)
            cases["torch"] = lambda: torch.ops.aten.native_batch_norm_backward(
                dyt, xt, gt, None, None, tm, tinv, True, 1e-5, [True, True, True])
    return cases


def _cases(shape, direction):
    key = (shape, direction)
    if key not in _cache:
        _cache.clear()  # one group's arrays alive at a time
        _cache[key] = make_cases(shape, direction)
    return _cache[key]


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("direction", ["fwd", "bwd"])
@pytest.mark.parametrize("shape", SHAPES, ids=_name)
def test_batch_norm(benchmark, shape, direction, impl, threads):
    case = _cases(shape, direction)[impl]
    benchmark.group = f"batchnorm-{direction}-{_name(shape)}-t{threads}"
    n = int(np.prod(shape))
    benchmark.extra_info["elements"] = n
    benchmark.extra_info["bytes"] = n * BYTES_PER_ELEMENT[direction]
    rounds = 3 if impl == "numpy" else 11
    benchmark.pedantic(case, rounds=rounds, warmup_rounds=1, iterations=1)


def test_benchmark_cases_agree():
    # The benchmark's own result check, on the benchmark's shapes cut to a few rows:
    # every implementation of a group computes the same thing.
    for shape in SHAPES:
        small = (min(shape[0], 8),) + shape[1:]
        for direction in ("fwd", "bwd"):
            cases = make_cases(small, direction)
            want = cases["numpy"]()[0]
            for name, f in cases.items():
                got = f()
                if name == "torch":  # F.batch_norm returns y, the backward a tuple
                    got = (got if isinstance(got, torch.Tensor) else got[0]).numpy()
                else:
                    got = got[0]
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4,
                                           err_msg=f"{name} {direction} {shape}")


def main():
    """Interleaved medians of every case, with ratios and GB/s, as a table."""
    from fastdl.bench import time_interleaved

    old = fastdl.get_num_threads()
    print(f"fastdl {fastdl.__version__} ({fastdl.build_info()['simd']}), "
          f"torch {torch.__version__ if torch is not None else 'absent'}; medians of 9, ms")
    print(f"{'group':34s} {'fastdl':>8s} {'prealloc':>8s} {'numpy':>8s} {'torch':>8s} "
          f"{'xtorch':>7s} {'xnumpy':>7s} {'GB/s':>6s} {'bound%':>6s}")
    try:
        for shape in SHAPES:
            for direction in ("fwd", "bwd"):
                cases = make_cases(shape, direction)
                for nt in (1, 2):
                    fastdl.set_num_threads(nt)
                    if torch is not None:
                        torch.set_num_threads(nt)
                    med = time_interleaved(cases, repeats=9)
                    nbytes = int(np.prod(shape)) * BYTES_PER_ELEMENT[direction]
                    gbs = nbytes / med["fastdl"] / 1e9
                    t = med.get("torch", float("nan"))
                    print(f"{direction} {_name(shape):16s} t{nt:<13d} {med['fastdl'] * 1e3:8.3f} "
                          f"{med['fastdl_prealloc'] * 1e3:8.3f} {med['numpy'] * 1e3:8.2f} "
                          f"{t * 1e3:8.3f} {t / med['fastdl']:7.1f} "
                          f"{med['numpy'] / med['fastdl']:7.1f} {gbs:6.1f} "
                          f"{100 * gbs / BOUND_GBS[nt]:6.0f}", flush=True)
                del cases
    finally:
        fastdl.set_num_threads(old)


if __name__ == "__main__":
    main()
