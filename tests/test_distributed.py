"""fastdl.distributed: the sampler (no MPI needed), the single-process fallbacks, and
real 2-process runs under ``mpirun -n 2`` (skipped when mpirun or mpi4py is missing,
unless FASTDL_REQUIRE_MPI=1, as in CI, turns the skip into a failure)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastdl as fd
from fastdl import distributed as dist
from fastdl.data import ArrayDataset, DataLoader
from fastdl.distributed import DistributedSampler
from fastdl.train import fit, load_checkpoint, save_checkpoint

MPI_TIMEOUT = 120  # seconds for one mpirun job; the jobs here take 1-5 s


# --- the sampler -----------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 7, 12, 17])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shards_cover_the_data(n, replicas, shuffle, drop_last):
    for epoch in range(3):
        shards = []
        for r in range(replicas):
            s = DistributedSampler(n, num_replicas=replicas, rank=r, shuffle=shuffle, seed=5,
                                   drop_last=drop_last)
            s.set_epoch(epoch)
            shards.append(list(s))
            assert len(s) == len(shards[-1])
        lengths = {len(sh) for sh in shards}
        assert len(lengths) == 1  # every rank takes the same number of steps
        (per_rank,) = lengths
        counts = np.bincount(np.concatenate([np.asarray(sh, dtype=np.int64) for sh in shards]),
                             minlength=n)
        assert all(0 <= i < n for sh in shards for i in sh)
        if n % replicas == 0:  # exactly once per epoch, across the ranks
            assert per_rank == n // replicas and np.all(counts == 1)
        elif drop_last:  # a few dropped, none twice
            assert per_rank == n // replicas
            assert counts.max(initial=0) <= 1 and counts.sum() == n - n % replicas
        else:  # padded: everything once, the first few of the order twice
            assert per_rank == -(-n // replicas)
            assert counts.min() >= 1 and counts.sum() == per_rank * replicas
            assert counts.max() <= 1 + -(-(per_rank * replicas - n) // n)


def test_sampler_order_is_seeded_and_changes_per_epoch():
    def shard(seed, epoch, rank=0):
        s = DistributedSampler(100, num_replicas=2, rank=rank, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert shard(1, 0) == shard(1, 0)
    assert shard(1, 0) != shard(1, 1)
    assert shard(1, 0) != shard(2, 0)
    assert set(shard(1, 0)).isdisjoint(shard(1, 0, rank=1))
    unshuffled = DistributedSampler(10, num_replicas=3, rank=1, shuffle=False)
    assert list(unshuffled) == [1, 4, 7, 0]  # padded with the first index


def test_the_ranks_batches_make_the_single_process_batch():
    """Step b's P batches together are batch b of DataLoader(batch_size=P*B, shuffle)."""
    n, P, B, seed = 96, 3, 4, 11
    X, y = np.arange(n, dtype=np.float32)[:, None], np.arange(n)
    single = DataLoader(ArrayDataset(X, y), batch_size=P * B, shuffle=True, seed=seed)
    for epoch in (0, 2):
        single.set_epoch(epoch)
        ranks = []
        for r in range(P):
            loader = DataLoader(ArrayDataset(X, y), batch_size=B, seed=seed,
                                sampler=DistributedSampler(n, P, r, seed=seed))
            loader.set_epoch(epoch)
            ranks.append(list(loader))
        for b, (_, yb) in enumerate(single):
            together = np.concatenate([ranks[r][b][1] for r in range(P)])
            assert sorted(together.tolist()) == sorted(yb.tolist())


def test_sampler_defaults_and_errors():
    s = DistributedSampler(ArrayDataset(np.zeros((5, 1)), np.zeros(5)))
    assert (s.num_replicas, s.rank, s.seed, s.shuffle, s.drop_last) == (1, 0, 0, True, False)
    assert sorted(s) == list(range(5))
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(5, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(5, num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="rank"):
        DistributedSampler(5, num_replicas=2, rank=1.0)
    with pytest.raises(TypeError, match="seed"):
        DistributedSampler(5, seed="0")
    with pytest.raises(ValueError, match="epoch"):
        s.set_epoch(-1)


def test_dataloader_with_a_sampler():
    X, y = np.arange(10, dtype=np.float32)[:, None], np.arange(10)
    sampler = DistributedSampler(10, num_replicas=2, rank=1, seed=3)
    loader = DataLoader(ArrayDataset(X, y), batch_size=2, sampler=sampler, seed=3)
    assert len(loader) == 3
    loader.set_epoch(4)
    assert sampler.epoch == 4
    got = np.concatenate([yb for _, yb in loader])
    assert got.tolist() == sampler.indices(4).tolist()
    state = loader.state_dict()
    assert state == {"seed": 3, "epoch": 5, "sampler": {"seed": 3, "epoch": 4}}
    other = DataLoader(ArrayDataset(X, y), batch_size=2, seed=3,
                       sampler=DistributedSampler(10, num_replicas=2, rank=1, seed=99))
    other.load_state_dict(state)
    assert other.sampler.seed == 3 and other.epoch == 5
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ArrayDataset(X, y), shuffle=True, sampler=sampler)
    with pytest.raises(TypeError, match="sampler"):
        DataLoader(ArrayDataset(X, y), sampler=3)


# --- one process, no MPI launch ------------------------------------------------------------------
def test_single_process_fallbacks():
    assert dist.init() == 1 and dist.world_size() == 1 and dist.rank() == 0
    model = fd.nn.Linear(3, 2)
    model(fd.Tensor(np.ones((4, 3), np.float32))).sum().backward()
    before = [p.grad.copy() for p in model.parameters()]
    assert dist.allreduce_gradients(model) == 0
    assert all(np.array_equal(a, p.grad) for a, p in zip(before, model.parameters()))
    dist.broadcast_parameters(model)
    a = np.array([1.5, 2.0])
    assert dist.allreduce(a) is a and a.tolist() == [1.5, 2.0]
    with pytest.raises(ValueError, match="op"):
        dist.allreduce(a, "prod")
    with pytest.raises(ValueError, match="bucket_size"):
        dist.allreduce_gradients(model, bucket_size=0)


def _digits_fit(distributed, epochs=2, **kwargs):
    (X, y), _ = fd.data.load_digits()
    fd.manual_seed(0)
    model = fd.train.SmallCNN(width=4)
    opt = fd.optim.Adam(model.parameters(), lr=1e-2)
    if distributed:
        loader = DataLoader(ArrayDataset(X[:300], y[:300]), batch_size=32, seed=1,
                            sampler=DistributedSampler(300, seed=1))
    else:
        loader = DataLoader(ArrayDataset(X[:300], y[:300]), batch_size=32, shuffle=True, seed=1)
    history = fit(model, opt, loader, epochs=epochs, progress=False,
                  distributed=distributed, **kwargs)
    return model, history


def test_fit_distributed_in_one_process_is_an_ordinary_run():
    m1, h1 = _digits_fit(False)
    m2, h2 = _digits_fit(True)
    assert h1["loss"] == h2["loss"]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert np.array_equal(a, b), k
    (_, _), (Xt, yt) = fd.data.load_digits()
    test = DataLoader(ArrayDataset(Xt, yt), batch_size=100)
    plain, reduced = fd.train.evaluate(m1, test), fd.train.evaluate(m1, test, distributed=True)
    assert plain["loss"] == reduced["loss"] and plain["accuracy"] == reduced["accuracy"]
    assert np.array_equal(plain["confusion"], reduced["confusion"])
    with pytest.raises(ValueError, match="no examples"):
        fd.train.evaluate(m1, [], distributed=True)


def test_mid_epoch_checkpoint_resumes_only_with_its_process_count(tmp_path):
    ckpt = tmp_path / "c.npz"
    _digits_fit(False, epochs=1, checkpoint=ckpt)
    state = load_checkpoint(ckpt)
    assert state["processes"] == 1
    state.update(processes=2, epoch=0, batch=3,
                 partial={"loss_sum": 1.0, "correct": 0, "count": 96, "classify": True,
                          "time": 0.0})
    save_checkpoint(ckpt, state)
    with pytest.raises(ValueError, match="middle of epoch 1 by a run of 2"):
        _digits_fit(False, epochs=2, resume=ckpt)
    state.update(epoch=1, batch=0, partial=None)  # an epoch's end: any count resumes
    save_checkpoint(ckpt, state)
    _, history = _digits_fit(False, epochs=2, resume=ckpt)
    assert history.epochs == 2


def test_without_mpi4py_a_launched_process_gets_one_line_naming_the_extra(run_python):
    block = "import sys; sys.modules['mpi4py'] = None\n"
    env = {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"}
    r = run_python(block + "import fastdl.distributed as d\ntry:\n    d.init()\n"
                   "except ImportError as e:\n    print(e)\n", env=env)
    assert r.returncode == 0, r.stderr
    assert "one of 2" in r.stdout and 'pip install "fastdl[mpi]"' in r.stdout
    r = run_python(block + "from fastdl.cli import main\nsys.exit(main(sys.argv[1:]))",
                   "train", "--distributed", "--epochs", "1", env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastdl train: error: --distributed: ")
    assert 'fastdl[mpi]' in lines[0]
    r = run_python(block + "from fastdl.cli import main\nsys.exit(main(sys.argv[1:]))",
                   "train", "--epochs", "1", env=env)
    assert r.returncode == 2 and "add --distributed" in r.stderr


# --- mpirun -n 2 ------------------------------------------------------------------------------
def _mpirun_prefix():
    """The mpirun command line for 2 local processes, or a skip (a failure under
    FASTDL_REQUIRE_MPI=1) when mpirun or mpi4py is missing."""
    def missing(why):
        if os.environ.get("FASTDL_REQUIRE_MPI") == "1":
            pytest.fail(f"FASTDL_REQUIRE_MPI=1 but {why}")
        pytest.skip(why)

    mpirun = shutil.which("mpirun")
    if mpirun is None:
        missing("no mpirun on PATH (Debian: apt install openmpi-bin libopenmpi-dev)")
    probe = subprocess.run([sys.executable, "-c", "import mpi4py"], capture_output=True,
                           cwd=tempfile.gettempdir())
    if probe.returncode != 0:
        missing('mpi4py is not installed (pip install "fastdl[mpi]")')
    version = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" in version or "OpenRTE" in version:
        return [mpirun, "-n", "2", "--oversubscribe", "--allow-run-as-root"]
    return [mpirun, "-n", "2"]


@pytest.fixture
def mpirun():
    prefix = _mpirun_prefix()

    def run(*args, timeout=MPI_TIMEOUT):
        """Run ``mpirun -n 2 args`` from a temporary folder (never the checkout: see
        conftest.run_python); a job past ``timeout`` is killed and fails the test."""
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with tempfile.TemporaryDirectory() as cwd:
            proc = subprocess.Popen([*prefix, *map(str, args)], cwd=cwd, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)  # mpirun takes its ranks down with it
                try:
                    out, err = proc.communicate(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    out, err = proc.communicate()
                pytest.fail(f"mpirun {' '.join(map(str, args))} still running after "
                            f"{timeout} s\nstdout:\n{out}\nstderr:\n{err}")
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return run


# Trains three small models on 512 digits (8 global batches of 64) for 2 epochs (LBFGS:
# 256 digits, 1 epoch: its line search turns rounding differences into different
# steps after a few more), with
# DistributedSampler + fit(distributed=True) under mpirun ("dist") or with the
# equivalent single-process loader (batch 64, same seed: the same global batches), and
# saves each rank's final state; then exercises allreduce_gradients' buckets.
TRAIN_SCRIPT = r"""
import sys
import numpy as np
import fastdl as fd
from fastdl import distributed as dist, nn
from fastdl.data import ArrayDataset, DataLoader, load_digits
from fastdl.train import SmallCNN, evaluate, fit

mode, out = sys.argv[1], sys.argv[2]
fd.set_num_threads(1)
(X, y), (Xt, yt) = load_digits()
X, y = X[:512], y[:512]
B = 32  # per rank; the global batch is 64


def net(bn):
    fd.manual_seed(0)
    if bn:
        return SmallCNN(width=4)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64, 10))


def optimizer(name, params):
    if name == "sgd":
        return fd.optim.SGD(params, lr=0.1, momentum=0.9)
    if name == "adam":
        return fd.optim.Adam(params, lr=1e-2)
    return fd.optim.LBFGS(params, lr=1, max_iter=3, history_size=5,
                          line_search_fn="strong_wolfe")


results = {}
for case, bn, name, n, epochs in [("sgd", False, "sgd", 512, 2),
                                  ("adam_bn", True, "adam", 512, 2),
                                  ("lbfgs", False, "lbfgs", 256, 1)]:
    model = net(bn)
    if mode == "dist":
        if dist.init() and dist.rank() == 1:  # broadcast_parameters must undo this
            for p in model.parameters():
                p.data += 1
            for b in model.buffers():
                b += 1
        loader = DataLoader(ArrayDataset(X[:n], y[:n]), batch_size=B, seed=3,
                            sampler=dist.DistributedSampler(n, seed=3))
    else:
        loader = DataLoader(ArrayDataset(X[:n], y[:n]), batch_size=2 * B, shuffle=True, seed=3)
    history = fit(model, optimizer(name, model.parameters()), loader, epochs=epochs,
                  progress=False, distributed=mode == "dist")
    for k, v in model.state_dict().items():
        results[f"{case}/{k}"] = np.array(v)
    results[f"{case}/loss"] = np.array(history["loss"])
    results[f"{case}/accuracy"] = np.array(history["accuracy"])
    if case == "adam_bn" and mode == "dist":  # each rank evaluates every other test image
        P, r = dist.world_size(), dist.rank()
        shard = DataLoader(ArrayDataset(Xt[r::P], yt[r::P]), batch_size=50)
        result = evaluate(model, shard, distributed=True)
        results["eval/loss"] = np.array(result["loss"])
        results["eval/confusion"] = result["confusion"]

if mode == "dist":
    r = dist.rank()
    params = [nn.Parameter(np.zeros(shape, dtype=dt)) for shape, dt in
              [((3, 5), np.float32), ((7,), np.float64), ((1000,), np.float32),
               ((2, 2), np.float32)]]
    for bucket in (1, 64, 4 << 20):
        for i, p in enumerate(params):
            p.grad = (np.arange(p.data.size, dtype=p.data.dtype).reshape(p.data.shape)
                      * (r + 1) + i)
        results[f"bucket{bucket}/calls"] = np.array(dist.allreduce_gradients(params, bucket))
        for i, p in enumerate(params):
            results[f"bucket{bucket}/{i}"] = p.grad.copy()
    np.savez(f"{out}/rank{r}.npz", **results)
else:
    np.savez(f"{out}/single.npz", **results)
"""


def test_two_ranks_stay_identical_and_match_one_process(mpirun, run_python, tmp_path):
    r = mpirun(sys.executable, "-c", TRAIN_SCRIPT, "dist", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_python(TRAIN_SCRIPT, "single", str(tmp_path), env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    with np.load(tmp_path / "rank0.npz") as f0, np.load(tmp_path / "rank1.npz") as f1, \
            np.load(tmp_path / "single.npz") as fs:
        rank0, rank1, single = dict(f0), dict(f1), dict(fs)
    assert rank0.keys() == rank1.keys()
    for k in rank0:  # parameters, buffers and metrics bitwise the same on both ranks
        assert np.array_equal(rank0[k], rank1[k]), k
    for k in single:
        if k.startswith(("sgd/", "lbfgs/")):  # no BatchNorm: the same function as 1 process
            np.testing.assert_allclose(rank0[k], single[k], rtol=1e-4, atol=1e-5, err_msg=k)
    # with BatchNorm (per-rank batch statistics) the run differs a little from one
    # process on the global batch, but trains as well
    assert abs(rank0["adam_bn/loss"][-1] - single["adam_bn/loss"][-1]) < 0.1
    assert not np.array_equal(rank0["adam_bn/bn1.running_mean"],
                              single["adam_bn/bn1.running_mean"])
    # evaluate(distributed=True) on the shards: the metrics of the whole test set
    model = fd.train.SmallCNN(width=4)
    model.load_state_dict({k[len("adam_bn/"):]: v for k, v in rank0.items()
                           if k.startswith("adam_bn/") and k not in ("adam_bn/loss",
                                                                     "adam_bn/accuracy")})
    (_, _), (Xt, yt) = fd.data.load_digits()
    whole = fd.train.evaluate(model, DataLoader(ArrayDataset(Xt, yt), batch_size=50))
    assert np.array_equal(rank0["eval/confusion"], whole["confusion"])
    assert rank0["eval/confusion"].sum() == len(yt)
    np.testing.assert_allclose(rank0["eval/loss"], whole["loss"], rtol=1e-5)
    # allreduce_gradients: the mean of the ranks' grads, whatever the buckets
    # calls: bucket 1 byte: an Allreduce per value (15 + 7 + 1000 + 4); 64 bytes: the
    # 60-, 56- (float64) and 16-byte grads in a bucket each, the 4000-byte one in slices
    # of 16 values (63); 4 MiB: the float32 grads 0, then 1 (float64), then 2 and 3 together
    for bucket, calls in ((1, 1026), (64, 66), (4 << 20, 3)):
        assert int(rank0[f"bucket{bucket}/calls"]) == calls
        for i, (size, dt) in enumerate([(15, np.float32), (7, np.float64), (1000, np.float32),
                                        (4, np.float32)]):
            got = rank0[f"bucket{bucket}/{i}"]
            assert got.dtype == dt
            expected = np.arange(size, dtype=np.float64) * (1 + 2) / 2 + i
            np.testing.assert_array_equal(got.reshape(-1), expected.astype(dt))


def _cli(*args):
    return (sys.executable, "-m", "fastdl.cli", "train", "--no-progress", *args)


def _arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files if k != "__checkpoint__"}


def test_checkpoint_of_two_ranks_resumes_in_two_and_in_one(mpirun, run_python, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    r = mpirun(*_cli("--distributed", "--epochs", "2", "--out", whole))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("fastdl train: small_cnn") == 1  # rank 0 alone prints
    assert "batch 64 per process x 2 processes = 128" in r.stdout
    r = mpirun(*_cli("--distributed", "--epochs", "1", "--out", split))
    assert r.returncode == 0, r.stdout + r.stderr
    r = mpirun(*_cli("--distributed", "--resume", "--epochs", "2", "--out", split))
    assert r.returncode == 0, r.stdout + r.stderr
    a, b = _arrays(whole / "checkpoint.npz"), _arrays(split / "checkpoint.npz")
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)  # bitwise the uninterrupted run
    h = json.loads((split / "history.json").read_text())
    assert h["epoch"] == [1, 2] and h["loss"] == json.loads(
        (whole / "history.json").read_text())["loss"]
    assert load_checkpoint(split / "checkpoint.npz")["processes"] == 2
    # the same checkpoint continues in a single process (its batch is the per-process 64)
    code = "import sys\nfrom fastdl.cli import main\nsys.exit(main(sys.argv[1:]))"
    r = run_python(code, *_cli("--resume", "--epochs", "3", "--out", str(split))[3:],
                   env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "resuming a run of 2 process(es) in 1" in r.stdout
    h = json.loads((split / "history.json").read_text())
    assert h["epoch"] == [1, 2, 3] and h["loss"][2] < h["loss"][0]
    assert h["val_accuracy"][2] > 0.8


RAISE_SCRIPT = r"""
import numpy as np
import fastdl as fd
from fastdl import distributed as dist
from fastdl.data import ArrayDataset, DataLoader, load_digits
from fastdl.train import SmallCNN, fit


class Fail:
    def on_batch_end(self, epoch, batch, logs):
        if dist.rank() == 1 and batch == 2:
            raise ValueError("rank 1 fails on purpose")


(X, y), _ = load_digits()
dist.init()
fd.manual_seed(0)
model = SmallCNN(width=4)
loader = DataLoader(ArrayDataset(X, y), batch_size=16, seed=0,
                    sampler=dist.DistributedSampler(len(X)))
fit(model, fd.optim.SGD(model.parameters(), lr=0.1), loader, epochs=50, progress=False,
    distributed=True, callbacks=[Fail()])
print("finished")
"""


def test_a_raising_rank_ends_the_job_with_its_error(mpirun):
    r = mpirun(sys.executable, "-c", RAISE_SCRIPT, timeout=60)
    assert r.returncode != 0
    assert "ValueError: rank 1 fails on purpose" in r.stderr
    assert "rank 1 of 2 failed" in r.stderr
    assert "finished" not in r.stdout


def test_mpirun_without_distributed_is_an_error(mpirun):
    r = mpirun(*_cli("--epochs", "1", "--out", "run"))
    assert r.returncode != 0
    assert "add --distributed" in r.stderr


# A stop requested on one rank (Ctrl-C delivered to it, or a callback) stops every rank
# after the same batch; rank 0's mid-epoch checkpoint then resumes in 2 processes,
# bitwise as the uninterrupted run.
INTERRUPT_SCRIPT = r"""
import os
import signal
import sys
import fastdl as fd
from fastdl import distributed as dist
from fastdl.data import ArrayDataset, DataLoader, load_digits
from fastdl.train import SmallCNN, fit

stage, out = sys.argv[1], sys.argv[2]
fd.set_num_threads(1)
(X, y), (Xt, yt) = load_digits()


def run(checkpoint, resume=None, callbacks=()):
    P, r = dist.init(), dist.rank()
    fd.manual_seed(0)
    model = SmallCNN(width=4)
    opt = fd.optim.Adam(model.parameters(), lr=1e-2)
    sched = fd.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    train = DataLoader(ArrayDataset(X, y), batch_size=32, seed=1,
                       sampler=dist.DistributedSampler(len(X), seed=1))
    val = DataLoader(ArrayDataset(Xt[r::P], yt[r::P]), batch_size=100)
    return fit(model, opt, train, val, epochs=2, scheduler=sched, checkpoint=checkpoint,
               progress=False, distributed=True, resume=resume, callbacks=callbacks)


class CtrlC:
    def on_batch_end(self, epoch, batch, logs):
        if dist.rank() == 1 and (epoch, batch) == (1, 5):
            os.kill(os.getpid(), signal.SIGINT)


if stage == "first":
    run(f"{out}/whole.npz")
    history = run(f"{out}/split.npz", callbacks=[CtrlC()])
    print("rank", dist.rank(), "interrupted", history.interrupted, history.epochs)
else:
    history = run(f"{out}/split.npz", resume=True)
    print("rank", dist.rank(), "resumed", history.interrupted, history.epochs)
"""


def test_a_stop_on_one_rank_stops_all_and_resumes_bitwise(mpirun, tmp_path):
    r = mpirun(sys.executable, "-c", INTERRUPT_SCRIPT, "first", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rank 0 interrupted True 1" in r.stdout and "rank 1 interrupted True 1" in r.stdout
    state = load_checkpoint(tmp_path / "split.npz")
    assert (state["epoch"], state["batch"], state["processes"]) == (1, 6, 2)
    r = mpirun(sys.executable, "-c", INTERRUPT_SCRIPT, "resume", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rank 0 resumed False 2" in r.stdout and "rank 1 resumed False 2" in r.stdout
    a, b = _arrays(tmp_path / "whole.npz"), _arrays(tmp_path / "split.npz")
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    whole, split = load_checkpoint(tmp_path / "whole.npz"), load_checkpoint(tmp_path / "split.npz")
    assert whole["history"]["loss"] == split["history"]["loss"]
    assert whole["history"]["val_accuracy"] == split["history"]["val_accuracy"]
