"""Neural-network building blocks. This slice holds Parameter; layers come next."""

from fastdl.nn.parameter import Parameter

__all__ = ["Parameter"]
