"""Pooling: native (Cython) vs NumPy twin vs PyTorch, forward and backward.

Run:  pytest benchmarks/bench_pooling.py --benchmark-enable --benchmark-group-by=group \
          --benchmark-columns=median,iqr,rounds
or, interleaved, as a table of medians and ratios:  fastdl bench pool
(also `python benchmarks/bench_pooling.py`). Each group ("max-stem-fwd-t1") holds every
implementation of one op on one workload at one thread count; the workloads and cases
are in fastdl/bench/pooling.py.
"""

import numpy as np
import pytest

from fastdl.bench import try_torch
from fastdl.bench.pooling import WORKLOADS, cases, impls, run

IMPLS = impls()


def _as_numpy(r):
    r = r[0] if isinstance(r, tuple) else r
    torch = try_torch()
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


if __name__ == "__main__":
    run()
