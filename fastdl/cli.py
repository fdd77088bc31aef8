"""The ``fastdl`` command: ``train``, ``race``, ``bench``, ``info``.

Every subcommand has ``--help``. A bad argument is one line on stderr
(``fastdl train: error: ...``) and exit status 2, never a traceback; Ctrl-C during
``fastdl train`` saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad argument found after parsing (an unknown model, a missing data folder...)."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``prog: error: message``."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _csv(kind):
    def parse(text: str):
        try:
            return [kind(x) for x in text.split(",") if x]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, "
                                             f"got {text!r}") from None
    return parse


def _number(kind, minimum, strict=False):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum or (strict and value == minimum) or value != value:
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, "
                                             f"got {text}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _positive_ints(text: str):
    values = _csv(int)(text)
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 1, got {text!r}")
    return values


# --- fastdl info -------------------------------------------------------------------------
def _cmd_info(args) -> int:
    import fastdl

    info = fastdl.build_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k:<{width}}  {', '.join(v) if isinstance(v, list) else v}")
    return 0


# --- fastdl bench ------------------------------------------------------------------------
def _cmd_bench_optim(args) -> int:
    from fastdl import bench

    unknown = [o for o in args.optimizers if o not in bench.OPTIMIZERS]
    if unknown:
        raise UsageError(f"unknown optimizer(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(bench.OPTIMIZERS)}")
    print(f"Fused optimizer steps, float32; workloads: resnet18 = its 62 parameter tensors "
          f"(11,689,512 values), flat = one tensor of that size. Median of {args.repeats} "
          f"interleaved runs; ratios > 1 mean the native kernel is faster.", flush=True)

    def progress(row):
        print(f"  {row['optimizer']} {row['workload']} threads={row['threads']}: "
              f"native {row['native'] * 1e3:.2f} ms", flush=True)

    rows = bench.run_optim_bench(args.optimizers, args.workloads, args.threads,
                                 repeats=args.repeats, with_torch=not args.no_torch,
                                 progress=progress)
    print()
    print(bench.format_table(rows))
    return 0


def _bench_suite(module: str):
    def run(args) -> int:
        import importlib

        suite = importlib.import_module(f"fastdl.bench.{module}")
        suite.run(threads=args.threads, repeats=args.repeats, with_torch=not args.no_torch)
        return 0
    return run


_BENCH_SUITES = {  # name -> (help, module or None for optim)
    "optim": ("fused optimizer steps on the ResNet-18 parameter set", None),
    "bn": ("batch norm forward/backward, training mode (GB/s)", "batchnorm"),
    "gemm": ("matrix products: squares and ResNet's im2col shapes (GFLOP/s)", "gemm"),
    "pool": ("max/avg/adaptive pooling forward/backward", "pooling"),
}


def _cmd_bench_all(args) -> int:
    for name, (_, module) in _BENCH_SUITES.items():
        print(f"\n== fastdl bench {name} ==", flush=True)
        if module is None:
            from fastdl import bench

            args.optimizers, args.workloads = list(bench.OPTIMIZERS), ["resnet18", "flat"]
            _cmd_bench_optim(args)
        else:
            _bench_suite(module)(args)
    return 0


def _add_bench(sub) -> None:
    b = sub.add_parser("bench", help="benchmark tables: native vs NumPy twin vs PyTorch",
                       description="Benchmark tables: each native kernel against its NumPy "
                       "twin and PyTorch (when importable), interleaved, medians and ratios. "
                       "Takes minutes; run nothing else meanwhile.")
    bsub = b.add_subparsers(dest="suite", required=True, metavar="{optim,bn,gemm,pool,all}")

    def common(p, repeats):
        p.add_argument("--threads", type=_positive_ints, default=[1, 2],
                       help="comma-separated thread counts (default 1,2)")
        p.add_argument("--repeats", type=_number(int, 1), default=repeats,
                       help=f"repetitions; the median is reported (default {repeats})")
        p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")

    from fastdl.bench import OPTIMIZERS

    for name, (text, module) in _BENCH_SUITES.items():
        p = bsub.add_parser(name, help=text, description=f"Benchmark: {text}.")
        common(p, 7 if name == "optim" else 5 if name == "gemm" else 9)
        if module is None:
            p.add_argument("--optimizers", type=_csv(str), default=list(OPTIMIZERS),
                           help=f"comma-separated subset of {','.join(OPTIMIZERS)}")
            p.add_argument("--workloads", type=_csv(str), default=["resnet18", "flat"],
                           help="comma-separated: resnet18, flat")
            p.set_defaults(func=_cmd_bench_optim)
        else:
            p.set_defaults(func=_bench_suite(module))
    p = bsub.add_parser("all", help="every suite in turn", description="Every suite in turn.")
    common(p, 7)
    p.set_defaults(func=_cmd_bench_all)


# --- fastdl train ------------------------------------------------------------------------
DATA_HELP = "digits (embedded, the default), mnist:DIR (MNIST or Fashion-MNIST IDX files), " \
            "cifar10:DIR (CIFAR-10 binary or python batches)"
BUILTIN_MODEL = "small_cnn"
TRAIN_DEFAULTS = {"model": BUILTIN_MODEL, "data": "digits", "optim": "adam", "lr": None,
                  "batch_size": 64, "lr_decay": 0.75, "seed": 0}
DEFAULT_EPOCHS = 10


def load_data(spec: str):
    """``((X_train, y_train), (X_test, y_test))`` for a ``--data`` value."""
    from fastdl import data

    kind, _, folder = spec.partition(":")
    if kind == "digits" and not folder:
        return data.load_digits()
    if kind in ("mnist", "cifar10") and folder:
        load = data.load_mnist if kind == "mnist" else data.load_cifar10
        try:
            return load(folder, "train"), load(folder, "test")
        except (OSError, ValueError) as exc:
            raise UsageError(f"--data {spec}: {exc}".replace("\n", " ")) from None
    raise UsageError(f"--data: expected {DATA_HELP}; got {spec!r}")


def _model_names(models) -> list[str]:
    names = getattr(models, "__all__", None) or [n for n in dir(models) if not n.startswith("_")]
    return sorted(n for n in names if callable(getattr(models, n, None))
                  and not isinstance(getattr(models, n), type(os)))


def build_model(name: str, sample):
    """The model ``name`` for inputs like ``sample`` (N, C, H, W): the built-in
    ``small_cnn``, or a function of :mod:`fastdl.models` called with ``num_classes=10``
    (plus ``in_channels`` and ``small_input=True`` for small images, when it takes
    them). A one-line :class:`UsageError` when it is unknown or does not fit the data."""
    import inspect

    import fastdl as fd
    from fastdl.train import SmallCNN

    _, c, h, w = sample.shape
    if name == BUILTIN_MODEL:
        return SmallCNN(in_channels=c, num_classes=10, image_size=(h, w))
    try:
        import fastdl.models as models
    except ImportError as exc:
        raise UsageError(f"--model {name}: fastdl.models is not available in this "
                         f"installation ({exc}); the built-in model is {BUILTIN_MODEL}") from None
    factory = getattr(models, name, None) if not name.startswith("_") else None
    if factory is None or not callable(factory) or isinstance(factory, type(os)):
        raise UsageError(f"--model: unknown model {name!r}; choose from "
                         f"{', '.join([BUILTIN_MODEL] + _model_names(models))}")
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {"num_classes": 10}
    if "in_channels" in params:
        kwargs["in_channels"] = c
    if "small_input" in params and max(h, w) <= 64:
        kwargs["small_input"] = True
    try:
        model = factory(**kwargs)
        model.eval()
        with fd.no_grad():
            out = model(fd.Tensor(sample[:2]))
        model.train()
    except Exception as exc:  # noqa: BLE001 - any failure here means "does not fit"
        raise UsageError(f"--model {name} cannot take this data's {c}x{h}x{w} images: "
                         f"{type(exc).__name__}: {exc}".replace("\n", " ")) from None
    if getattr(out, "shape", None) != (2, 10):
        raise UsageError(f"--model {name} gives outputs of shape {getattr(out, 'shape', '?')} "
                         "for 2 images, expected (2, 10)")
    return model


def _train_config(args, saved):
    """The run's settings: the command line's over the defaults, or with --resume the
    checkpoint's (an option that contradicts it is an error)."""
    given = {k: getattr(args, k) for k in TRAIN_DEFAULTS if getattr(args, k) is not None}
    if saved is None:
        config = {**TRAIN_DEFAULTS, **given}
        config["epochs"] = args.epochs if args.epochs is not None else DEFAULT_EPOCHS
        return config
    config = dict(saved)
    for key, value in given.items():
        if value != config.get(key):
            raise UsageError(f"--resume: --{key.replace('_', '-')} {value} differs from the "
                             f"checkpoint's {config.get(key)}; leave it out to resume")
    if args.epochs is not None:
        config["epochs"] = args.epochs
    return config


def _epoch_line(epochs):
    def on_epoch_end(epoch, r):
        acc = f"  acc {r['accuracy']:.4f}" if r["accuracy"] is not None else ""
        test = (f"  test_loss {r['val_loss']:.4f}  test_acc {r['val_accuracy']:.4f}"
                if r["val_accuracy"] is not None else "")
        print(f"epoch {r['epoch']:>{len(str(epochs))}}/{epochs}  loss {r['loss']:.4f}{acc}{test}"
              f"  lr {r['lr']:.3g}  {r['time']:.1f} s", flush=True)
    return on_epoch_end


def _cmd_train(args) -> int:
    import numpy as np

    import fastdl as fd
    from fastdl import distributed as dist
    from fastdl.data import ArrayDataset, DataLoader
    from fastdl.train import (History, evaluate, fit, load_checkpoint, make_optimizer,
                              num_parameters, plot_history)

    processes, rank = _join_mpi(args.distributed)
    lead = rank == 0  # only rank 0 prints and writes files
    say = print if lead else (lambda *a, **k: None)
    out_dir = args.out
    ckpt = os.path.join(out_dir, "checkpoint.npz")
    saved = None
    if args.resume:
        try:
            saved = load_checkpoint(ckpt)
        except (OSError, ValueError) as exc:
            raise UsageError(f"--resume: {exc}") from None
        saved = (saved.get("extra") or {}).get("config")
        if saved is None:
            raise UsageError(f"--resume: {ckpt} was not written by fastdl train")
    config = _train_config(args, saved)
    saved_processes = config.get("processes", 1)
    config["processes"] = processes
    if args.threads is not None:
        fd.set_num_threads(args.threads)
    elif processes > 1 and "OMP_NUM_THREADS" not in os.environ:
        _share_cores(fd)
    (X_train, y_train), (X_test, y_test) = load_data(config["data"])
    fd.manual_seed(config["seed"])
    model = build_model(config["model"], X_test)
    optimizer = make_optimizer(config["optim"], model.parameters(), config["lr"])
    config["lr"] = optimizer.param_groups[0]["lr"]
    scheduler = None
    if config["lr_decay"] != 1:
        scheduler = fd.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config["lr_decay"])
    if args.distributed:
        # each rank: its shard of a shuffle shared by all (the same order as the plain
        # loader's in a single process), and every P-th test image
        sampler = dist.DistributedSampler(len(X_train), seed=config["seed"])
        train_loader = DataLoader(ArrayDataset(X_train, y_train),
                                  batch_size=config["batch_size"], sampler=sampler,
                                  seed=config["seed"])
        test_loader = DataLoader(ArrayDataset(X_test[rank::processes],
                                              y_test[rank::processes]), batch_size=512)
    else:
        train_loader = DataLoader(ArrayDataset(X_train, y_train),
                                  batch_size=config["batch_size"], shuffle=True,
                                  seed=config["seed"])
        test_loader = DataLoader(ArrayDataset(X_test, y_test), batch_size=512)
    epochs = config["epochs"]
    if lead:
        try:
            os.makedirs(out_dir, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--out {out_dir}: {exc}") from None

    shape = "x".join(map(str, X_train.shape[1:]))
    batch = f"batch {config['batch_size']}" if processes == 1 else \
        f"batch {config['batch_size']} per process x {processes} processes = " \
        f"{config['batch_size'] * processes}"
    if args.resume and saved_processes != processes:
        say(f"note: resuming a run of {saved_processes} process(es) in {processes}: the global "
            f"batch changes from {config['batch_size'] * saved_processes} to "
            f"{config['batch_size'] * processes}", flush=True)
    say(f"fastdl train: {config['model']} ({num_parameters(model):,} parameters) on "
        f"{config['data']} ({len(X_train):,} training / {len(X_test):,} test images, "
        f"{shape}); {config['optim']} lr {config['lr']:g}"
        + (f" x{config['lr_decay']:g} per epoch" if scheduler is not None else "")
        + f", {batch}, {epochs} epochs, {fd.get_num_threads()} thread(s)"
        + (" per process" if processes > 1 else "")
        + f"{', resuming from ' + ckpt if args.resume else ''}", flush=True)
    show_bar = not args.no_progress and sys.stdout.isatty() and lead
    callbacks = [] if show_bar or not lead else [_epoch_line(epochs)]
    t0 = time.perf_counter()
    history = fit(model, optimizer, train_loader, test_loader, epochs=epochs,
                  scheduler=scheduler, checkpoint=ckpt, callbacks=callbacks,
                  progress=show_bar, resume=ckpt if args.resume else None,
                  extra={"config": config}, distributed=args.distributed)
    elapsed = time.perf_counter() - t0
    if lead:
        history.to_json(os.path.join(out_dir, "history.json"))
    if history.interrupted:
        say(f"\ninterrupted after {history.epochs} complete epoch(s): checkpoint saved to "
            f"{ckpt}; continue with: fastdl train --out {out_dir} --resume", flush=True)
        return EXIT_INTERRUPTED
    result = evaluate(model, test_loader, distributed=args.distributed)
    if not lead:
        return 0
    correct = int(np.trace(result["confusion"]))
    written = [os.path.join(out_dir, "history.json"), ckpt]
    note = None
    if history.epochs:
        curves = os.path.join(out_dir, "curves.png")
        if plot_history(History(history), curves, title=f"fastdl train: {config['model']} on "
                        f"{config['data']}, {config['optim']}", val_label="test"):
            written.append(curves)
        else:
            note = ('note: matplotlib is not installed, so no curves.png was drawn '
                    '(pip install "fastdl[plot]")')
    print(f"test accuracy {result['accuracy']:.2%} ({correct}/{len(y_test)}), test loss "
          f"{result['loss']:.4f}; {history.epochs} epochs, {elapsed:.1f} s in this run")
    print("wrote " + ", ".join(written))
    if note:
        print(note)
    return 0


def _join_mpi(distributed: bool) -> tuple[int, int]:
    """(processes, rank) of this run: joins the MPI job with ``--distributed``; a launch
    of several processes without it is an error (they would all write the same files)."""
    from fastdl import distributed as dist

    launched = dist.launched_size()
    if not distributed:
        if launched != 1:
            raise UsageError(f"this process is one of {launched or 'several'} started by an "
                             "MPI launcher: add --distributed to train together (or run a "
                             "single process without mpirun)")
        return 1, 0
    try:
        processes = dist.init()
    except ImportError as exc:
        raise UsageError(f"--distributed: {str(exc).removeprefix('fastdl.distributed: ')}") \
            from None
    if processes == 1 and launched == 1:
        print("fastdl train: note: --distributed without an MPI launch: training in this one "
              "process (for P processes: mpirun -n P fastdl train --distributed ...)",
              file=sys.stderr, flush=True)
    return processes, dist.rank()


def _share_cores(fd) -> None:
    """At most cores / (processes on this machine) threads per process: Open MPI binds
    each of more than 2 processes to a whole socket, whose every core OpenMP would
    otherwise use in each process."""
    local = os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE") or os.environ.get("MPI_LOCALNRANKS")
    if local and local.isdigit() and int(local) > 1:
        share = max(1, (os.cpu_count() or 1) // int(local))
        if fd.get_num_threads() > share:
            fd.set_num_threads(share)


def _add_train(sub) -> None:
    from fastdl.train import OPTIMIZERS

    t = sub.add_parser(
        "train", help="train a CNN (default: a small CNN on the embedded digits)",
        description="Train a model and write history.json, checkpoint.npz and curves.png "
        "into --out. The defaults train a small CNN on the embedded 8x8 digits to ~98-99% "
        "test accuracy in seconds. The learning rate decays by --lr-decay per epoch. "
        "Ctrl-C saves a checkpoint; --resume continues it, bitwise as if never stopped.")
    t.add_argument("--model", help=f"{BUILTIN_MODEL} (default) or a function of fastdl.models "
                   "(lenet5, resnet18, ...)")
    t.add_argument("--data", help=DATA_HELP)
    t.add_argument("--optim", choices=list(OPTIMIZERS), help="optimizer (default adam)")
    t.add_argument("--lr", type=_number(float, 0, strict=True),
                   help="learning rate (default: the optimizer's, see fastdl.train.OPTIMIZERS)")
    t.add_argument("--lr-decay", type=_number(float, 0, strict=True), dest="lr_decay",
                   help="multiply the learning rate by this after each epoch (default 0.75; "
                   "1 keeps it constant)")
    t.add_argument("--batch-size", type=_number(int, 1), dest="batch_size",
                   help="mini-batch size (default 64); with --distributed, per process (the "
                   "global batch is P times larger)")
    t.add_argument("--epochs", type=_number(int, 1),
                   help=f"train up to this epoch (default {DEFAULT_EPOCHS}; with --resume, "
                   "the checkpoint's)")
    t.add_argument("--threads", type=_number(int, 1), help="threads for fastdl's kernels (with "
                   "--distributed: per process, by default at most the machine's cores "
                   "divided by its processes)")
    t.add_argument("--seed", type=int, help="seeds the initial weights and the batch order "
                   "(default 0)")
    t.add_argument("--out", default="fastdl-run", help="output folder (default ./fastdl-run)")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz with its settings")
    t.add_argument("--no-progress", action="store_true", dest="no_progress",
                   help="no progress bar; print a line per epoch instead")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI, launched as mpirun -n P fastdl "
                   "train --distributed ... (needs fastdl[mpi]); each process trains on its "
                   "shard, rank 0 prints and writes the files")
    t.set_defaults(func=_cmd_train)


# --- fastdl race -------------------------------------------------------------------------
def _cmd_race(args) -> int:
    import fastdl as fd
    from fastdl import race

    if args.threads is not None:
        fd.set_num_threads(args.threads)
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: {exc}") from None
    race.main(args.out, parts=args.only, epochs=args.epochs, seed=args.seed)
    return 0


def _race_parts(text: str):
    from fastdl.race import PARTS

    parts = _csv(str)(text)
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of "
                                         f"{','.join(PARTS)}, got {text!r}")
    return parts


def _add_race(sub) -> None:
    from fastdl.race import PARTS

    r = sub.add_parser(
        "race", help="the optimizers compared: Rosenbrock, a saddle, the digits CNN, "
        "logistic regression",
        description="The optimizers of the primer on the same problems: (a) trajectories of "
        "SGD, Momentum, Nesterov, Adagrad, Adadelta, RMSprop, Adam, NAdam, Newton, BFGS, "
        "L-BFGS and CG on the Rosenbrock function and a saddle; (b) training loss against "
        "epoch and wall time of the first-order ones on the digits CNN; (c) f - f* against "
        "iteration of the second-order ones on logistic regression. Prints tables and "
        "writes PNGs (with matplotlib).")
    r.add_argument("--out", default="fastdl-race", help="output folder (default ./fastdl-race)")
    r.add_argument("--only", type=_race_parts, default=list(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)} (default all)")
    r.add_argument("--epochs", type=_number(int, 1), default=3,
                   help="epochs of the CNN race (default 3)")
    r.add_argument("--threads", type=_number(int, 1), help="threads for fastdl's kernels")
    r.add_argument("--seed", type=int, default=0, help="seed of the CNN race (default 0)")
    r.set_defaults(func=_cmd_race)


# --- the parser --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fastdl", description="fastdl: deep learning for NumPy users")
    sub = p.add_subparsers(dest="command", required=True,
                           metavar="{train,race,bench,info}")
    _add_train(sub)
    _add_race(sub)
    _add_bench(sub)
    info = sub.add_parser("info", help="how fastdl was built: OpenMP, threads, instruction set",
                          description="How fastdl was built: OpenMP, threads, instruction set.")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)
    return p


def _prog(args) -> str:
    return " ".join(["fastdl"] + [v for v in (getattr(args, "command", None),
                                              getattr(args, "suite", None)) if v])


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except UsageError as exc:
        print(f"{_prog(args)}: error: {exc}", file=sys.stderr)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{_prog(args)}: interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    dist = sys.modules.get("fastdl.distributed")
    if code and dist is not None and dist.is_initialized() and dist.world_size() > 1:
        dist.abort(code)  # the other ranks may be waiting for this one: end them all
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
