"""Neural-network building blocks (torch.nn's names): Module, Parameter, layers, losses,
``functional`` and ``init``."""

from fastdl.nn import functional, init
from fastdl.nn.batchnorm import BatchNorm1d, BatchNorm2d
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.layers import (AdaptiveAvgPool2d, AvgPool2d, Dropout, Flatten, Identity,
                              LocalResponseNorm, LogSoftmax, MaxPool2d, ReLU, Sigmoid, Softmax,
                              Tanh)
from fastdl.nn.loss import (BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss,
                            SmoothL1Loss)
from fastdl.nn.module import Module, Sequential, StateDictError
from fastdl.nn.parameter import Parameter

__all__ = [
    "Module", "Parameter", "Sequential", "StateDictError", "Identity", "ReLU", "Sigmoid",
    "Tanh", "Softmax", "LogSoftmax", "Dropout", "Flatten", "LocalResponseNorm", "MaxPool2d", "AvgPool2d",
    "AdaptiveAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Linear", "Conv2d", "L1Loss",
    "MSELoss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "BCEWithLogitsLoss",
    "functional", "init",
]
