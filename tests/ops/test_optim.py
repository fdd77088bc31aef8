"""Tests of the native fused optimizer steps (fastdl/ops/optim.py).

The NumPy twins (fastdl.reference, themselves checked against torch in
tests/reference/test_optim_reference.py) are the oracle for every option combination;
torch is checked directly on a subset. Also: layouts, argument validation (nothing
written on error), edge cases and every ISA path (FASTDL_ISA). Random options and
tensor-list layouts (hypothesis) are in tests/properties/test_optim_properties.py,
thread determinism in tests/test_determinism.py.
"""

import itertools

import numpy as np
import pytest

import fastdl
from fastdl import ops
from fastdl import reference as ref

DTYPES = [np.float64, np.float32]
DT_IDS = ["f64", "f32"]
# The native code may contract to FMA and multiply by a precomputed reciprocal.
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
# odd sizes, 0-d, 0-size, and one tensor of more than 2 chunks of 16384 (parallel path)
SHAPES = [(1,), (3,), (7, 5), (17, 3, 3), (2, 3, 1, 4), (), (0, 3), (40_000,)]

STATES = {  # state lists in positional order
    "sgd_step": ["momentum_buffers"],
    "adagrad_step": ["state_sums"],
    "adadelta_step": ["square_avgs", "acc_deltas"],
    "rmsprop_step": ["square_avgs", "grad_avgs", "momentum_buffers"],
    "adam_step": ["exp_avgs", "exp_avg_sqs", "max_exp_avg_sqs"],
    "nadam_step": ["exp_avgs", "exp_avg_sqs"],
}
FUNCS = list(STATES)
HAS_STEP = ["sgd_step", "adagrad_step", "adam_step", "nadam_step"]
FULL = {  # options under which every state list is in use
    "sgd_step": dict(lr=0.1, momentum=0.9, weight_decay=0.1),
    "adagrad_step": dict(lr=0.1, lr_decay=0.05),
    "adadelta_step": dict(lr=0.5),
    "rmsprop_step": dict(lr=0.01, centered=True, momentum=0.9),
    "adam_step": dict(lr=0.01, amsgrad=True, weight_decay=0.1),
    "nadam_step": dict(lr=0.01, weight_decay=0.1),
}


def _unused(fname, kw):
    """The state lists that options ``kw`` leave unused (passed as empty lists)."""
    mom = kw.get("momentum", 0.0)
    return {"momentum_buffers": mom <= 0 if fname == "rmsprop_step" else mom == 0,
            "grad_avgs": not kw.get("centered", False),
            "max_exp_avg_sqs": not kw.get("amsgrad", False)}


def _make(fname, kw, dtype=np.float64, shapes=SHAPES, seed=0, zero_state=True):
    """Arrays for one call: params, grads and the state lists (unused ones empty)."""
    rng = np.random.default_rng(seed)
    arrays = {"params": [np.array(rng.standard_normal(s), dtype) for s in shapes],
              "grads": [np.array(rng.standard_normal(s), dtype) for s in shapes]}
    unused = _unused(fname, kw)
    for name in STATES[fname]:
        if unused.get(name, False):
            arrays[name] = []
        elif zero_state:
            arrays[name] = [np.zeros(s, dtype) for s in shapes]
        else:  # positive; square averages large enough for centered RMSprop
            off = 2.0 if name == "square_avgs" else 0.1
            arrays[name] = [np.array(rng.random(s) + off, dtype) for s in shapes]
    return arrays


def _copy(arrays, dtype=None):
    return {k: [np.array(a, dtype=dtype, copy=True) for a in v] for k, v in arrays.items()}


def _call(mod, fname, arrays, kw, t=3, mu=0.8):
    kw = dict(kw)
    if fname in HAS_STEP:
        kw.setdefault("step", t)
    if fname == "nadam_step":
        kw.setdefault("mu_product", mu)
    return getattr(mod, fname)(*[arrays[n] for n in ["params", "grads", *STATES[fname]]], **kw)


def _finite_max(x):
    x = np.abs(x[np.isfinite(x)])
    return float(x.max()) if x.size else 0.0


def _close(got, want, dtype, shadow=None, err_msg=""):
    """assert_allclose, atol scaled to ``want``'s magnitude (momentum buffers hold
    cancellations). ``shadow``: the reference computed in float64; where float32 is
    ill-conditioned (sqrt(v - a**2) in centered RMSprop) native may err as much as
    the float32 reference does."""
    atol = TOL[dtype]["atol"] * max(1.0, _finite_max(want))
    if shadow is not None:
        with np.errstate(invalid="ignore"):  # inf - inf
            atol += 4 * _finite_max(want.astype(np.float64) - shadow)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype]["rtol"], atol=atol, err_msg=err_msg)


def _assert_equal(got, want, what=""):
    for k in want:
        assert len(got[k]) == len(want[k]), k
        for i, (a, b) in enumerate(zip(got[k], want[k])):
            np.testing.assert_array_equal(a, b, err_msg=f"{what} {k}[{i}]")


def _run_both(fname, kw, dtype, n_steps=10, arrays=None, grad_fn=None):
    """n_steps of native and reference on the same grads, compared at steps 1 and last."""
    rng = np.random.default_rng(100)
    nat = arrays if arrays is not None else _make(fname, kw, dtype)
    rf, hi = _copy(nat), _copy(nat, np.float64)  # hi: float64 shadow of float32 runs
    mu_n = mu_r = 1.0
    for t in range(1, n_steps + 1):
        grads = [np.array(rng.standard_normal(p.shape), dtype) for p in nat["params"]]
        if grad_fn is not None:
            grad_fn(grads, t)
        nat["grads"] = rf["grads"] = grads
        hi["grads"] = [g.astype(np.float64) for g in grads]
        out_n = _call(ops, fname, nat, kw, t=t, mu=mu_n)
        out_r = _call(ref, fname, rf, kw, t=t, mu=mu_r)
        if dtype == np.float32:
            _call(ref, fname, hi, kw, t=t, mu=mu_r)
        if fname == "nadam_step":
            assert isinstance(out_n, float) and out_n == pytest.approx(out_r, rel=1e-15, abs=0)
            mu_n, mu_r = out_n, out_r
        else:
            assert out_n is None
        if t in (1, n_steps):
            for k in rf:
                for i, (a, b) in enumerate(zip(nat[k], rf[k])):
                    assert a.dtype == b.dtype and a.shape == b.shape
                    _close(a, b, dtype, hi[k][i] if dtype == np.float32 else None,
                           err_msg=f"{fname} step {t} {k}[{i}]")
    return nat, rf


# ---------------------------------------------------------------- 1. native == reference

def _grid(**axes):
    return [dict(zip(axes, v)) for v in itertools.product(*axes.values())]


MW = dict(maximize=[False, True], weight_decay=[0.0, 0.1])
OPTIONS = {
    "sgd_step": [dict(lr=0.05, momentum=m, dampening=d, nesterov=n, **o)
                 for m, d, n in [(0.0, 0.0, False), (0.9, 0.0, False), (0.9, 0.3, False),
                                 (0.9, 0.0, True), (0.9, 0.3, True)] for o in _grid(**MW)],
    "adagrad_step": _grid(lr=[0.1], lr_decay=[0.0, 0.05], **MW),
    "adadelta_step": _grid(lr=[1.0, 0.5], rho=[0.9, 0.3], **MW),
    "rmsprop_step": _grid(lr=[0.01], alpha=[0.99, 0.3], centered=[False, True],
                          momentum=[0.0, 0.9], **MW),
    "adam_step": _grid(lr=[0.01], beta1=[0.9, 0.3], amsgrad=[False, True],
                       decoupled_weight_decay=[False, True], **MW),
    "nadam_step": _grid(lr=[0.01], beta1=[0.9, 0.3], momentum_decay=[4e-3, 0.05],
                        decoupled_weight_decay=[False, True], **MW),
}
CASES = [pytest.param(f, kw, id=f + "-" + "-".join(f"{k}={v}" for k, v in kw.items()))
         for f in FUNCS for kw in OPTIONS[f]]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("fname,kw", CASES)
def test_native_matches_reference(fname, kw, dtype):
    _run_both(fname, kw, dtype)


# ---------------------------------------------------------------- 2. native == torch

TORCH = {  # fname -> (torch.optim class, state keys in the order of STATES)
    "sgd_step": ("SGD", ["momentum_buffer"]),
    "adagrad_step": ("Adagrad", ["sum"]),
    "adadelta_step": ("Adadelta", ["square_avg", "acc_delta"]),
    "rmsprop_step": ("RMSprop", ["square_avg", "grad_avg", "momentum_buffer"]),
    "adam_step": ("Adam", ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"]),
    "nadam_step": ("NAdam", ["exp_avg", "exp_avg_sq"]),
}
TORCH_CASES = [
    ("sgd_step", dict(lr=0.05)),
    ("sgd_step", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("sgd_step", dict(lr=0.05, momentum=0.9, dampening=0.3, maximize=True)),
    ("adagrad_step", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("adadelta_step", dict(lr=0.5, rho=0.3, weight_decay=0.1, maximize=True)),
    ("rmsprop_step", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
    ("rmsprop_step", dict(lr=0.01, alpha=0.3, centered=True, maximize=True)),
    ("adam_step", dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("adam_step", dict(lr=0.02, beta1=0.4, beta2=0.9, weight_decay=0.05,
                       decoupled_weight_decay=True)),
    ("nadam_step", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("nadam_step", dict(lr=0.01, momentum_decay=0.05, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("fname,kw", TORCH_CASES)
def test_native_matches_torch(fname, kw, dtype):
    torch = pytest.importorskip("torch")
    cls, keys = TORCH[fname]
    tkw = {k: v for k, v in kw.items() if k not in ("beta1", "beta2")}
    if "beta1" in kw:
        tkw["betas"] = (kw["beta1"], kw.get("beta2", 0.999))
    shapes = [(3,), (7, 5), (2, 3, 1, 4), (1,), (), (40_000,)]
    arrays = _make(fname, kw, dtype, shapes=shapes, seed=5)
    hi = _copy(arrays, np.float64)  # float64 shadow (see _close)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in arrays["params"]]
    old_default = torch.get_default_dtype()
    if dtype == np.float64:  # torch keeps NAdam's mu_product in its default dtype
        torch.set_default_dtype(torch.float64)
    try:
        opt = getattr(torch.optim, cls)(tparams, foreach=False, **tkw)
        rng, mu = np.random.default_rng(6), 1.0
        for t in range(1, 31):
            arrays["grads"] = [np.array(rng.standard_normal(s), dtype) for s in shapes]
            for tp, g in zip(tparams, arrays["grads"]):
                tp.grad = torch.from_numpy(g.copy())
            opt.step()
            hi["grads"] = [g.astype(np.float64) for g in arrays["grads"]]
            _call(ref, fname, hi, kw, t=t, mu=mu)
            out = _call(ops, fname, arrays, kw, t=t, mu=mu)
            mu = out if fname == "nadam_step" else mu
    finally:
        torch.set_default_dtype(old_default)

    def close(a, b, shadow, what):
        if dtype == np.float64:  # 30 steps, torch's rounding vs FMA
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=what)
        else:
            _close(a, b, dtype, shadow, what)

    for i, tp in enumerate(tparams):
        close(arrays["params"][i], tp.detach().numpy(), hi["params"][i], f"params[{i}]")
        for name, key in zip(STATES[fname], keys):
            if arrays[name]:
                close(arrays[name][i], opt.state[tp][key].numpy(), hi[name][i], f"{name}[{i}]")
    if fname == "nadam_step":
        want = float(opt.state[tparams[0]]["mu_product"])
        assert mu == pytest.approx(want, rel=1e-14 if dtype == np.float64 else 1e-6)


# ---------------------------------------------------------------- 4. layouts

LAYOUT_SHAPES = [(3,), (40_000,), (6, 4), (3, 4, 5)]
LAST = len(LAYOUT_SHAPES) - 1  # errors go in the last tensor: earlier ones must stay intact


def _relayout(a, kind):
    """A copy of ``a`` (same values) in another memory layout."""
    if kind in ("strided", "slice"):
        out = np.zeros(a.shape[:-1] + (3 * a.shape[-1],), a.dtype)[..., ::3]
    elif kind == "unaligned":
        out = np.zeros(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
    elif kind == "broadcast":  # zero strides, read-only (a must be constant)
        return np.broadcast_to(a.reshape(-1)[:1].reshape((1,) * a.ndim), a.shape)
    else:
        out = {"readonly": np.empty_like, "fortran": lambda x: np.empty_like(x, order="F"),
               "transposed": lambda x: np.empty(x.shape[::-1], x.dtype).T,
               "reversed": lambda x: np.empty_like(x)[..., ::-1]}[kind](a)
    out[...] = a
    out.flags.writeable = kind != "readonly"
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("kind", ["readonly", "strided", "reversed", "transposed",
                                  "fortran", "broadcast", "unaligned"])
@pytest.mark.parametrize("fname", FUNCS)
def test_grads_any_layout(fname, kind, dtype):
    kw = FULL[fname]
    a1 = _make(fname, kw, dtype, shapes=LAYOUT_SHAPES, zero_state=False)
    if kind == "broadcast":
        for g in a1["grads"]:
            g[...] = g.flat[0]
    a2 = _copy(a1)
    a2["grads"] = [_relayout(g, kind) for g in a1["grads"]]
    g = a2["grads"][LAST]
    assert not (g.flags.c_contiguous and g.flags.aligned and g.flags.writeable)
    _call(ops, fname, a1, kw)
    _call(ops, fname, a2, kw)
    _assert_equal(a2, a1, kind)  # grads included: never modified


@pytest.mark.parametrize("kind", ["readonly", "transposed", "slice", "unaligned"])
@pytest.mark.parametrize("fname,name", [(f, n) for f in FUNCS for n in ["params", *STATES[f]]])
def test_inplace_target_bad_layout(fname, name, kind):
    arrays, kw = _valid(fname)
    arrays[name][LAST] = _relayout(arrays[name][LAST], kind)
    _expect_error(fname, arrays, kw, ValueError, rf"{name}\[{LAST}\]")


@pytest.mark.parametrize("fname", FUNCS)
def test_tuples_accepted(fname):
    a1, kw = _valid(fname)
    a2 = {k: tuple(v) for k, v in _copy(a1).items()}
    assert _call(ops, fname, a1, kw) == _call(ops, fname, a2, kw)
    _assert_equal(a2, a1)


# ---------------------------------------------------------------- 5. bad input

def _valid(fname, dtype=np.float64, shapes=LAYOUT_SHAPES):
    return _make(fname, FULL[fname], dtype, shapes, zero_state=False), dict(FULL[fname])


def _expect_error(fname, arrays, kw, exc, match, **call_kw):
    """The call raises ``exc`` matching ``match`` and every array is left as it was."""
    def arrays_only():
        return {k: [a for a in v if isinstance(a, np.ndarray)]
                for k, v in arrays.items() if not isinstance(v, np.ndarray)}
    snap = _copy(arrays_only())
    with pytest.raises(exc, match=match) as info:
        _call(ops, fname, arrays, kw, **call_kw)
    assert str(info.value).startswith(fname + ":")
    _assert_equal(arrays_only(), snap, "written by a failing call:")
    return info.value


LISTS = [(f, n) for f in FUNCS for n in ["params", "grads", *STATES[f]]]
BAD_ELEMENT = {  # case -> (dtype of the call, bad last element, exception, message)
    "shape": (np.float64, lambda a: a.reshape(-1), ValueError, "shape"),
    "f64-in-f32": (np.float32, lambda a: a.astype(np.float64), ValueError, "float64"),
    "int32": (np.float64, lambda a: a.astype(np.int32), fastdl.DTypeError, "int32"),
    "list": (np.float64, lambda a: a.tolist(), TypeError, "list"),
}


@pytest.mark.parametrize("fname,name,case", [(f, n, c) for f, n in LISTS for c in BAD_ELEMENT
                                              if (n, c) != ("params", "shape")])
def test_bad_list_element(fname, name, case):
    dtype, bad, exc, what = BAD_ELEMENT[case]
    arrays, kw = _valid(fname, dtype)
    arrays[name][LAST] = bad(arrays[name][LAST])
    err = _expect_error(fname, arrays, kw, exc, rf"{name}\[{LAST}\].*{what}")
    if case == "int32":  # unsupported dtype: both a TypeError and a ValueError
        assert isinstance(err, TypeError) and isinstance(err, ValueError)


@pytest.mark.parametrize("fname", FUNCS)
def test_mixed_float32_float64_params(fname):
    arrays, kw = _valid(fname)
    for lst in arrays.values():  # the last tensor is consistently float32
        lst[LAST] = lst[LAST].astype(np.float32)
    _expect_error(fname, arrays, kw, ValueError, rf"params\[{LAST}\].*float32")


@pytest.mark.parametrize("length", ["short", "long", "empty"])
@pytest.mark.parametrize("fname,name", [x for x in LISTS if x[1] != "params"])
def test_list_length_mismatch(fname, name, length):
    # under FULL every state list is needed, so even an empty one is an error
    arrays, kw = _valid(fname)
    lst = arrays[name]
    arrays[name] = {"short": lst[:-1], "long": lst + [lst[0].copy()], "empty": []}[length]
    _expect_error(fname, arrays, kw, ValueError, name)


UNUSED = [("sgd_step", "momentum_buffers", dict(momentum=0.0)),
          ("rmsprop_step", "grad_avgs", dict(centered=False)),
          ("rmsprop_step", "momentum_buffers", dict(momentum=0.0)),
          ("adam_step", "max_exp_avg_sqs", dict(amsgrad=False))]


@pytest.mark.parametrize("fname,name,opt", UNUSED)
def test_unused_state_list_may_be_empty(fname, name, opt):
    arrays, kw = _valid(fname)
    kw.update(opt)
    full = _copy(arrays)
    unused = _copy({name: full[name]})
    arrays[name] = []
    _call(ops, fname, arrays, kw)
    _call(ops, fname, full, kw)  # a full-length unused list is accepted and ignored
    _assert_equal({name: full[name]}, unused, "unused state list written:")
    full[name] = []
    _assert_equal(arrays, full)
    arrays[name] = unused[name][:-1]  # but a partial one is an error
    _expect_error(fname, arrays, kw, ValueError, name)


@pytest.mark.parametrize("fname,name", LISTS)
def test_list_argument_not_a_list(fname, name):
    arrays, kw = _valid(fname, shapes=[(4,), (4,), (4,)])
    arrays[name] = np.stack(arrays[name])
    _expect_error(fname, arrays, kw, TypeError, name)


@pytest.mark.parametrize("fname,name", [(f, n) for f in FUNCS for n in STATES[f]])
def test_state_is_the_param_array(fname, name):
    arrays, kw = _valid(fname)
    arrays[name][LAST] = arrays["params"][LAST]
    _expect_error(fname, arrays, kw, ValueError, rf"{name}\[{LAST}\]")


@pytest.mark.parametrize("fname", HAS_STEP)
@pytest.mark.parametrize("step,exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                      (2.0, TypeError), (True, TypeError), ("1", TypeError)])
def test_bad_step(fname, step, exc):
    arrays, kw = _valid(fname)
    _expect_error(fname, arrays, kw, exc, "step", t=step)


@pytest.mark.parametrize("fname", FUNCS)
@pytest.mark.parametrize("value", ["x", None, np.zeros(1)])
def test_bad_hyperparameter(fname, value):
    arrays, kw = _valid(fname)
    kw["lr"] = value
    _expect_error(fname, arrays, kw, TypeError, "lr")


@pytest.mark.parametrize("fname", HAS_STEP)
def test_numpy_scalars_accepted(fname):
    a1, kw = _valid(fname)
    a2 = _copy(a1)
    _call(ops, fname, a1, kw, t=3)
    _call(ops, fname, a2, {k: np.float64(v) if isinstance(v, float) else np.bool_(v)
                                  for k, v in kw.items()}, t=np.int64(3))
    _assert_equal(a2, a1)


# ---------------------------------------------------------------- 6. edge cases

@pytest.mark.parametrize("fname", FUNCS)
def test_empty_lists_are_a_no_op(fname):
    arrays = {k: [] for k in ["params", "grads", *STATES[fname]]}
    out = _call(ops, fname, arrays, FULL[fname], t=7, mu=0.6)
    want = _call(ref, fname, arrays, FULL[fname], t=7, mu=0.6)
    if fname == "nadam_step":
        assert isinstance(out, float) and out == pytest.approx(want, rel=1e-15, abs=0)
        assert out < 0.6
    else:
        assert out is None
    assert all(v == [] for v in arrays.values())


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("fname,kw", [(f, dict(FULL[f], maximize=True)) for f in FUNCS]
                         + [("adam_step", dict(lr=0.01)), ("sgd_step", dict(lr=0.1))])
def test_non_finite_gradients_propagate_like_reference(fname, kw, dtype):
    def poison(grads, t):  # NaN and +-Inf at the ends and in the vector body
        if t in (2, 4):
            for i in (0, 3, 7):
                grads[i].reshape(-1)[[0, -1]] = [np.nan, np.inf] if t == 2 else [-np.inf, np.nan]
            grads[7][20_000:20_003] = [np.inf, -np.inf, np.nan]

    nat, rf = _run_both(fname, kw, dtype, n_steps=5, grad_fn=poison)  # no warning either
    for k in nat:
        for a, b in zip(nat[k], rf[k]):
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=k)
            np.testing.assert_array_equal(np.isinf(a), np.isinf(b), err_msg=k)
    assert np.isnan(nat["params"][7][20_000:20_003]).any()
    assert np.isfinite(nat["params"][7][100:200]).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
def test_amsgrad_nan_in_max_state_propagates(dtype):
    kw = dict(lr=0.01, amsgrad=True)
    arrays = _make("adam_step", kw, dtype, shapes=[(40_000,), (5,)], zero_state=False)
    for v in arrays["max_exp_avg_sqs"]:
        v[::3] = np.nan
    nat, _ = _run_both("adam_step", kw, dtype, n_steps=3, arrays=arrays)
    assert np.isnan(nat["params"][0][::3]).all()
    assert np.isfinite(nat["params"][0][1::3]).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_sgd_first_step_sets_buffer_to_grad(dtype, maximize, wd):
    a = _make("sgd_step", dict(momentum=0.9), dtype, [(3,), (40_000,), (2, 5)], zero_state=False)
    for b in a["momentum_buffers"]:
        b[...] = 123.0  # stale content must be overwritten
    before = _copy(a)
    ops.sgd_step(a["params"], a["grads"], a["momentum_buffers"], lr=0.1, momentum=0.9,
                 dampening=0.5, weight_decay=wd, maximize=maximize, step=1)
    for p, g, b, p_new in zip(before["params"], before["grads"], a["momentum_buffers"],
                              a["params"]):
        d = (-g if maximize else g) + dtype(wd) * p
        # g + wd * p may be one FMA: error relative to the terms, not the sum
        err = 2 * np.finfo(dtype).eps * (np.abs(g) + np.abs(dtype(wd) * p)) if wd else 0
        assert (np.abs(b - d) <= err).all()
        np.testing.assert_allclose(p_new, p - dtype(0.1) * d, **TOL[dtype])
    _assert_equal({"grads": a["grads"]}, {"grads": before["grads"]})


@pytest.mark.parametrize("dtype", DTYPES, ids=DT_IDS)
@pytest.mark.parametrize("fname", FUNCS)
def test_callers_grads_never_modified(fname, dtype):
    kw = dict(FULL[fname], maximize=True, weight_decay=0.1)
    arrays = _make(fname, kw, dtype, zero_state=False)
    before = _copy(arrays)
    _call(ops, fname, arrays, kw)
    _assert_equal({"grads": arrays["grads"]}, {"grads": before["grads"]})
    assert not np.array_equal(arrays["params"][-1], before["params"][-1])


# ---------------------------------------------------------------- 7. ISA paths

_ISA_SCRIPT = r"""
import sys
import numpy as np
import fastdl
from fastdl import ops, reference as ref
shapes = [(40_000,), (37,), (5, 3), (1,), ()]
out = {"simd": np.array(fastdl.build_info()["simd"])}
cases = [  # (function, used state lists, empty state lists, options)
    ("sgd_step", 1, 0, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("adam_step", 3, 0, dict(lr=0.01, amsgrad=True, weight_decay=0.1, maximize=True)),
    ("adam_step", 2, 1, dict(lr=0.01, beta1=0.3, decoupled_weight_decay=True, weight_decay=0.1)),
    ("rmsprop_step", 3, 0, dict(lr=0.01, centered=True, momentum=0.9, alpha=0.3)),
    ("rmsprop_step", 1, 2, dict(lr=0.01, weight_decay=0.1)),
    ("nadam_step", 2, 0, dict(lr=0.01, weight_decay=0.1, beta1=0.3)),
]
for dtype in (np.float32, np.float64):
    for c, (fname, nstate, nempty, kw) in enumerate(cases):
        params = [np.array(np.random.default_rng(c).standard_normal(s), dtype) for s in shapes]
        for mod, tag, dt in ((ops, "nat", dtype), (ref, "ref", dtype), (ref, "hi", np.float64)):
            p = [x.astype(dt) for x in params]
            st = [[np.zeros_like(x) for x in p] for _ in range(nstate)] + [[]] * nempty
            g_rng, mu = np.random.default_rng(100 + c), 1.0
            for t in range(1, 5):
                g = [np.array(g_rng.standard_normal(s), dtype).astype(dt) for s in shapes]
                extra = {} if fname == "rmsprop_step" else {"step": t}
                if fname == "nadam_step":
                    extra["mu_product"] = mu
                r = getattr(mod, fname)(p, g, *st, **kw, **extra)
                mu = r if r is not None else mu
            for i, x in enumerate(p + [a for s in st for a in s]):
                out[f"{tag}-{np.dtype(dtype).name}-{c}-{i}"] = x
            out[f"{tag}-{np.dtype(dtype).name}-{c}-mu"] = np.array(mu)
np.savez(sys.argv[1], **out)
"""


@pytest.mark.parametrize("isa", fastdl.build_info()["isa_available"])
def test_isa_path_matches_reference(isa, tmp_path, run_python):
    proc = run_python(_ISA_SCRIPT, str(tmp_path / "out.npz"), env={"FASTDL_ISA": isa})
    assert proc.returncode == 0, proc.stderr
    data = np.load(tmp_path / "out.npz")
    assert str(data["simd"]) == isa
    nat_keys = [k for k in data.files if k.startswith("nat-")]
    assert len(nat_keys) > 50
    for k in nat_keys:
        want = data["ref" + k[3:]]
        if k.endswith("-mu"):
            assert float(data[k]) == pytest.approx(float(want), rel=1e-15, abs=0)
        elif "float32" in k:
            _close(data[k], want, np.float32, data["hi" + k[3:]], err_msg=f"{isa} {k}")
        else:
            _close(data[k], want, np.float64, err_msg=f"{isa} {k}")
