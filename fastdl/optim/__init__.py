"""Optimizers (torch.optim-compatible), learning-rate schedulers, and minimize."""

from fastdl.optim import lr_scheduler
from fastdl.optim.adadelta import Adadelta
from fastdl.optim.adagrad import Adagrad
from fastdl.optim.adam import Adam, AdamW
from fastdl.optim.lbfgs import LBFGS
from fastdl.optim._minimize import OptimizeResult, minimize
from fastdl.optim.nadam import NAdam
from fastdl.optim.optimizer import Optimizer
from fastdl.optim.rmsprop import RMSprop
from fastdl.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "NAdam",
           "lr_scheduler", "LBFGS", "minimize", "OptimizeResult"]
