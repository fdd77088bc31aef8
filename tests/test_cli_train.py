"""`fastdl train`, `fastdl race`, `fastdl bench`: through the real entry point in a
subprocess (working directory: a temporary folder, so the installed package is the one
imported), and argument handling in-process."""

import json
import signal
import subprocess
import sys
import types

import numpy as np
import pytest

from fastdl import cli
from fastdl.train import load_checkpoint


def fastdl(*args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "fastdl.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _one_line_error(err: str, prog: str = "fastdl"):
    """One line, ``<prog>: error: ...`` (argparse reports an unknown option from the top
    parser: its prog is "fastdl")."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(prog) and ": error: " in lines[0], err
    assert "Traceback" not in err


# --- fastdl train ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """`fastdl train --epochs 2` in a fresh folder: (folder, CompletedProcess)."""
    cwd = tmp_path_factory.mktemp("train")
    return cwd, fastdl("train", "--epochs", 2, cwd=cwd)


def test_train_writes_its_files(two_epochs):
    cwd, proc = two_epochs
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "small_cnn" in out and "digits" in out
    assert out.count("\nepoch ") == 2  # a line per epoch: stdout is not a terminal
    assert "test accuracy" in out
    run = cwd / "fastdl-run"
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1, 2] and history["interrupted"] is False
    assert history["val_accuracy"][-1] >= 0.95
    printed = float(out.split("test accuracy ")[1].split("%")[0]) / 100
    assert printed == pytest.approx(history["val_accuracy"][-1], abs=1e-4)
    state = load_checkpoint(run / "checkpoint.npz")
    assert state["epoch"] == 2 and state["extra"]["config"]["optim"] == "adam"
    assert "conv1.weight" in state["model"]
    if _have_matplotlib():
        assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "curves.png" in out
    else:
        assert not (run / "curves.png").exists()
        assert "matplotlib is not installed" in out


def test_train_resume_matches_a_straight_run(two_epochs, tmp_path):
    cwd, first = two_epochs
    assert first.returncode == 0, first.stderr
    resumed = fastdl("train", "--resume", "--epochs", 3, cwd=cwd)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("\nepoch ") == 1 and "epoch 3/3" in resumed.stdout
    straight = fastdl("train", "--epochs", 3, "--out", "straight", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    a = load_checkpoint(cwd / "fastdl-run" / "checkpoint.npz")
    b = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert np.array_equal(a["model"][k], b["model"][k]), k
    ha = json.loads((cwd / "fastdl-run" / "history.json").read_text())
    hb = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert ha["loss"] == hb["loss"] and ha["val_accuracy"] == hb["val_accuracy"]
    # an option that contradicts the checkpoint is an error, not a silent mix
    bad = fastdl("train", "--resume", "--lr", 0.5, cwd=cwd)
    assert bad.returncode == 2
    _one_line_error(bad.stderr, "fastdl train")
    assert "--lr" in bad.stderr


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "fastdl.cli", "train", "--epochs", "500"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()  # the header
        line = proc.stdout.readline()  # epoch 1 done: training is under way
        assert line.startswith("epoch "), line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in out and "--resume" in out
    run = tmp_path / "fastdl-run"
    state = load_checkpoint(run / "checkpoint.npz")
    assert json.loads((run / "history.json").read_text())["interrupted"] is True
    done = state["epoch"]
    resumed = fastdl("train", "--resume", "--epochs", done + 1, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run / "checkpoint.npz")["epoch"] == done + 1


def test_train_on_mnist_files(tmp_path, capsys, monkeypatch):
    # tiny IDX files in MNIST's layout (random images): the --data path end to end
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 32)):
        for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
            a = rng.integers(0, 256 if kind[0] == "i" else 10, size=shape, dtype=np.uint8)
            header = bytes([0, 0, 8, a.ndim]) + b"".join(d.to_bytes(4, "big") for d in shape)
            (tmp_path / f"{prefix}-{kind}-ubyte").write_bytes(header + a.tobytes())
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--data", f"mnist:{tmp_path}", "--epochs", "1",
                     "--batch-size", "32", "--out", "m"]) == 0
    out = capsys.readouterr().out
    assert "96 training / 32 test images, 1x28x28" in out and "test accuracy" in out
    assert load_checkpoint(tmp_path / "m" / "checkpoint.npz")["model"]["fc.weight"].shape == \
        (10, 32 * 14 * 14)


@pytest.mark.parametrize("args, needle", [
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "two"], "--epochs"),
    (["--lr", "-1"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--optim", "lion"], "lion"),
    (["--data", "imagenet"], "--data"),
    (["--data", "mnist:/nonexistent/folder"], "mnist"),
    (["--model", "no_such_model"], "no_such_model"),
    (["--resume"], "checkpoint"),
    (["--bogus"], "--bogus"),
])
def test_train_bad_arguments(args, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        status = cli.main(["train", *args])
    except SystemExit as e:
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    _one_line_error(err, "fastdl train" if needle != "--bogus" else "fastdl")
    assert needle in err
    assert not (tmp_path / "fastdl-run" / "checkpoint.npz").exists()


def test_bad_arguments_through_the_entry_point(tmp_path):
    proc = fastdl("train", "--optim", "lion", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    _one_line_error(proc.stderr, "fastdl train")
    proc = fastdl("race", "--only", "everything", cwd=tmp_path)
    assert proc.returncode == 2
    _one_line_error(proc.stderr, "fastdl race")
    proc = fastdl(cwd=tmp_path)
    assert proc.returncode == 2
    _one_line_error(proc.stderr, "fastdl")


@pytest.mark.parametrize("command", [[], ["train"], ["race"], ["bench"], ["bench", "optim"],
                                     ["bench", "bn"], ["bench", "gemm"], ["bench", "pool"],
                                     ["bench", "all"], ["info"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([*command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fastdl")
    assert "--help" in out


def test_help_through_the_entry_point(tmp_path):
    proc = fastdl("train", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "--resume" in proc.stdout and "--optim" in proc.stdout


# --- models from fastdl.models ---------------------------------------------------------------
def test_model_lookup_in_fastdl_models(monkeypatch):
    import fastdl as fd

    calls = []

    def tiny(num_classes=1000, small_input=False, in_channels=3):
        calls.append(dict(num_classes=num_classes, small_input=small_input,
                          in_channels=in_channels))
        return fd.nn.Sequential(fd.nn.Flatten(), fd.nn.Linear(in_channels * 64, num_classes))

    def broken(num_classes=1000):
        return fd.nn.Sequential(fd.nn.Flatten(), fd.nn.Linear(3 * 32 * 32, num_classes))

    fake = types.ModuleType("fastdl.models")
    fake.tiny, fake.broken, fake.__all__ = tiny, broken, ["tiny", "broken"]
    monkeypatch.setitem(sys.modules, "fastdl.models", fake)
    monkeypatch.setattr(fd, "models", fake, raising=False)
    sample = np.zeros((5, 1, 8, 8), np.float32)
    model = cli.build_model("tiny", sample)
    assert calls == [dict(num_classes=10, small_input=True, in_channels=1)]
    assert model(fd.Tensor(sample)).shape == (5, 10)
    with pytest.raises(cli.UsageError, match="broken cannot take this data's 1x8x8 images"):
        cli.build_model("broken", sample)
    with pytest.raises(cli.UsageError, match="unknown model 'resnet999'; choose from "
                                             "small_cnn, broken, tiny"):
        cli.build_model("resnet999", sample)


# --- fastdl race -----------------------------------------------------------------------------
def _have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_race_prints_tables_and_writes_pngs(tmp_path):
    # one thread: the 8x8 images are too small to share, and a busy machine makes
    # OpenMP's spinning threads slow (the results are the same for any thread count)
    proc = fastdl("race", "--only", "trajectories,cnn", "--epochs", 1, "--out", "r",
                  "--threads", 1, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for method in ("SGD", "Momentum", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam",
                   "NAdam", "Newton", "BFGS", "L-BFGS", "CG"):
        assert f"\n  {method} " in out, method
    # the quasi-Newton methods reach Rosenbrock's minimum (1, 1)
    for method in ("Newton", "BFGS", "L-BFGS", "CG"):
        row = out.split(f"\n  {method} ")[1].splitlines()[0]
        assert "(1.0000, 1.0000)" in row, row
    if not _have_matplotlib():
        assert "matplotlib is not installed" in out
        pytest.skip("matplotlib is not installed: no PNGs to check")
    for name in ("race_trajectories.png", "race_cnn.png"):
        assert (tmp_path / "r" / name).read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "r" / "race_logreg.png").exists()


_LOGREG_CHECK = """
import sys
import numpy as np
from fastdl import race

results, fstar, dim = race.logreg_race(tol=1e-5, max_iter=60)  # the real run: 1e-10, 500
assert dim == 650 and set(results) == {"Newton", "BFGS", "L-BFGS", "CG", "GD"}
for label, r in results.items():
    assert r["f"].shape == (r["nit"] + 1,) and r["f"][-1] >= fstar
    assert np.all(np.diff(r["f"]) <= 1e-10 * abs(r["f"][0])), label  # descent methods
assert results["Newton"]["success"] and results["Newton"]["nit"] < 20
assert results["Newton"]["f"][-1] - fstar < 1e-9
table = race._logreg_table(results, fstar, dim)
assert table.count("\\n  ") == 6, table  # header and five rows
if race._have_matplotlib():
    race._plot_logreg(results, fstar, sys.argv[1])
print("ok")
"""


def test_race_logreg(run_python, tmp_path):
    # in a fresh process with one BLAS thread: the race's products are small, and
    # OpenBLAS's two threads on a busy 2-core machine can make them 50x slower
    # (fastdl race itself limits them through threadpoolctl when it is installed)
    png = tmp_path / "race_logreg.png"
    proc = run_python(_LOGREG_CHECK, str(png), env={"OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    if _have_matplotlib():
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_minimize_path_recovers_the_iterates():
    from fastdl import race
    from fastdl.optim import minimize

    pb = race.PROBLEMS["rosenbrock"]

    def fun(v):
        return pb["f"](v), pb["grad"](v)

    path, res = race.minimize_path(fun, pb["x0"], "bfgs", jac=True, tol=1e-8)
    assert len(path) == res.nit + 1
    assert np.array_equal(path[-1], res.x)
    assert np.array_equal([pb["f"](p) for p in path], res.history["f"])
    # iterate k is where minimize stands after k iterations
    for k in (1, 5, res.nit // 2):
        assert np.array_equal(minimize(fun, pb["x0"], jac=True, method="bfgs", tol=1e-8,
                                       max_iter=k).x, path[k])


def test_first_order_paths_match_the_optimizer_classes():
    # the race's fused-op loop takes the same steps as fastdl.optim's classes
    import fastdl as fd
    from fastdl import race

    pb = race.PROBLEMS["rosenbrock"]
    classes = {"SGD": (fd.optim.SGD, {}), "Momentum": (fd.optim.SGD, {"momentum": 0.9}),
               "Nesterov": (fd.optim.SGD, {"momentum": 0.9, "nesterov": True}),
               "Adagrad": (fd.optim.Adagrad, {}), "Adadelta": (fd.optim.Adadelta, {}),
               "RMSprop": (fd.optim.RMSprop, {}), "Adam": (fd.optim.Adam, {}),
               "NAdam": (fd.optim.NAdam, {})}
    for method, (cls, kw) in classes.items():
        lr = pb["lr"][method]
        path = race.first_order_path(method, pb["grad"], pb["x0"], lr, 20)
        p = fd.nn.Parameter(np.array(pb["x0"]))
        opt = cls([p], lr=lr, **kw)
        for k in range(1, 21):
            p.grad = pb["grad"](p.data)
            opt.step()
            assert np.array_equal(p.data, path[k]), (method, k)


# --- fastdl bench ----------------------------------------------------------------------------
def test_bench_suites_on_small_shapes(monkeypatch, capsys):
    from fastdl.bench import batchnorm, gemm, pooling

    monkeypatch.setattr(batchnorm, "SHAPES", [(4, 3, 5, 5)])
    monkeypatch.setattr(gemm, "SHAPES", [(17, 9, 13)])
    monkeypatch.setattr(pooling, "WORKLOADS", {
        "max-small": ("max", (2, 3, 9, 9), dict(kernel_size=3, stride=2, padding=1)),
        "avg-small": ("avg", (2, 3, 8, 8), dict(kernel_size=2, stride=2)),
        "adaptive-small": ("adaptive", (2, 3, 5, 5), dict(output_size=1))})
    for suite in ("bn", "gemm", "pool"):
        assert cli.main(["bench", suite, "--threads", "1,2", "--repeats", "1"]) == 0
        out = capsys.readouterr().out
        assert "numpy" in out
    assert cli.main(["bench", "bn", "--threads", "1", "--repeats", "1", "--no-torch"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith(("fwd ", "bwd "))]
    assert len(rows) == 2 and all(" nan " in r for r in rows)  # no torch column values


def test_bench_bad_arguments(capsys):
    for args in (["bench", "conv2d"], ["bench", "bn", "--threads", "0"],
                 ["bench", "gemm", "--repeats", "x"]):
        with pytest.raises(SystemExit) as e:
            cli.main(args)
        assert e.value.code == 2
        _one_line_error(capsys.readouterr().err, "fastdl bench" if args[1] == "conv2d"
                        else f"fastdl bench {args[1]}")
