"""ResNet (He, Zhang, Ren and Sun, "Deep residual learning for image recognition", CVPR
2016) and ResNeXt (Xie, Girshick, Dollar, Tu and He, "Aggregated residual
transformations for deep neural networks", CVPR 2017), in torchvision's layout."""

from __future__ import annotations

from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn.batchnorm import BatchNorm2d
from fastdl.nn.layers import AdaptiveAvgPool2d, Identity, MaxPool2d, ReLU
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50",
           "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d"]


def _conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1) -> Conv2d:
    return Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, groups=groups,
                  bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> Conv2d:
    return Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(Module):
    """Two 3x3 convs (stride on the first) with BN; ``relu(bn2(conv2(relu(bn1(conv1(x)))))
    + shortcut(x))``, where the shortcut is ``downsample`` (1x1 conv + BN) or the
    identity."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class Bottleneck(Module):
    """1x1 (reduce) -> 3x3 (stride here: torchvision's "v1.5") -> 1x1 (expand by 4),
    each with BN; ReLU after the first two and after the residual add. ``groups`` > 1
    makes the 3x3 a grouped convolution (ResNeXt's cardinality), whose width is
    ``planes * base_width / 64 * groups``."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None,
                 groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = _conv1x1(inplanes, width)
        self.bn1 = BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride, groups)
        self.bn2 = BatchNorm2d(width)
        self.conv3 = _conv1x1(width, planes * self.expansion)
        self.bn3 = BatchNorm2d(planes * self.expansion)
        self.relu = ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNet(Module):
    """ResNet / ResNeXt: stem -> ``layer1..layer4`` (64, 128, 256, 512 planes; stride 2
    in the first block of layers 2-4) -> global average pool -> ``fc``.

    Stem: ``conv1`` 7x7/2 (no bias) -> ``bn1`` -> ReLU -> ``maxpool`` 3x3/2 for 224x224
    ImageNet input; with ``small_input=True`` (CIFAR, 32x32) ``conv1`` is 3x3/1 and there
    is no max pool (``maxpool`` is an Identity), as in the ResNet paper's CIFAR section
    and the common CIFAR ports. Projection shortcuts (``downsample``: 1x1 conv + BN) where
    the shape changes. torchvision's key names and initialisation: convs
    kaiming_normal_(mode="fan_out", nonlinearity="relu"), BN weight 1 and bias 0, ``fc``
    torch's default; ``zero_init_residual=True`` zeroes each block's last BN weight.
    """

    def __init__(self, block, layers, num_classes: int = 1000, zero_init_residual: bool = False,
                 groups: int = 1, width_per_group: int = 64, small_input: bool = False):
        super().__init__()
        self.inplanes = 64
        self.groups = groups
        self.base_width = width_per_group
        if small_input:
            self.conv1 = Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = BatchNorm2d(64)
        self.relu = ReLU(inplace=True)
        self.maxpool = Identity() if small_input else MaxPool2d(kernel_size=3, stride=2,
                                                                 padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                    BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups,
                        self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width))
        return Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(F.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000, *, small_input: bool = False,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (basic blocks [2, 2, 2, 2]): 11,689,512 parameters, as torchvision."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, zero_init_residual,
                  small_input=small_input)


def resnet34(num_classes: int = 1000, *, small_input: bool = False,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 (basic blocks [3, 4, 6, 3]): 21,797,672 parameters, as torchvision."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, zero_init_residual,
                  small_input=small_input)


def resnet50(num_classes: int = 1000, *, small_input: bool = False,
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (bottlenecks [3, 4, 6, 3], stride on the 3x3): 25,557,032 parameters,
    as torchvision."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual,
                  small_input=small_input)


def resnet101(num_classes: int = 1000, *, small_input: bool = False,
              zero_init_residual: bool = False) -> ResNet:
    """ResNet-101 (bottlenecks [3, 4, 23, 3]): 44,549,160 parameters, as torchvision."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, zero_init_residual,
                  small_input=small_input)


def resnet152(num_classes: int = 1000, *, small_input: bool = False,
              zero_init_residual: bool = False) -> ResNet:
    """ResNet-152 (bottlenecks [3, 8, 36, 3]): 60,192,808 parameters, as torchvision."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, zero_init_residual,
                  small_input=small_input)


def resnext50_32x4d(num_classes: int = 1000, *, small_input: bool = False,
                    zero_init_residual: bool = False) -> ResNet:
    """ResNeXt-50 32x4d (cardinality 32, 4 channels per group in the first stage):
    25,028,904 parameters, as torchvision."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual, groups=32,
                  width_per_group=4, small_input=small_input)


def resnext101_32x8d(num_classes: int = 1000, *, small_input: bool = False,
                     zero_init_residual: bool = False) -> ResNet:
    """ResNeXt-101 32x8d (cardinality 32, 8 channels per group in the first stage):
    88,791,336 parameters, as torchvision."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, zero_init_residual, groups=32,
                  width_per_group=8, small_input=small_input)
