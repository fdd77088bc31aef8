"""AlexNet (Krizhevsky, Sutskever and Hinton, "ImageNet classification with deep
convolutional neural networks", NIPS 2012), and the one-GPU variant of Krizhevsky's
"One weird trick for parallelizing convolutional neural networks" (2014) that
torchvision ships."""

from __future__ import annotations

from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn.layers import AdaptiveAvgPool2d, Dropout, LocalResponseNorm, MaxPool2d, ReLU
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["AlexNet", "alexnet"]


class AlexNet(Module):
    """AlexNet; ``features`` -> ``avgpool`` (adaptive, to 6x6) -> ``classifier``.

    ``lrn=False`` (default): torchvision's layout (convs 64-192-384-256-256, no LRN;
    Krizhevsky 2014), 61,100,840 parameters with 1000 classes, torch's default
    initialisation; input 224x224 (anything from 63x63 works).

    ``lrn=True``: the 2012 paper's network on one tower (convs 96-256-384-384-256, LRN
    after the first two ReLUs), as dansuh17/alexnet-pytorch builds it: 62,378,344
    parameters with 1000 classes (shared/MODELS.md), input 227x227. The LRN is
    ``LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)`` in torch's convention, which
    divides ``alpha`` by the size (so does Caffe). Initialised as the paper: weights
    N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the hidden fully connected layers,
    0 elsewhere.

    Both share torchvision's key names: ``features.<i>``, ``classifier.{1,4,6}``.
    Dropout 0.5 before the two hidden fully connected layers.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, lrn: bool = False):
        super().__init__()
        if lrn:
            self.features = Sequential(
                Conv2d(3, 96, kernel_size=11, stride=4), ReLU(inplace=True),
                LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
                MaxPool2d(kernel_size=3, stride=2),
                Conv2d(96, 256, kernel_size=5, padding=2), ReLU(inplace=True),
                LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
                MaxPool2d(kernel_size=3, stride=2),
                Conv2d(256, 384, kernel_size=3, padding=1), ReLU(inplace=True),
                Conv2d(384, 384, kernel_size=3, padding=1), ReLU(inplace=True),
                Conv2d(384, 256, kernel_size=3, padding=1), ReLU(inplace=True),
                MaxPool2d(kernel_size=3, stride=2),
            )
        else:
            self.features = Sequential(
                Conv2d(3, 64, kernel_size=11, stride=4, padding=2), ReLU(inplace=True),
                MaxPool2d(kernel_size=3, stride=2),
                Conv2d(64, 192, kernel_size=5, padding=2), ReLU(inplace=True),
                MaxPool2d(kernel_size=3, stride=2),
                Conv2d(192, 384, kernel_size=3, padding=1), ReLU(inplace=True),
                Conv2d(384, 256, kernel_size=3, padding=1), ReLU(inplace=True),
                Conv2d(256, 256, kernel_size=3, padding=1), ReLU(inplace=True),
                MaxPool2d(kernel_size=3, stride=2),
            )
        self.avgpool = AdaptiveAvgPool2d((6, 6))
        self.classifier = Sequential(
            Dropout(p=dropout), Linear(256 * 6 * 6, 4096), ReLU(inplace=True),
            Dropout(p=dropout), Linear(4096, 4096), ReLU(inplace=True),
            Linear(4096, num_classes),
        )
        if lrn:
            layers = [m for m in self.modules() if isinstance(m, (Conv2d, Linear))]
            for i, m in enumerate(layers):  # conv1..conv5, fc6, fc7, fc8
                init.normal_(m.weight, 0.0, 0.01)
                init.constant_(m.bias, 1.0 if i in (1, 3, 4, 5, 6) else 0.0)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def alexnet(num_classes: int = 1000, *, lrn: bool = False, dropout: float = 0.5) -> AlexNet:
    """AlexNet: torchvision's layout (61,100,840 parameters), or with ``lrn=True`` the
    2012 paper's single-tower layout with LRN at 227x227 (62,378,344); see
    :class:`AlexNet`."""
    return AlexNet(num_classes=num_classes, dropout=dropout, lrn=lrn)
