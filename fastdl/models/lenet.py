"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to
document recognition", Proc. IEEE 86(11), 1998)."""

from __future__ import annotations

from fastdl.nn import functional as F
from fastdl.nn.layers import AvgPool2d, MaxPool2d, ReLU, Tanh
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["LeNet5", "lenet5"]


class _C1(Conv2d):
    """LeNet-5's first convolution: no padding on 32x32 input, 2 on MNIST's 28x28 (so
    that its units see the paper's 32x32 field); other sizes are a ValueError."""

    def forward(self, x):
        size = tuple(x.shape[-2:])
        if len(x.shape) != 4 or size not in ((32, 32), (28, 28)):
            raise ValueError("LeNet5: expected input (N, C, 32, 32) or (N, C, 28, 28), got "
                             f"shape {tuple(x.shape)}")
        return F.conv2d(x, self.weight, self.bias, self.stride, 0 if size == (32, 32) else 2)


class LeNet5(Module):
    """LeNet-5 in its modern form: C1 conv 6x5x5 -> pool 2 -> C3 conv 16x5x5 (full
    6 -> 16 connections) -> pool 2 -> C5 fully connected 400 -> 120 -> F6 120 -> 84 ->
    output 84 -> ``num_classes``.

    Input (N, in_channels, 32, 32), as in the paper, or (N, in_channels, 28, 28)
    (MNIST's size), which the first convolution pads by 2 on every side so that C1 sees
    the paper's 32x32 field. Other sizes are a ValueError.

    ``classic=False`` (default): ReLU and max pooling. ``classic=True``: tanh and average
    pooling, closer to the paper, whose subsampling layers also had one trainable
    coefficient and bias per map (here plain averages), whose C3 used a sparse
    connection table (here full), whose squashing function was 1.7159 tanh(2a/3) (here
    tanh) and whose output layer was a Euclidean RBF (here a linear layer). With 10
    classes the model has 61,706 parameters (156 / 2,416 / 48,120 / 10,164 / 850), the
    count of the usual modern LeNet-5 (shared/MODELS.md); the paper's own count is
    60,000. Keys: ``features.{0,3}`` (convs), ``classifier.{0,2,4}`` (linears).
    torch's default initialisation.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, classic: bool = False):
        super().__init__()
        act = Tanh if classic else ReLU
        pool = AvgPool2d if classic else MaxPool2d
        self.classic = bool(classic)
        self.features = Sequential(
            _C1(in_channels, 6, kernel_size=5), act(), pool(2, 2),
            Conv2d(6, 16, kernel_size=5), act(), pool(2, 2),
        )
        self.classifier = Sequential(
            Linear(16 * 5 * 5, 120), act(),
            Linear(120, 84), act(),
            Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(F.flatten(self.features(x), 1))


def lenet5(num_classes: int = 10, *, in_channels: int = 1, classic: bool = False) -> LeNet5:
    """LeNet-5 (LeCun et al. 1998) for (N, 1, 32, 32) or (N, 1, 28, 28) input; see
    :class:`LeNet5`. 61,706 parameters with 10 classes (the modern form in
    shared/MODELS.md)."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels, classic=classic)
