"""Autograd: the Python cost of the graph, and whole forward+backward passes, fastdl vs
PyTorch (CPU).

Run:  pytest benchmarks/bench_autograd.py --benchmark-enable --benchmark-group-by=group \
          --benchmark-columns=median,iqr,rounds
Groups: "autograd-overhead-4x4" (ten small ops and a backward: nearly all Python
overhead), "cross_entropy-256x1000" (loss forward+backward on ImageNet-sized logits),
"mlp-128x784-t1" (a 784-256-10 MLP step built from matmul, relu and cross-entropy; one
thread for torch; NumPy's BLAS runs with its own thread count unless threadpoolctl is
installed). Every timing includes allocation of the outputs and gradients.
"""

import numpy as np
import pytest

import fastdl as fd
import fastdl.nn.functional as F

torch = None
try:
    import torch
except ImportError:
    pass

IMPLS = ["fastdl"] + (["torch"] if torch is not None else [])


def _lib(impl):
    if impl == "fastdl":
        return (lambda a: fd.Tensor(a, requires_grad=True)), F.cross_entropy, (lambda t: t.relu())
    return ((lambda a: torch.tensor(a, requires_grad=True)), torch.nn.functional.cross_entropy,
            torch.relu)


def small_ops_case(impl):
    leaf, _, relu = _lib(impl)
    x = leaf(np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32))
    w = leaf(np.random.default_rng(1).standard_normal((4, 4)).astype(np.float32))

    def run():
        h = relu(x @ w + 1.0) * x - w / 2.0
        h = (h.tanh() + h.sigmoid()).exp()
        loss = h.sum()
        loss.backward()
        return loss
    return run, (x, w)


def cross_entropy_case(impl, n=256, c=1000):
    leaf, ce, _ = _lib(impl)
    rng = np.random.default_rng(2)
    x = leaf(rng.standard_normal((n, c)).astype(np.float32))
    t = rng.integers(0, c, n)
    target = t if impl == "fastdl" else torch.tensor(t)

    def run():
        loss = ce(x, target, label_smoothing=0.1)
        loss.backward()
        return loss
    return run, (x,)


def mlp_case(impl, n=128):
    leaf, ce, relu = _lib(impl)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 784)).astype(np.float32)
    t = rng.integers(0, 10, n)
    w1 = leaf((rng.standard_normal((784, 256)) * 0.05).astype(np.float32))
    w2 = leaf((rng.standard_normal((256, 10)) * 0.05).astype(np.float32))
    Xin, target = (X, t) if impl == "fastdl" else (torch.tensor(X), torch.tensor(t))

    def run():
        loss = ce(relu(Xin @ w1) @ w2, target)
        loss.backward()
        return loss
    return run, (w1, w2)


CASES = {"autograd-overhead-4x4": small_ops_case, "cross_entropy-256x1000": cross_entropy_case,
         "mlp-128x784-t1": mlp_case}


@pytest.fixture
def one_torch_thread():
    if torch is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("group", list(CASES))
def test_autograd(benchmark, group, impl, one_torch_thread):
    run, leaves = CASES[group](impl)
    benchmark.group = group
    benchmark.pedantic(run, rounds=15 if group.startswith("mlp") else 200, warmup_rounds=3,
                       iterations=1)
    for leaf in leaves:
        assert leaf.grad is not None


@pytest.mark.parametrize("group", list(CASES))
def test_fastdl_matches_torch_on_the_benchmark_inputs(group):
    if torch is None:
        pytest.skip("torch is not installed")
    (run_f, leaves_f), (run_t, leaves_t) = CASES[group]("fastdl"), CASES[group]("torch")
    np.testing.assert_allclose(run_f().item(), run_t().item(), rtol=1e-5)
    for a, b in zip(leaves_f, leaves_t):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-4, atol=1e-6)
