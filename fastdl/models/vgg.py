"""VGG (Simonyan and Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015): configurations A (11 layers), B (13), D (16) and E (19), with
and without batch normalization."""

from __future__ import annotations

from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn.batchnorm import BatchNorm2d
from fastdl.nn.layers import AdaptiveAvgPool2d, Dropout, MaxPool2d, ReLU
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["VGG", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
           "vgg19_bn"]

# channels of the 3x3 convs, "M" for a 2x2 max pool (the paper's Table 1)
_CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
          512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def _features(cfg, batch_norm: bool) -> Sequential:
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(Conv2d(c, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(BatchNorm2d(v))
        layers.append(ReLU(inplace=True))
        c = v
    return Sequential(*layers)


class VGG(Module):
    """VGG: ``features`` (3x3 convs, each followed by BN with ``batch_norm`` and ReLU;
    2x2 max pools) -> ``avgpool`` -> ``classifier`` (three fully connected layers,
    dropout 0.5 after the two hidden ones).

    ImageNet form (default): torchvision's layout, keys and initialisation (convs
    kaiming_normal_ fan_out/relu with zero bias, BN 1/0, linears N(0, 0.01^2) with zero
    bias); ``avgpool`` is adaptive to 7x7 and the hidden layers have 4096 units, so the
    counts are torchvision's (vgg16: 138,357,544). Input 224x224 (32x32 and up work).

    ``small_input=True``: for 32x32 images (CIFAR). The convolutional stack is already
    3x3 convs, so it is kept; what changes is the head: 32x32 leaves a 1x1 map after the
    five pools, so ``avgpool`` pools to 1x1 and the hidden layers have 512 units (as the
    common CIFAR VGGs), instead of replicating the 1x1 map 49 times into 25,088 inputs.
    Same keys as the ImageNet form.
    """

    def __init__(self, cfg: str, batch_norm: bool = False, num_classes: int = 1000,
                 dropout: float = 0.5, small_input: bool = False):
        super().__init__()
        self.features = _features(_CONFIGS[cfg], batch_norm)
        pool, hidden = (1, 512) if small_input else (7, 4096)
        self.avgpool = AdaptiveAvgPool2d((pool, pool))
        self.classifier = Sequential(
            Linear(512 * pool * pool, hidden), ReLU(inplace=True), Dropout(p=dropout),
            Linear(hidden, hidden), ReLU(inplace=True), Dropout(p=dropout),
            Linear(hidden, num_classes),
        )
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                init.zeros_(m.bias)
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, Linear):
                init.normal_(m.weight, 0.0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def _vgg(cfg, batch_norm, num_classes, small_input, dropout):
    return VGG(cfg, batch_norm, num_classes=num_classes, dropout=dropout,
               small_input=small_input)


def vgg11(num_classes: int = 1000, *, small_input: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-11 (configuration A): 132,863,336 parameters, as torchvision."""
    return _vgg("A", False, num_classes, small_input, dropout)


def vgg11_bn(num_classes: int = 1000, *, small_input: bool = False,
             dropout: float = 0.5) -> VGG:
    """VGG-11 with batch normalization: 132,868,840 parameters, as torchvision."""
    return _vgg("A", True, num_classes, small_input, dropout)


def vgg13(num_classes: int = 1000, *, small_input: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-13 (configuration B): 133,047,848 parameters, as torchvision."""
    return _vgg("B", False, num_classes, small_input, dropout)


def vgg13_bn(num_classes: int = 1000, *, small_input: bool = False,
             dropout: float = 0.5) -> VGG:
    """VGG-13 with batch normalization: 133,053,736 parameters, as torchvision."""
    return _vgg("B", True, num_classes, small_input, dropout)


def vgg16(num_classes: int = 1000, *, small_input: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D): 138,357,544 parameters, as torchvision."""
    return _vgg("D", False, num_classes, small_input, dropout)


def vgg16_bn(num_classes: int = 1000, *, small_input: bool = False,
             dropout: float = 0.5) -> VGG:
    """VGG-16 with batch normalization: 138,365,992 parameters, as torchvision."""
    return _vgg("D", True, num_classes, small_input, dropout)


def vgg19(num_classes: int = 1000, *, small_input: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-19 (configuration E): 143,667,240 parameters, as torchvision."""
    return _vgg("E", False, num_classes, small_input, dropout)


def vgg19_bn(num_classes: int = 1000, *, small_input: bool = False,
             dropout: float = 0.5) -> VGG:
    """VGG-19 with batch normalization: 143,678,248 parameters, as torchvision."""
    return _vgg("E", True, num_classes, small_input, dropout)
