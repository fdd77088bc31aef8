"""GoogLeNet / Inception v1 (Szegedy et al., "Going deeper with convolutions", CVPR
2015), in torchvision's layout, or with ``paper=True`` as the paper draws it."""

from __future__ import annotations

import math
from collections import namedtuple

from fastdl.autograd import cat
from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn.batchnorm import BatchNorm2d
from fastdl.nn.layers import AdaptiveAvgPool2d, Dropout, LocalResponseNorm, MaxPool2d
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["GoogLeNet", "GoogLeNetOutputs", "googlenet"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = """What GoogLeNet returns in training mode with its auxiliary
heads: the main logits, then the heads on inception4d (aux2) and inception4a (aux1)."""


class BasicConv2d(Module):
    """conv -> BN(eps=1e-3) -> ReLU, the conv without bias (torchvision's); with
    ``bn=False`` conv (with bias) -> ReLU, as the paper."""

    def __init__(self, in_channels: int, out_channels: int, bn: bool = True, **kwargs):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, bias=not bn, **kwargs)
        self.bn = BatchNorm2d(out_channels, eps=0.001) if bn else None

    def forward(self, x):
        x = self.conv(x)
        return F.relu(x if self.bn is None else self.bn(x))


class Inception(Module):
    """Four branches concatenated on channels: 1x1 | 1x1 -> 3x3 | 1x1 -> "5x5" | 3x3/1
    max pool -> 1x1. The "5x5" branch is a 3x3 in torchvision (its known deviation from
    the paper, kept for checkpoint compatibility) and a true 5x5 with ``paper=True``."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj,
                 paper: bool = False):
        super().__init__()
        bn = not paper
        k5 = 5 if paper else 3
        self.branch1 = BasicConv2d(in_channels, ch1x1, bn, kernel_size=1)
        self.branch2 = Sequential(BasicConv2d(in_channels, ch3x3red, bn, kernel_size=1),
                                  BasicConv2d(ch3x3red, ch3x3, bn, kernel_size=3, padding=1))
        self.branch3 = Sequential(BasicConv2d(in_channels, ch5x5red, bn, kernel_size=1),
                                  BasicConv2d(ch5x5red, ch5x5, bn, kernel_size=k5,
                                              padding=k5 // 2))
        self.branch4 = Sequential(MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                  BasicConv2d(in_channels, pool_proj, bn, kernel_size=1))

    def forward(self, x):
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(Module):
    """Auxiliary classifier: average pool to 4x4 (the paper's 5x5/3 pool at 14x14) ->
    1x1 conv (128) -> fc 1024 + ReLU -> dropout 0.7 -> fc ``num_classes``."""

    def __init__(self, in_channels: int, num_classes: int, paper: bool = False,
                 dropout: float = 0.7):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, not paper, kernel_size=1)
        self.fc1 = Linear(2048, 1024)
        self.fc2 = Linear(1024, num_classes)
        self.dropout = Dropout(p=dropout)

    def forward(self, x):
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        x = F.relu(self.fc1(F.flatten(x, 1)))
        return self.fc2(self.dropout(x))


# in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj (the paper's Table 1)
_BLOCKS = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(Module):
    """GoogLeNet (Inception v1) for 224x224 input.

    Default: torchvision's layout, key names and initialisation — every conv is
    conv (no bias) -> BN(eps=1e-3) -> ReLU, the "5x5" branch is a 3x3, dropout 0.2
    before ``fc``, weights N(0, 0.01^2) truncated to [-2, 2], BN 1/0, linear biases
    torch's default. 6,624,904 parameters with 1000 classes without the auxiliary heads
    and 13,004,888 with them (``aux_logits=True``), as torchvision.

    ``paper=True``: the network of the paper's Table 1 and Figure 3 — convs with bias and
    ReLU and no BN, true 5x5 convolutions, LRN(5, 1e-4, 0.75) after the first pool and
    after conv3 (as Caffe's bvlc_googlenet), dropout 0.4; weights initialised as
    bvlc_googlenet (Caffe's "xavier", uniform +-sqrt(3 / fan_in); biases 0.2). The same
    key names with ``conv.bias`` in place of ``bn.*``.

    In training mode with ``aux_logits=True`` the forward returns
    :class:`GoogLeNetOutputs` ``(logits, aux_logits2, aux_logits1)``; otherwise the
    logits. Inputs from 32x32 up run in eval mode (the auxiliary heads, run in training
    mode, pool adaptively and so run at any size too).
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = False,
                 paper: bool = False, dropout: float | None = None,
                 dropout_aux: float = 0.7):
        super().__init__()
        bn = not paper
        self.aux_logits = bool(aux_logits)
        self.paper = bool(paper)
        self.conv1 = BasicConv2d(3, 64, bn, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, bn, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, bn, kernel_size=3, padding=1)
        self.maxpool2 = MaxPool2d(3, stride=2, ceil_mode=True)
        if paper:  # LRN has no parameters: keys unchanged
            self.norm1 = LocalResponseNorm(5, alpha=1e-4, beta=0.75)
            self.norm2 = LocalResponseNorm(5, alpha=1e-4, beta=0.75)
        for name in ("inception3a", "inception3b"):
            self.add_module(name, Inception(*_BLOCKS[name], paper=paper))
        self.maxpool3 = MaxPool2d(3, stride=2, ceil_mode=True)
        for name in ("inception4a", "inception4b", "inception4c", "inception4d",
                     "inception4e"):
            self.add_module(name, Inception(*_BLOCKS[name], paper=paper))
        self.maxpool4 = MaxPool2d(2, stride=2, ceil_mode=True)
        for name in ("inception5a", "inception5b"):
            self.add_module(name, Inception(*_BLOCKS[name], paper=paper))
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, paper, dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, paper, dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.dropout = Dropout(p=(0.4 if paper else 0.2) if dropout is None else dropout)
        self.fc = Linear(1024, num_classes)
        for m in self.modules():
            if isinstance(m, (Conv2d, Linear)):
                if paper:  # Caffe's xavier filler: U(-sqrt(3/fan_in), sqrt(3/fan_in))
                    bound = math.sqrt(3.0 / (m.weight.size // m.weight.shape[0]))
                    init.uniform_(m.weight, -bound, bound)
                    init.constant_(m.bias, 0.2)
                else:
                    init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        if self.paper:
            x = self.norm1(x)
        x = self.conv3(self.conv2(x))
        if self.paper:
            x = self.norm2(x)
        x = self.maxpool2(x)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux_on = self.aux_logits and self.training
        aux1 = self.aux1(x) if aux_on else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if aux_on else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(F.flatten(self.avgpool(x), 1)))
        return GoogLeNetOutputs(x, aux2, aux1) if aux_on else x


def googlenet(num_classes: int = 1000, *, aux_logits: bool = False,
              paper: bool = False) -> GoogLeNet:
    """GoogLeNet (Inception v1): torchvision's layout, 6,624,904 parameters (13,004,888
    with ``aux_logits=True``); ``paper=True`` for the paper's true 5x5 branches without
    BN. See :class:`GoogLeNet`."""
    return GoogLeNet(num_classes=num_classes, aux_logits=aux_logits, paper=paper)
