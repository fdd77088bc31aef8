"""Timing comparisons behind ``fastdl bench``: native kernels vs their NumPy twins vs
PyTorch (when importable), on the same inputs, in one process.

This module holds the fused optimizer steps (``fastdl bench optim``) and the shared
timing helpers; :mod:`fastdl.bench.batchnorm`, :mod:`fastdl.bench.gemm` and
:mod:`fastdl.bench.pooling` the other suites. The pytest-benchmark files under
``benchmarks/`` build their cases from these modules.

Hygiene (DESIGN.md): every implementation is warmed up, the implementations are
interleaved within each repetition, medians are reported, and the thread count is set
for fastdl and PyTorch alike. NumPy's elementwise ufuncs are single-threaded.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["resnet18_param_shapes", "OPTIMIZERS", "optimizer_cases", "time_interleaved",
           "run_optim_bench", "format_table", "all_threads", "time_groups", "try_torch",
           "try_threadpoolctl", "echo"]


def resnet18_param_shapes() -> list[tuple[int, ...]]:
    """The 62 parameter shapes of torchvision's ResNet-18 (11,689,512 values)."""
    shapes: list[tuple[int, ...]] = [(64, 3, 7, 7), (64,), (64,)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            shapes += [(cout, cin, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)]
            if block == 0 and (stride != 1 or cin != cout):
                shapes += [(cout, cin, 1, 1), (cout,), (cout,)]
            cin = cout
    shapes += [(1000, 512), (1000,)]
    return shapes


def workload_shapes(name: str) -> list[tuple[int, ...]]:
    """"resnet18": the 62 tensors; "flat": the same element count as one tensor."""
    shapes = resnet18_param_shapes()
    if name == "resnet18":
        return shapes
    if name == "flat":
        return [(sum(int(np.prod(s)) for s in shapes),)]
    raise ValueError(f"unknown workload {name!r}; expected 'resnet18' or 'flat'")


@dataclass(frozen=True)
class OptimSpec:
    """One optimizer configuration: how to call the fastdl step and build torch's."""

    n_states: int  # state arrays per parameter, in the order of the step's arguments
    kwargs: dict  # keyword arguments of the fastdl step (besides step/mu_product)
    torch_name: str
    torch_kwargs: dict
    torch_fused: bool  # torch 2.13 has a fused CPU kernel for it
    call: Callable = field(repr=False)  # call(step_fn, params, grads, states)


OPTIMIZERS: dict[str, OptimSpec] = {
    "sgd_nesterov": OptimSpec(
        1, dict(lr=0.01, momentum=0.9, nesterov=True), "SGD",
        dict(lr=0.01, momentum=0.9, nesterov=True), True,
        lambda f, P, G, S, kw: f(P, G, S[0], step=2, **kw)),
    "adagrad": OptimSpec(
        1, dict(lr=0.01), "Adagrad", dict(lr=0.01), True,
        lambda f, P, G, S, kw: f(P, G, S[0], step=2, **kw)),
    "adadelta": OptimSpec(
        2, dict(lr=1.0), "Adadelta", dict(lr=1.0), False,
        lambda f, P, G, S, kw: f(P, G, S[0], S[1], **kw)),
    "rmsprop": OptimSpec(
        1, dict(lr=0.01), "RMSprop", dict(lr=0.01), False,
        lambda f, P, G, S, kw: f(P, G, S[0], [], [], **kw)),
    "adam": OptimSpec(
        2, dict(lr=1e-3), "Adam", dict(lr=1e-3), True,
        lambda f, P, G, S, kw: f(P, G, S[0], S[1], [], step=2, **kw)),
    "adamw": OptimSpec(
        2, dict(lr=1e-3, weight_decay=0.01, decoupled_weight_decay=True), "AdamW",
        dict(lr=1e-3, weight_decay=0.01), True,
        lambda f, P, G, S, kw: f(P, G, S[0], S[1], [], step=2, **kw)),
    "nadam": OptimSpec(
        2, dict(lr=2e-3), "NAdam", dict(lr=2e-3), False,
        lambda f, P, G, S, kw: f(P, G, S[0], S[1], step=2, mu_product=0.9, **kw)),
}

_STEP_NAME = {"sgd_nesterov": "sgd_step", "adagrad": "adagrad_step", "adadelta": "adadelta_step",
              "rmsprop": "rmsprop_step", "adam": "adam_step", "adamw": "adam_step",
              "nadam": "nadam_step"}


def try_torch():
    """The torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def echo(line: str) -> None:
    """Print a table line at once (the suites' default output)."""
    print(line, flush=True)


def try_threadpoolctl():
    """The threadpoolctl module (sets NumPy's BLAS threads), or None."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl


@contextlib.contextmanager
def all_threads(n: int, with_torch: bool = True):
    """``n`` threads for fastdl, torch (when importable) and NumPy's BLAS (through
    threadpoolctl, when installed) alike; the previous counts are restored after."""
    import fastdl

    torch = try_torch() if with_torch else None
    threadpoolctl = try_threadpoolctl()
    old = fastdl.get_num_threads()
    told = torch.get_num_threads() if torch is not None else None
    fastdl.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)
    limits = threadpoolctl.threadpool_limits(n) if threadpoolctl is not None \
        else contextlib.nullcontext()
    try:
        with limits:
            yield n
    finally:
        fastdl.set_num_threads(old)
        if torch is not None:
            torch.set_num_threads(told)


class _ArrayCase:
    """One step of a fastdl-style step function on its own copy of params and state."""

    def __init__(self, fn, spec: OptimSpec, params, grads):
        self.fn, self.spec, self.grads = fn, spec, grads
        self.params = [p.copy() for p in params]
        self.states = [[np.full_like(p, 0.01) for p in params] for _ in range(spec.n_states)]

    def __call__(self) -> None:
        self.spec.call(self.fn, self.params, self.grads, self.states, self.spec.kwargs)


def optimizer_cases(name: str, shapes, dtype=np.float32, seed: int = 0,
                    with_torch: bool = True) -> dict[str, Callable[[], None]]:
    """Zero-argument callables that each take one step of optimizer ``name`` on its own
    copy of the same parameters and gradients: "native", "numpy" and, when torch is
    importable, "torch" (its CPU default, a for-loop) and "torch_fused"."""
    from fastdl import ops, reference

    spec = OPTIMIZERS[name]
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s, dtype=np.float32).astype(dtype, copy=False) for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32).astype(dtype, copy=False) for s in shapes]
    cases: dict[str, Callable[[], None]] = {}
    for impl, module in (("native", ops), ("numpy", reference)):
        cases[impl] = _ArrayCase(getattr(module, _STEP_NAME[name]), spec, params, grads)
    torch = try_torch() if with_torch else None
    if torch is not None:
        variants = [("torch", {})] + ([("torch_fused", {"fused": True})] if spec.torch_fused else [])
        for impl, extra in variants:
            tp = [torch.from_numpy(p.copy()) for p in params]
            for t, g in zip(tp, grads):
                t.grad = torch.from_numpy(g)
            opt = getattr(torch.optim, spec.torch_name)(tp, **spec.torch_kwargs, **extra)
            opt.step()  # creates the state outside the timing
            cases[impl] = opt.step
    return cases


def time_interleaved(cases: dict[str, Callable[[], None]], repeats: int = 7,
                     warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each case; the cases take turns within a repetition
    (in alternating order) so that a noisy neighbour hurts them alike."""
    names = list(cases)
    for _ in range(warmup):
        for n in names:
            cases[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            cases[n]()
            times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(v)) for n, v in times.items()}


def time_groups(groups, make_cases, threads, repeats: int, with_torch: bool = True):
    """For each group key, its cases ``make_cases(key)`` timed (:func:`time_interleaved`)
    at each thread count (:func:`all_threads`): yields ``(key, threads, medians)``. One
    group's cases (and their arrays) are alive at a time."""
    for key in groups:
        cases = make_cases(key)
        for nt in threads:
            with all_threads(nt, with_torch):
                med = time_interleaved(cases, repeats=repeats)
            yield key, nt, med
        del cases


def run_optim_bench(optimizers=None, workloads=("resnet18", "flat"), threads=(1, 2),
                    repeats: int = 7, with_torch: bool = True, progress=None) -> list[dict]:
    """Time every optimizer step on each workload and thread count; one row each."""
    rows = []
    for wl in workloads:
        shapes = workload_shapes(wl)
        for name, nt, med in time_groups(
                optimizers or list(OPTIMIZERS),
                lambda name: optimizer_cases(name, shapes, with_torch=with_torch),
                threads, repeats, with_torch):
            row = {"optimizer": name, "workload": wl, "threads": nt, **med}
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """A text table of medians (ms) and ratios to the native kernel (> 1: native faster)."""
    impls = [c for c in ("native", "numpy", "torch", "torch_fused") if any(c in r for r in rows)]
    head = f"{'optimizer':<13}{'workload':<10}{'thr':>4}" + "".join(f"{c + ' ms':>15}" for c in impls)
    head += "".join(f"{c + '/native':>20}" for c in impls[1:])
    lines = [head, "-" * len(head)]
    for r in rows:
        line = f"{r['optimizer']:<13}{r['workload']:<10}{r['threads']:>4}"
        line += "".join(f"{r[c] * 1e3:>15.2f}" if c in r else f"{'-':>15}" for c in impls)
        line += "".join(f"{r[c] / r['native']:>20.2f}" if c in r else f"{'-':>20}" for c in impls[1:])
        lines.append(line)
    return "\n".join(lines)
