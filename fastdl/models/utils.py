"""Model utilities: a per-layer summary table, and loading torch checkpoints."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fastdl.autograd import Tensor, no_grad
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module

__all__ = ["LayerInfo", "ModelSummary", "summary", "load_torch_state_dict"]


@dataclass
class LayerInfo:
    """One row of a :class:`ModelSummary`: a leaf module as the forward called it."""

    name: str            # the module's dotted name in the model ("layer1.0.conv1")
    type: str            # its class name
    output_shape: tuple  # (shape of its first output)
    params: int          # parameters it owns (0 for a repeated call of the same module)
    mult_adds: int       # multiply-accumulates of this call (convolutions and linears)


@dataclass
class ModelSummary:
    """What :func:`summary` returns; ``str()`` is the table."""

    input_shape: tuple
    output_shape: tuple
    layers: list = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_mult_adds: int = 0

    def __str__(self) -> str:
        rows = [(f"{r.name} ({r.type})", str(r.output_shape), f"{r.params:,}",
                 f"{r.mult_adds:,}") for r in self.layers]
        head = ("Layer (type)", "Output shape", "Param #", "Mult-adds")
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
                  for i, h in enumerate(head)]

        def line(cells):
            return "  ".join([cells[0].ljust(widths[0]), cells[1].ljust(widths[1]),
                              cells[2].rjust(widths[2]), cells[3].rjust(widths[3])])

        rule = "=" * len(line(head))
        out = [rule, line(head), rule, *(line(r) for r in rows), rule,
               f"Total params: {self.total_params:,}",
               f"Trainable params: {self.trainable_params:,}",
               f"Non-trainable params: {self.total_params - self.trainable_params:,}",
               f"Total mult-adds: {self.total_mult_adds:,}",
               f"Input shape: {self.input_shape}   Output shape: {self.output_shape}",
               rule]
        return "\n".join(out)

    __repr__ = __str__


def _mult_adds(module: Module, out_shape: tuple) -> int:
    # multiply-accumulates of the weight products (the convention of torchinfo and of
    # torchvision's "GFLOPS" column); the bias adds, BN, pooling and activations are
    # left out, as there
    out = int(np.prod(out_shape))
    if isinstance(module, Conv2d):
        w = module.weight.shape
        return out * w[1] * w[2] * w[3]
    if isinstance(module, Linear):
        return out * module.in_features
    return 0


def summary(model: Module, input_shape, dtype=np.float32) -> ModelSummary:
    """Run ``model`` once on zeros of ``input_shape`` (batch dimension included, as
    torchinfo's ``input_size``) and tabulate, for every leaf module the forward calls,
    its output shape, its parameters and its multiply-accumulates (convolutions and
    linear layers; for the whole batch). ``print(summary(...))`` shows the table.

    The model runs in eval mode without a graph (so BN statistics are left alone and
    auxiliary heads that only run in training are not in the table); its mode is
    restored afterwards. ``total_params`` counts every parameter of the model, called or
    not (``sum(p.size for p in model.parameters())``).
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be a fastdl.nn.Module, got "
                        f"{type(model).__name__}")
    input_shape = tuple(int(s) for s in input_shape)
    names = {id(m): n for n, m in model.named_modules()}
    layers: list[LayerInfo] = []
    counted: set[int] = set()
    wrapped = []

    def wrap(m: Module):
        forward = m.forward

        def recording_forward(*args, **kwargs):
            out = forward(*args, **kwargs)
            first = out[0] if isinstance(out, tuple) else out
            shape = tuple(first.shape)
            params = 0
            if id(m) not in counted:  # a module called twice owns its parameters once
                counted.add(id(m))
                params = sum(p.size for p in m.parameters())
            layers.append(LayerInfo(names[id(m)], type(m).__name__, shape, params,
                                    _mult_adds(m, shape)))
            return out

        object.__setattr__(m, "forward", recording_forward)  # shadows the class's forward
        wrapped.append(m)

    for m in model.modules():
        if not any(True for _ in m.children()):
            wrap(m)
    was_training = model.training
    try:
        model.eval()
        with no_grad():
            y = model(Tensor(np.zeros(input_shape, dtype=dtype)))
    finally:
        for m in wrapped:
            del m.__dict__["forward"]
        model.train(was_training)
    first = y[0] if isinstance(y, tuple) else y
    params = list(model.parameters())
    return ModelSummary(
        input_shape=input_shape, output_shape=tuple(first.shape), layers=layers,
        total_params=sum(p.size for p in params),
        trainable_params=sum(p.size for p in params if p.requires_grad),
        total_mult_adds=sum(r.mult_adds for r in layers))


def load_torch_state_dict(model: Module, path, strict: bool = True):
    """Load a checkpoint saved by torch (or as NumPy arrays) into ``model``.

    ``path`` is a ``.npz`` file of arrays (``np.savez(path, **state_dict)``; NumPy
    alone) or anything else ``torch.load`` reads (a ``.pt``/``.pth`` file; needs
    torch, loaded with ``weights_only=True``). The file holds a state dict (name ->
    tensor), or a dict with one under ``"state_dict"`` or ``"model"``; keys that all
    start with ``"module."`` (saved from DataParallel) lose that prefix. The keys are
    torchvision's for fastdl's models, so a torchvision checkpoint loads directly.
    Returns ``model.load_state_dict(...)``'s ``(missing_keys, unexpected_keys)``.
    """
    path = os.fspath(path)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as f:
            state = {k: f[k] for k in f.files}
    else:
        try:
            import torch
        except ImportError as exc:
            raise ImportError(f"load_torch_state_dict: reading {path!r} needs torch; "
                              "without torch, save the state dict as .npz "
                              "(np.savez(path, **{k: v.numpy() for k, v in sd.items()}))"
                              ) from exc
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
                state = state[key]
                break
        if not isinstance(state, Mapping):
            raise ValueError(f"load_torch_state_dict: {path!r} holds a "
                             f"{type(state).__name__}, not a state dict")
        state = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
                 for k, v in state.items()}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return model.load_state_dict(state, strict=strict)
