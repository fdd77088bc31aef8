"""Data-parallel training over MPI (through mpi4py, the optional extra ``fastdl[mpi]``).

P processes -- started by ``mpirun -n P`` (or ``srun``, or any MPI launcher) on one or
more machines -- each hold a full copy of the model and train on their own shard of the
data. After each backward pass the gradients are averaged across the processes with an
MPI Allreduce, so every process takes the same optimizer step and the copies stay
identical: one step of a P-process run with per-process batch B is one step on a
global batch of P x B examples.

- :func:`init` joins the MPI job when the process was started by an MPI launcher, and
  is a no-op otherwise (a single process: :func:`rank` 0, :func:`world_size` 1, mpi4py
  not even imported). In a job of several processes it also makes an uncaught
  exception on any rank print its traceback and abort the whole job (``MPI_Abort``),
  rather than leaving the other ranks waiting forever in a collective.
- :class:`DistributedSampler`: each rank's disjoint shard of a seeded shuffle, new
  every epoch (torch.utils.data.DistributedSampler's semantics).
- :func:`allreduce_gradients`: average the ``.grad`` of the parameters across ranks,
  packed into contiguous buckets of ``bucket_size`` bytes (one in-place ``Allreduce`` on
  a NumPy buffer per bucket, larger gradients in place in bucket-sized slices; nothing
  is pickled).
- :func:`broadcast_parameters` / :func:`broadcast_buffers`: copy rank 0's parameters and
  buffers (BatchNorm's running statistics) to every rank.
- :func:`allreduce`: an in-place reduction of a small NumPy array (metrics, flags).

Without MPI all of these work in the single process (the reductions leave the values
as they are), so code written for P processes runs unchanged in one.
"""

from __future__ import annotations

import numbers
import os
import sys
import traceback

import numpy as np

from fastdl.data.loader import _int as _checked_int, epoch_order

__all__ = ["DEFAULT_BUCKET_SIZE", "DistributedSampler", "MPI_EXTRA_HINT", "abort",
           "allreduce", "allreduce_gradients", "broadcast_buffers", "broadcast_parameters",
           "init", "is_initialized", "launched_size", "rank", "world_size"]

#: Bytes per gradient bucket in :func:`allreduce_gradients` (see its docstring for the
#: measurement behind the choice).
DEFAULT_BUCKET_SIZE = 4 << 20

MPI_EXTRA_HINT = 'pip install "fastdl[mpi]" (mpi4py), with an MPI installed ' \
                 '(Debian: apt install openmpi-bin libopenmpi-dev)'

# Environment variables by which MPI launchers announce the number of processes:
# Open MPI's mpirun, MPICH's / Intel MPI's hydra (and srun --mpi=pmi2), MVAPICH2.
_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")

_state = {"initialized": False, "comm": None, "MPI": None}


def launched_size() -> int:
    """The number of processes the MPI launcher started, from its environment variables
    (1 when this process was not started by a launcher). Does not import mpi4py."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) >= 1:
            return int(value)
    if "PMIX_RANK" in os.environ:  # a PMIx launcher (srun --mpi=pmix) that gives no size
        return 0
    return 1


def init() -> int:
    """Join the MPI job this process was launched into; return :func:`world_size`.

    Idempotent. When the launcher's environment says this is one of several processes,
    ``mpi4py`` is imported (which initializes MPI; an ImportError naming the
    ``fastdl[mpi]`` extra when it is missing) and an uncaught exception on any rank
    then aborts the job (:func:`sys.excepthook`: traceback on stderr, then
    ``MPI_Abort(1)``), so a failing rank never leaves the others hanging. Otherwise
    (a plain ``python``/``fastdl`` command, or ``mpirun -n 1``) nothing happens and the
    process is rank 0 of 1.
    """
    if _state["initialized"]:
        return world_size()
    size = launched_size()
    if size != 1:
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise ImportError(
                f"fastdl.distributed: this process is one of {size or 'several'} started by "
                f"an MPI launcher, but mpi4py cannot be imported ({exc}); "
                f"{MPI_EXTRA_HINT}") from None
        _state["MPI"] = MPI
        if MPI.COMM_WORLD.Get_size() > 1:
            _state["comm"] = MPI.COMM_WORLD
            _install_excepthook()
    _state["initialized"] = True
    return world_size()


def is_initialized() -> bool:
    """Whether :func:`init` has run."""
    return _state["initialized"]


def _comm():
    """The communicator of a job of several processes, or None (single process)."""
    if not _state["initialized"]:
        init()
    return _state["comm"]


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1`` (0 without MPI)."""
    comm = _comm()
    return 0 if comm is None else comm.Get_rank()


def world_size() -> int:
    """The number of processes training together (1 without MPI)."""
    comm = _comm()
    return 1 if comm is None else comm.Get_size()


_current_rank = rank  # for DistributedSampler, whose argument is called rank


def abort(code: int = 1) -> None:
    """End the whole job with exit status ``code`` (``MPI_Abort``); in a single process,
    ``sys.exit(code)``. For a rank that must stop while the others may be waiting in a
    collective operation."""
    sys.stdout.flush()
    sys.stderr.flush()
    comm = _comm()
    if comm is None:
        sys.exit(code)
    comm.Abort(code)


def _install_excepthook() -> None:
    previous = sys.excepthook

    def excepthook(exc_type, exc, tb):
        # KeyboardInterrupt/SystemExit end this rank only through normal paths; any
        # other uncaught error ends every rank, after the traceback is out.
        try:
            sys.stderr.write(f"fastdl.distributed: rank {rank()} of {world_size()} failed; "
                             "aborting the MPI job\n")
            traceback.print_exception(exc_type, exc, tb)
        except Exception:  # noqa: BLE001 - never let the hook itself keep the job alive
            previous(exc_type, exc, tb)
        abort(1)

    sys.excepthook = excepthook


# --- collectives on NumPy buffers ----------------------------------------------------------
def allreduce(array: np.ndarray, op: str = "sum") -> np.ndarray:
    """Reduce ``array`` across the ranks in place (``op``: "sum", "max" or "min") and
    return it; every rank gets the result. ``array`` must be a writable, C-contiguous
    NumPy array of the same shape and dtype on every rank. Unchanged without MPI."""
    ops = ("sum", "max", "min")
    if op not in ops:
        raise ValueError(f"allreduce: op must be one of {', '.join(ops)}, got {op!r}")
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous \
            or not array.flags.writeable:
        raise ValueError("allreduce: array must be a writable, C-contiguous ndarray")
    comm = _comm()
    if comm is not None:
        MPI = _state["MPI"]
        comm.Allreduce(MPI.IN_PLACE, array, op={"sum": MPI.SUM, "max": MPI.MAX,
                                                "min": MPI.MIN}[op])
    return array


def _parameters(model):
    return list(model.parameters() if hasattr(model, "parameters") else model)


_scratch: dict = {}  # dtype -> a reused bucket buffer (fresh 4 MiB buffers page-fault)


def _bucket_buffer(dtype, size: int) -> np.ndarray:
    buf = _scratch.get(dtype)
    if buf is None or buf.size < size:
        buf = _scratch[dtype] = np.empty(size, dtype=dtype)
    return buf[:size]


def _buckets(grads, bucket_size: int):
    """Consecutive grads of one dtype, grouped so each group's bytes stay within
    ``bucket_size`` (a gradient larger than that is a group of its own)."""
    group, nbytes = [], 0
    for g in grads:
        if group and (g.dtype != group[0].dtype or nbytes + g.nbytes > bucket_size):
            yield group
            group, nbytes = [], 0
        group.append(g)
        nbytes += g.nbytes
    if group:
        yield group


def allreduce_gradients(model, bucket_size: int = DEFAULT_BUCKET_SIZE) -> int:
    """Average the parameters' gradients across the ranks, in place; return the number
    of ``Allreduce`` calls made (0 without MPI).

    The ``.grad`` arrays (parameters whose grad is None are skipped: every rank must
    have the same ones) are taken in order and packed into contiguous NumPy buffers of
    at most ``bucket_size`` bytes, one dtype per buffer; each buffer is summed across
    the ranks with one in-place ``MPI.Allreduce`` (the buffer protocol: no pickling),
    divided by the number of ranks and copied back. A gradient of ``bucket_size`` bytes
    or more is reduced where it is, without copies, in slices of at most
    ``bucket_size`` bytes: no message is larger than that.

    Why slices, and 4 MiB: Open MPI 4.1's shared-memory Allreduce was measured several
    times slower per byte for messages of 8 MiB and more than for 4 MiB ones (about
    90 ms for ResNet-18's 44.7 MB of gradients as one message, 12-20 ms as 4 MiB
    slices, on this project's 2-vCPU machine), and smaller buckets pay the latency of
    more calls (ResNet-18 takes 19 at 4 MiB, 703 at 64 KiB); see
    benchmarks/bench_distributed.py. The gradients are reduced after backward, not
    overlapped with it.

    Parameters
    ----------
    model : fastdl.nn.Module, or an iterable of Parameters
    bucket_size : int > 0, bytes
    """
    if isinstance(bucket_size, bool) or not isinstance(bucket_size, numbers.Integral) \
            or bucket_size < 1:
        raise ValueError(f"allreduce_gradients: bucket_size must be an int >= 1 (bytes), "
                         f"got {bucket_size!r}")
    comm = _comm()
    params = [p for p in _parameters(model) if p.grad is not None]
    if comm is None or not params:
        return 0
    MPI = _state["MPI"]
    size = comm.Get_size()
    calls = 0
    for p in params:  # a grad that is not our own contiguous array is replaced by one
        g = p.grad
        if not (g.flags.c_contiguous and g.flags.writeable and g.base is None):
            p.grad = np.array(g, order="C")
    for group in _buckets([p.grad for p in params], int(bucket_size)):
        if len(group) == 1 and group[0].nbytes >= bucket_size:
            # reduced in place, in slices of at most bucket_size bytes
            flat = group[0].reshape(-1)  # a view: the grad is a C-contiguous array of its own
            step = max(1, bucket_size // flat.itemsize)
            for start in range(0, flat.size, step):
                comm.Allreduce(MPI.IN_PLACE, flat[start:start + step], op=MPI.SUM)
                calls += 1
            flat /= size
            continue
        buf = _bucket_buffer(group[0].dtype, sum(g.size for g in group))
        offsets = np.cumsum([0] + [g.size for g in group])
        for g, a, b in zip(group, offsets[:-1], offsets[1:]):
            buf[a:b] = g.reshape(-1)
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        buf /= size
        for g, a, b in zip(group, offsets[:-1], offsets[1:]):
            g.reshape(-1)[...] = buf[a:b]
        calls += 1
    return calls


def _broadcast_array(comm, array: np.ndarray, root: int) -> np.ndarray | None:
    """Broadcast into ``array`` in place; returns a replacement array when ``array``
    cannot be written in place (read-only or not contiguous), else None."""
    if array.flags.c_contiguous and array.flags.writeable:
        comm.Bcast(array, root=root)
        return None
    copy = np.array(array, order="C")
    comm.Bcast(copy, root=root)
    return copy


def broadcast_buffers(model, root: int = 0) -> None:
    """Copy rank ``root``'s buffers (BatchNorm's ``running_mean``, ``running_var``,
    ``num_batches_tracked``...) to every rank, in place. A no-op without MPI."""
    comm = _comm()
    if comm is None:
        return
    for module in model.modules():
        for name, buf in list(module._buffers.items()):
            if buf is None:
                continue
            new = _broadcast_array(comm, buf, root)
            if new is not None:
                module._buffers[name] = new
                object.__setattr__(module, name, new)


def broadcast_parameters(model, root: int = 0) -> None:
    """Copy rank ``root``'s parameters and buffers to every rank, in place, so that
    all ranks start from identical models. A no-op without MPI."""
    comm = _comm()
    if comm is None:
        return
    for p in model.parameters():
        new = _broadcast_array(comm, p.data, root)
        if new is not None:
            p.data = new
    broadcast_buffers(model, root)


# --- the sampler ----------------------------------------------------------------------------
def _int(name: str, value, minimum: int) -> int:
    return _checked_int(name, value, minimum, "DistributedSampler")


class DistributedSampler:
    """The indices of this rank's shard of a dataset, reshuffled every epoch
    (torch.utils.data.DistributedSampler's semantics). Give it to a
    :class:`fastdl.data.DataLoader` as ``sampler=``.

    Each epoch the indices ``0..n-1`` are put in one order shared by all ranks (a
    permutation drawn from ``numpy.random.SeedSequence(seed, spawn_key=(epoch, 0))``
    with ``shuffle``, the same order as ``DataLoader(shuffle=True, seed=seed)``; else
    ``0..n-1``), made a multiple of ``num_replicas`` long, and rank ``r`` takes every
    ``num_replicas``-th index from position ``r``. Without ``drop_last`` the order is
    padded by repeating its first indices (a few examples are seen twice per epoch),
    with ``drop_last`` its tail is dropped (a few are not seen); either way every rank
    gets ``len(sampler)`` indices, so all ranks take the same number of steps.

    Consequence: with ``DataLoader(batch_size=B, sampler=...)`` on every rank, the P
    batches of step ``b`` together are exactly batch ``b`` of a single-process
    ``DataLoader(batch_size=P * B, shuffle=True, seed=seed)`` (when ``n`` is a multiple
    of ``P * B``; otherwise up to the padding of the last step).

    Parameters
    ----------
    dataset : a dataset (anything with ``len()``), or its length as an int
    num_replicas : int >= 1, optional
        The number of ranks; default :func:`world_size`.
    rank : int in [0, num_replicas), optional
        Default :func:`rank`.
    shuffle : bool, default True
    seed : int, default 0
        Must be the same on every rank.
    drop_last : bool, default False
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        n = dataset if isinstance(dataset, numbers.Integral) and not isinstance(dataset, bool) \
            else len(dataset)
        self.dataset_size = _int("dataset length", n, 0)
        self.num_replicas = _int("num_replicas", world_size() if num_replicas is None
                                 else num_replicas, 1)
        self.rank = _int("rank", _current_rank() if rank is None else rank, 0)
        if self.rank >= self.num_replicas:
            raise ValueError(f"DistributedSampler: rank must be < num_replicas = "
                             f"{self.num_replicas}, got {self.rank}")
        if not isinstance(shuffle, (bool, np.bool_)) or not isinstance(drop_last,
                                                                       (bool, np.bool_)):
            raise TypeError("DistributedSampler: shuffle and drop_last must be bools")
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"DistributedSampler: seed must be an int, got {type(seed).__name__}")
        self.seed = int(seed) % (1 << 64)  # as DataLoader's seed
        self.epoch = 0
        n, p = self.dataset_size, self.num_replicas
        self.num_samples = n // p if self.drop_last else -(-n // p)
        self.total_size = self.num_samples * p

    def __len__(self) -> int:
        """The number of indices this rank gets per epoch."""
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` give epoch ``epoch``'s shard (0-based)."""
        self.epoch = _int("epoch", epoch, 0)

    def state_dict(self) -> dict:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"]) % (1 << 64)
        self.set_epoch(state["epoch"])

    def global_order(self, epoch: int) -> np.ndarray:
        """All ranks' indices of epoch ``epoch``, padded or cut to ``total_size``; rank
        ``r``'s shard is ``global_order(epoch)[r::num_replicas]``."""
        n = self.dataset_size
        order = epoch_order(self.seed, epoch, n, self.shuffle, "DistributedSampler")
        return np.resize(order, self.total_size)  # cut, or padded by repeating from the start

    def indices(self, epoch: int) -> np.ndarray:
        """This rank's indices for epoch ``epoch`` (int64, ``len(self)`` of them)."""
        return self.global_order(epoch)[self.rank::self.num_replicas]

    def __iter__(self):
        return iter(self.indices(self.epoch).tolist())

    def __repr__(self) -> str:
        return (f"DistributedSampler({self.dataset_size} examples, rank {self.rank} of "
                f"{self.num_replicas}, shuffle={self.shuffle}, seed={self.seed}, "
                f"drop_last={self.drop_last})")
