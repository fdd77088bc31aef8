"""Optimizers (torch.optim-compatible) and learning-rate schedulers."""

from fastdl.optim import lr_scheduler

__all__ = ["lr_scheduler"]
