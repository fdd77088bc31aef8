"""Neural-network building blocks (torch.nn's names): Module, Parameter, layers, losses,
``functional`` and ``init``."""

from fastdl.nn import functional, init
from fastdl.nn.layers import (Dropout, Flatten, Identity, LocalResponseNorm, LogSoftmax, ReLU,
                              Sigmoid, Softmax, Tanh)
from fastdl.nn.loss import (BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss,
                            SmoothL1Loss)
from fastdl.nn.module import Module, Sequential, StateDictError
from fastdl.nn.parameter import Parameter

__all__ = [
    "Module", "Parameter", "Sequential", "StateDictError", "Identity", "ReLU", "Sigmoid",
    "Tanh", "Softmax", "LogSoftmax", "Dropout", "Flatten", "LocalResponseNorm", "L1Loss",
    "MSELoss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "BCEWithLogitsLoss",
    "functional", "init",
]
