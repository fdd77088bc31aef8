"""Pooling: native (Cython) vs NumPy twin vs PyTorch, forward and backward.

Run:  pytest benchmarks/bench_pooling.py --benchmark-enable --benchmark-group-by=group \
          --benchmark-columns=median,iqr,rounds
or, interleaved, as a table of medians and ratios:  python benchmarks/bench_pooling.py
Each group ("max-stem-fwd-t1") holds every implementation of one op on one workload at
one thread count:
  max-stem      max_pool2d 3x3 s2 p1 on (8, 64, 112, 112)  (ResNet stem)
  avg-dense     avg_pool2d 2x2 s2 on (8, 256, 28, 28)      (DenseNet transition)
  adaptive-gap  adaptive_avg_pool2d to 1x1 on (8, 512, 7, 7) (global average pooling)
float32. Timings include allocating the outputs (all three allocate theirs). torch's
backwards are its aten kernels (max_pool2d_with_indices_backward, avg_pool2d_backward,
_adaptive_avg_pool2d_backward), called directly: no autograd graph.
"""

import numpy as np
import pytest

import fastdl
from fastdl import ops, reference as ref

torch = None
try:
    import torch
except ImportError:
    pass

WORKLOADS = {
    "max-stem": ("max", (8, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1)),
    "avg-dense": ("avg", (8, 256, 28, 28), dict(kernel_size=2, stride=2)),
    "adaptive-gap": ("adaptive", (8, 512, 7, 7), dict(output_size=1)),
}
IMPLS = ["native", "numpy"] + (["torch"] if torch is not None else [])
_cache: dict = {}


def _torch_calls(kind, kw, x, gy, ind):
    """(forward, backward) of torch on the same arrays (zero-copy tensors)."""
    F, aten = torch.nn.functional, torch.ops.aten
    tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
    if kind == "max":
        k, s, p = ([kw[a]] * 2 for a in ("kernel_size", "stride", "padding"))
        tind = torch.from_numpy(ind)
        return (lambda: F.max_pool2d(tx, **kw, return_indices=True),
                lambda: aten.max_pool2d_with_indices_backward(tgy, tx, k, s, p, [1, 1], False, tind))
    if kind == "avg":
        k, s = [kw["kernel_size"]] * 2, [kw["stride"]] * 2
        return (lambda: F.avg_pool2d(tx, **kw),
                lambda: aten.avg_pool2d_backward(tgy, tx, k, s, [0, 0], False, True, None))
    return (lambda: F.adaptive_avg_pool2d(tx, **kw),
            lambda: aten._adaptive_avg_pool2d_backward(tgy, tx))


def cases(workload, direction):
    """{impl: zero-argument callable} for one workload, "fwd" or "bwd"."""
    key = (workload, direction)
    if key in _cache:
        return _cache[key]
    _cache.clear()  # keep one workload's arrays alive at a time
    kind, shape, kw = WORKLOADS[workload]
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    # ops and its twin share names and signatures: m is either module
    fwd = {"max": lambda m: m.max_pool2d(x, **kw), "avg": lambda m: m.avg_pool2d(x, **kw),
           "adaptive": lambda m: m.adaptive_avg_pool2d(x, **kw)}[kind]
    y = fwd(ops)
    y, ind = y if kind == "max" else (y, None)
    gy = np.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
    bwd = {"max": lambda m: m.max_pool2d_backward(gy, ind, shape),
           "avg": lambda m: m.avg_pool2d_backward(gy, shape, **kw),
           "adaptive": lambda m: m.adaptive_avg_pool2d_backward(gy, shape)}[kind]
    f = fwd if direction == "fwd" else bwd
    out = {"native": lambda: f(ops), "numpy": lambda: f(ref)}
    if torch is not None:
        out["torch"] = _torch_calls(kind, kw, x, gy, ind)[direction == "bwd"]
    _cache[key] = out
    return out


def _as_numpy(r):
    r = r[0] if isinstance(r, tuple) else r
    return r.numpy() if torch is not None and isinstance(r, torch.Tensor) else r


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("direction", ["fwd", "bwd"])
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_pooling(benchmark, workload, direction, impl, threads):
    fn = cases(workload, direction)[impl]
    benchmark.group = f"{workload}-{direction}-t{threads}"
    result = benchmark.pedantic(fn, rounds=7, warmup_rounds=1, iterations=1)
    assert _as_numpy(result).dtype == np.float32


@pytest.mark.parametrize("direction", ["fwd", "bwd"])
@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_results_agree_on_the_benchmark_inputs(workload, direction):
    # The benchmark's own result check: every implementation on the timed inputs.
    results = {impl: _as_numpy(fn()) for impl, fn in cases(workload, direction).items()}
    for impl, r in results.items():
        np.testing.assert_allclose(r, results["native"], rtol=1e-6, atol=1e-6, err_msg=impl)


def main(threads=(1, 2), repeats=9):
    """Interleaved medians (fastdl.bench.time_interleaved) and ratios to native."""
    from fastdl.bench import time_interleaved

    impls = IMPLS
    print(f"{'workload':<14}{'dir':<5}{'thr':>4}" + "".join(f"{i + ' ms':>12}" for i in impls)
          + "".join(f"{i + '/native':>15}" for i in impls[1:]))
    for workload in WORKLOADS:
        for direction in ("fwd", "bwd"):
            cs = cases(workload, direction)
            for nt in threads:
                fastdl.set_num_threads(nt)
                if torch is not None:
                    torch.set_num_threads(nt)
                med = time_interleaved(cs, repeats=repeats)
                print(f"{workload:<14}{direction:<5}{nt:>4}"
                      + "".join(f"{med[i] * 1e3:>12.3f}" for i in impls)
                      + "".join(f"{med[i] / med['native']:>15.2f}" for i in impls[1:]))


if __name__ == "__main__":
    main()
