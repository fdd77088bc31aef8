"""Fused optimizer steps: native vs NumPy twin vs PyTorch (CPU default and fused).

Run:  pytest benchmarks/bench_optim.py --benchmark-enable --benchmark-group-by=group \
          --benchmark-columns=median,iqr,rounds
Each group ("adam-resnet18-t1") holds every implementation of one optimizer on one
workload at one thread count. Workloads: the 62 parameter tensors of ResNet-18
(11,689,512 float32 values) and the same count as one flat tensor. Every timing
includes no allocation (steps are in place, state created beforehand).
`fastdl bench optim` gives the same comparison interleaved, as a table of ratios.
"""

import numpy as np
import pytest

from fastdl import bench

torch = None
try:
    import torch
except ImportError:
    pass

IMPLS = ["native", "numpy"] + (["torch", "torch_fused"] if torch is not None else [])
_cache: dict = {}


def _cases(name, workload):
    key = (name, workload)
    if key not in _cache:
        _cache.clear()  # keep one workload's arrays alive at a time
        _cache[key] = bench.optimizer_cases(name, bench.workload_shapes(workload))
    return _cache[key]


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("workload", ["resnet18", "flat"])
@pytest.mark.parametrize("name", list(bench.OPTIMIZERS))
def test_optim_step(benchmark, name, workload, impl, threads):
    cases = _cases(name, workload)
    if impl not in cases:
        pytest.skip(f"torch has no fused CPU {name}")
    benchmark.group = f"{name}-{workload}-t{threads}"
    benchmark.extra_info["elements"] = sum(int(np.prod(s)) for s in bench.workload_shapes(workload))
    benchmark.pedantic(cases[impl], rounds=7, warmup_rounds=1, iterations=1)


def test_native_matches_numpy_on_the_benchmark_inputs():
    # The benchmark's own result check: one step of each optimizer on a slice of the
    # workload, native against the NumPy twin.
    shapes = bench.resnet18_param_shapes()[:12]
    for name in bench.OPTIMIZERS:
        cases = bench.optimizer_cases(name, shapes, with_torch=False)
        native, numpy_ = cases["native"], cases["numpy"]
        native()
        numpy_()
        for a, b in zip(native.params, numpy_.params):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)
