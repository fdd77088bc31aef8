"""Data-parallel training step of the CIFAR-style ResNet-18, over MPI (issue 11).

Not a pytest benchmark (it needs several processes): run it as a script, once under
mpirun and once in one process, with the same global batch:

    mpirun -n 2 --bind-to core python benchmarks/bench_distributed.py --global-batch 32
    python benchmarks/bench_distributed.py --global-batch 32 --threads 2

Each step: zero the grads, forward, cross-entropy, backward, ``allreduce_gradients``
(timed apart: first a barrier, so the time a rank waits for the slower one is counted
as "wait", not as allreduce), an SGD-with-momentum step. Prints the medians over the
steps of the step, of the allreduce and of the wait (the slowest rank's, per step), and
then times ``allreduce_gradients`` alone on the 62 ResNet-18 gradients (11,173,962
float32 values, 44.7 MB) for several bucket sizes, interleaved.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastdl as fd
import fastdl.models as M
from fastdl import distributed as dist
from fastdl.nn import functional as F

BUCKETS = (64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20)


def _median_over_ranks(values, op="max"):
    """Per-step values, reduced over the ranks (the slowest rank's), then the median."""
    a = dist.allreduce(np.asarray(values, dtype=np.float64).copy(), op)
    return float(np.median(a))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--global-batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=9, help="timed steps (after 2 warm-up)")
    p.add_argument("--threads", type=int, default=1, help="fastdl threads per process")
    p.add_argument("--bucket-size", type=int, default=dist.DEFAULT_BUCKET_SIZE)
    p.add_argument("--bucket-repeats", type=int, default=15)
    args = p.parse_args(argv)

    size, rank = dist.init(), dist.rank()
    fd.set_num_threads(args.threads)
    if args.global_batch % size:
        raise SystemExit("--global-batch must be a multiple of the number of processes")
    batch = args.global_batch // size
    fd.manual_seed(0)
    model = M.resnet18(num_classes=10, small_input=True)
    dist.broadcast_parameters(model)
    opt = fd.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    comm = dist._comm()

    steps, reduces, waits = [], [], []
    for i in range(2 + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(fd.Tensor(x)), y)
        loss.backward()
        t1 = time.perf_counter()
        if comm is not None:
            comm.Barrier()
        t2 = time.perf_counter()
        dist.allreduce_gradients(model, args.bucket_size)
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= 2:
            steps.append(t4 - t0)
            waits.append(t2 - t1)
            reduces.append(t3 - t2)
    step = _median_over_ranks(steps)
    reduce_ = _median_over_ranks(reduces)
    wait = _median_over_ranks(waits)
    if rank == 0:
        nbytes = sum(p.data.nbytes for p in model.parameters())
        print(f"resnet18 (CIFAR stem), global batch {args.global_batch} = {size} process(es) "
              f"x {batch}, {args.threads} thread(s) each, bucket {args.bucket_size} B; "
              f"gradients {nbytes / 1e6:.1f} MB; medians of {args.steps} steps")
        print(f"  step {step * 1e3:.1f} ms   allreduce {reduce_ * 1e3:.2f} ms "
              f"({reduce_ / step:.1%})   waiting for the slower rank {wait * 1e3:.2f} ms "
              f"  -> {args.global_batch / step:.1f} images/s")
    if comm is None:
        return
    # allreduce_gradients alone, by bucket size (the gradients of the last step), the
    # sizes taking turns so that a slow spell of the shared machine hits them alike
    times = {bucket: [] for bucket in BUCKETS}
    calls = {}
    for rep in range(args.bucket_repeats):
        for bucket in BUCKETS:
            comm.Barrier()
            t0 = time.perf_counter()
            calls[bucket] = dist.allreduce_gradients(model, bucket)
            if rep:  # the first round warms the buffers up
                times[bucket].append(time.perf_counter() - t0)
    for bucket in BUCKETS:
        med = _median_over_ranks(times[bucket])
        if rank == 0:
            print(f"  allreduce_gradients, bucket {bucket:>9} B: {calls[bucket]:>2} Allreduce "
                  f"calls, {med * 1e3:.2f} ms ({nbytes / med / 1e9:.2f} GB/s of gradients)")


if __name__ == "__main__":
    main()
