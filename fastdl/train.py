"""The training loop, evaluation and checkpoints.

- :func:`fit` trains a model with mini-batches from a loader, epoch by epoch, and returns
  a :class:`History` (loss, accuracy, val_loss, val_accuracy, lr and time per epoch);
  a tqdm progress bar (batches/s, running loss) shows while stdout is a terminal.
- :func:`evaluate`: loss, accuracy and confusion matrix over a loader, in eval mode and
  without a graph.
- Checkpoints: everything a run needs to continue -- the model's parameters and
  buffers, the optimizer's and scheduler's state, the epoch and the batch within it,
  the loader's seed, fastdl's default random generator (dropout), the history -- in one
  ``.npz`` file: the arrays under their paths (``model/conv1.weight``,
  ``optimizer/state/0/exp_avg``, ...) and the rest as a JSON blob. It is written to a
  temporary file in the same folder and renamed over the old one (``os.replace``), so
  an interrupted save never leaves a corrupt checkpoint. ``fit(..., resume=path)``
  continues a run so that the result is bitwise identical to the uninterrupted run,
  even from the middle of an epoch.
- Ctrl-C during :func:`fit`: the batch in flight finishes, a checkpoint is saved and
  ``fit`` returns the history with ``history.interrupted = True`` (a second Ctrl-C stops
  at once, without saving).
- :class:`SmallCNN`: the small convolutional network that ``fastdl train`` trains on the
  embedded 8x8 digits by default.
"""

from __future__ import annotations

import contextlib
import json
import numbers
import os
import secrets
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from fastdl import nn, optim
from fastdl import random as _random
from fastdl.autograd import Tensor, no_grad
from fastdl.nn import functional as F

__all__ = ["History", "SmallCNN", "evaluate", "fit", "load_checkpoint", "plot_history",
           "save_checkpoint", "LOSSES", "OPTIMIZERS", "make_optimizer", "num_parameters",
           "new_figure", "save_png"]

CHECKPOINT_FORMAT = 1
_META = "__checkpoint__"  # the npz entry holding the JSON blob


# --- the default model -----------------------------------------------------------------
class SmallCNN(nn.Sequential):
    """conv3x3(C -> w)-BN-ReLU, conv3x3(w -> 2w)-BN-ReLU, maxpool 2, linear to the classes.

    The default model of ``fastdl train``: on the embedded 8x8 digits (``width=16``:
    9,978 parameters) Adam passes 98% test accuracy within 2-3 epochs and ends near 99%.
    The convolutions have no bias (the batch norm after each one has its own shift).

    Parameters
    ----------
    in_channels : int, default 1
    num_classes : int, default 10
    image_size : int or (int, int), default 8
        The input's height and width (even numbers: the pooling halves them).
    width : int, default 16
        Channels of the first convolution (the second has twice as many).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size=8,
                 width: int = 16):
        h, w = (image_size, image_size) if isinstance(image_size, numbers.Integral) \
            else tuple(image_size)
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, width, 3, padding=1, bias=False)),
            ("bn1", nn.BatchNorm2d(width)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)),
            ("bn2", nn.BatchNorm2d(2 * width)),
            ("relu2", nn.ReLU()),
            ("pool", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(2 * width * (h // 2) * (w // 2), num_classes)),
        ]))


def num_parameters(model) -> int:
    """The number of values in the model's parameters."""
    return sum(p.data.size for p in model.parameters())


# --- optimizers by name (the CLI's --optim and the race) ----------------------------------
# name -> (class name in fastdl.optim, default options). The learning rates suit the
# small CNN on the digits (batch 64) and are the CLI's defaults.
OPTIMIZERS = {
    "sgd": ("SGD", {"lr": 0.1}),
    "momentum": ("SGD", {"lr": 0.05, "momentum": 0.9}),
    "nesterov": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "adagrad": ("Adagrad", {"lr": 0.05}),
    "adadelta": ("Adadelta", {"lr": 1.0}),
    "rmsprop": ("RMSprop", {"lr": 1e-3}),
    "adam": ("Adam", {"lr": 1e-2}),
    "adamw": ("AdamW", {"lr": 1e-2, "weight_decay": 1e-2}),
    "nadam": ("NAdam", {"lr": 1e-2}),
    "lbfgs": ("LBFGS", {"lr": 1.0, "max_iter": 5, "history_size": 20,
                        "line_search_fn": "strong_wolfe"}),
}


def make_optimizer(name: str, params, lr: float | None = None):
    """The optimizer ``name`` (a key of :data:`OPTIMIZERS`) with its default options,
    and ``lr`` instead of the default learning rate when given."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    cls, options = OPTIMIZERS[name]
    options = dict(options)
    if lr is not None:
        options["lr"] = lr
    return getattr(optim, cls)(params, **options)


# --- losses and metrics -------------------------------------------------------------------
LOSSES = {
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "smooth_l1": F.smooth_l1_loss,
    "huber": F.huber_loss,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
}


def _loss_fn(loss):
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]
    raise ValueError(f"loss must be a callable (output, target) -> Tensor or one of "
                     f"{', '.join(LOSSES)}, got {loss!r}")


def _classes(out: np.ndarray, y) -> np.ndarray | None:
    """Predicted classes when (out, y) look like classification (logits (N, C), integer
    labels (N,)); else None (no accuracy)."""
    y = np.asarray(y)
    if out.ndim == 2 and out.shape[1] > 1 and y.ndim == 1 and y.dtype.kind in "iu":
        return out.argmax(axis=1)
    return None


def evaluate(model, loader, loss="cross_entropy", *, distributed: bool = False) -> dict:
    """The model's loss, accuracy and confusion matrix over ``loader``.

    Runs in eval mode (restoring the model's mode afterwards) and under
    :func:`fastdl.no_grad`. ``loader`` yields ``(xb, yb)`` (a :class:`DataLoader`, or
    any iterable of pairs).

    With ``distributed=True`` in a job of several processes (:mod:`fastdl.distributed`),
    each rank evaluates its own ``loader`` (typically its shard of the data) and the
    sums are added across the ranks: every rank gets the metrics of all the examples.
    (A loader that is not sharded gives the same loss and accuracy, with each example
    counted once per rank, so the confusion counts are multiplied by the ranks.)

    Returns
    -------
    dict
        ``loss``: the mean over the examples of the per-batch (mean-reduced) loss;
        ``accuracy``: the fraction of examples whose largest logit is the label;
        ``confusion``: int64 (C, C), ``confusion[true, predicted]`` counts. Accuracy and
        confusion are None unless the outputs are (N, C) logits and the labels integer.
    """
    loss_fn = _loss_fn(loss)
    was_training = model.training
    model.eval()
    total, loss_sum, correct, confusion = 0, 0.0, 0, None
    classify = True
    try:
        with no_grad():
            for xb, yb in loader:
                out = model(Tensor(xb))
                n = len(xb)
                loss_sum += float(loss_fn(out, yb).item()) * n
                total += n
                pred = _classes(out.data, yb)
                if pred is None:
                    classify = False
                    continue
                c = out.shape[1]
                counts = np.bincount(np.asarray(yb, dtype=np.int64) * c + pred,
                                     minlength=c * c).reshape(c, c)
                confusion = counts if confusion is None else confusion + counts
                correct += int(np.trace(counts))
    finally:
        model.train(was_training)
    if distributed:
        total, loss_sum, classify, confusion = _reduce_evaluation(total, loss_sum, classify,
                                                                  confusion)
        correct = int(np.trace(confusion)) if classify and confusion is not None else 0
    if total == 0:
        raise ValueError("evaluate: the loader yielded no examples")
    if not classify:
        return {"loss": loss_sum / total, "accuracy": None, "confusion": None}
    return {"loss": loss_sum / total, "accuracy": correct / total, "confusion": confusion}


def _reduce_evaluation(total, loss_sum, classify, confusion):
    """evaluate()'s sums added across the ranks (one rank's shard may be empty, or
    lack the confusion matrix, so its size is agreed on first)."""
    from fastdl import distributed as dist

    if dist.world_size() == 1:
        return total, loss_sum, classify, confusion
    head = dist.allreduce(np.array([total, 0 if classify else 1], dtype=np.int64))
    total, classify = int(head[0]), head[1] == 0
    # the number of classes: the largest and (negated) the smallest of the ranks that
    # have a confusion matrix
    c = 0 if confusion is None else confusion.shape[0]
    sizes = dist.allreduce(np.array([c, -c if c else -(1 << 62)], dtype=np.int64), "max")
    c = int(sizes[0])
    if classify and c and -int(sizes[1]) != c:
        raise ValueError("evaluate: the ranks' outputs have different numbers of classes")
    sums = dist.allreduce(np.array([loss_sum]))
    counts = np.zeros((c, c), dtype=np.int64) if confusion is None else np.array(confusion)
    if classify:
        dist.allreduce(counts)
    return total, float(sums[0]), classify, counts if classify else None


# --- history ------------------------------------------------------------------------------
class History(dict):
    """Per-epoch metrics, Keras-style: ``history["loss"][e]`` is epoch ``e``'s.

    Keys (lists, one entry per epoch): ``epoch`` (1-based), ``loss`` and ``accuracy``
    (means over the epoch's training batches, in training mode, each batch before its
    step), ``val_loss`` and ``val_accuracy`` (:func:`evaluate` on the validation loader
    after the epoch; None without one), ``lr`` (the first group's learning rate during
    the epoch), ``time`` (seconds, validation included). Accuracies are None when the
    task is not classification. ``interrupted`` is True when Ctrl-C ended the run.
    """

    KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")

    def __init__(self, data: Mapping | None = None):
        super().__init__({k: list((data or {}).get(k, [])) for k in self.KEYS})
        self.interrupted = False

    @property
    def epochs(self) -> int:
        return len(self["epoch"])

    def append(self, record: Mapping) -> None:
        for k in self.KEYS:
            self[k].append(record.get(k))

    def records(self) -> list[dict]:
        """One dict per epoch."""
        return [{k: self[k][i] for k in self.KEYS} for i in range(self.epochs)]

    def to_json(self, path) -> None:
        """Write the lists as JSON (``history.json``), atomically."""
        items = {"interrupted": self.interrupted, **self}
        text = "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}"
                                   for k, v in items.items()) + "\n}\n"
        _atomic_write(path, lambda f: f.write(text.encode()))


# --- checkpoint files ----------------------------------------------------------------------
_MARKERS = ("__array__", "__scalar__", "__tuple__", "__items__")


def _encode(obj, path: tuple, arrays: dict):
    """obj as JSON-able data; ndarrays (and NumPy scalars) go to ``arrays`` under a
    name made of their path, replaced by a reference."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            raise TypeError(f"save_checkpoint: {'/'.join(path)} is an object array")
        name, i = "/".join(path) or "value", 1
        while name in arrays or name == _META:
            name, i = f"{'/'.join(path)}#{i}", i + 1
        arrays[name] = arr
        return {"__scalar__" if isinstance(obj, np.generic) else "__array__": name}
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, float):
        return obj  # json writes repr(): the same float comes back, inf and nan included
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, path + (str(i),), arrays) for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else {"__tuple__": items}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not (len(obj) == 1 and
                                                         next(iter(obj)) in _MARKERS):
            return {k: _encode(v, path + (k,), arrays) for k, v in obj.items()}
        return {"__items__": [[_encode(k, path + ("key",), arrays),
                               _encode(v, path + (str(k),), arrays)] for k, v in obj.items()]}
    raise TypeError(f"save_checkpoint: cannot store a {type(obj).__name__} "
                    f"(at {'/'.join(path) or 'the top'})")


def _decode(obj, arrays: dict):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((key, value),) = obj.items()
        if key == "__array__":
            return arrays[value]
        if key == "__scalar__":
            return arrays[value][()]
        if key == "__tuple__":
            return tuple(_decode(v, arrays) for v in value)
        if key == "__items__":
            return {_decode(k, arrays): _decode(v, arrays) for k, v in value}
    return {k: _decode(v, arrays) for k, v in obj.items()}


def _write_npz(file, arrays: dict) -> None:
    """The writer behind :func:`save_checkpoint` (the atomicity test replaces it)."""
    np.savez(file, **arrays)


def _atomic_write(path, write) -> None:
    """``write(binary file)`` into a new file next to ``path``, flushed to disk, then
    renamed over ``path``: readers see the old file or the new one, never a part."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}."
                               f"{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 so the file gets the umask's permissions, as open() would
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):  # make the rename durable (POSIX)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save_checkpoint(path, state: Mapping) -> None:
    """Write ``state`` to ``path`` as one ``.npz``, atomically.

    ``state`` is a nested structure of dicts (any keys of str, int, ...), lists,
    tuples, ndarrays, NumPy scalars, Tensors, Python numbers, strings, bools and None
    (state dicts are). The arrays are stored under their paths in the structure, the
    rest as JSON; :func:`load_checkpoint` gives the same structure back, every array
    and number bitwise equal. The file is written next to ``path`` and renamed over it,
    so a crash midway leaves the previous checkpoint as it was.
    """
    if not isinstance(state, Mapping):
        raise TypeError(f"save_checkpoint: state must be a dict, got {type(state).__name__}")
    arrays: dict = {}
    blob = json.dumps({"format": CHECKPOINT_FORMAT, "state": _encode(state, (), arrays)})
    arrays[_META] = np.frombuffer(blob.encode(), dtype=np.uint8)
    _atomic_write(path, lambda f: _write_npz(f, arrays))


def load_checkpoint(path) -> dict:
    """The state saved by :func:`save_checkpoint` (a dict)."""
    path = os.fspath(path)
    try:
        # np.load on a path leaks the file when the zip is bad: open it here
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, OSError...
        raise ValueError(f"{path} is not a readable checkpoint ({exc})") from None
    if _META not in arrays:
        raise ValueError(f"{path} is an .npz file but not a fastdl checkpoint (no {_META})")
    meta = json.loads(arrays.pop(_META).tobytes().decode())
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: checkpoint format {meta.get('format')!r}, this fastdl "
                         f"reads format {CHECKPOINT_FORMAT}")
    return _decode(meta["state"], arrays)


# --- Ctrl-C --------------------------------------------------------------------------------
class _DeferredInterrupt:
    """While active, the first SIGINT only sets :attr:`requested` (the loop stops at the
    next batch boundary, where the state is consistent); a second one raises
    KeyboardInterrupt at once. Installed only in the main thread, and only over Python's
    default handler (a program's own SIGINT handling is left alone)."""

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


# --- callbacks -----------------------------------------------------------------------------
def _call(callbacks, hook: str, *args, interrupt=None) -> None:
    """Call ``hook`` on each callback that has it (a plain callable is on_epoch_end). A
    KeyboardInterrupt from a callback is a request to stop (it runs between batches)."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is None and hook == "on_epoch_end" and callable(cb):
            fn = cb
        if fn is None:
            continue
        try:
            fn(*args)
        except KeyboardInterrupt:
            if interrupt is None:
                raise
            interrupt.requested = True


def _progress_bar(enabled: bool, total: int, initial: int, desc: str):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency; a broken environment just gets no bar
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="batch", file=sys.stdout,
                leave=True)


# --- fit -----------------------------------------------------------------------------------
def _training_state(model, optimizer, scheduler, loader, epoch, batch, partial, history,
                    extra, processes=1):
    return {
        "epoch": epoch, "batch": batch, "partial": partial, "processes": processes,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
        "rng": _random.default_generator.get_state(),
        "history": dict(history),
        "extra": extra,
    }


def _restore(state, model, optimizer, scheduler, loader, processes=1):
    saved = state.get("processes", 1)
    if state["batch"] and saved != processes:
        raise ValueError(f"resume: the checkpoint was saved in the middle of epoch "
                         f"{state['epoch'] + 1} by a run of {saved} process(es); resume it "
                         f"with {saved} (a checkpoint from the end of an epoch resumes with "
                         f"any number)")
    if (state["scheduler"] is None) != (scheduler is None):
        raise ValueError("resume: the checkpoint was saved "
                         f"{'without' if state['scheduler'] is None else 'with'} a scheduler")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if state["loader"] is not None and hasattr(loader, "load_state_dict"):
        loader.load_state_dict(state["loader"])
    _random.default_generator.set_state(state["rng"])


def _scheduler_step(scheduler, record):
    from fastdl.optim.lr_scheduler import ReduceLROnPlateau

    if isinstance(scheduler, ReduceLROnPlateau):
        metric = record["val_loss"] if record["val_loss"] is not None else record["loss"]
        scheduler.step(metric)
    else:
        scheduler.step()


def _train_batches(model, optimizer, loss_fn, batches, done, part, bar, callbacks, epoch,
                   interrupt, dist=None) -> int:
    """One ``optimizer.step(closure)`` per batch, the metrics summed into ``part``, until
    the batches run out or a stop is requested; returns the batches done in the epoch.

    ``dist`` (a :class:`_DataParallel`, in a job of several processes): before each
    batch the ranks agree that all have one and that none was asked to stop; the
    closure averages the gradients and adds the loss and the metrics across them."""
    while True:
        batch = next(batches, None)
        if dist is not None:
            if not dist.agree_to_continue(batch is not None, interrupt):
                break
        elif batch is None:
            break
        xb, yb = batch
        done += 1
        seen = []

        def closure(xb=xb, yb=yb, seen=seen):
            optimizer.zero_grad()
            model.zero_grad()
            out = model(Tensor(xb))
            value = loss_fn(out, yb)
            value.backward()
            first = not seen
            if dist is not None:  # every evaluation: LBFGS's line search needs them all
                value, metrics = dist.reduce_step(model, value, out.data if first else None,
                                                  yb, len(xb))
            else:
                metrics = None
            if first:  # LBFGS evaluates several times: the metrics are the first's
                seen.append((float(value.item()), out.data, metrics))
            return value

        optimizer.step(closure)
        value, out, metrics = seen[0]
        if metrics is None:
            n = len(xb)
            loss_sum, count = value * n, n
            pred = _classes(out, yb)
            correct = None if pred is None else int(np.count_nonzero(pred == yb))
        else:  # the global batch's
            loss_sum, count, correct = metrics
            n = count
        part["loss_sum"] += loss_sum
        part["count"] += count
        if correct is None:
            part["classify"] = False
        else:
            part["correct"] += correct
        if bar is not None:
            bar.set_postfix(loss=f"{part['loss_sum'] / part['count']:.4f}", refresh=False)
            bar.update()
        _call(callbacks, "on_batch_end", epoch, done - 1, {"loss": value, "size": n},
              interrupt=interrupt)
        if dist is None and interrupt.requested:
            break
    return done


class _DataParallel:
    """fit()'s side of a data-parallel run over several MPI processes."""

    def __init__(self, model, optimizer, train_loader, bucket_size):
        from fastdl import distributed
        from fastdl.data import DataLoader

        self.dist = distributed
        self.size, self.rank = distributed.world_size(), distributed.rank()
        self.bucket_size = bucket_size
        sampler = getattr(train_loader, "sampler", None)
        if isinstance(train_loader, DataLoader) and not (
                isinstance(sampler, distributed.DistributedSampler)
                and sampler.num_replicas == self.size):
            raise ValueError(
                f"fit(distributed=True): running as {self.size} processes, so each needs "
                f"its shard of the training data: DataLoader(dataset, batch_size, sampler="
                f"fastdl.distributed.DistributedSampler(dataset, seed=...))")
        params = {id(p) for g in optimizer.param_groups for p in g["params"]}
        if not params <= {id(p) for p in model.parameters()}:
            raise ValueError("fit(distributed=True): the optimizer has parameters that are "
                             "not the model's (their gradients would not be averaged)")

    def agree_to_continue(self, have_batch: bool, interrupt) -> bool:
        """Whether every rank goes on with another batch. All ranks get the same
        answer: False when one was asked to stop (``interrupt.requested`` is then set
        on all) or when none has a batch left; a rank with a batch while another has
        none is an error (the ranks' loaders disagree), raised on every rank."""
        flags = self.dist.allreduce(np.array([int(have_batch), int(interrupt.requested)],
                                             dtype=np.int64))
        if flags[1]:
            interrupt.requested = True
            return False
        if flags[0] not in (0, self.size):
            raise RuntimeError(f"fit(distributed=True): {self.size - flags[0]} of "
                               f"{self.size} ranks ran out of training batches before the "
                               "others (each rank's loader must give the same number of "
                               "batches: use DistributedSampler)")
        return bool(flags[0])

    def reduce_step(self, model, value, out, yb, n):
        """Average the gradients; return the loss of the global batch (a Tensor: the
        closure's return value) and, with ``out``, the global (loss_sum, count,
        correct or None)."""
        self.dist.allreduce_gradients(model, self.bucket_size)
        pred = None if out is None else _classes(out, yb)
        sums = np.array([float(value.item()) * n, n,
                         0 if pred is None else np.count_nonzero(pred == yb),
                         1 if out is not None and pred is None else 0], dtype=np.float64)
        self.dist.allreduce(sums)
        loss = Tensor(np.array(sums[0] / sums[1], dtype=value.dtype))
        if out is None:
            return loss, None
        return loss, (float(sums[0]), int(sums[1]), None if sums[3] else int(sums[2]))

    def synchronize(self, model):
        """Rank 0's buffers (BatchNorm's running statistics: each rank updates its own
        from its batches) on every rank: done before evaluating and saving."""
        self.dist.broadcast_buffers(model)


def fit(model, optimizer, train_loader, val_loader=None, epochs: int = 1,
        loss="cross_entropy", scheduler=None, checkpoint=None, callbacks=(),
        progress: bool = True, *, resume=None, extra=None, distributed: bool = False,
        bucket_size: int | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs; return the :class:`History`.

    Each batch ``(xb, yb)`` of ``train_loader`` (in training mode) takes one
    ``optimizer.step(closure)``; the closure clears the grads, computes
    ``loss(model(Tensor(xb)), yb)`` and back-propagates, so first-order optimizers and
    :class:`fastdl.optim.LBFGS` (which evaluates the closure several times) are driven
    alike. After the epoch: :func:`evaluate` on ``val_loader`` (if given), the record
    appended to the history, ``scheduler.step()`` (``ReduceLROnPlateau``: with the
    validation loss, or the training loss without a validation loader), the checkpoint
    written (if ``checkpoint``), then the callbacks' ``on_epoch_end``.

    Parameters
    ----------
    model : fastdl.nn.Module
    optimizer : a fastdl.optim optimizer over the model's parameters
    train_loader, val_loader : DataLoader (or iterables of ``(xb, yb)`` ndarray pairs)
        Before epoch ``e`` (0-based) ``set_epoch(e)`` is called on each loader that has
        it, so the batches depend on the loader's seed and the epoch alone.
    epochs : int
        The epoch to stop after, counted from the start of the run (a resumed run
        trains the epochs from the checkpoint's up to this one).
    loss : str or callable, default "cross_entropy"
        ``callable(output Tensor, target ndarray) -> scalar Tensor`` (mean over the
        batch), or a name in :data:`LOSSES`.
    scheduler : an lr_scheduler, stepped once per epoch
    checkpoint : path, optional
        Where to save a checkpoint after every epoch and on Ctrl-C.
    callbacks : sequence
        Objects with any of ``on_epoch_begin(epoch)``, ``on_batch_end(epoch, batch,
        logs)`` (logs: ``{"loss", "size"}`` of the batch), ``on_epoch_end(epoch,
        record)``, ``on_train_end(history)``; a plain callable is called as
        ``on_epoch_end``. Epochs are 0-based here, 1-based in the record.
    progress : bool, default True
        Show a tqdm bar per epoch (batches/s, running loss) -- only while stdout is a
        terminal.
    resume : path or True, optional
        Continue from this checkpoint (True: from ``checkpoint``): model, optimizer,
        scheduler, loader seed, random generator and history are restored, and training
        goes on from the saved epoch and batch, bitwise as if never stopped. The
        objects passed in must be built like the saved run's.
    extra : optional
        Stored in the checkpoints as ``extra`` (e.g. the command line that made it).
    distributed : bool, default False
        Data-parallel training over MPI (:mod:`fastdl.distributed`; run the script
        under ``mpirun -n P``). Rank 0's parameters and buffers are broadcast first;
        each closure evaluation averages the gradients across the ranks before the
        optimizer uses them (so the ranks' models stay identical; LBFGS works too) and
        adds up the loss and metrics, so the history, the callbacks' logs, schedulers
        and early stopping see the global batch. ``train_loader`` must give each rank
        its shard, the same number of batches on every rank: a DataLoader with
        ``sampler=DistributedSampler(dataset, seed=...)``. ``val_loader`` may be a shard
        or the whole set (see :func:`evaluate`). Only rank 0 shows the progress bar
        and writes the checkpoint; every rank runs the callbacks and returns the
        history. BatchNorm normalizes with each rank's own batch statistics (as torch
        DDP) and the running statistics are rank 0's, copied to every rank at the end
        of each epoch (before validation and the checkpoint). Without an MPI launch
        (one process) this is an ordinary run.
    bucket_size : int, optional
        Bytes per gradient bucket (:data:`fastdl.distributed.DEFAULT_BUCKET_SIZE`).

    Returns
    -------
    History
        ``history.interrupted`` is True when Ctrl-C stopped the run: the batch in
        flight was finished and (with ``checkpoint``) a checkpoint saved, from which
        ``resume`` continues bitwise.
    """
    loss_fn = _loss_fn(loss)
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if resume is True:
        if checkpoint is None:
            raise ValueError("fit: resume=True needs checkpoint= (the file to resume from)")
        resume = checkpoint
    dist, processes = None, 1
    if distributed:
        from fastdl import distributed as _dist

        processes = _dist.init()
        if processes > 1:
            dist = _DataParallel(model, optimizer, train_loader,
                                 _dist.DEFAULT_BUCKET_SIZE if bucket_size is None
                                 else bucket_size)
    history, start_epoch, start_batch, partial = History(), 0, 0, None
    if resume is not None:
        state = load_checkpoint(resume)  # every rank reads it (a shared file system)
        _restore(state, model, optimizer, scheduler, train_loader, processes)
        history = History(state["history"])
        start_epoch, start_batch, partial = state["epoch"], state["batch"], state["partial"]
    if dist is not None:
        _dist.broadcast_parameters(model)
    lead = dist is None or dist.rank == 0
    show = bool(progress) and sys.stdout.isatty() and lead

    def save(epoch, batch, part):
        if checkpoint is not None and lead:
            save_checkpoint(checkpoint, _training_state(model, optimizer, scheduler,
                                                        train_loader, epoch, batch, part,
                                                        history, extra, processes))

    with _DeferredInterrupt() as interrupt:
        for epoch in range(start_epoch, epochs):
            for loader in (train_loader, val_loader):
                if hasattr(loader, "set_epoch"):
                    loader.set_epoch(epoch)
            part = partial or {"loss_sum": 0.0, "correct": 0, "count": 0, "classify": True,
                               "time": 0.0}
            first_batch, partial, start_batch = start_batch, None, 0
            lr = optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            model.train()
            _call(callbacks, "on_epoch_begin", epoch, interrupt=interrupt)
            batches = iter(train_loader)
            for _ in range(first_batch):  # resumed mid-epoch: the batches already done
                next(batches)
            bar = _progress_bar(show, len(train_loader) if hasattr(train_loader, "__len__")
                                else None, first_batch, f"epoch {epoch + 1}/{epochs}")
            try:
                done = _train_batches(model, optimizer, loss_fn, batches, first_batch, part,
                                      bar, callbacks, epoch, interrupt, dist)
                part["time"] += time.perf_counter() - t0
                if dist is not None:  # before evaluating or saving, on every rank
                    dist.synchronize(model)
                if interrupt.requested:
                    save(epoch, done, part)
                    history.interrupted = True
                    break
                if part["count"] == 0:
                    raise ValueError("fit: the training loader yielded no batches")
                t1 = time.perf_counter()
                val = evaluate(model, val_loader, loss_fn, distributed=dist is not None) \
                    if val_loader is not None else None
                record = {
                    "epoch": epoch + 1,
                    "loss": part["loss_sum"] / part["count"],
                    "accuracy": part["correct"] / part["count"] if part["classify"] else None,
                    "val_loss": val["loss"] if val else None,
                    "val_accuracy": val["accuracy"] if val else None,
                    "lr": float(lr),
                    "time": part["time"] + time.perf_counter() - t1,
                }
                if bar is not None:
                    short = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss",
                             "val_accuracy": "val_acc"}
                    bar.set_postfix({v: f"{record[k]:.4f}" for k, v in short.items()
                                     if record[k] is not None}, refresh=True)
            finally:
                if bar is not None:
                    bar.close()
            history.append(record)
            if scheduler is not None:
                _scheduler_step(scheduler, record)
            save(epoch + 1, 0, None)
            _call(callbacks, "on_epoch_end", epoch, record, interrupt=interrupt)
            if dist is not None:  # a stop asked on any rank stops all
                dist.agree_to_continue(True, interrupt)
            if interrupt.requested:
                history.interrupted = True
                break
    _call(callbacks, "on_train_end", history)
    return history


# --- plots ---------------------------------------------------------------------------------
def plot_history(history: Mapping, path, title: str | None = None,
                 val_label: str = "validation") -> bool:
    """Save loss and accuracy per epoch (training and ``val_label``) as a PNG.

    Returns False, writing nothing, when matplotlib is not installed (``pip install
    "fastdl[plot]"``).
    """
    try:
        fig, axes = new_figure(8, 3.2, 2)
    except ImportError:
        return False
    epochs = history["epoch"]
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style, name in (("", "o-", "training"), ("val_", "s--", val_label)):
            pts = [(e, v) for e, v in zip(epochs, history[prefix + key]) if v is not None]
            if pts:
                ax.plot(*zip(*pts), style, ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        if key == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title, fontsize=10)
    save_png(fig, path)
    return True


def new_figure(width: float, height: float, ncols: int):
    """(figure, axes) of a matplotlib Figure with ``ncols`` panels, drawn without pyplot
    (no global state, no display needed); ImportError without matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def save_png(fig, path) -> None:
    """Write the figure as a PNG, atomically."""
    _atomic_write(path, lambda f: fig.savefig(f, format="png"))
