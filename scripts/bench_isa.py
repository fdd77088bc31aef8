"""Each ISA path's speed: the price of the portable (baseline) kernels.

One representative shape per native kernel family, float32 unless named, timed in one
process per ISA (FASTDL_ISA=baseline|avx2|avx512; the kernel table is chosen at
import), 1 thread by default. The processes run in two rounds in alternating ISA
order, and each kernel's samples from both rounds are pooled into a median, so that a
noisy neighbour hurts the paths alike. Pooling is left out: its Cython loops are
compiled once, without ISA flags, and do not depend on FASTDL_ISA.

    python scripts/bench_isa.py [--threads 1] [--repeats 5]

Run it from outside the checkout or with fastdl installed (it imports fastdl), alone
on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# name -> (what, code run once in the child to make a zero-argument callable `f`)
KERNELS = {
    "gemm f32 1024^3": "a = rng.standard_normal((1024, 1024), dtype=np.float32); "
                       "b = rng.standard_normal((1024, 1024), dtype=np.float32); "
                       "f = lambda: ops.matmul(a, b)",
    "gemm f64 512^3": "a = rng.standard_normal((512, 512)); b = rng.standard_normal((512, 512)); "
                      "f = lambda: ops.matmul(a, b)",
    "conv2d fwd 3x3 128->128 28x28 b8":
        "x = rng.standard_normal((8, 128, 28, 28), dtype=np.float32); "
        "w = rng.standard_normal((128, 128, 3, 3), dtype=np.float32) / 34; "
        "f = lambda: ops.conv2d(x, w, None, 1, 1)",
    "conv2d bwd 3x3 128->128 28x28 b8":
        "x = rng.standard_normal((8, 128, 28, 28), dtype=np.float32); "
        "w = rng.standard_normal((128, 128, 3, 3), dtype=np.float32) / 34; "
        "gy = rng.standard_normal((8, 128, 28, 28), dtype=np.float32); "
        "f = lambda: ops.conv2d_backward(gy, x, w, 1, 1)",
    "batch_norm fwd (32,64,56,56)":
        "from fastdl.bench import batchnorm as B; "
        "f = B.make_cases((32, 64, 56, 56), 'fwd', with_torch=False)['fastdl']",
    "batch_norm bwd (32,64,56,56)":
        "from fastdl.bench import batchnorm as B; "
        "f = B.make_cases((32, 64, 56, 56), 'bwd', with_torch=False)['fastdl']",
    "adam step, ResNet-18 params":
        "from fastdl import bench; "
        "f = bench.optimizer_cases('adam', bench.workload_shapes('resnet18'), "
        "with_torch=False)['native']",
    "sgd nesterov step, ResNet-18 params":
        "from fastdl import bench; "
        "f = bench.optimizer_cases('sgd_nesterov', bench.workload_shapes('resnet18'), "
        "with_torch=False)['native']",
}

CHILD = """
import json, sys, time
import numpy as np
import fastdl as fd
from fastdl import ops
fd.set_num_threads(int(sys.argv[1]))
repeats = int(sys.argv[2])
kernels = json.loads(sys.argv[3])
out = {"isa": fd.build_info()["isa"], "times": {}}
for name, code in kernels.items():
    rng = np.random.default_rng(0)
    ns = {"np": np, "ops": ops, "rng": rng}
    exec(code, ns)
    f = ns["f"]
    f()  # warm-up: page faults, packing buffers
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); f(); ts.append(time.perf_counter() - t0)
    out["times"][name] = ts
print(json.dumps(out))
"""


def run_isa(isa, threads, repeats):
    with tempfile.TemporaryDirectory() as cwd:  # not the checkout (its fastdl/ has no _core)
        r = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(repeats),
                            json.dumps(KERNELS)], cwd=cwd, capture_output=True, text=True,
                           env={**os.environ, "FASTDL_ISA": isa}, check=False)
    if r.returncode != 0:
        sys.exit(f"FASTDL_ISA={isa}: {r.stderr}")
    out = json.loads(r.stdout)
    assert out["isa"] == isa, out["isa"]
    return out["times"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5, help="per kernel per round (2 rounds)")
    args = p.parse_args(argv)
    import fastdl

    isas = fastdl.build_info()["isa_available"]
    samples = {isa: {k: [] for k in KERNELS} for isa in isas}
    t0 = time.perf_counter()
    for rnd in range(2):
        for isa in (isas if rnd == 0 else isas[::-1]):
            for k, ts in run_isa(isa, args.threads, args.repeats).items():
                samples[isa][k] += ts
    med = {isa: {k: float(np.median(v)) * 1e3 for k, v in s.items()} for isa, s in samples.items()}
    info = fastdl.build_info()
    print(f"fastdl {info['version']}, {info['compiler']}, {args.threads} thread(s); medians of "
          f"{2 * args.repeats} runs, ms; slowdown = baseline ms / that path's ms "
          f"({time.perf_counter() - t0:.0f} s)")
    width = max(len(k) for k in KERNELS)
    head = f"{'kernel':<{width}}" + "".join(f"{i:>10}" for i in isas)
    others = [i for i in isas if i != "baseline"]
    head += "".join(f"{'base/' + i:>14}" for i in others)
    print(head)
    print("-" * len(head))
    for k in KERNELS:
        row = f"{k:<{width}}" + "".join(f"{med[i][k]:>10.2f}" for i in isas)
        row += "".join(f"{med['baseline'][k] / med[i][k]:>14.2f}" for i in others)
        print(row)


if __name__ == "__main__":
    main()
