"""Tests of the NumPy reference optimizer steps (fastdl/reference/optim.py).

The update equations are checked against ``torch.optim``'s single-tensor
(``foreach=False``) implementations fed the same gradient sequence; the
validation tests need NumPy only.
"""

import copy
import pathlib
import re

import numpy as np
import pytest

from fastdl.reference import optim as ref


SHAPES = [(3,), (7, 5), (2, 3, 1, 4), (1,), ()]
N_STEPS = 30
DTYPES = [np.float64, np.float32]
TOL = {
    np.float64: dict(rtol=1e-10, atol=1e-12),
    np.float32: dict(rtol=1e-5, atol=1e-6),
}
WD = [0.0, 0.1]


# --------------------------------------------------------------------------
# torch comparison harness
# --------------------------------------------------------------------------

@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def torch_f64_default(torch):
    """Make torch keep its scalar optimizer state (NAdam's mu_product) in double."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(old)


def _odd_layout(g, k):
    """Return a copy of ``g`` in a non-C-contiguous layout (varies with ``k``)."""
    if g.ndim >= 2 and k % 2 == 0:
        out = np.asfortranarray(g)
    elif g.ndim >= 1:
        big = np.zeros(g.shape[:-1] + (2 * g.shape[-1],), dtype=g.dtype)
        out = big[..., ::2]
        out[...] = g
    else:
        out = g.copy()
    out.flags.writeable = False  # the reference must never write into grads
    return out


def _run_against_torch(torch, dtype, make_torch_opt, ref_step, state_names,
                       torch_keys, seed, grad_scale=1.0, n_steps=N_STEPS):
    """Run ``n_steps`` of the reference and of torch on the same gradients.

    ``state_names``: the reference's state lists (in positional order), each
    either used (allocated zeros) or None (passed as an empty list).
    ``torch_keys``: torch state key for each used state list.
    ``ref_step(params, grads, states, step)`` performs one reference step and
    returns its result (NAdam's mu_product) or None.
    Returns (params, states, torch_params, opt, last_result).
    """
    rng = np.random.default_rng(seed)
    params = [np.array(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = make_torch_opt(tparams)
    states = [
        [np.zeros_like(p) for p in params] if used else []
        for used in state_names
    ]
    result = None
    for t in range(1, n_steps + 1):
        grads = [
            np.array(grad_scale * rng.standard_normal(s), dtype=dtype)
            for s in SHAPES
        ]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.from_numpy(g.copy())
        opt.step()
        result = ref_step(params, [_odd_layout(g, k) for k, g in enumerate(grads)],
                          states, t)
        if t in (1, n_steps):
            _compare(torch, dtype, params, states, tparams, opt, state_names,
                     torch_keys, t)
    return params, states, tparams, opt, result


def _compare(torch, dtype, params, states, tparams, opt, state_names,
             torch_keys, t):
    tol = TOL[dtype]
    for i, (p, tp) in enumerate(zip(params, tparams)):
        assert p.dtype == dtype and p.flags.c_contiguous
        np.testing.assert_allclose(
            p, tp.detach().numpy(), **tol, err_msg=f"params[{i}] at step {t}")
        for used, arrays, key in zip(state_names, states, torch_keys):
            if not used:
                continue
            a = arrays[i]
            assert a.dtype == dtype
            np.testing.assert_allclose(
                a, opt.state[tp][key].numpy(), **tol,
                err_msg=f"state {key}[{i}] at step {t}")


# --------------------------------------------------------------------------
# SGD
# --------------------------------------------------------------------------

SGD_MOMENTUM = [  # (momentum, dampening, nesterov); torch refuses nesterov with dampening
    (0.0, 0.0, False),
    (0.9, 0.0, False),
    (0.9, 0.3, False),
    (0.9, 0.0, True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", WD)
@pytest.mark.parametrize("momentum,dampening,nesterov", SGD_MOMENTUM)
def test_sgd_matches_torch(torch, dtype, maximize, weight_decay, momentum,
                           dampening, nesterov):
    kw = dict(lr=0.05, momentum=momentum, dampening=dampening,
              weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
    used = momentum != 0

    def step(params, grads, states, t):
        return ref.sgd_step(params, grads, states[0], step=t, **kw)

    _run_against_torch(
        torch, dtype, lambda tp: torch.optim.SGD(tp, foreach=False, **kw),
        step, [used], ["momentum_buffer"], seed=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
def test_sgd_nesterov_with_dampening_matches_torch_functional(torch, dtype,
                                                              maximize):
    # torch.optim.SGD refuses this combination; its functional form does not.
    from torch.optim.sgd import sgd as torch_sgd

    kw = dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1,
              nesterov=True, maximize=maximize)
    rng = np.random.default_rng(9)
    params = [np.array(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
    bufs = [np.zeros_like(p) for p in params]
    tparams = [torch.tensor(p.copy()) for p in params]
    tbufs = [None] * len(params)
    for t in range(1, N_STEPS + 1):
        grads = [np.array(rng.standard_normal(s), dtype=dtype) for s in SHAPES]
        torch_sgd(tparams, [torch.from_numpy(g.copy()) for g in grads], tbufs,
                  foreach=False, **kw)
        ref.sgd_step(params, [_odd_layout(g, k) for k, g in enumerate(grads)],
                     bufs, step=t, **kw)
    for p, tp, b, tb in zip(params, tparams, bufs, tbufs):
        np.testing.assert_allclose(p, tp.numpy(), **TOL[dtype])
        np.testing.assert_allclose(b, tb.numpy(), **TOL[dtype])


# --------------------------------------------------------------------------
# Adagrad
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", WD)
@pytest.mark.parametrize("lr_decay", [0.0, 0.05])
def test_adagrad_matches_torch(torch, dtype, maximize, weight_decay, lr_decay):
    kw = dict(lr=0.1, lr_decay=lr_decay, weight_decay=weight_decay, eps=1e-10,
              maximize=maximize)

    def step(params, grads, states, t):
        return ref.adagrad_step(params, grads, states[0], step=t, **kw)

    _run_against_torch(
        torch, dtype, lambda tp: torch.optim.Adagrad(tp, foreach=False, **kw),
        step, [True], ["sum"], seed=2)


# --------------------------------------------------------------------------
# Adadelta
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", WD)
@pytest.mark.parametrize("lr,rho", [(1.0, 0.9), (0.5, 0.3)])
def test_adadelta_matches_torch(torch, dtype, maximize, weight_decay, lr, rho):
    kw = dict(lr=lr, rho=rho, eps=1e-6, weight_decay=weight_decay,
              maximize=maximize)

    def step(params, grads, states, t):
        return ref.adadelta_step(params, grads, states[0], states[1], **kw)

    _run_against_torch(
        torch, dtype, lambda tp: torch.optim.Adadelta(tp, foreach=False, **kw),
        step, [True, True], ["square_avg", "acc_delta"], seed=3)


# --------------------------------------------------------------------------
# RMSprop
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", WD)
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_matches_torch(torch, dtype, maximize, weight_decay, centered,
                               momentum):
    kw = dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=weight_decay,
              momentum=momentum, centered=centered, maximize=maximize)

    def step(params, grads, states, t):
        return ref.rmsprop_step(params, grads, *states, **kw)

    _run_against_torch(
        torch, dtype, lambda tp: torch.optim.RMSprop(tp, foreach=False, **kw),
        step, [True, centered, momentum > 0],
        ["square_avg", "grad_avg", "momentum_buffer"], seed=4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rmsprop_large_lerp_weight_matches_torch(torch, dtype):
    # alpha < 0.5 takes the other branch of torch's lerp formula
    kw = dict(lr=0.01, alpha=0.3, eps=1e-8, weight_decay=0.0, momentum=0.5,
              centered=True, maximize=False)

    def step(params, grads, states, t):
        return ref.rmsprop_step(params, grads, *states, **kw)

    _run_against_torch(
        torch, dtype, lambda tp: torch.optim.RMSprop(tp, foreach=False, **kw),
        step, [True, True, True],
        ["square_avg", "grad_avg", "momentum_buffer"], seed=5)


# --------------------------------------------------------------------------
# Adam / AdamW
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", WD)
@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_matches_torch(torch, dtype, maximize, weight_decay, amsgrad,
                            decoupled):
    kw = dict(lr=0.01, eps=1e-8, weight_decay=weight_decay, amsgrad=amsgrad,
              maximize=maximize, decoupled_weight_decay=decoupled)

    def step(params, grads, states, t):
        return ref.adam_step(params, grads, *states, step=t, beta1=0.9,
                             beta2=0.999, **kw)

    _run_against_torch(
        torch, dtype,
        lambda tp: torch.optim.Adam(tp, betas=(0.9, 0.999), foreach=False, **kw),
        step, [True, True, amsgrad],
        ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"], seed=6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_class_and_large_lerp_weight_match_torch(torch, dtype):
    # torch.optim.AdamW == Adam(decoupled_weight_decay=True); beta1 < 0.5
    # takes the other branch of torch's lerp formula.
    kw = dict(lr=0.02, eps=1e-8, weight_decay=0.05, amsgrad=True)

    def step(params, grads, states, t):
        return ref.adam_step(params, grads, *states, step=t, beta1=0.4,
                             beta2=0.9, decoupled_weight_decay=True, **kw)

    _run_against_torch(
        torch, dtype,
        lambda tp: torch.optim.AdamW(tp, betas=(0.4, 0.9), foreach=False, **kw),
        step, [True, True, True],
        ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"], seed=7)


# --------------------------------------------------------------------------
# NAdam
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", WD)
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("momentum_decay", [4e-3, 0.05])
def test_nadam_matches_torch(torch, dtype, maximize, weight_decay, decoupled,
                             momentum_decay):
    kw = dict(lr=0.01, eps=1e-8, weight_decay=weight_decay,
              momentum_decay=momentum_decay, decoupled_weight_decay=decoupled,
              maximize=maximize)
    # torch keeps mu_product in its default dtype (float32 unless changed);
    # the reference keeps it in double, so compare float64 runs with torch's
    # default dtype set to float64 and float32 runs with torch's default.
    old_default = torch.get_default_dtype()
    if dtype == np.float64:
        torch.set_default_dtype(torch.float64)
    mu_product = [1.0]

    def step(params, grads, states, t):
        mu_product[0] = ref.nadam_step(params, grads, *states, step=t,
                                       mu_product=mu_product[0], beta1=0.9,
                                       beta2=0.999, **kw)
        return mu_product[0]

    try:
        _, _, tparams, opt, result = _run_against_torch(
            torch, dtype,
            lambda tp: torch.optim.NAdam(tp, betas=(0.9, 0.999), foreach=False,
                                         **kw),
            step, [True, True], ["exp_avg", "exp_avg_sq"], seed=8)
    finally:
        torch.set_default_dtype(old_default)
    assert isinstance(result, float)
    mu_rtol = 1e-14 if dtype == np.float64 else 1e-6
    for tp in tparams:
        assert result == pytest.approx(float(opt.state[tp]["mu_product"]),
                                       rel=mu_rtol, abs=0)


def test_nadam_mu_product_recurrence():
    b1, md = 0.9, 4e-3
    mp = 1.0
    p, g = [np.zeros(2)], [np.ones(2)]
    m, v = [np.zeros(2)], [np.zeros(2)]
    expected = 1.0
    for t in range(1, 6):
        mp = ref.nadam_step(p, g, m, v, step=t, mu_product=mp, lr=0.1,
                            beta1=b1, momentum_decay=md)
        expected *= b1 * (1.0 - 0.5 * 0.96 ** (t * md))
        assert mp == pytest.approx(expected, rel=1e-15)


# --------------------------------------------------------------------------
# hand-checked single steps (no torch needed)
# --------------------------------------------------------------------------

def test_sgd_first_step_sets_buffer_to_decayed_grad():
    p = [np.array([1.0, 2.0])]
    g = [np.array([0.5, -1.0])]
    buf = [np.full(2, 123.0)]  # stale content must be overwritten at step 1
    ref.sgd_step(p, g, buf, lr=0.1, momentum=0.9, dampening=0.5,
                 weight_decay=0.1, step=1)
    d = np.array([0.5, -1.0]) + 0.1 * np.array([1.0, 2.0])
    np.testing.assert_allclose(buf[0], d, rtol=1e-15)
    np.testing.assert_allclose(p[0], np.array([1.0, 2.0]) - 0.1 * d, rtol=1e-15)
    buf[0][0] = 7.0  # the buffer is a copy, not the grad
    assert g[0][0] == 0.5


def test_adagrad_eps_outside_sqrt_and_lr_decay():
    p, g, s = [np.array([1.0])], [np.array([2.0])], [np.array([5.0])]
    ref.adagrad_step(p, g, s, lr=0.3, lr_decay=0.5, eps=0.25, step=3)
    assert s[0][0] == 9.0
    assert p[0][0] == pytest.approx(1.0 - 0.3 / 2.0 * 2.0 / (3.0 + 0.25))


def test_adadelta_eps_inside_both_sqrts():
    p, g = [np.array([1.0])], [np.array([2.0])]
    v, u = [np.array([1.0])], [np.array([0.5])]
    ref.adadelta_step(p, g, v, u, lr=0.5, rho=0.5, eps=0.25)
    assert v[0][0] == 0.5 * 1.0 + 0.5 * 4.0
    delta = np.sqrt(0.5 + 0.25) / np.sqrt(2.5 + 0.25) * 2.0
    assert u[0][0] == pytest.approx(0.5 * 0.5 + 0.5 * delta**2)
    assert p[0][0] == pytest.approx(1.0 - 0.5 * delta)


def test_adam_first_step_is_sign_step():
    p = [np.array([1.0, -1.0, 3.0])]
    g = [np.array([0.3, -2.0, 1e3])]
    m, v = [np.zeros(3)], [np.zeros(3)]
    ref.adam_step(p, g, m, v, [], step=1, lr=0.1, eps=0.0)
    np.testing.assert_allclose(p[0], [0.9, -0.9, 2.9], rtol=1e-14)


# --------------------------------------------------------------------------
# validation harness (NumPy only)
# --------------------------------------------------------------------------

VAL_SHAPES = [(3,), (2, 5), (4, 3)]  # last one is 2-D and non-square

SPECS = {
    "sgd_step": (["momentum_buffers"], dict(lr=0.1, momentum=0.9, step=3)),
    "adagrad_step": (["state_sums"], dict(lr=0.1, step=3)),
    "adadelta_step": (["square_avgs", "acc_deltas"], dict()),
    "rmsprop_step": (["square_avgs", "grad_avgs", "momentum_buffers"],
                     dict(lr=0.01, centered=True, momentum=0.9)),
    "adam_step": (["exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"],
                  dict(step=3, lr=0.01, amsgrad=True)),
    "nadam_step": (["exp_avgs", "exp_avg_sqs"],
                   dict(step=3, mu_product=0.8, lr=0.01)),
}
STEP_FUNCS = ["sgd_step", "adagrad_step", "adam_step", "nadam_step"]
ALL_FUNCS = list(SPECS)
STATE_ARGS = [(f, s) for f in ALL_FUNCS for s in SPECS[f][0]]

# options that make a state list unused -> (function, state name, kwargs update)
UNUSED_STATES = [
    ("sgd_step", "momentum_buffers", dict(momentum=0.0)),
    ("rmsprop_step", "grad_avgs", dict(centered=False)),
    ("rmsprop_step", "momentum_buffers", dict(momentum=0.0)),
    ("adam_step", "max_exp_avg_sqs", dict(amsgrad=False)),
]


def _make(fname, dtype=np.float64, shapes=VAL_SHAPES, seed=0):
    """Valid arguments for ``fname`` with every state list in use."""
    rng = np.random.default_rng(seed)
    state_names, kwargs = SPECS[fname]
    arrays = {
        "params": [np.array(rng.standard_normal(s), dtype=dtype) for s in shapes],
        "grads": [np.array(rng.standard_normal(s), dtype=dtype) for s in shapes],
    }
    for name in state_names:
        # positive states; square averages large enough that v - a**2 > 0
        offset = 2.0 if name == "square_avgs" else 0.1
        arrays[name] = [np.array(rng.random(s) + offset, dtype=dtype)
                        for s in shapes]
    return arrays, dict(kwargs)


def _call(fname, arrays, kwargs):
    names = ["params", "grads"] + SPECS[fname][0]
    return getattr(ref, fname)(*[arrays[n] for n in names], **kwargs)


def _snapshot(arrays):
    return {k: [np.array(a, copy=True) for a in v] for k, v in arrays.items()}


def _assert_unchanged(arrays, snap):
    for k, lst in snap.items():
        assert len(arrays[k]) == len(lst)
        for i, (a, b) in enumerate(zip(arrays[k], lst)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b),
                                          err_msg=f"{k}[{i}] was modified")


def _expect_error(fname, arrays, kwargs, exc, match):
    snap = _snapshot(arrays)
    with pytest.raises(exc, match=match):
        _call(fname, arrays, kwargs)
    _assert_unchanged(arrays, snap)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


LAST = len(VAL_SHAPES) - 1


def test_validation_harness_is_valid():
    for fname in ALL_FUNCS:
        arrays, kwargs = _make(fname)
        snap = _snapshot(arrays)
        _call(fname, arrays, kwargs)
        assert not np.array_equal(arrays["params"][LAST], snap["params"][LAST])
        _assert_unchanged({"grads": arrays["grads"]}, {"grads": snap["grads"]})


@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_grads_length_mismatch(fname):
    arrays, kwargs = _make(fname)
    arrays["grads"] = arrays["grads"][:-1]
    _expect_error(fname, arrays, kwargs, ValueError,
                  rf"^{fname}: grads has length 2, expected 3")


@pytest.mark.parametrize("fname,state", STATE_ARGS)
@pytest.mark.parametrize("length", [0, 2, 4])
def test_state_length_mismatch(fname, state, length):
    arrays, kwargs = _make(fname)
    lst = arrays[state]
    arrays[state] = (lst + [lst[0].copy()])[:length]
    _expect_error(fname, arrays, kwargs, ValueError,
                  rf"^{fname}: {state} has length {length}, expected 3")


@pytest.mark.parametrize("fname,state,update", UNUSED_STATES)
def test_unused_state_may_be_empty_but_not_partial(fname, state, update):
    arrays, kwargs = _make(fname)
    kwargs.update(update)
    full = arrays[state]
    arrays[state] = full[:2]
    _expect_error(fname, arrays, kwargs, ValueError,
                  rf"^{fname}: {state} has length 2, expected 3 .*or 0")
    # empty is accepted
    arrays[state] = []
    before = [p.copy() for p in arrays["params"]]
    _call(fname, arrays, kwargs)
    assert not np.array_equal(arrays["params"][LAST], before[LAST])
    # a full-length unused list is accepted and left alone
    arrays2, _ = _make(fname, seed=1)
    snap = copy.deepcopy(arrays2[state])
    _call(fname, arrays2, kwargs)
    for a, b in zip(arrays2[state], snap):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fname", ALL_FUNCS)
@pytest.mark.parametrize("bad", ["list", "memoryview", "scalar"])
def test_param_not_ndarray(fname, bad):
    arrays, kwargs = _make(fname)
    p = arrays["params"][LAST]
    arrays["params"][LAST] = {"list": p.tolist(), "memoryview": memoryview(p),
                              "scalar": np.float64(1.0)}[bad]
    _expect_error(fname, arrays, kwargs, TypeError,
                  rf"^{fname}: params\[{LAST}\] must be a numpy.ndarray")


@pytest.mark.parametrize("fname", ALL_FUNCS)
@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128, np.int32])
def test_param_bad_dtype(fname, dtype):
    arrays, kwargs = _make(fname)
    arrays["params"][LAST] = arrays["params"][LAST].astype(dtype)
    _expect_error(fname, arrays, kwargs, TypeError,
                  rf"^{fname}: params\[{LAST}\] has unsupported dtype "
                  rf"{np.dtype(dtype)}")


@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_all_params_bad_dtype(fname):
    arrays, kwargs = _make(fname)
    for k in arrays:
        arrays[k] = [a.astype(np.int32) for a in arrays[k]]
    _expect_error(fname, arrays, kwargs, TypeError,
                  r"params\[0\] has unsupported dtype int32")


@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_mixed_param_dtypes(fname):
    arrays, kwargs = _make(fname)
    for k in arrays:  # the last tensor is consistently float32
        arrays[k][LAST] = arrays[k][LAST].astype(np.float32)
    _expect_error(fname, arrays, kwargs, ValueError,
                  rf"^{fname}: params\[{LAST}\] has dtype float32 but params\[0\] "
                  rf"has dtype float64")


@pytest.mark.parametrize("fname,name",
                         [(f, "grads") for f in ALL_FUNCS] + STATE_ARGS)
def test_shape_mismatch(fname, name):
    arrays, kwargs = _make(fname)
    arrays[name][LAST] = np.zeros((3, 4))  # params[LAST] is (4, 3)
    _expect_error(
        fname, arrays, kwargs, ValueError,
        "^" + re.escape(f"{fname}: {name}[{LAST}] has shape (3, 4), "
                        f"expected (4, 3) like params[{LAST}]") + "$")


@pytest.mark.parametrize("fname,name",
                         [(f, "grads") for f in ALL_FUNCS] + STATE_ARGS)
@pytest.mark.parametrize("dtype,exc", [(np.float32, ValueError),
                                       (np.float16, TypeError),
                                       (np.int64, TypeError)])
def test_dtype_mismatch(fname, name, dtype, exc):
    arrays, kwargs = _make(fname)
    arrays[name][LAST] = arrays[name][LAST].astype(dtype)
    _expect_error(fname, arrays, kwargs, exc,
                  rf"^{fname}: {name}\[{LAST}\] has .*dtype {np.dtype(dtype)}.*"
                  rf"float64 like params\[{LAST}\]")


@pytest.mark.parametrize("fname,name",
                         [(f, "grads") for f in ALL_FUNCS] + STATE_ARGS)
def test_element_not_ndarray(fname, name):
    arrays, kwargs = _make(fname)
    arrays[name][LAST] = arrays[name][LAST].tolist()
    _expect_error(fname, arrays, kwargs, TypeError,
                  rf"^{fname}: {name}\[{LAST}\] must be a numpy.ndarray, got list")


@pytest.mark.parametrize("fname,name",
                         [(f, "params") for f in ALL_FUNCS] + STATE_ARGS)
def test_inplace_target_read_only(fname, name):
    arrays, kwargs = _make(fname)
    arrays[name][LAST] = _readonly(arrays[name][LAST])
    _expect_error(fname, arrays, kwargs, ValueError,
                  rf"^{fname}: {name}\[{LAST}\] is not writable")


@pytest.mark.parametrize("fname,name",
                         [(f, "params") for f in ALL_FUNCS] + STATE_ARGS)
@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_inplace_target_not_c_contiguous(fname, name, layout):
    arrays, kwargs = _make(fname)
    a = arrays[name][LAST]
    if layout == "fortran":
        b = np.asfortranarray(a)
    else:
        b = np.zeros(a.shape[:-1] + (2 * a.shape[-1],))[..., ::2]
        b[...] = a
    assert not b.flags.c_contiguous
    arrays[name][LAST] = b
    _expect_error(fname, arrays, kwargs, ValueError,
                  rf"^{fname}: {name}\[{LAST}\] is not C-contiguous")


@pytest.mark.parametrize("fname", STEP_FUNCS)
@pytest.mark.parametrize("step", [0, -1])
def test_step_below_one(fname, step):
    arrays, kwargs = _make(fname)
    kwargs["step"] = step
    _expect_error(fname, arrays, kwargs, ValueError, rf"^{fname}: step must be >= 1")


@pytest.mark.parametrize("fname", STEP_FUNCS)
@pytest.mark.parametrize("step", [1.5, 2.0, True, "1", None])
def test_step_not_an_int(fname, step):
    arrays, kwargs = _make(fname)
    kwargs["step"] = step
    _expect_error(fname, arrays, kwargs, TypeError, rf"^{fname}: step must be an int")


@pytest.mark.parametrize("fname", STEP_FUNCS)
def test_numpy_integer_step_accepted(fname):
    a1, kw1 = _make(fname)
    a2, kw2 = _make(fname)
    kw2["step"] = np.int64(kw1["step"])
    _call(fname, a1, kw1)
    _call(fname, a2, kw2)
    for p1, p2 in zip(a1["params"], a2["params"]):
        np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("fname", ALL_FUNCS)
@pytest.mark.parametrize("arg", ["params", "grads"])
def test_list_argument_must_be_a_list(fname, arg):
    arrays, kwargs = _make(fname, shapes=[(4,), (4,), (4,)])
    arrays[arg] = np.stack(arrays[arg])
    _expect_error(fname, arrays, kwargs, TypeError,
                  rf"^{fname}: {arg} must be a list")


@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_tuples_accepted(fname):
    a1, kw = _make(fname)
    a2, _ = _make(fname)
    a2 = {k: tuple(v) for k, v in a2.items()}
    _call(fname, a1, kw)
    _call(fname, a2, kw)
    for p1, p2 in zip(a1["params"], a2["params"]):
        np.testing.assert_array_equal(p1, p2)


@pytest.mark.parametrize("fname", ALL_FUNCS)
@pytest.mark.parametrize("value", ["0.1", None, np.zeros(1), True])
def test_non_real_hyperparameter(fname, value):
    arrays, kwargs = _make(fname)
    key = "lr" if fname != "adadelta_step" else "rho"
    kwargs[key] = value
    _expect_error(fname, arrays, kwargs, TypeError,
                  rf"^{fname}: {key} must be a real number")


# --------------------------------------------------------------------------
# edge cases and contract details
# --------------------------------------------------------------------------

@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_empty_lists_are_a_no_op(fname):
    arrays, kwargs = _make(fname, shapes=[])
    out = _call(fname, arrays, kwargs)
    if fname == "nadam_step":
        mu = 0.9 * (1.0 - 0.5 * 0.96 ** (3 * 4e-3))
        assert out == pytest.approx(0.8 * mu, rel=1e-15)
    else:
        assert out is None
    assert all(v == [] for v in arrays.values())


@pytest.mark.parametrize("fname", ALL_FUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_size_arrays_are_left_alone(fname, dtype):
    shapes = [(0,), (3,), (3, 0), (2, 2), (0, 4, 1)]
    arrays, kwargs = _make(fname, dtype=dtype, shapes=shapes)
    # same nonzero tensors alone
    keep = [1, 3]
    alone = {k: [v[i].copy() for i in keep] for k, v in arrays.items()}
    out_all = _call(fname, arrays, kwargs)
    out_alone = _call(fname, alone, kwargs)
    assert out_all == out_alone
    for k in arrays:
        for j, i in enumerate(keep):
            np.testing.assert_array_equal(arrays[k][i], alone[k][j])
        for i in (0, 2, 4):
            assert arrays[k][i].shape == shapes[i] and arrays[k][i].dtype == dtype


@pytest.mark.parametrize("fname", ALL_FUNCS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_callers_grads_never_modified(fname, dtype):
    arrays, kwargs = _make(fname, dtype=dtype)
    kwargs.update(maximize=True, weight_decay=0.1)
    if fname == "adam_step":
        kwargs["decoupled_weight_decay"] = False
    grads_before = [g.copy() for g in arrays["grads"]]
    params_before = [p.copy() for p in arrays["params"]]
    _call(fname, arrays, kwargs)
    for g, g0 in zip(arrays["grads"], grads_before):
        np.testing.assert_array_equal(g, g0)
    assert not np.array_equal(arrays["params"][0], params_before[0])


@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_grads_any_layout_and_read_only(fname):
    a1, kw = _make(fname)
    a2, _ = _make(fname)
    a2["grads"] = [_odd_layout(g, k) for k, g in enumerate(a2["grads"])]
    assert not all(g.flags.c_contiguous for g in a2["grads"])
    _call(fname, a1, kw)
    _call(fname, a2, kw)
    for k in a1:
        for x, y in zip(a1[k], a2[k]):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_float32_stays_float32_with_numpy_scalar_hyperparameters(fname):
    # np.float64 hyperparameters must not change the float32 computation
    a1, kw1 = _make(fname, dtype=np.float32)
    a2, kw2 = _make(fname, dtype=np.float32)
    for k, v in kw2.items():
        if isinstance(v, float):
            kw2[k] = np.float64(v)
    _call(fname, a1, kw1)
    _call(fname, a2, kw2)
    for k in a1:
        for x, y in zip(a1[k], a2[k]):
            assert x.dtype == np.float32
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("fname", ALL_FUNCS)
def test_non_finite_values_propagate_silently(fname):
    # like torch and the native kernels: no exception, no warning, NaN out
    arrays, kwargs = _make(fname)
    arrays["grads"][0][1] = np.nan
    _call(fname, arrays, kwargs)  # filterwarnings=error would turn warnings into errors
    assert np.isnan(arrays["params"][0][1])
    assert np.isfinite(arrays["params"][0][0])
    assert np.isfinite(arrays["params"][LAST]).all()


def test_rmsprop_centered_negative_variance_gives_nan_silently():
    p, g = [np.array([1.0])], [np.array([0.0])]
    v, a = [np.array([0.0])], [np.array([10.0])]
    ref.rmsprop_step(p, g, v, a, [], lr=0.1, centered=True)
    assert np.isnan(p[0][0])


def test_float32_matches_float64_closely():
    for fname in ALL_FUNCS:
        a32, kw = _make(fname, dtype=np.float32)
        a64 = {k: [x.astype(np.float64) for x in v] for k, v in a32.items()}
        _call(fname, a32, kw)
        _call(fname, a64, kw)
        for k in a32:
            for x, y in zip(a32[k], a64[k]):
                np.testing.assert_allclose(x, y, rtol=2e-6, atol=1e-7,
                                           err_msg=f"{fname} {k}")


def test_module_exports():
    assert sorted(ref.__all__) == sorted(ALL_FUNCS)
    src = pathlib.Path(ref.__file__).read_text()
    imported = {m.split(".")[0] for m in
                re.findall(r"^\s*(?:from|import)\s+(\S+)", src, re.M)}
    # NumPy, plus fastdl's pure-Python argument checks (shared with fastdl.ops)
    assert imported <= {"__future__", "numbers", "numpy", "fastdl"}
    assert re.findall(r"^from fastdl\.(\S+) import", src, re.M) == ["_checks"]
