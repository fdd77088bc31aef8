"""Whole models: fastdl vs torch eager CPU, float32, 1 and 2 threads.

Rows (issue 6 and 10): inference (eval mode, no graph) and a full training step
(train mode: forward, cross-entropy, backward, an SGD step) for resnet18 (batch 8,
224x224), CIFAR resnet18 (batch 32, 32x32), densenet121 (batch 4, 224x224) and lenet5
(batch 64, 28x28); inference for inception_v4 (299x299) and bn_inception (224x224) at
batch 1 and 8.

The torch side is written here (torchvision is not importable beside this torch): each
mirror has torchvision's / timm's / Cadene's module names, loads the fastdl model's
state_dict with ``strict=True``, and must give the same logits
(test_torch_mirrors_match_fastdl, which always runs), so both sides time the same
network with the same weights.

Run:  pytest benchmarks/bench_models.py --benchmark-enable --benchmark-group-by=group \\
          --benchmark-columns=median,iqr,rounds -p no:cacheprovider
 or:  python benchmarks/bench_models.py [--profile]   (a table of medians and ratios,
      the two libraries taking turns; --profile adds fastdl's per-op time, from
      cProfile, for the rows where fastdl is slower)
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict

import numpy as np
import pytest

import fastdl
import fastdl.models as M
import fastdl.nn.functional as FF

torch = None
try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as TF
except ImportError:
    pass

# --- torch mirrors ------------------------------------------------------------------------

if torch is not None:
    def cbr(cin, cout, k, stride=1, padding=0, eps=1e-3):
        """torchvision's / timm's BasicConv2d: conv (no bias), bn, relu."""
        m = nn.Module()
        m.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=False)
        m.bn = nn.BatchNorm2d(cout, eps=eps)
        m.forward = lambda x: TF.relu(m.bn(m.conv(x)))
        return m

    class Cat(nn.Module):
        """Concatenates its children's outputs on the same input."""

        def forward(self, x):
            return torch.cat([b(x) for b in self.children()], 1)

    def seq_cat(**branches):
        m = Cat()
        for k, v in branches.items():
            m.add_module(k, v)
        return m

    class TLeNet5(nn.Module):
        def __init__(self, pad):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=pad), nn.ReLU(),
                                          nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                                          nn.MaxPool2d(2))
            self.classifier = nn.Sequential(nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                                            nn.ReLU(), nn.Linear(84, 10))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    class TBlock(nn.Module):
        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or cin != planes:
                self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False),
                                                nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.bn2(self.conv2(TF.relu(self.bn1(self.conv1(x)))))
            return TF.relu(out + (x if self.downsample is None else self.downsample(x)))

    class TResNet18(nn.Module):
        def __init__(self, num_classes, small_input):
            super().__init__()
            self.conv1 = (nn.Conv2d(3, 64, 3, 1, 1, bias=False) if small_input
                          else nn.Conv2d(3, 64, 7, 2, 3, bias=False))
            self.bn1 = nn.BatchNorm2d(64)
            self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (planes, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2))):
                setattr(self, f"layer{i + 1}",
                        nn.Sequential(TBlock(cin, planes, stride), TBlock(planes, planes, 1)))
                cin = planes
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(TF.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(TF.adaptive_avg_pool2d(x, 1), 1))

    class TDenseLayer(nn.Module):
        def __init__(self, cin):
            super().__init__()
            self.norm1 = nn.BatchNorm2d(cin)
            self.conv1 = nn.Conv2d(cin, 128, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(128)
            self.conv2 = nn.Conv2d(128, 32, 3, padding=1, bias=False)

        def forward(self, feats):  # torchvision's: the list of all earlier outputs
            x = torch.cat(feats, 1)
            return self.conv2(TF.relu(self.norm2(self.conv1(TF.relu(self.norm1(x))))))

    class TDenseBlock(nn.ModuleDict):
        def forward(self, x):
            feats = [x]
            for layer in self.values():
                feats.append(layer(feats))
            return torch.cat(feats, 1)

    class TDenseNet121(nn.Module):
        def __init__(self):
            super().__init__()
            f = nn.Sequential()
            f.add_module("conv0", nn.Conv2d(3, 64, 7, 2, 3, bias=False))
            f.add_module("norm0", nn.BatchNorm2d(64))
            f.add_module("relu0", nn.ReLU())
            f.add_module("pool0", nn.MaxPool2d(3, 2, 1))
            c = 64
            for i, n in enumerate((6, 12, 24, 16)):
                f.add_module(f"denseblock{i + 1}", TDenseBlock(
                    {f"denselayer{j + 1}": TDenseLayer(c + 32 * j) for j in range(n)}))
                c += 32 * n
                if i < 3:
                    f.add_module(f"transition{i + 1}", nn.Sequential(OrderedDict([
                        ("norm", nn.BatchNorm2d(c)), ("relu", nn.ReLU()),
                        ("conv", nn.Conv2d(c, c // 2, 1, bias=False)),
                        ("pool", nn.AvgPool2d(2, 2))])))
                    c //= 2
            f.add_module("norm5", nn.BatchNorm2d(c))
            self.features = f
            self.classifier = nn.Linear(c, 1000)

        def forward(self, x):
            x = TF.relu(self.features(x))
            return self.classifier(torch.flatten(TF.adaptive_avg_pool2d(x, 1), 1))

    # Inception-v4 from MODELS.md's description, with timm's names
    def c_(cin, cout, k, stride=1):
        kh, kw = (k, k) if isinstance(k, int) else k
        pad = (kh // 2, kw // 2) if stride == 1 else 0
        return cbr(cin, cout, (kh, kw), stride, pad)

    def avg_proj(cin, cout):
        return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), c_(cin, cout, 1))

    class TInceptionC(nn.Module):
        def __init__(self):
            super().__init__()
            self.branch0 = c_(1536, 256, 1)
            self.branch1_0 = c_(1536, 384, 1)
            self.branch1_1a = c_(384, 256, (1, 3))
            self.branch1_1b = c_(384, 256, (3, 1))
            self.branch2_0 = c_(1536, 384, 1)
            self.branch2_1 = c_(384, 448, (3, 1))
            self.branch2_2 = c_(448, 512, (1, 3))
            self.branch2_3a = c_(512, 256, (1, 3))
            self.branch2_3b = c_(512, 256, (3, 1))
            self.branch3 = avg_proj(1536, 256)

        def forward(self, x):
            a = self.branch1_0(x)
            b = self.branch2_2(self.branch2_1(self.branch2_0(x)))
            return torch.cat([self.branch0(x), self.branch1_1a(a), self.branch1_1b(a),
                              self.branch2_3a(b), self.branch2_3b(b), self.branch3(x)], 1)

    class TInceptionV4(nn.Module):
        def __init__(self):
            super().__init__()
            S = nn.Sequential
            mixed3a = Cat()
            mixed3a.maxpool = nn.MaxPool2d(3, 2)
            mixed3a.conv = cbr(64, 96, 3, 2)
            mixed5a = Cat()
            mixed5a.conv = cbr(192, 192, 3, 2)
            mixed5a.maxpool = nn.MaxPool2d(3, 2)
            blocks = [cbr(3, 32, 3, 2), cbr(32, 32, 3), cbr(32, 64, 3, 1, 1), mixed3a,
                      seq_cat(branch0=S(c_(160, 64, 1), cbr(64, 96, 3)),
                              branch1=S(c_(160, 64, 1), c_(64, 64, (1, 7)), c_(64, 64, (7, 1)),
                                        cbr(64, 96, 3))),
                      mixed5a]
            blocks += [seq_cat(branch0=c_(384, 96, 1), branch1=S(c_(384, 64, 1), c_(64, 96, 3)),
                               branch2=S(c_(384, 64, 1), c_(64, 96, 3), c_(96, 96, 3)),
                               branch3=avg_proj(384, 96)) for _ in range(4)]
            blocks += [seq_cat(branch0=c_(384, 384, 3, 2),
                               branch1=S(c_(384, 192, 1), c_(192, 224, 3), c_(224, 256, 3, 2)),
                               branch2=nn.MaxPool2d(3, 2))]
            blocks += [seq_cat(branch0=c_(1024, 384, 1),
                               branch1=S(c_(1024, 192, 1), c_(192, 224, (1, 7)),
                                         c_(224, 256, (7, 1))),
                               branch2=S(c_(1024, 192, 1), c_(192, 192, (7, 1)),
                                         c_(192, 224, (1, 7)), c_(224, 224, (7, 1)),
                                         c_(224, 256, (1, 7))),
                               branch3=avg_proj(1024, 128)) for _ in range(7)]
            blocks += [seq_cat(branch0=S(c_(1024, 192, 1), c_(192, 192, 3, 2)),
                               branch1=S(c_(1024, 256, 1), c_(256, 256, (1, 7)),
                                         c_(256, 320, (7, 1)), c_(320, 320, 3, 2)),
                               branch2=nn.MaxPool2d(3, 2))]
            blocks += [TInceptionC() for _ in range(3)]
            self.features = S(*blocks)
            self.last_linear = nn.Linear(1536, 1000)

        def forward(self, x):
            x = TF.adaptive_avg_pool2d(self.features(x), 1)
            return self.last_linear(torch.flatten(x, 1))

    # BN-Inception from MODELS.md's table, with Cadene's flat names
    BNI = [("3a", 192, 64, 64, 64, 64, 96, "avg", 32), ("3b", 256, 64, 64, 96, 64, 96, "avg", 64),
           ("3c", 320, 0, 128, 160, 64, 96, "max2", 0),
           ("4a", 576, 224, 64, 96, 96, 128, "avg", 128),
           ("4b", 576, 192, 96, 128, 96, 128, "avg", 128),
           ("4c", 576, 160, 128, 160, 128, 160, "avg", 128),
           ("4d", 608, 96, 128, 192, 160, 192, "avg", 128),
           ("4e", 608, 0, 128, 192, 192, 256, "max2", 0),
           ("5a", 1056, 352, 192, 320, 160, 224, "avg", 128),
           ("5b", 1024, 352, 192, 320, 192, 224, "max", 128)]

    class TBNInception(nn.Module):
        def __init__(self):
            super().__init__()
            self.u("conv1_7x7_s2", 3, 64, 7, 2)
            self.u("conv2_3x3_reduce", 64, 64, 1)
            self.u("conv2_3x3", 64, 192, 3)
            for name, cin, n1, r3, n3, rd, nd, pool, proj in BNI:
                p, s = f"inception_{name}", 2 if pool == "max2" else 1
                if n1:
                    self.u(f"{p}_1x1", cin, n1, 1)
                self.u(f"{p}_3x3_reduce", cin, r3, 1)
                self.u(f"{p}_3x3", r3, n3, 3, s)
                self.u(f"{p}_double_3x3_reduce", cin, rd, 1)
                self.u(f"{p}_double_3x3_1", rd, nd, 3)
                self.u(f"{p}_double_3x3_2", nd, nd, 3, s)
                if proj:
                    self.u(f"{p}_pool_proj", cin, proj, 1)
            self.last_linear = nn.Linear(1024, 1000)

        def u(self, name, cin, cout, k, stride=1):
            setattr(self, name, nn.Conv2d(cin, cout, k, stride, k // 2))
            setattr(self, name + "_bn", nn.BatchNorm2d(cout))

        def f(self, name, x):
            return TF.relu(getattr(self, name + "_bn")(getattr(self, name)(x)))

        def forward(self, x):
            x = TF.max_pool2d(self.f("conv1_7x7_s2", x), 3, 2, ceil_mode=True)
            x = self.f("conv2_3x3", self.f("conv2_3x3_reduce", x))
            x = TF.max_pool2d(x, 3, 2, ceil_mode=True)
            for name, _, n1, _, _, _, _, pool, proj in BNI:
                p = f"inception_{name}"
                outs = [self.f(f"{p}_1x1", x)] if n1 else []
                outs.append(self.f(f"{p}_3x3", self.f(f"{p}_3x3_reduce", x)))
                d = self.f(f"{p}_double_3x3_1", self.f(f"{p}_double_3x3_reduce", x))
                outs.append(self.f(f"{p}_double_3x3_2", d))
                if pool == "avg":
                    q = TF.avg_pool2d(x, 3, 1, 1, ceil_mode=True, count_include_pad=True)
                elif pool == "max":
                    q = TF.max_pool2d(x, 3, 1, 1, ceil_mode=True)
                else:
                    q = TF.max_pool2d(x, 3, 2, ceil_mode=True)
                outs.append(self.f(f"{p}_pool_proj", q) if proj else q)
                x = torch.cat(outs, 1)
            return self.last_linear(torch.flatten(TF.adaptive_avg_pool2d(x, 1), 1))

# name: (fastdl constructor, torch mirror, input shape (without batch), classes)
MODELS = {
    "resnet18": (lambda: M.resnet18(), lambda: TResNet18(1000, False), (3, 224, 224), 1000),
    "resnet18_cifar": (lambda: M.resnet18(10, small_input=True), lambda: TResNet18(10, True),
                       (3, 32, 32), 10),
    "densenet121": (lambda: M.densenet121(), lambda: TDenseNet121(), (3, 224, 224), 1000),
    "lenet5": (lambda: M.lenet5(), lambda: TLeNet5(pad=2), (1, 28, 28), 10),
    "inception_v4": (lambda: M.inception_v4(), lambda: TInceptionV4(), (3, 299, 299), 1000),
    "bn_inception": (lambda: M.bn_inception(), lambda: TBNInception(), (3, 224, 224), 1000),
}
# (model, mode, batch)
ROWS = [("resnet18", "infer", 8), ("resnet18", "train", 8),
        ("resnet18_cifar", "infer", 32), ("resnet18_cifar", "train", 32),
        ("densenet121", "infer", 4), ("densenet121", "train", 4),
        ("lenet5", "infer", 64), ("lenet5", "train", 64),
        ("inception_v4", "infer", 1), ("inception_v4", "infer", 8),
        ("bn_inception", "infer", 1), ("bn_inception", "infer", 8)]
IMPLS = ["fastdl"] + (["torch"] if torch is not None else [])

_built: dict = {}


def pair(name):
    """(fastdl model, torch mirror with the same weights) — one model alive at a time."""
    if name not in _built:
        _built.clear()
        fastdl.manual_seed(0)
        ours = MODELS[name][0]()
        theirs = None
        if torch is not None:
            theirs = MODELS[name][1]()
            theirs.load_state_dict({k: torch.from_numpy(np.array(v))
                                    for k, v in ours.state_dict().items()}, strict=True)
        _built[name] = (ours, theirs)
    return _built[name]


def make_step(impl, name, mode, batch):
    """A callable running one row's work once; returns the logits as an ndarray."""
    ours, theirs = pair(name)
    shape, classes = MODELS[name][2], MODELS[name][3]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *shape), dtype=np.float32)
    y = rng.integers(0, classes, batch)
    if impl == "fastdl":
        xt = fastdl.Tensor(x)
        if mode == "infer":
            def run():
                ours.eval()
                with fastdl.no_grad():
                    return ours(xt).data
            return run
        opt = fastdl.optim.SGD(ours.parameters(), lr=1e-3, momentum=0.9)

        def run():
            ours.train()
            opt.zero_grad()
            out = ours(xt)
            FF.cross_entropy(out, y).backward()
            opt.step()
            return out.data
        return run
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    if mode == "infer":
        def run():
            theirs.eval()
            with torch.no_grad():
                return theirs(xt).numpy()
        return run
    opt = torch.optim.SGD(theirs.parameters(), lr=1e-3, momentum=0.9)

    def run():
        theirs.train()
        opt.zero_grad(set_to_none=True)
        out = theirs(xt)
        TF.cross_entropy(out, yt).backward()
        opt.step()
        return out.detach().numpy()
    return run


@contextlib.contextmanager
def all_threads(n):
    old = fastdl.get_num_threads()
    fastdl.set_num_threads(n)
    told = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        fastdl.set_num_threads(old)
        if torch is not None:
            torch.set_num_threads(told)


@pytest.fixture
def threads(request):
    with all_threads(request.param):
        yield request.param


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r[0]}-{r[1]}-b{r[2]}")
def test_model(benchmark, row, impl, threads):
    name, mode, batch = row
    benchmark.group = f"model-{name}-{mode}-b{batch}-t{threads}"
    run = make_step(impl, name, mode, batch)
    out = benchmark.pedantic(run, rounds=5, warmup_rounds=1, iterations=1)
    assert out.shape == (batch, MODELS[name][3])
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_mirrors_match_fastdl(name):
    # the benchmark's result check (always runs): the same weights give the same logits
    if torch is None:
        pytest.skip("torch not installed")
    ours, theirs = pair(name)
    shape = MODELS[name][2]
    if name == "inception_v4":
        shape = (3, 75, 75)        # its smallest input: the check stays cheap
    x = np.random.default_rng(2).standard_normal((2, *shape), dtype=np.float32)
    ours.eval()
    theirs.eval()
    with fastdl.no_grad():
        a = ours(fastdl.Tensor(x)).data
    with torch.no_grad():
        b = theirs(torch.from_numpy(x)).numpy()
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max() + 1e-6


def time_rotated(cases, rounds=5, settle=0.05):
    """Median seconds per call; each round runs every case once after an untimed call,
    the order rotating between rounds (as bench_gemm.time_rotated)."""
    names = list(cases)
    times = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            time.sleep(settle)
            cases[n]()
            t0 = time.perf_counter()
            cases[n]()
            times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(v)) for n, v in times.items()}


def profile(run, top=12):
    """fastdl's time per function (cProfile, tottime) for one call of ``run``."""
    import cProfile
    import io
    import pstats

    run()
    pr = cProfile.Profile()
    pr.enable()
    run()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats("tottime").print_stats(top)
    return s.getvalue()


def main(argv=None):
    import sys

    argv = sys.argv[1:] if argv is None else argv
    show_profile = "--profile" in argv
    print(f"fastdl {fastdl.__version__} ({fastdl.build_info()['simd']}), "
          f"torch {torch.__version__ if torch else 'not installed'}")
    print("median seconds of 5 rounds (the libraries taking turns); ratio = fastdl / torch")
    print(f"{'row':>30} {'thr':>3} {'fastdl s':>10} {'torch s':>10} {'ratio':>7}")
    slow = []
    for nt in (1, 2):
        with all_threads(nt):
            for name, mode, batch in ROWS:
                cases = {i: make_step(i, name, mode, batch) for i in IMPLS}
                med = time_rotated(cases)
                t_torch = med.get("torch", float("nan"))
                ratio = med["fastdl"] / t_torch
                print(f"{name + '-' + mode + '-b' + str(batch):>30} {nt:>3} "
                      f"{med['fastdl']:>10.4f} {t_torch:>10.4f} {ratio:>7.2f}", flush=True)
                if ratio > 1.0:
                    slow.append((name, mode, batch, nt, cases["fastdl"]))
    if show_profile:
        for name, mode, batch, nt, run in slow:
            with all_threads(nt):
                print(f"\n--- fastdl profile: {name} {mode} batch {batch}, {nt} thread(s)")
                print(profile(run))


if __name__ == "__main__":
    main()
