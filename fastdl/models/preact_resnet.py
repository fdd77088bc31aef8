"""Pre-activation ResNet (He, Zhang, Ren and Sun, "Identity mappings in deep residual
networks", ECCV 2016): BN-ReLU before each convolution, and a clean identity path (no
ReLU after the addition)."""

from __future__ import annotations

from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn.batchnorm import BatchNorm2d
from fastdl.nn.layers import AdaptiveAvgPool2d, Identity, MaxPool2d, ReLU
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["PreActResNet", "PreActBasicBlock", "PreActBottleneck", "preact_resnet18",
           "preact_resnet34", "preact_resnet50"]


class PreActBasicBlock(Module):
    """``a = relu(bn1(x))``; ``r = conv2(relu(bn2(conv1(a))))`` (3x3 convs, stride on the
    first); ``y = r + shortcut``, where the shortcut is ``downsample(a)`` (a 1x1 conv on
    the pre-activated input, no BN) when the shape changes and ``x`` itself otherwise."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = BatchNorm2d(inplanes)
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.conv2 = Conv2d(planes, planes, 3, padding=1, bias=False)
        self.relu = ReLU(inplace=True)
        self.downsample = _shortcut(inplanes, planes * self.expansion, stride)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        r = self.conv2(F.relu(self.bn2(self.conv1(a))))
        return r + (x if self.downsample is None else self.downsample(a))


class PreActBottleneck(Module):
    """``a = relu(bn1(x))``; 1x1 -> BN-ReLU -> 3x3 (stride here) -> BN-ReLU -> 1x1 (x4);
    shortcut as :class:`PreActBasicBlock`."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1 = BatchNorm2d(inplanes)
        self.conv1 = Conv2d(inplanes, planes, 1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.conv2 = Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = BatchNorm2d(planes)
        self.conv3 = Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.relu = ReLU(inplace=True)
        self.downsample = _shortcut(inplanes, planes * self.expansion, stride)

    def forward(self, x):
        a = F.relu(self.bn1(x))
        r = self.conv1(a)
        r = self.conv2(F.relu(self.bn2(r)))
        r = self.conv3(F.relu(self.bn3(r)))
        return r + (x if self.downsample is None else self.downsample(a))


def _shortcut(cin: int, cout: int, stride: int):
    if stride == 1 and cin == cout:
        return None
    return Sequential(Conv2d(cin, cout, 1, stride=stride, bias=False))


class PreActResNet(Module):
    """Pre-activation ResNet: stem -> ``layer1..layer4`` (64, 128, 256, 512 planes;
    stride 2 in the first block of layers 2-4) -> [``bn`` -> ReLU] -> global average
    pool -> ``fc``.

    ImageNet form (default): stem ``conv1`` 7x7/2 (no bias) -> ``maxpool`` 3x3/2, with
    no BN in the stem: every block, the first included, starts with its own BN-ReLU (as
    timm's ``resnetv2``; fb.resnet.torch's ``preresnet.lua`` moves the first block's
    BN-ReLU into the stem instead, which has the same parameters). Final ``bn`` + ReLU
    before pooling. Counts with 1000 classes: 11,687,720 / 21,795,880 / 25,549,352 for
    18 / 34 / 50 layers, equal to timm ``resnetv2_{18,34,50}`` and fb.resnet.torch
    (shared/MODELS.md).

    ``small_input=True``: the CIFAR form of kuangliu/pytorch-cifar's ``PreActResNet``:
    ``conv1`` 3x3/1, no max pool, and no final BN-ReLU (``bn`` is absent), then average
    pool and ``fc``. ``preact_resnet18(num_classes=10, small_input=True)`` has
    11,171,146 parameters, as that implementation.

    torchvision-style key names (no torchvision model exists): ``conv1``,
    ``layer<i>.<j>.{bn1,conv1,bn2,conv2[,bn3,conv3]}``, ``layer<i>.<j>.downsample.0``
    (projection shortcut: a 1x1 conv without BN, on the pre-activated input), ``bn``,
    ``fc``. Initialisation as torchvision's ResNet: convs kaiming_normal_ fan_out/relu,
    BN 1/0, ``fc`` torch's default.
    """

    def __init__(self, block, layers, num_classes: int = 1000, small_input: bool = False):
        super().__init__()
        if small_input:
            self.conv1 = Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = Identity()
        else:
            self.conv1 = Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = 64
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        if small_input:
            self.bn = None
        else:
            self.bn = BatchNorm2d(512 * block.expansion)
            self.relu = ReLU(inplace=True)
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> Sequential:
        layers = []
        for i in range(blocks):
            layers.append(block(self.inplanes, planes, stride if i == 0 else 1))
            self.inplanes = planes * block.expansion
        return Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.bn is not None:
            x = F.relu(self.bn(x))
        return self.fc(F.flatten(self.avgpool(x), 1))


def preact_resnet18(num_classes: int = 1000, *, small_input: bool = False) -> PreActResNet:
    """Pre-activation ResNet-18 (basic blocks [2, 2, 2, 2]): 11,687,720 parameters (timm
    ``resnetv2_18``); with ``small_input=True, num_classes=10`` the CIFAR form, 11,171,146
    (kuangliu ``PreActResNet18``). See :class:`PreActResNet`."""
    return PreActResNet(PreActBasicBlock, [2, 2, 2, 2], num_classes, small_input)


def preact_resnet34(num_classes: int = 1000, *, small_input: bool = False) -> PreActResNet:
    """Pre-activation ResNet-34 (basic blocks [3, 4, 6, 3]): 21,795,880 parameters (timm
    ``resnetv2_34``); CIFAR form with 10 classes: 21,279,306 (kuangliu)."""
    return PreActResNet(PreActBasicBlock, [3, 4, 6, 3], num_classes, small_input)


def preact_resnet50(num_classes: int = 1000, *, small_input: bool = False) -> PreActResNet:
    """Pre-activation ResNet-50 (bottlenecks [3, 4, 6, 3], stride on the 3x3): 25,549,352
    parameters (timm ``resnetv2_50``); CIFAR form with 10 classes: 23,509,066
    (kuangliu)."""
    return PreActResNet(PreActBottleneck, [3, 4, 6, 3], num_classes, small_input)
