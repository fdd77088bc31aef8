"""Tests for fastdl.optim.lr_scheduler (torch parity, closed forms, state, errors)."""

import copy
import math
import pathlib
import pickle
import warnings

import numpy as np
import pytest

from fastdl.optim import lr_scheduler

RTOL = 1e-12

SGD_GROUPS = [{"lr": 0.1, "momentum": 0.9}, {"lr": 0.025, "momentum": 0.8}]
ADAM_GROUPS = [
    {"lr": 0.1, "betas": (0.9, 0.999)},
    {"lr": 0.025, "betas": (0.8, 0.99)},
]


class FakeOptimizer:
    """Minimal torch.optim-compatible optimizer: only ``param_groups``."""

    def __init__(self, groups):
        self.param_groups = copy.deepcopy(groups)


def _torch_optimizer(torch, groups):
    spec = []
    for g in groups:
        spec.append({"params": [torch.nn.Parameter(torch.zeros(1))], **g})
    if "betas" in groups[0]:
        return torch.optim.Adam(spec)
    return torch.optim.SGD(spec)


def _assert_close(a, b, what):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=0, err_msg=what)


def _compare_groups(ours, theirs, keys, what):
    for i, (g, tg) in enumerate(zip(ours.param_groups, theirs.param_groups)):
        for key in keys:
            if key in tg:
                assert key in g, f"{what}: group {i} lacks {key!r}"
                _assert_close(g[key], tg[key], f"{what}: group {i} {key}")


# (scheduler name, kwargs, groups, number of steps after construction)
PARITY_CASES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}, SGD_GROUPS, 60),
    ("StepLR", {"step_size": 1, "gamma": 0.9}, ADAM_GROUPS, 55),
    ("MultiStepLR", {"milestones": [3, 10, 10, 25, 41], "gamma": 0.3}, SGD_GROUPS, 60),
    ("ExponentialLR", {"gamma": 0.93}, SGD_GROUPS, 60),
    ("CosineAnnealingLR", {"T_max": 20, "eta_min": 1e-3}, SGD_GROUPS, 70),
    ("CosineAnnealingLR", {"T_max": 7}, ADAM_GROUPS, 60),
    ("LinearLR", {}, SGD_GROUPS, 55),
    ("LinearLR", {"start_factor": 0.25, "end_factor": 0.5, "total_iters": 12}, SGD_GROUPS, 60),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 30}, ADAM_GROUPS, 60),
    ("OneCycleLR", {"max_lr": [1.0, 0.5], "total_steps": 60}, SGD_GROUPS, 60),
    (
        "OneCycleLR",
        {"max_lr": 0.3, "epochs": 6, "steps_per_epoch": 11, "anneal_strategy": "linear"},
        ADAM_GROUPS,
        66,
    ),
    (
        "OneCycleLR",
        {
            "max_lr": 0.4,
            "total_steps": 57,
            "three_phase": True,
            "pct_start": 0.25,
            "base_momentum": [0.8, 0.7],
            "max_momentum": (0.97, 0.9),
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
        ADAM_GROUPS,
        57,
    ),
    ("OneCycleLR", {"max_lr": 0.2, "total_steps": 50, "cycle_momentum": False}, SGD_GROUPS, 50),
]

GROUP_KEYS = ("lr", "initial_lr", "momentum", "betas", "max_lr", "min_lr",
              "max_momentum", "base_momentum")


def _case_id(case):
    return f"{case[0]}-{'-'.join(f'{k}={v}' for k, v in case[1].items())}"


@pytest.mark.parametrize("case", PARITY_CASES, ids=[_case_id(c) for c in PARITY_CASES])
def test_parity_with_torch(case):
    torch = pytest.importorskip("torch")
    name, kwargs, groups, n_steps = case
    opt = FakeOptimizer(groups)
    topt = _torch_optimizer(torch, groups)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)

    assert set(sched.state_dict()) == set(tsched.state_dict())
    for step in range(n_steps + 1):
        what = f"{name} step {step}"
        assert sched.last_epoch == tsched.last_epoch, what
        last = sched.get_last_lr()
        assert isinstance(last, list) and all(isinstance(v, float) for v in last)
        _assert_close(last, tsched.get_last_lr(), what)
        _compare_groups(opt, topt, GROUP_KEYS, what)
        _assert_close(sched.base_lrs, tsched.base_lrs, what)
        if step < n_steps:
            topt.step()  # keep torch's "scheduler before optimizer" check quiet
            sched.step()
            tsched.step()
    if name == "OneCycleLR":
        with pytest.raises(ValueError, match="total steps"):
            sched.step()
        with pytest.raises(ValueError, match="total steps"):
            tsched.step()


def _plateau_metrics():
    seq = [1.0 - 0.01 * i for i in range(10)]          # improving
    seq += [0.9] * 15                                   # flat plateau
    seq += [0.9 - 1e-6 * i for i in range(10)]          # below rel threshold
    seq += [2.0] * 5                                    # worse
    seq += [0.5 - 0.05 * i for i in range(5)]           # big improvements
    seq += [0.3, 0.31, 0.3, 0.29999, 0.35] * 4          # noisy plateau
    return seq


PLATEAU_CASES = [
    ({}, SGD_GROUPS),
    ({"patience": 3, "cooldown": 2, "factor": 0.5, "min_lr": [1e-3, 1e-4]}, SGD_GROUPS),
    ({"mode": "max", "threshold_mode": "abs", "threshold": 0.1, "patience": 0}, ADAM_GROUPS),
    ({"mode": "max", "patience": 1, "factor": 0.0, "min_lr": 0.02}, SGD_GROUPS),
    ({"patience": 2, "factor": 0.9, "eps": 0.004, "threshold_mode": "abs"}, SGD_GROUPS),
    ({"threshold": 0.0, "threshold_mode": "abs", "patience": 2}, ADAM_GROUPS),  # ties
    ({"threshold": 0.0, "patience": 3, "factor": 0.3}, SGD_GROUPS),  # ties, rel
    ({"mode": "max", "threshold": 0.0, "patience": 4, "cooldown": 3}, SGD_GROUPS),
]


@pytest.mark.parametrize("kwargs,groups", PLATEAU_CASES)
def test_reduce_on_plateau_parity_with_torch(kwargs, groups):
    torch = pytest.importorskip("torch")
    opt = FakeOptimizer(groups)
    topt = _torch_optimizer(torch, groups)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    assert set(sched.state_dict()) == set(tsched.state_dict())
    sign = -1.0 if kwargs.get("mode") == "max" else 1.0
    metrics = [sign * m for m in _plateau_metrics()]
    assert len(metrics) >= 50
    lrs_seen = set()
    for i, m in enumerate(metrics):
        sched.step(m)
        tsched.step(m)
        what = f"plateau step {i}"
        _assert_close(sched.get_last_lr(), tsched.get_last_lr(), what)
        _compare_groups(opt, topt, ("lr",), what)
        assert sched.num_bad_epochs == tsched.num_bad_epochs, what
        assert sched.cooldown_counter == tsched.cooldown_counter, what
        assert sched.best == tsched.best, what
        assert sched.last_epoch == tsched.last_epoch, what
        lrs_seen.add(tuple(sched.get_last_lr()))
    assert len(lrs_seen) > 1  # the sequence actually triggered reductions


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("StepLR", {"step_size": 4, "gamma": 0.5}),
        ("MultiStepLR", {"milestones": [2, 5, 5], "gamma": 0.5}),
        ("ExponentialLR", {"gamma": 0.9}),
        ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.01}),
        ("LinearLR", {"start_factor": 0.5, "total_iters": 6}),
    ],
)
def test_deprecated_epoch_argument_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    opt = FakeOptimizer(SGD_GROUPS)
    topt = _torch_optimizer(torch, SGD_GROUPS)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    topt.step()
    for epoch in (3, 7, 1, 12):
        with pytest.warns(UserWarning, match="deprecated"):
            sched.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tsched.step(epoch)
        assert sched.last_epoch == epoch
        _assert_close(sched.get_last_lr(), tsched.get_last_lr(), f"{name} epoch {epoch}")


# --------------------------------------------------------------------------
# closed-form checks (no torch)
# --------------------------------------------------------------------------
def _run(sched, n):
    out = [list(sched.get_last_lr())]
    for _ in range(n):
        sched.step()
        out.append(list(sched.get_last_lr()))
    return np.array(out)


def test_steplr_closed_form():
    opt = FakeOptimizer(SGD_GROUPS)
    lrs = _run(lr_scheduler.StepLR(opt, step_size=5, gamma=0.3), 60)
    base = np.array([g["lr"] for g in SGD_GROUPS])
    t = np.arange(61)[:, None]
    np.testing.assert_allclose(lrs, base * 0.3 ** (t // 5), rtol=1e-12)
    assert opt.param_groups[1]["lr"] == lrs[-1, 1]


def test_exponentiallr_closed_form():
    opt = FakeOptimizer(ADAM_GROUPS)
    lrs = _run(lr_scheduler.ExponentialLR(opt, gamma=0.95), 60)
    base = np.array([g["lr"] for g in ADAM_GROUPS])
    t = np.arange(61)[:, None]
    np.testing.assert_allclose(lrs, base * 0.95**t, rtol=1e-12)
    assert [g["betas"] for g in opt.param_groups] == [g["betas"] for g in ADAM_GROUPS]


def test_multisteplr_closed_form():
    opt = FakeOptimizer(SGD_GROUPS)
    lrs = _run(lr_scheduler.MultiStepLR(opt, milestones=[30, 4, 12, 12], gamma=0.5), 40)
    base = np.array([g["lr"] for g in SGD_GROUPS])
    for t in range(41):
        n = (t >= 4) + 2 * (t >= 12) + (t >= 30)
        np.testing.assert_allclose(lrs[t], base * 0.5**n, rtol=1e-12)


def test_cosine_closed_form():
    opt = FakeOptimizer(SGD_GROUPS)
    eta_min, T = 0.001, 25
    lrs = _run(lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min), 2 * T)
    base = np.array([g["lr"] for g in SGD_GROUPS])
    t = np.arange(2 * T + 1)[:, None]
    expected = eta_min + (base - eta_min) * (1 + np.cos(np.pi * t / T)) / 2
    np.testing.assert_allclose(lrs, expected, rtol=1e-9, atol=1e-15)
    assert lrs[T] == pytest.approx([eta_min, eta_min], rel=1e-9)


def test_linearlr_closed_form():
    opt = FakeOptimizer(SGD_GROUPS)
    lrs = _run(lr_scheduler.LinearLR(opt, start_factor=0.2, end_factor=0.9, total_iters=8), 20)
    base = np.array([g["lr"] for g in SGD_GROUPS])
    for t in range(21):
        factor = 0.2 + 0.7 * min(t, 8) / 8
        np.testing.assert_allclose(lrs[t], base * factor, rtol=1e-12)


def test_onecycle_closed_form_and_beta1():
    groups = [{"lr": 1.0, "betas": (0.9, 0.999)}, {"lr": 1.0, "betas": (0.5, 0.98)}]
    opt = FakeOptimizer(groups)
    total, pct, max_lr = 40, 0.25, 0.8
    sched = lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct)
    lo, floor = max_lr / 25.0, max_lr / 25.0 / 1e4
    up_end = pct * total - 1  # 9
    for t in range(total + 1):
        if t <= up_end:
            frac = t / up_end
            lr = max_lr - (max_lr - lo) * (1 + math.cos(math.pi * frac)) / 2
            mom = 0.85 + (0.95 - 0.85) * (1 + math.cos(math.pi * frac)) / 2
        else:
            frac = (t - up_end) / (total - 1 - up_end)
            lr = floor + (max_lr - floor) * (1 + math.cos(math.pi * frac)) / 2
            mom = 0.95 - (0.95 - 0.85) * (1 + math.cos(math.pi * frac)) / 2
        for g, g0 in zip(opt.param_groups, groups):
            assert g["lr"] == pytest.approx(lr, rel=1e-12), t
            assert g["betas"][0] == pytest.approx(mom, rel=1e-12), t
            assert g["betas"][1] == g0["betas"][1]  # beta2 untouched
            assert isinstance(g["betas"], tuple)
            assert "momentum" not in g
            if t == up_end:  # peak: max lr, base momentum
                assert (g["lr"], g["betas"][0]) == pytest.approx((max_lr, 0.85))
            if t == total - 1:  # end of cycle: floor lr, max momentum
                assert (g["lr"], g["betas"][0]) == pytest.approx((floor, 0.95))
        if t < total:  # like torch, stepping up to last_epoch == total is allowed
            sched.step()
    with pytest.raises(ValueError, match=f"Tried to step {total + 1} times"):
        sched.step()


def test_onecycle_sgd_momentum_and_past_total_steps():
    opt = FakeOptimizer(SGD_GROUPS)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert opt.param_groups[0]["momentum"] == 0.95
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 25.0)
    moms = [opt.param_groups[1]["momentum"]]
    for _ in range(9):
        sched.step()
        moms.append(opt.param_groups[1]["momentum"])
    assert min(moms) == pytest.approx(0.85) and moms[-1] == pytest.approx(0.95)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 25.0 / 1e4)
    sched.step()  # last_epoch == total_steps is still accepted (as in torch)
    for _ in range(2):  # keeps raising
        with pytest.raises(ValueError, match="total steps is 10"):
            sched.step()


def test_onecycle_requires_momentum_or_betas():
    opt = FakeOptimizer([{"lr": 0.1}])
    with pytest.raises(ValueError, match="momentum or beta1"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, cycle_momentum=False)
    sched.step()
    assert "momentum" not in opt.param_groups[0]


def test_reduce_on_plateau_by_hand():
    opt = FakeOptimizer(SGD_GROUPS)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5, min_lr=[0.0, 0.02])
    assert sched.get_last_lr() == [0.1, 0.025]
    for _ in range(3):  # best set, then 2 bad epochs: still within patience
        sched.step(1.0)
    assert sched.get_last_lr() == [0.1, 0.025]
    sched.step(np.float64(1.0))  # 3rd bad epoch > patience
    assert sched.get_last_lr() == [0.05, 0.02]  # second group clamped at min_lr
    sched.step(np.array(0.5))  # improvement resets
    assert sched.num_bad_epochs == 0 and sched.best == 0.5
    for _ in range(3):
        sched.step(0.5)
    assert sched.get_last_lr() == [0.025, 0.02]
    assert all(isinstance(v, float) for v in sched.get_last_lr())


def test_reduce_on_plateau_max_mode_and_cooldown():
    opt = FakeOptimizer([{"lr": 1.0}])
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, cooldown=2)
    sched.step(1.0)
    sched.step(0.5)  # bad -> reduce, enter cooldown
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    sched.step(0.5)
    sched.step(0.5)  # still cooling down
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    sched.step(0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


# --------------------------------------------------------------------------
# base-class behaviour
# --------------------------------------------------------------------------
def test_initial_lr_and_resume():
    opt = FakeOptimizer(SGD_GROUPS)
    sched = lr_scheduler.StepLR(opt, step_size=2)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.025]
    assert sched.base_lrs == [0.1, 0.025] and sched.last_epoch == 0
    for _ in range(2):
        sched.step()
    # a second scheduler keeps the recorded initial_lr (setdefault)
    sched2 = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert sched2.base_lrs == [0.1, 0.025]
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(FakeOptimizer(SGD_GROUPS), step_size=2, last_epoch=3)


def test_get_lr_outside_step_warns():
    sched = lr_scheduler.ExponentialLR(FakeOptimizer(SGD_GROUPS), gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


def test_not_an_optimizer():
    with pytest.raises(TypeError, match="param_groups"):
        lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(TypeError, match="param_groups"):
        lr_scheduler.ReduceLROnPlateau(object())


ROUNDTRIP_CASES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}, SGD_GROUPS),
    ("MultiStepLR", {"milestones": [5, 15, 30], "gamma": 0.2}, SGD_GROUPS),
    ("ExponentialLR", {"gamma": 0.9}, ADAM_GROUPS),
    ("CosineAnnealingLR", {"T_max": 12, "eta_min": 0.001}, SGD_GROUPS),
    ("LinearLR", {"start_factor": 0.1, "total_iters": 30}, SGD_GROUPS),
    ("OneCycleLR", {"max_lr": [0.5, 0.2], "total_steps": 50}, ADAM_GROUPS),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 50, "three_phase": True}, SGD_GROUPS),
]


@pytest.mark.parametrize("name,kwargs,groups", ROUNDTRIP_CASES,
                         ids=[c[0] for c in ROUNDTRIP_CASES])
def test_state_dict_round_trip(name, kwargs, groups):
    cls = getattr(lr_scheduler, name)
    n, k = 50, 17

    ref_opt = FakeOptimizer(groups)
    ref = cls(ref_opt, **kwargs)
    ref_lrs, ref_groups = [], []
    for _ in range(n):
        ref.step()
        ref_lrs.append(list(ref.get_last_lr()))
        ref_groups.append(copy.deepcopy(ref_opt.param_groups))

    opt = FakeOptimizer(groups)
    sched = cls(opt, **kwargs)
    for _ in range(k):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state
    state = pickle.loads(pickle.dumps(state))
    saved_groups = copy.deepcopy(opt.param_groups)

    # resume: fresh optimizer + scheduler, then the optimizer's own state is
    # restored (as optimizer.load_state_dict would) and the scheduler's loaded
    opt2 = FakeOptimizer(groups)
    sched2 = cls(opt2, **kwargs)
    opt2.param_groups = saved_groups
    sched2.load_state_dict(state)
    assert sched2.optimizer is opt2
    assert sched2.last_epoch == k
    for i in range(k, n):
        sched2.step()
        assert sched2.get_last_lr() == ref_lrs[i], f"step {i + 1}"
        assert opt2.param_groups == ref_groups[i], f"step {i + 1}"


def test_reduce_on_plateau_state_dict_round_trip():
    kwargs = {"patience": 1, "cooldown": 1, "factor": 0.5, "mode": "max"}
    metrics = [-m for m in _plateau_metrics()]
    ref_opt = FakeOptimizer(SGD_GROUPS)
    ref = lr_scheduler.ReduceLROnPlateau(ref_opt, **kwargs)
    ref_lrs = []
    for m in metrics:
        ref.step(m)
        ref_lrs.append(list(ref.get_last_lr()))
    assert len(set(map(tuple, ref_lrs))) > 2

    for k in (12, 27, 41):  # mid-plateau, mid-cooldown etc.
        opt = FakeOptimizer(SGD_GROUPS)
        sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        for m in metrics[:k]:
            sched.step(m)
        state = pickle.loads(pickle.dumps(sched.state_dict()))
        assert "optimizer" not in state
        opt2 = FakeOptimizer(SGD_GROUPS)
        opt2.param_groups = copy.deepcopy(opt.param_groups)
        sched2 = lr_scheduler.ReduceLROnPlateau(opt2)  # default args; state overrides
        sched2.load_state_dict(state)
        assert sched2.mode == "max" and sched2.mode_worse == -math.inf
        for i in range(k, len(metrics)):
            sched2.step(metrics[i])
            assert sched2.get_last_lr() == ref_lrs[i], (k, i)


# --------------------------------------------------------------------------
# argument validation
# --------------------------------------------------------------------------
BAD_ARGS = [
    ("StepLR", {"step_size": 2.5}, TypeError, "step_size"),
    ("StepLR", {"step_size": "3"}, TypeError, "step_size"),
    ("StepLR", {"step_size": 0}, ValueError, "step_size"),
    ("StepLR", {"step_size": 3, "gamma": "0.1"}, TypeError, "gamma"),
    ("MultiStepLR", {"milestones": 5}, TypeError, "milestones"),
    ("MultiStepLR", {"milestones": [1, 2.5]}, TypeError, "milestones"),
    ("MultiStepLR", {"milestones": [1, 2], "gamma": None}, TypeError, "gamma"),
    ("ExponentialLR", {"gamma": [0.9]}, TypeError, "gamma"),
    ("CosineAnnealingLR", {"T_max": 0}, ValueError, "T_max"),
    ("CosineAnnealingLR", {"T_max": "10"}, TypeError, "T_max"),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": "0"}, TypeError, "eta_min"),
    ("LinearLR", {"start_factor": 0.0}, ValueError, "start_factor"),
    ("LinearLR", {"start_factor": 1.5}, ValueError, "start_factor"),
    ("LinearLR", {"end_factor": -0.1}, ValueError, "end_factor"),
    ("LinearLR", {"end_factor": 1.01}, ValueError, "end_factor"),
    ("LinearLR", {"total_iters": 0}, ValueError, "total_iters"),
    ("LinearLR", {"total_iters": 2.0}, TypeError, "total_iters"),
    ("OneCycleLR", {"max_lr": 1.0}, ValueError, "total_steps"),
    ("OneCycleLR", {"max_lr": 1.0, "epochs": 3}, ValueError, "steps_per_epoch"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 0}, ValueError, "total_steps"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 5.0}, ValueError, "total_steps"),
    ("OneCycleLR", {"max_lr": 1.0, "epochs": 0, "steps_per_epoch": 3}, ValueError, "epochs"),
    ("OneCycleLR", {"max_lr": 1.0, "epochs": 2, "steps_per_epoch": -1}, ValueError,
     "steps_per_epoch"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "pct_start": 1.5}, ValueError,
     "pct_start"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "pct_start": 1}, ValueError,
     "pct_start"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "anneal_strategy": "exp"}, ValueError,
     "anneal_strategy"),
    ("OneCycleLR", {"max_lr": [1.0, 2.0, 3.0], "total_steps": 10}, ValueError, "max_lr"),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "base_momentum": [0.8]}, ValueError,
     "base_momentum"),
    ("ReduceLROnPlateau", {"factor": 1.0}, ValueError, "factor"),
    ("ReduceLROnPlateau", {"factor": 2}, ValueError, "factor"),
    ("ReduceLROnPlateau", {"factor": "0.5"}, TypeError, "factor"),
    ("ReduceLROnPlateau", {"mode": "average"}, ValueError, "mode"),
    ("ReduceLROnPlateau", {"threshold_mode": "pct"}, ValueError, "threshold_mode"),
    ("ReduceLROnPlateau", {"min_lr": [0.1]}, ValueError, "min_lr"),
]


@pytest.mark.parametrize("name,kwargs,exc,match", BAD_ARGS,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(BAD_ARGS)])
def test_bad_arguments(name, kwargs, exc, match):
    opt = FakeOptimizer(SGD_GROUPS)
    before = copy.deepcopy(opt.param_groups)
    with pytest.raises(exc, match=match):
        getattr(lr_scheduler, name)(opt, **kwargs)
    if name != "OneCycleLR":  # validation happens before touching the optimizer
        assert opt.param_groups == before


# Cases where torch itself rejects the argument: the exception type must agree.
TORCH_REJECTS = [
    ("LinearLR", {"start_factor": 0.0}),
    ("LinearLR", {"end_factor": 1.01}),
    ("OneCycleLR", {"max_lr": 1.0}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 0}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "pct_start": 1}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 10, "anneal_strategy": "exp"}),
    ("OneCycleLR", {"max_lr": [1.0, 2.0, 3.0], "total_steps": 10}),
    ("ReduceLROnPlateau", {"factor": 1.0}),
    ("ReduceLROnPlateau", {"mode": "average"}),
    ("ReduceLROnPlateau", {"min_lr": [0.1]}),
]


@pytest.mark.parametrize("name,kwargs", TORCH_REJECTS)
def test_error_types_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    with pytest.raises(Exception) as theirs:
        getattr(torch.optim.lr_scheduler, name)(_torch_optimizer(torch, SGD_GROUPS), **kwargs)
    with pytest.raises(Exception) as ours:
        getattr(lr_scheduler, name)(FakeOptimizer(SGD_GROUPS), **kwargs)
    assert ours.type is theirs.type


def test_module_is_standalone():
    src = pathlib.Path(lr_scheduler.__file__).read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in src.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {"__future__", "math", "numbers", "warnings", "bisect",
                       "collections", "numpy"}, imports
    assert set(lr_scheduler.__all__) == {
        "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
        "LinearLR", "OneCycleLR", "ReduceLROnPlateau",
    }
