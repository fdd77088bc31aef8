"""Pooling: native (Cython) vs NumPy twin vs PyTorch, forward and backward, float32.

Workloads:
  max-stem      max_pool2d 3x3 s2 p1 on (8, 64, 112, 112)  (ResNet stem)
  avg-dense     avg_pool2d 2x2 s2 on (8, 256, 28, 28)      (DenseNet transition)
  adaptive-gap  adaptive_avg_pool2d to 1x1 on (8, 512, 7, 7) (global average pooling)
Timings include allocating the outputs (all three allocate theirs). torch's backwards
are its aten kernels (max_pool2d_with_indices_backward, avg_pool2d_backward,
_adaptive_avg_pool2d_backward), called directly: no autograd graph.
"""

from __future__ import annotations

import numpy as np

from fastdl.bench import echo, time_groups, try_torch

WORKLOADS = {
    "max-stem": ("max", (8, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1)),
    "avg-dense": ("avg", (8, 256, 28, 28), dict(kernel_size=2, stride=2)),
    "adaptive-gap": ("adaptive", (8, 512, 7, 7), dict(output_size=1)),
}
_cache: dict = {}


def impls(with_torch: bool = True) -> list[str]:
    return ["native", "numpy"] + (["torch"] if with_torch and try_torch() is not None else [])


def _torch_calls(torch, kind, kw, x, gy, ind):
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


def cases(workload, direction, with_torch: bool = True):
    """{impl: zero-argument callable} for one workload, "fwd" or "bwd"; one workload's
    arrays are kept at a time."""
    from fastdl import ops, reference as ref

    key = (workload, direction, with_torch)
    if key in _cache:
        return _cache[key]
    _cache.clear()
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
    torch = try_torch() if with_torch else None
    if torch is not None:
        out["torch"] = _torch_calls(torch, kind, kw, x, gy, ind)[direction == "bwd"]
    _cache[key] = out
    return out


def run(threads=(1, 2), repeats: int = 9, with_torch: bool = True, out=echo) -> list[dict]:
    """Interleaved medians (time_interleaved) and ratios to native, printed as a table (a
    row as soon as it is measured); returns the rows."""
    names = impls(with_torch)
    out(f"Pooling, float32: medians of {repeats} interleaved runs, ms; ratios > 1 mean "
        "native is faster")
    out(f"{'workload':<14}{'dir':<5}{'thr':>4}" + "".join(f"{i + ' ms':>12}" for i in names)
        + "".join(f"{i + '/native':>15}" for i in names[1:]))
    rows = []
    groups = [(workload, direction) for workload in WORKLOADS for direction in ("fwd", "bwd")]
    for (workload, direction), nt, med in time_groups(
            groups, lambda key: cases(*key, with_torch), threads, repeats, with_torch):
        out(f"{workload:<14}{direction:<5}{nt:>4}"
            + "".join(f"{med[i] * 1e3:>12.3f}" for i in names)
            + "".join(f"{med[i] / med['native']:>15.2f}" for i in names[1:]))
        rows.append({"workload": workload, "direction": direction, "threads": nt, **med})
    _cache.clear()
    return rows
