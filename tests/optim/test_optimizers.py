"""Tests for the first-order optimizers of fastdl.optim (torch.optim parity, state, errors)."""

import contextlib
import copy
import pickle

import numpy as np
import pytest

import fastdl
from fastdl import optim
from fastdl.nn import Parameter
from fastdl.optim import lr_scheduler

# name -> (constructor defaults, options of the second group). Both groups mix float32
# and float64 params; the options between them cover every branch of each update.
# "<class>-<variant>" names a second case of one class.
CASES = {
    "SGD": (dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
            dict(lr=0.02, momentum=0.8, dampening=0, nesterov=True, maximize=True)),
    "SGD-plain": (dict(lr=0.1, weight_decay=0.01), dict(lr=0.03, maximize=True)),
    "Adagrad": (dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
                dict(weight_decay=0.1, eps=1e-6, maximize=True)),
    "Adadelta": (dict(lr=0.5, rho=0.8),
                 dict(weight_decay=0.1, eps=1e-5, maximize=True)),
    "RMSprop": (dict(lr=0.01, momentum=0.9, centered=True),
                dict(alpha=0.9, eps=1e-4, weight_decay=0.1, centered=False, momentum=0,
                     maximize=True)),
    "Adam": (dict(lr=0.01, amsgrad=True),
             dict(betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1, maximize=True)),
    "AdamW": (dict(lr=0.01),
              dict(amsgrad=True, weight_decay=0.5, betas=(0.85, 0.95), eps=1e-4)),
    "NAdam": (dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1),
              dict(weight_decay=0.05, momentum_decay=0.01, betas=(0.85, 0.99), eps=1e-4,
                   decoupled_weight_decay=False, maximize=True)),
}
NAMES = list(CASES)
SPECS = [[((3, 4), np.float32), ((5,), np.float64)],
         [((2, 3), np.float64), ((7,), np.float32), ((), np.float64)]]
N_STEPS = 32


def _skipped(k, gi, i):
    """Params whose grad is None at step k (so their step counts drift apart)."""
    return (gi, i) == (0, 1) and k % 4 == 1 or (gi, i) == (1, 0) and k < 3


def _problem(seed=0, n_steps=N_STEPS):
    """Initial param arrays per group and, per step, the grads (None where skipped)."""
    rng = np.random.default_rng(seed)
    init = [[rng.standard_normal(s).astype(dt) for s, dt in g] for g in SPECS]
    grads = [[[None if _skipped(k, gi, i) else rng.standard_normal(s).astype(dt)
               for i, (s, dt) in enumerate(g)] for gi, g in enumerate(SPECS)]
             for k in range(n_steps)]
    return init, grads


def _make(name, init, **kwargs):
    """A fastdl optimizer over fresh Parameters holding copies of ``init``."""
    defaults, group2 = CASES[name]
    params = [[Parameter(a.copy()) for a in g] for g in init]
    groups = [{"params": params[0]}, {"params": params[1], **group2}]
    return getattr(optim, name.split("-")[0])(groups, foreach=False, **{**defaults, **kwargs}), params


def _run(opt, params, grads, sched=None):
    for step_grads in grads:
        for ps, gs in zip(params, step_grads):
            for p, g in zip(ps, gs):
                p.grad = None if g is None else g.copy()
        opt.step()
        if sched is not None:
            sched.step()


@contextlib.contextmanager
def _torch_float64(torch):
    # torch keeps NAdam's mu_product in its default dtype; fastdl keeps it in double.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _torch_run(torch, name, init, grads, sched=None, **kwargs):
    defaults, group2 = CASES[name]
    params = [[torch.nn.Parameter(torch.from_numpy(a.copy())) for a in g] for g in init]
    groups = [{"params": params[0]}, {"params": params[1], **group2}]
    opt = getattr(torch.optim, name.split("-")[0])(groups, foreach=False, **{**defaults, **kwargs})
    sch = None if sched is None else sched[0](opt, **sched[1])
    for step_grads in grads:
        for ps, gs in zip(params, step_grads):
            for p, g in zip(ps, gs):
                p.grad = None if g is None else torch.from_numpy(g.copy())
        opt.step()
        if sch is not None:
            sch.step()
    return opt, params


def _assert_close(ours, theirs, what=""):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, what
    assert ours.flags.c_contiguous, what
    if ours.dtype == np.float64:
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14, err_msg=what)
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=what)


def _assert_matches_torch(opt, params, topt, tparams):
    for gi, (ps, tps) in enumerate(zip(params, tparams)):
        for i, (p, tp) in enumerate(zip(ps, tps)):
            what = f"group {gi} param {i}"
            _assert_close(p.data, tp, what)
            state, tstate = opt.state.get(p, {}), topt.state.get(tp, {})
            assert list(state) == list(tstate), what
            for key, tval in tstate.items():
                if key == "step":
                    assert isinstance(state[key], int) and state[key] == tval.item(), what
                elif key == "mu_product":
                    assert state[key] == pytest.approx(tval.item(), rel=1e-13), what
                else:
                    _assert_close(state[key], tval, f"{what} {key}")


@pytest.mark.parametrize("name", NAMES)
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    init, grads = _problem()
    opt, params = _make(name, init)
    data0 = params[0][0].data
    _run(opt, params, grads)
    assert params[0][0].data is data0  # updated in place
    with _torch_float64(torch):
        topt, tparams = _torch_run(torch, name, init, grads)
    _assert_matches_torch(opt, params, topt, tparams)
    # state_dict: torch's structure (state indices and keys, group options, params)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for k, entries in sd["state"].items():
        assert list(entries) == list(tsd["state"][k])
    assert sd["param_groups"] == tsd["param_groups"]
    assert [list(g) for g in sd["param_groups"]] == [list(g) for g in tsd["param_groups"]]
    assert opt.defaults == topt.defaults
    assert repr(opt) == repr(topt)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_resume_is_bitwise(name):
    init, grads = _problem(seed=1)
    straight, sp = _make(name, init)
    _run(straight, sp, grads)

    first, fp = _make(name, init)
    _run(first, fp, grads[:13])
    mid = [[p.data.copy() for p in g] for g in fp]
    sd = pickle.loads(pickle.dumps(first.state_dict()))
    live = first.state_dict()
    _run(first, fp, grads[13:])  # the state_dict holds copies: stepping leaves it alone
    for k, entries in live["state"].items():
        for key, v in entries.items():
            assert np.array_equal(v, sd["state"][k][key])
    resumed, rp = _make(name, mid, lr=123.0)
    resumed.load_state_dict(sd)
    assert resumed.param_groups[0]["lr"] == CASES[name][0]["lr"]  # options restored
    _run(resumed, rp, grads[13:])
    for opt, params in ((first, fp), (resumed, rp)):
        for ps, sps in zip(params, sp):
            for p, q in zip(ps, sps):
                assert np.array_equal(p.data, q.data)
                assert set(opt.state[p]) == set(straight.state[q])
                for key, v in straight.state[q].items():
                    assert np.array_equal(opt.state[p][key], v), key


def test_load_state_dict_casts_and_validates():
    init, grads = _problem()
    opt, params = _make("Adam", init)
    _run(opt, params, grads[:4])
    sd = opt.state_dict()
    fresh, fparams = _make("Adam", init)
    sd32 = copy.deepcopy(sd)
    sd32["state"][1]["exp_avg"] = np.asfortranarray(sd32["state"][1]["exp_avg"].astype(np.float32))
    fresh.load_state_dict(sd32)
    loaded = fresh.state[fparams[0][1]]["exp_avg"]
    assert loaded.dtype == np.float64 and loaded.flags.c_contiguous
    assert loaded is not sd32["state"][1]["exp_avg"]

    before = fresh.state_dict()
    bad_shape = copy.deepcopy(sd)
    bad_shape["state"][4]["exp_avg_sq"] = np.zeros(3)
    extra = copy.deepcopy(sd)
    extra["state"][9] = {"step": 1}
    errors = [
        ({"state": {}, "param_groups": sd["param_groups"][:1]}, "number of parameter groups"),
        ({"state": {}, "param_groups": [sd["param_groups"][0],
                                        {**sd["param_groups"][1], "params": [2, 3]}]},
         "doesn't match the size"),
        (bad_shape, r"state\[4\]\['exp_avg_sq'\] has shape \(3,\)"),
        (extra, "parameter 9"),
    ]
    for bad, match in errors:
        with pytest.raises(ValueError, match=match):
            fresh.load_state_dict(bad)
        after = fresh.state_dict()
        assert after["param_groups"] == before["param_groups"]
        for k, entries in before["state"].items():
            for key, v in entries.items():
                assert np.array_equal(after["state"][k][key], v)


def test_zero_grad():
    p, q = Parameter(np.ones(3)), Parameter(np.ones(2, dtype=np.float32))
    opt = optim.SGD([p, q], lr=0.1)
    p.grad = np.full(3, 2.0)
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.array_equal(g, np.zeros(3)) and q.grad is None
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_step_closure_returns_loss():
    p = Parameter(np.array([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        p.grad = 2 * p.data  # d/dp of |p|^2
        return float(np.sum(p.data**2))

    assert opt.step(closure) == 5.0
    np.testing.assert_array_equal(p.data, [0.0, 0.0])
    assert opt.step() is None


def _torch_error(torch, make):
    with pytest.raises(ValueError) as info:
        make(torch)
    return str(info.value)


P = np.ones(2)
CTOR_ERRORS = [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("SGD", dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1),
     "Invalid initial_accumulator_value value: -1"),
    ("Adagrad", dict(eps=-1), "Invalid epsilon value: -1"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("RMSprop", dict(alpha=-1), "Invalid alpha value: -1"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(betas=(0, 0.999)), "betas must be either both floats or both Tensors"),
    ("AdamW", dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    ("NAdam", dict(momentum_decay=-1), "Invalid momentum_decay value: -1"),
    ("NAdam", dict(lr=-0.5), "Invalid learning rate: -0.5"),
]


@pytest.mark.parametrize("name, kwargs, message", CTOR_ERRORS)
def test_constructor_errors_as_torch(name, kwargs, message):
    with pytest.raises(ValueError) as info:
        getattr(optim, name)([Parameter(P)], **kwargs)
    assert str(info.value).startswith(message)
    try:
        import torch
    except ImportError:
        return
    theirs = _torch_error(torch, lambda t: getattr(t.optim, name)(
        [t.nn.Parameter(t.ones(2))], **kwargs))
    assert str(info.value) == theirs


def test_param_list_errors():
    p = Parameter(P)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [Parameter(P), p]}])
    with pytest.raises(ValueError, match="duplicate parameters"):
        optim.SGD([p, p])
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)])
    for name, arg in [("Adam", "capturable"), ("RMSprop", "differentiable"),
                      ("Adadelta", "capturable"), ("SGD", "differentiable")]:
        with pytest.raises(ValueError, match=f"{arg}=True is not supported"):
            getattr(optim, name)([p], **{arg: True})
    opt = optim.SGD([p], lr=0.1, foreach=True, fused=True)  # accepted, ignored
    q = Parameter(np.ones(3, dtype=np.float32))
    opt.add_param_group({"params": q, "momentum": 0.5})
    assert opt.param_groups[1]["params"] == [q] and opt.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match="Invalid momentum value"):
        opt.add_param_group({"params": [Parameter(P)], "momentum": -1})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("warm", [0, 3])
@pytest.mark.parametrize("bad", ["shape", "dtype", "type"])
def test_bad_grad_in_last_group_changes_nothing(name, warm, bad):
    init, grads = _problem()
    opt, params = _make(name, init)
    _run(opt, params, grads[:warm])
    for ps, gs in zip(params, grads[warm]):
        for p, g in zip(ps, gs):
            p.grad = None if g is None else g.copy()
    last = params[1][1]
    last.grad = {"shape": np.zeros(8, np.float32), "dtype": np.zeros(7, np.float64),
                 "type": [0.0] * 7}[bad]
    before = copy.deepcopy((opt.state_dict(), [[p.data for p in g] for g in params]))
    with pytest.raises(ValueError, match=r"param_groups\[1\]\['params'\]\[1\]: grad is"):
        opt.step()
    after = (opt.state_dict(), [[p.data for p in g] for g in params])
    assert len(opt.state) == len(before[0]["state"])
    assert after[0]["param_groups"] == before[0]["param_groups"]
    assert after[0]["state"].keys() == before[0]["state"].keys()
    for k, entries in before[0]["state"].items():
        for key, v in entries.items():
            assert np.array_equal(after[0]["state"][k][key], v)
    for ps, qs in zip(before[1], after[1]):
        for a, b in zip(ps, qs):
            assert np.array_equal(a, b)


def test_param_dtype_checked():
    t = fastdl.Tensor(np.ones(3, dtype=np.int64))
    opt = optim.SGD([t], lr=0.1)
    t.grad = np.ones(3, dtype=np.int64)
    with pytest.raises(fastdl.DTypeError, match="only float32 and float64"):
        opt.step()


def test_one_native_call_per_dtype_and_step(monkeypatch):
    calls = []
    real = fastdl.ops.adam_step
    monkeypatch.setattr(fastdl.ops, "adam_step",
                        lambda params, *a, **k: calls.append((len(params), k["step"]))
                        or real(params, *a, **k))
    ps = [Parameter(np.ones(2, dt)) for dt in (np.float32, np.float64, np.float32)]
    opt = optim.Adam(ps)
    for p in ps:
        p.grad = np.ones_like(p.data)
    opt.step()
    assert sorted(calls) == [(1, 1), (2, 1)]
    calls.clear()
    ps[0].grad = None
    opt.step()
    ps[0].grad = np.ones(2, np.float32)
    calls.clear()
    opt.step()
    assert sorted(calls) == [(1, 2), (1, 3), (1, 3)]


SCHEDULES = [
    ("SGD", "StepLR", dict(step_size=5, gamma=0.5)),
    ("Adam", "StepLR", dict(step_size=3, gamma=0.7)),
    ("SGD", "OneCycleLR", dict(max_lr=0.1, total_steps=20)),
    ("Adam", "OneCycleLR", dict(max_lr=[0.05, 0.02], total_steps=20)),
    ("RMSprop", "OneCycleLR", dict(max_lr=0.01, total_steps=20, anneal_strategy="linear")),
    ("NAdam", "OneCycleLR", dict(max_lr=0.02, total_steps=20)),
]


@pytest.mark.parametrize("name, sched, kwargs", SCHEDULES)
def test_schedulers_drive_optimizers_as_torch(name, sched, kwargs):
    torch = pytest.importorskip("torch")
    init, grads = _problem(seed=2, n_steps=20)
    opt, params = _make(name, init)
    ours = getattr(lr_scheduler, sched)(opt, **kwargs)
    seen = set()
    for k in range(20):
        _run(opt, params, grads[k:k + 1], ours)
        seen.add((opt.param_groups[1]["lr"], str(opt.param_groups[1].get("betas")),
                  opt.param_groups[1].get("momentum")))
    assert len(seen) > 2  # the schedule did change the options
    with _torch_float64(torch):
        topt, tparams = _torch_run(torch, name, init, grads,
                                   sched=(getattr(torch.optim.lr_scheduler, sched), kwargs))
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for key in ("lr", "momentum", "betas"):
            if key in tg:
                np.testing.assert_allclose(g[key], tg[key], rtol=1e-12)
    _assert_matches_torch(opt, params, topt, tparams)
