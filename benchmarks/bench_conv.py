"""Convolution (float32, batch 8): fastdl.ops.conv2d / conv2d_backward vs the NumPy twin
vs PyTorch, on the ResNet layer set, 1 and 2 threads.

Run:  pytest benchmarks/bench_conv.py --benchmark-enable --benchmark-group-by=group \\
          --benchmark-columns=median,iqr,rounds -p no:cacheprovider
 or:  python benchmarks/bench_conv.py    (fastdl and torch interleaved, as a table of
                                          medians, GFLOP/s and ratios, with the
                                          forward+backward geometric means)

Layers (in -> out channels, kernel, stride, padding, input size, groups): the ResNet stem
(3->64, 7x7, s2, p3, 224), the 3x3 convolutions of the four stages (64, 128, 256, 512
channels at 56, 28, 14, 7), a bottleneck expansion (64->256, 1x1, 56), a strided
projection (256->128, 1x1, s2, 56) and a ResNeXt-style grouped 3x3 (128->128, groups 32,
28).

Each group ("conv-3x3-56-fwd-t1") holds one direction of one layer at one thread count:
  fastdl  ops.conv2d (with bias) / ops.conv2d_backward (grad_x, grad_weight, grad_bias),
          as a user calls them, allocation of the outputs included
  numpy   the NumPy twin, fastdl.reference (im2col + matmul on NumPy's BLAS, its threads
          set with threadpoolctl when installed); timed with 3 rounds only: a backward of
          the stem takes seconds
  torch   forward: F.conv2d; backward: torch.ops.aten.convolution_backward with all
          three gradients (the kernel alone, no autograd graph)
Thread counts are set for every library in the same process. GFLOP/s count 2 * N * F *
OH * OW * C/G * KH * KW per direction (the backward: twice that, for grad_x and
grad_weight).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench_gemm import all_threads  # n threads for fastdl, torch and NumPy's BLAS

import fastdl
from fastdl import ops, reference

try:
    import torch
except ImportError:
    torch = None

BATCH = 8
# name: (in, out, kernel, stride, padding, size, groups)
LAYERS = {
    "stem-7x7-s2": (3, 64, 7, 2, 3, 224, 1),
    "3x3-56": (64, 64, 3, 1, 1, 56, 1),
    "3x3-28": (128, 128, 3, 1, 1, 28, 1),
    "3x3-14": (256, 256, 3, 1, 1, 14, 1),
    "3x3-7": (512, 512, 3, 1, 1, 7, 1),
    "1x1-56": (64, 256, 1, 1, 0, 56, 1),
    "1x1-s2-56": (256, 128, 1, 2, 0, 56, 1),
    "3x3-g32-28": (128, 128, 3, 1, 1, 28, 32),
}
IMPLS = ["fastdl", "numpy"] + (["torch"] if torch is not None else [])


def flops(layer, batch=BATCH):
    """Multiply-adds x 2 of one forward pass."""
    cin, cout, k, s, p, size, groups = LAYERS[layer]
    out = (size + 2 * p - k) // s + 1
    return 2.0 * batch * cout * out * out * (cin // groups) * k * k


def make_cases(layer, direction, batch=BATCH, size=None, seed=0):
    """The callables of one group, on shared inputs."""
    cin, cout, k, s, p, sz, g = LAYERS[layer]
    sz = size or sz
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, cin, sz, sz), dtype=np.float32)
    w = rng.standard_normal((cout, cin // g, k, k), dtype=np.float32) / math.sqrt(cin // g * k * k)
    b = rng.standard_normal(cout, dtype=np.float32)
    y = ops.conv2d(x, w, b, s, p, 1, g)
    gy = rng.standard_normal(y.shape, dtype=np.float32)
    cases = {}
    if direction == "fwd":
        cases["fastdl"] = lambda: ops.conv2d(x, w, b, s, p, 1, g)
        cases["numpy"] = lambda: reference.conv2d(x, w, b, s, p, 1, g)
    else:
        cases["fastdl"] = lambda: ops.conv2d_backward(gy, x, w, s, p, 1, g)
        cases["numpy"] = lambda: reference.conv2d_backward(gy, x, w, s, p, 1, g)
    if torch is not None:
        tx, tw, tb, tgy = (torch.from_numpy(a) for a in (x, w, b, gy))
        if direction == "fwd":
            cases["torch"] = lambda: torch.nn.functional.conv2d(tx, tw, tb, s, p, 1, g)
        else:
            cases["torch"] = lambda: torch.ops.aten.convolution_backward(
                tgy, tx, tw, [cout], [s, s], [p, p], [1, 1], False, [0, 0], g, [True, True, True])
    return cases


@pytest.fixture
def threads(request):
    with all_threads(request.param):
        yield request.param


_cache: dict = {}


def _cases(layer, direction):
    key = (layer, direction)
    if key not in _cache:
        _cache.clear()  # one group's arrays alive at a time
        _cache[key] = make_cases(layer, direction)
    return _cache[key]


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("direction", ["fwd", "bwd"])
@pytest.mark.parametrize("layer", list(LAYERS))
def test_conv(benchmark, layer, direction, impl, threads):
    fn = _cases(layer, direction)[impl]
    benchmark.group = f"conv-{layer}-{direction}-t{threads}"
    work = flops(layer) * (1 if direction == "fwd" else 2)
    rounds = 3 if impl == "numpy" else 9
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=1, iterations=1)
    benchmark.extra_info["gflops"] = work / benchmark.stats.stats.median / 1e9


def test_benchmark_cases_agree():
    # The benchmark's own result check (always runs), on each layer at batch 2 and a
    # smaller image: every implementation of a group computes the same thing.
    for layer in LAYERS:
        size = min(LAYERS[layer][5], 28)
        for direction in ("fwd", "bwd"):
            cases = make_cases(layer, direction, batch=2, size=size)
            want = cases["numpy"]()
            want = (want,) if direction == "fwd" else want
            for name, fn in cases.items():
                got = fn()
                got = (got,) if direction == "fwd" else got
                for gv, wv in zip(got, want):
                    gv = gv.numpy() if torch is not None and isinstance(gv, torch.Tensor) else gv
                    # float32 sums of up to ~1e4 terms of unit size
                    np.testing.assert_allclose(gv, wv, rtol=1e-3, atol=2e-3,
                                               err_msg=f"{name} {layer} {direction}")


def main(threads=(1, 2), repeats=9):
    """fastdl and torch interleaved (medians of `repeats`), the NumPy twin on its own
    (medians of 3); per layer and thread count the forward, the backward and their sum,
    then the geometric means over the layers of fastdl's and torch's forward+backward."""
    from fastdl.bench import time_interleaved

    print(f"fastdl {fastdl.__version__} ({fastdl.build_info()['simd']}; "
          f"{fastdl.build_info()['gemm']}), torch {torch.__version__ if torch else 'absent'}; "
          f"batch {BATCH}, float32; medians in ms")
    print(f"{'layer':12s} {'thr':>3s} {'dir':>4s} {'fastdl':>8s} {'GF/s':>6s} {'torch':>8s} "
          f"{'numpy':>8s} {'t/fd':>5s} {'np/fd':>6s}")
    sums: dict = {nt: {"fastdl": [], "torch": []} for nt in threads}
    for layer in LAYERS:
        for nt in threads:
            with all_threads(nt):
                total = {"fastdl": 0.0, "torch": 0.0, "numpy": 0.0}
                for direction in ("fwd", "bwd"):
                    cases = make_cases(layer, direction)
                    numpy_case = cases.pop("numpy")
                    med = time_interleaved(cases, repeats=repeats)
                    med["numpy"] = time_interleaved({"numpy": numpy_case}, repeats=3)["numpy"]
                    del cases, numpy_case
                    work = flops(layer) * (1 if direction == "fwd" else 2)
                    t = med.get("torch", float("nan"))
                    print(f"{layer:12s} {nt:3d} {direction:>4s} {med['fastdl'] * 1e3:8.2f} "
                          f"{work / med['fastdl'] / 1e9:6.1f} {t * 1e3:8.2f} "
                          f"{med['numpy'] * 1e3:8.1f} {t / med['fastdl']:5.2f} "
                          f"{med['numpy'] / med['fastdl']:6.1f}", flush=True)
                    for k in total:
                        total[k] += med.get(k, float("nan"))
                t = total["torch"]
                print(f"{layer:12s} {nt:3d} {'f+b':>4s} {total['fastdl'] * 1e3:8.2f} "
                      f"{3 * flops(layer) / total['fastdl'] / 1e9:6.1f} {t * 1e3:8.2f} "
                      f"{total['numpy'] * 1e3:8.1f} {t / total['fastdl']:5.2f} "
                      f"{total['numpy'] / total['fastdl']:6.1f}", flush=True)
                sums[nt]["fastdl"].append(total["fastdl"])
                sums[nt]["torch"].append(total["torch"])
    for nt in threads:
        gm = {k: math.exp(sum(map(math.log, v)) / len(v)) for k, v in sums[nt].items()}
        print(f"geometric mean of forward+backward, {nt} thread(s): fastdl "
              f"{gm['fastdl'] * 1e3:.2f} ms, torch {gm['torch'] * 1e3:.2f} ms "
              f"(torch / fastdl = {gm['torch'] / gm['fastdl']:.2f})")


if __name__ == "__main__":
    main()
