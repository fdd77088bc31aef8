"""Batch normalization (training mode, float32): native vs NumPy twin vs PyTorch.

Run:  pytest benchmarks/bench_batchnorm.py --benchmark-enable --benchmark-group-by=group \\
          --benchmark-columns=median,iqr,rounds
 or:  fastdl bench bn    (the same cases interleaved, as a table of medians, ratios and
                          GB/s; also `python benchmarks/bench_batchnorm.py`)

Each group ("batchnorm-fwd-32x64x56x56-t1") holds one direction on one shape at one
thread count; the cases (fastdl, fastdl_prealloc, numpy, torch) and what each one times
are described in fastdl/bench/batchnorm.py, which builds them.
"""

import numpy as np
import pytest

from fastdl.bench.batchnorm import BYTES_PER_ELEMENT, SHAPES, impls, make_cases, run
from fastdl.bench.batchnorm import shape_name as _name

IMPLS = impls()
_cache: dict = {}


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
                    got = (got if not isinstance(got, tuple) else got[0]).numpy()
                else:
                    got = got[0]
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4,
                                           err_msg=f"{name} {direction} {shape}")


if __name__ == "__main__":
    run()
