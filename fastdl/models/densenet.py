"""DenseNet (Huang, Liu, van der Maaten and Weinberger, "Densely connected convolutional
networks", CVPR 2017): DenseNet-BC with growth rate 32 and bottleneck width 4k, in
torchvision's layout."""

from __future__ import annotations

from collections import OrderedDict

from fastdl.autograd import cat
from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn.batchnorm import BatchNorm2d
from fastdl.nn.layers import AvgPool2d, Identity, MaxPool2d, ReLU
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["DenseNet", "densenet121", "densenet169", "densenet201"]


class _DenseLayer(Module):
    """BN-ReLU-conv 1x1 (``bn_size * growth_rate`` channels) -> BN-ReLU-conv 3x3
    (``growth_rate`` channels); the block concatenates its output to its input."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int,
                 drop_rate: float):
        super().__init__()
        self.norm1 = BatchNorm2d(num_input_features)
        self.relu1 = ReLU(inplace=True)
        self.conv1 = Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1,
                            bias=False)
        self.norm2 = BatchNorm2d(bn_size * growth_rate)
        self.relu2 = ReLU(inplace=True)
        self.conv2 = Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1,
                            bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, self.drop_rate, self.training)
        return out


class _DenseBlock(Module):
    """``num_layers`` dense layers (``denselayer1``...); layer i sees the block input and
    the outputs of layers 1..i-1, concatenated on channels."""

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int,
                 growth_rate: int, drop_rate: float):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            _DenseLayer(num_input_features + i * growth_rate, growth_rate,
                                        bn_size, drop_rate))

    def forward(self, x):
        # growing the concatenation one layer at a time copies the same bytes as
        # torchvision's re-concatenation of the whole list in every layer
        for layer in self.children():
            x = cat([x, layer(x)], 1)
        return x


class _Transition(Sequential):
    """BN-ReLU-conv 1x1 (halves the channels) -> 2x2 average pool."""

    def __init__(self, num_input_features: int, num_output_features: int):
        super().__init__(OrderedDict([
            ("norm", BatchNorm2d(num_input_features)),
            ("relu", ReLU(inplace=True)),
            ("conv", Conv2d(num_input_features, num_output_features, kernel_size=1,
                            bias=False)),
            ("pool", AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(Module):
    """DenseNet-BC: ``features`` (``conv0`` -> ``norm0`` -> ``relu0`` -> ``pool0`` ->
    ``denseblock1`` -> ``transition1`` -> ... -> ``denseblock4`` -> ``norm5``) -> ReLU ->
    global average pool -> ``classifier``.

    ImageNet stem: conv 7x7/2 (64 channels) -> BN-ReLU -> max pool 3x3/2, 224x224
    input. ``small_input=True`` (CIFAR, 32x32): ``conv0`` is 3x3/1 and ``pool0`` an
    Identity, so the three transitions take 32x32 to 4x4. torchvision's key names
    (``features.denseblock1.denselayer1.norm1.weight``, ``features.transition1.conv.weight``,
    ``classifier.weight``), counts (densenet121: 7,978,856) and initialisation (convs
    kaiming_normal_ with torch's defaults, BN 1/0, classifier bias 0).
    """

    def __init__(self, growth_rate: int = 32, block_config=(6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0,
                 num_classes: int = 1000, small_input: bool = False):
        super().__init__()
        if small_input:
            stem = [("conv0", Conv2d(3, num_init_features, kernel_size=3, stride=1,
                                     padding=1, bias=False)),
                    ("norm0", BatchNorm2d(num_init_features)), ("relu0", ReLU(inplace=True)),
                    ("pool0", Identity())]
        else:
            stem = [("conv0", Conv2d(3, num_init_features, kernel_size=7, stride=2,
                                     padding=3, bias=False)),
                    ("norm0", BatchNorm2d(num_init_features)), ("relu0", ReLU(inplace=True)),
                    ("pool0", MaxPool2d(kernel_size=3, stride=2, padding=1))]
        self.features = Sequential(OrderedDict(stem))
        c = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     _DenseBlock(num_layers, c, bn_size, growth_rate,
                                                 drop_rate))
            c += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm5", BatchNorm2d(c))
        self.classifier = Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight)
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, Linear):
                init.zeros_(m.bias)

    def forward(self, x):
        x = F.relu(self.features(x))
        return self.classifier(F.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


def densenet121(num_classes: int = 1000, *, small_input: bool = False,
                drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-121 (blocks 6, 12, 24, 16): 7,978,856 parameters, as torchvision."""
    return DenseNet(32, (6, 12, 24, 16), 64, 4, drop_rate, num_classes, small_input)


def densenet169(num_classes: int = 1000, *, small_input: bool = False,
                drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-169 (blocks 6, 12, 32, 32): 14,149,480 parameters, as torchvision."""
    return DenseNet(32, (6, 12, 32, 32), 64, 4, drop_rate, num_classes, small_input)


def densenet201(num_classes: int = 1000, *, small_input: bool = False,
                drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-201 (blocks 6, 12, 48, 32): 20,013,928 parameters, as torchvision."""
    return DenseNet(32, (6, 12, 48, 32), 64, 4, drop_rate, num_classes, small_input)
