"""Batch normalization (training mode, float32): native vs NumPy twin vs PyTorch.

The cases of one group (one direction on one shape):
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

from __future__ import annotations

import numpy as np

from fastdl.bench import echo, time_groups, try_torch

SHAPES = [(32, 64, 56, 56), (32, 256, 14, 14), (256, 512, 7, 7), (1024, 4096)]
BYTES_PER_ELEMENT = {"fwd": 8, "bwd": 12}
BOUND_GBS = {1: 25.0, 2: 37.0}  # DESIGN.md's streaming figures for this machine


def shape_name(shape) -> str:
    return "x".join(map(str, shape))


def impls(with_torch: bool = True) -> list[str]:
    """The case names, in table order."""
    return ["fastdl", "fastdl_prealloc", "numpy"] + \
        (["torch"] if with_torch and try_torch() is not None else [])


def make_cases(shape, direction, with_torch=True, seed=0):
    """The callables of one group, on shared inputs (training mode, float32)."""
    from fastdl import _core, ops, reference

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
    torch = try_torch() if with_torch else None
    if torch is not None:
        F = torch.nn.functional
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


def run(threads=(1, 2), repeats: int = 9, with_torch: bool = True, out=echo) -> list[dict]:
    """Interleaved medians of every case, printed as a table with ratios and GB/s (a row
    as soon as it is measured); returns the rows."""
    import fastdl

    torch = try_torch() if with_torch else None
    out(f"Batch norm, training mode, float32: fastdl {fastdl.__version__} "
        f"({fastdl.build_info()['simd']}), torch "
        f"{torch.__version__ if torch is not None else 'absent'}; medians of {repeats}, ms. "
        "xtorch/xnumpy: their time / fastdl's; bound%: of the streaming bandwidth")
    out(f"{'group':34s} {'fastdl':>8s} {'prealloc':>8s} {'numpy':>8s} {'torch':>8s} "
        f"{'xtorch':>7s} {'xnumpy':>7s} {'GB/s':>6s} {'bound%':>6s}")
    rows = []
    groups = [(shape, direction) for shape in SHAPES for direction in ("fwd", "bwd")]
    for (shape, direction), nt, med in time_groups(
            groups, lambda key: make_cases(*key, with_torch), threads, repeats, with_torch):
        nbytes = int(np.prod(shape)) * BYTES_PER_ELEMENT[direction]
        gbs = nbytes / med["fastdl"] / 1e9
        t = med.get("torch", float("nan"))
        out(f"{direction} {shape_name(shape):16s} t{nt:<13d} {med['fastdl'] * 1e3:8.3f} "
            f"{med['fastdl_prealloc'] * 1e3:8.3f} {med['numpy'] * 1e3:8.2f} "
            f"{t * 1e3:8.3f} {t / med['fastdl']:7.1f} "
            f"{med['numpy'] / med['fastdl']:7.1f} {gbs:6.1f} "
            f"{100 * gbs / BOUND_GBS.get(nt, BOUND_GBS[2]):6.0f}")
        rows.append({"direction": direction, "shape": shape, "threads": nt, "gbs": gbs, **med})
    return rows
