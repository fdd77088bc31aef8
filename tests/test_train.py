"""fastdl.train: fit, evaluate, checkpoints (atomic, bitwise resume), Ctrl-C."""

import math
import os
import signal
import sys
from collections import OrderedDict

import numpy as np
import pytest

import fastdl as fd
import fastdl.nn as nn
from fastdl import train
from fastdl.data import ArrayDataset, DataLoader, RandomCrop, load_digits
from fastdl.train import (History, SmallCNN, evaluate, fit, load_checkpoint, save_checkpoint)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _tiny_model(seed):
    """A small CNN with dropout (so the random generator's state matters)."""
    fd.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(1, 4, 3, padding=1, bias=False)), ("bn", nn.BatchNorm2d(4)),
        ("relu", nn.ReLU()), ("pool", nn.MaxPool2d(2)), ("flatten", nn.Flatten()),
        ("drop", nn.Dropout(0.2)), ("fc", nn.Linear(64, 10))]))


def _tiny_run(digits, seed=0, n=192):
    """(model, optimizer, scheduler, loader, val loader) on a slice of the digits, with a
    random-crop transform, Adam state and a step schedule: everything resume restores."""
    (X, y), (Xt, yt) = digits
    model = _tiny_model(seed)
    opt = fd.optim.Adam(model.parameters(), lr=1e-2)
    sched = fd.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    loader = DataLoader(ArrayDataset(X[:n], y[:n]), batch_size=32, shuffle=True, seed=seed,
                        transform=RandomCrop(8, padding=1))
    val = DataLoader(ArrayDataset(Xt[:64], yt[:64]), batch_size=64)
    return model, opt, sched, loader, val


def _assert_same_state(a, b):
    """Every parameter and buffer, and the optimizer state, bitwise equal."""
    (ma, oa), (mb, ob) = a, b
    sa, sb = ma.state_dict(), mb.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k
    qa, qb = oa.state_dict()["state"], ob.state_dict()["state"]
    assert qa.keys() == qb.keys()
    for i in qa:
        for name in qa[i]:
            assert np.array_equal(qa[i][name], qb[i][name]), (i, name)


def _without_time(history):
    return {k: v for k, v in history.items() if k != "time"}


# --- fit and evaluate ------------------------------------------------------------------------
def test_fit_small_cnn_on_digits(digits):
    (X, y), (Xt, yt) = digits
    fd.manual_seed(0)
    model = SmallCNN()
    opt = fd.optim.Adam(model.parameters(), lr=1e-2)
    sched = fd.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    loader = DataLoader(ArrayDataset(X, y), batch_size=64, shuffle=True, seed=0)
    test = DataLoader(ArrayDataset(Xt, yt), batch_size=500)
    h = fit(model, opt, loader, test, epochs=3, scheduler=sched, progress=False)
    assert isinstance(h, History) and not h.interrupted
    assert set(h) == set(History.KEYS)
    assert h["epoch"] == [1, 2, 3] and h.epochs == 3
    assert h["lr"] == [1e-2, 5e-3, 2.5e-3]
    assert all(t > 0 for t in h["time"])
    assert h["loss"][2] < h["loss"][0]
    assert h["val_accuracy"][-1] >= 0.95
    # the last validation is evaluate() on the final model
    res = evaluate(model, test)
    assert res["accuracy"] == h["val_accuracy"][-1]
    assert res["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-12)
    assert res["confusion"].shape == (10, 10) and res["confusion"].dtype == np.int64
    assert res["confusion"].sum() == len(yt)
    assert np.array_equal(res["confusion"].sum(axis=1), np.bincount(yt, minlength=10))


def test_evaluate_against_numpy():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((23, 5)).astype(np.float32)
    y = rng.integers(0, 3, 23)
    model = nn.Linear(5, 3)
    loader = DataLoader(ArrayDataset(X, y), batch_size=10)  # batches of 10, 10, 3
    res = evaluate(model, loader)
    z = X.astype(np.float64) @ model.weight.data.T.astype(np.float64) + model.bias.data
    logp = z - z.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    assert res["loss"] == pytest.approx(-logp[np.arange(23), y].mean(), rel=1e-5)
    pred = z.argmax(axis=1)
    assert res["accuracy"] == pytest.approx((pred == y).mean())
    want = np.zeros((3, 3), dtype=np.int64)
    for t, p in zip(y, pred):
        want[t, p] += 1
    assert np.array_equal(res["confusion"], want)


def test_evaluate_is_eval_mode_without_grad(digits):
    (X, y), _ = digits
    model = SmallCNN()
    running = model.bn1.running_mean.copy()
    assert model.training
    evaluate(model, DataLoader(ArrayDataset(X[:50], y[:50]), batch_size=25))
    assert model.training  # restored
    assert np.array_equal(model.bn1.running_mean, running)  # eval mode: stats untouched
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="no examples"):
        evaluate(model, [])


def test_fit_regression_loss_has_no_accuracy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32))
    model = nn.Linear(3, 1)
    opt = fd.optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, opt, DataLoader(ArrayDataset(X, y), batch_size=8), epochs=5, loss="mse",
            progress=False)
    assert h["accuracy"] == [None] * 5 and h["val_loss"] == [None] * 5
    assert h["loss"][-1] < 0.1 * h["loss"][0]
    with pytest.raises(ValueError, match="loss"):
        fit(model, opt, [], loss="hinge")


def test_fit_drives_lbfgs_with_a_closure(digits):
    (X, y), _ = digits
    fd.manual_seed(0)
    model = SmallCNN(width=4)  # no dropout: the closure gives the same loss at the same point
    opt = fd.optim.LBFGS(model.parameters(), max_iter=4, line_search_fn="strong_wolfe")
    loader = DataLoader(ArrayDataset(X[:128], y[:128]), batch_size=128)  # full batch
    h = fit(model, opt, loader, epochs=3, progress=False)
    assert h["loss"][2] < h["loss"][0]


def test_progress_bar_only_on_a_terminal(digits, capsys, monkeypatch):
    model, opt, _, loader, _ = _tiny_run(digits)
    fit(model, opt, loader, epochs=1)
    assert capsys.readouterr().out == ""  # stdout is not a terminal under pytest
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    fit(model, opt, loader, epochs=2, progress=False)
    assert capsys.readouterr().out == ""
    fit(model, opt, loader, epochs=2, progress=True)
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "loss=" in out
    assert "batch/s" in out or "s/batch" in out


def test_callbacks(digits):
    model, opt, _, loader, _ = _tiny_run(digits)
    seen = []

    class Log:
        def on_epoch_begin(self, epoch):
            seen.append(("begin", epoch))

        def on_batch_end(self, epoch, batch, logs):
            seen.append(("batch", epoch, batch, logs["size"]))

        def on_train_end(self, history):
            seen.append(("end", history.epochs))

    fit(model, opt, loader, epochs=2, progress=False,
        callbacks=[Log(), lambda epoch, record: seen.append(("epoch", epoch, record["epoch"]))])
    assert seen[:8] == [("begin", 0)] + [("batch", 0, b, 32) for b in range(6)] + [("epoch", 0, 1)]
    assert seen[-1] == ("end", 2)


# --- checkpoint files ------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    state = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "nested": {0: {"buf": np.array([1.5, -0.0]), "step": 7},
                   "names": ["x", None, True], "t": (0.9, 0.999)},
        "scalars": [np.float32(0.1), np.int64(-3), 2**64 - 1, math.inf, -math.inf, 0.1],
        "nan": math.nan,
        "empty": np.zeros((0, 4), dtype=np.int64),
        "odd keys": {"__array__": 1, "a/b": np.ones(2, np.uint8)},
        "ordered": OrderedDict([("z", 1), ("a", 2)]),
    }
    path = tmp_path / "c.npz"
    save_checkpoint(path, state)
    got = load_checkpoint(path)
    assert got["a"].dtype == np.float32 and np.array_equal(got["a"], state["a"])
    assert set(got["nested"]) == {0, "names", "t"}
    assert np.array_equal(got["nested"][0]["buf"], [1.5, -0.0])
    assert np.signbit(got["nested"][0]["buf"][1])
    assert got["nested"][0]["step"] == 7 and got["nested"]["t"] == (0.9, 0.999)
    assert got["nested"]["names"] == ["x", None, True]
    s = got["scalars"]
    assert type(s[0]) is np.float32 and s[0] == np.float32(0.1)
    assert type(s[1]) is np.int64 and s[1] == -3
    assert s[2:] == [2**64 - 1, math.inf, -math.inf, 0.1]
    assert math.isnan(got["nan"])
    assert got["empty"].shape == (0, 4) and got["empty"].dtype == np.int64
    assert got["odd keys"]["__array__"] == 1 and np.array_equal(got["odd keys"]["a/b"], [1, 1])
    assert list(got["ordered"]) == ["z", "a"]
    # the arrays are readable by plain NumPy, under their paths
    with np.load(path) as f:
        assert np.array_equal(f["nested/0/buf"], [1.5, -0.0])
    with pytest.raises(TypeError, match="object"):
        save_checkpoint(path, {"bad": object()})


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not a fastdl checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_save_killed_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch, error):
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, {"w": np.ones(1000), "epoch": 1})
    before = path.read_bytes()

    def dies_midway(file, arrays):
        file.write(b"PK\x03\x04" + b"\0" * 5000)  # a part of a zip, then the crash
        raise error("simulated crash while writing")

    monkeypatch.setattr(train, "_write_npz", dies_midway)
    with pytest.raises(error):
        save_checkpoint(path, {"w": np.zeros(1000), "epoch": 2})
    assert path.read_bytes() == before
    got = load_checkpoint(path)
    assert got["epoch"] == 1 and np.array_equal(got["w"], np.ones(1000))
    assert os.listdir(tmp_path) == ["checkpoint.npz"]  # no temporary file left behind


# --- resume ----------------------------------------------------------------------------------
def test_resume_is_bitwise_identical(digits, tmp_path):
    straight = _tiny_run(digits)
    h3 = fit(straight[0], straight[1], straight[3], straight[4], epochs=3,
             scheduler=straight[2], progress=False)

    ckpt = tmp_path / "ckpt.npz"
    first = _tiny_run(digits)
    fit(first[0], first[1], first[3], first[4], epochs=2, scheduler=first[2],
        checkpoint=ckpt, progress=False)
    fd.manual_seed(12345)  # the resumed run must not depend on the generator's state now
    model, opt, sched, loader, val = _tiny_run(digits, seed=7)  # other weights, other seed
    h = fit(model, opt, loader, val, epochs=3, scheduler=sched, checkpoint=ckpt,
            resume=True, progress=False)
    _assert_same_state((straight[0], straight[1]), (model, opt))
    assert _without_time(h) == _without_time(h3)
    assert sched.state_dict() == straight[2].state_dict()
    assert load_checkpoint(ckpt)["epoch"] == 3


def _interrupt_after(n_batches, how):
    """A callback that interrupts the run after n_batches batches in all."""
    count = [0]

    class Interrupt:
        def on_batch_end(self, epoch, batch, logs):
            count[0] += 1
            if count[0] == n_batches:
                if how == "signal":
                    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C
                else:
                    raise KeyboardInterrupt
    return Interrupt()


@pytest.mark.parametrize("how", ["signal", "raise"])
def test_ctrl_c_saves_and_resumes_mid_epoch(digits, tmp_path, how):
    straight = _tiny_run(digits)
    h3 = fit(straight[0], straight[1], straight[3], straight[4], epochs=3,
             scheduler=straight[2], progress=False)

    ckpt = tmp_path / "ckpt.npz"
    model, opt, sched, loader, val = _tiny_run(digits)
    handler = signal.getsignal(signal.SIGINT)
    h = fit(model, opt, loader, val, epochs=3, scheduler=sched, checkpoint=ckpt,
            callbacks=[_interrupt_after(9, how)], progress=False)  # 6 batches an epoch
    assert signal.getsignal(signal.SIGINT) is handler  # restored
    assert h.interrupted and h.epochs == 1
    state = load_checkpoint(ckpt)
    assert (state["epoch"], state["batch"]) == (1, 3)
    assert state["partial"]["count"] == 3 * 32

    model, opt, sched, loader, val = _tiny_run(digits, seed=3)
    h = fit(model, opt, loader, val, epochs=3, scheduler=sched, checkpoint=ckpt, resume=True,
            progress=False)
    assert not h.interrupted
    _assert_same_state((straight[0], straight[1]), (model, opt))
    assert _without_time(h) == _without_time(h3)


def test_resume_checks_what_it_restores(digits, tmp_path):
    ckpt = tmp_path / "ckpt.npz"
    model, opt, sched, loader, _ = _tiny_run(digits)
    fit(model, opt, loader, epochs=1, scheduler=sched, checkpoint=ckpt, progress=False)
    model, opt, _, loader, _ = _tiny_run(digits)
    with pytest.raises(ValueError, match="scheduler"):
        fit(model, opt, loader, epochs=2, checkpoint=ckpt, resume=True, progress=False)
    other = SmallCNN()
    other_opt = fd.optim.Adam(other.parameters())
    with pytest.raises(ValueError, match="state_dict"):
        fit(other, other_opt, loader, epochs=2, resume=ckpt, progress=False,
            scheduler=fd.optim.lr_scheduler.StepLR(other_opt, 1))
    with pytest.raises(ValueError, match="checkpoint="):
        fit(model, opt, loader, epochs=2, resume=True)
