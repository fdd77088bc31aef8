"""Inception-v4 and Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke and Alemi,
"Inception-v4, Inception-ResNet and the impact of residual connections on learning",
AAAI 2017), as timm builds them (from Cadene's port of the TensorFlow-Slim models)."""

from __future__ import annotations

from fastdl.autograd import cat
from fastdl.nn import functional as F
from fastdl.nn.batchnorm import BatchNorm2d
from fastdl.nn.layers import AdaptiveAvgPool2d, AvgPool2d, Dropout, MaxPool2d
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module, Sequential

__all__ = ["InceptionV4", "InceptionResNetV2", "inception_v4", "inception_resnet_v2"]


class BasicConv2d(Module):
    """conv (no bias) -> BN(eps=1e-3) -> ReLU; ``padding`` defaults to 0 ("valid")."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                           padding=padding, bias=False)
        self.bn = BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _c(cin, cout, k, stride=1):
    """A BasicConv2d with "same" padding for stride 1 (k may be a pair such as (1, 7))
    and valid padding for stride 2."""
    kh, kw = (k, k) if isinstance(k, int) else k
    pad = (kh // 2, kw // 2) if stride == 1 else 0
    return BasicConv2d(cin, cout, (kh, kw) if not isinstance(k, int) else k, stride, pad)


def _pool_branch(cin, cout):
    # the blocks' average pools leave the zero padding out of the mean (TF's "SAME")
    return Sequential(AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
                      BasicConv2d(cin, cout, 1))


class _Branches(Module):
    """Runs its ``branch0..`` children on the same input and concatenates the results."""

    def forward(self, x):
        return cat([b(x) for b in self.children()], 1)


# --- Inception-v4 -----------------------------------------------------------------------

class Mixed3a(Module):
    def __init__(self):
        super().__init__()
        self.maxpool = MaxPool2d(3, stride=2)
        self.conv = BasicConv2d(64, 96, 3, stride=2)

    def forward(self, x):
        return cat([self.maxpool(x), self.conv(x)], 1)


class Mixed4a(_Branches):
    def __init__(self):
        super().__init__()
        self.branch0 = Sequential(_c(160, 64, 1), BasicConv2d(64, 96, 3))
        self.branch1 = Sequential(_c(160, 64, 1), _c(64, 64, (1, 7)), _c(64, 64, (7, 1)),
                                  BasicConv2d(64, 96, 3))


class Mixed5a(Module):
    def __init__(self):
        super().__init__()
        self.conv = BasicConv2d(192, 192, 3, stride=2)
        self.maxpool = MaxPool2d(3, stride=2)

    def forward(self, x):
        return cat([self.conv(x), self.maxpool(x)], 1)


class InceptionA(_Branches):
    """35x35, 384 -> 384."""

    def __init__(self):
        super().__init__()
        self.branch0 = _c(384, 96, 1)
        self.branch1 = Sequential(_c(384, 64, 1), _c(64, 96, 3))
        self.branch2 = Sequential(_c(384, 64, 1), _c(64, 96, 3), _c(96, 96, 3))
        self.branch3 = _pool_branch(384, 96)


class ReductionA(_Branches):
    """35 -> 17, 384 -> 1024 (k, l, m, n = 192, 224, 256, 384)."""

    def __init__(self):
        super().__init__()
        self.branch0 = _c(384, 384, 3, stride=2)
        self.branch1 = Sequential(_c(384, 192, 1), _c(192, 224, 3), _c(224, 256, 3, stride=2))
        self.branch2 = MaxPool2d(3, stride=2)


class InceptionB(_Branches):
    """17x17, 1024 -> 1024, 7x7 factorised into 1x7 and 7x1."""

    def __init__(self):
        super().__init__()
        self.branch0 = _c(1024, 384, 1)
        self.branch1 = Sequential(_c(1024, 192, 1), _c(192, 224, (1, 7)), _c(224, 256, (7, 1)))
        self.branch2 = Sequential(_c(1024, 192, 1), _c(192, 192, (7, 1)), _c(192, 224, (1, 7)),
                                  _c(224, 224, (7, 1)), _c(224, 256, (1, 7)))
        self.branch3 = _pool_branch(1024, 128)


class ReductionB(_Branches):
    """17 -> 8, 1024 -> 1536."""

    def __init__(self):
        super().__init__()
        self.branch0 = Sequential(_c(1024, 192, 1), _c(192, 192, 3, stride=2))
        self.branch1 = Sequential(_c(1024, 256, 1), _c(256, 256, (1, 7)), _c(256, 320, (7, 1)),
                                  _c(320, 320, 3, stride=2))
        self.branch2 = MaxPool2d(3, stride=2)


class InceptionC(Module):
    """8x8, 1536 -> 1536, with the 1x3 / 3x1 pairs side by side."""

    def __init__(self):
        super().__init__()
        self.branch0 = _c(1536, 256, 1)
        self.branch1_0 = _c(1536, 384, 1)
        self.branch1_1a = _c(384, 256, (1, 3))
        self.branch1_1b = _c(384, 256, (3, 1))
        self.branch2_0 = _c(1536, 384, 1)
        self.branch2_1 = _c(384, 448, (3, 1))
        self.branch2_2 = _c(448, 512, (1, 3))
        self.branch2_3a = _c(512, 256, (1, 3))
        self.branch2_3b = _c(512, 256, (3, 1))
        self.branch3 = _pool_branch(1536, 256)

    def forward(self, x):
        b1 = self.branch1_0(x)
        b2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return cat([self.branch0(x), self.branch1_1a(b1), self.branch1_1b(b1),
                    self.branch2_3a(b2), self.branch2_3b(b2), self.branch3(x)], 1)


class InceptionV4(Module):
    """Inception-v4 for 299x299 input: ``features`` (stem, 4 x Inception-A, Reduction-A,
    7 x Inception-B, Reduction-B, 3 x Inception-C; 1536 channels at 8x8) -> global
    average pool -> dropout -> ``last_linear``.

    42,679,816 parameters with 1000 classes, as timm's ``inception_v4`` (shared/MODELS.md;
    Cadene's 1001-class port has 1,537 more), with timm's key names
    (``features.0.conv.weight``, ``features.3.conv.bn.running_mean``,
    ``last_linear.weight``). Every conv is conv (no bias) -> BN(eps=1e-3) -> ReLU, the
    blocks' average pools exclude the padding, the BN keep their scale (TF-Slim's have
    none). Dropout 0.2 before the classifier (the paper's keep probability 0.8; timm's
    default is 0). torch's default initialisation, as timm. Runs from 75x75 up.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        blocks = [BasicConv2d(3, 32, 3, stride=2), BasicConv2d(32, 32, 3),
                  BasicConv2d(32, 64, 3, padding=1), Mixed3a(), Mixed4a(), Mixed5a()]
        blocks += [InceptionA() for _ in range(4)] + [ReductionA()]
        blocks += [InceptionB() for _ in range(7)] + [ReductionB()]
        blocks += [InceptionC() for _ in range(3)]
        self.features = Sequential(*blocks)
        self.global_pool = AdaptiveAvgPool2d((1, 1))
        self.head_drop = Dropout(p=dropout)
        self.last_linear = Linear(1536, num_classes)

    def forward(self, x):
        x = F.flatten(self.global_pool(self.features(x)), 1)
        return self.last_linear(self.head_drop(x))


# --- Inception-ResNet-v2 ------------------------------------------------------------------

class Mixed_5b(_Branches):
    """35x35, 192 -> 320."""

    def __init__(self):
        super().__init__()
        self.branch0 = _c(192, 96, 1)
        self.branch1 = Sequential(_c(192, 48, 1), _c(48, 64, 5))
        self.branch2 = Sequential(_c(192, 64, 1), _c(64, 96, 3), _c(96, 96, 3))
        self.branch3 = _pool_branch(192, 64)


class _Residual(Module):
    """``y = x + scale * conv2d(concat(branches(x)))``, then ReLU unless ``no_relu``;
    ``conv2d`` is a 1x1 conv with bias and without BN (the "up" projection)."""

    def __init__(self, scale: float, no_relu: bool = False):
        super().__init__()
        self.scale = float(scale)
        self.no_relu = bool(no_relu)

    def forward(self, x):
        r = cat([getattr(self, f"branch{i}")(x) for i in range(self.n_branches)], 1)
        y = x + self.conv2d(r) * self.scale
        return y if self.no_relu else F.relu(y)


class Block35(_Residual):
    """Inception-ResNet-A, 35x35x320."""

    n_branches = 3

    def __init__(self, scale: float = 0.17):
        super().__init__(scale)
        self.branch0 = _c(320, 32, 1)
        self.branch1 = Sequential(_c(320, 32, 1), _c(32, 32, 3))
        self.branch2 = Sequential(_c(320, 32, 1), _c(32, 48, 3), _c(48, 64, 3))
        self.conv2d = Conv2d(128, 320, 1)


class Mixed_6a(_Branches):
    """35 -> 17, 320 -> 1088."""

    def __init__(self):
        super().__init__()
        self.branch0 = _c(320, 384, 3, stride=2)
        self.branch1 = Sequential(_c(320, 256, 1), _c(256, 256, 3), _c(256, 384, 3, stride=2))
        self.branch2 = MaxPool2d(3, stride=2)


class Block17(_Residual):
    """Inception-ResNet-B, 17x17x1088."""

    n_branches = 2

    def __init__(self, scale: float = 0.10):
        super().__init__(scale)
        self.branch0 = _c(1088, 192, 1)
        self.branch1 = Sequential(_c(1088, 128, 1), _c(128, 160, (1, 7)), _c(160, 192, (7, 1)))
        self.conv2d = Conv2d(384, 1088, 1)


class Mixed_7a(_Branches):
    """17 -> 8, 1088 -> 2080."""

    def __init__(self):
        super().__init__()
        self.branch0 = Sequential(_c(1088, 256, 1), _c(256, 384, 3, stride=2))
        self.branch1 = Sequential(_c(1088, 256, 1), _c(256, 288, 3, stride=2))
        self.branch2 = Sequential(_c(1088, 256, 1), _c(256, 288, 3), _c(288, 320, 3, stride=2))
        self.branch3 = MaxPool2d(3, stride=2)


class Block8(_Residual):
    """Inception-ResNet-C, 8x8x2080."""

    n_branches = 2

    def __init__(self, scale: float = 0.20, no_relu: bool = False):
        super().__init__(scale, no_relu)
        self.branch0 = _c(2080, 192, 1)
        self.branch1 = Sequential(_c(2080, 192, 1), _c(192, 224, (1, 3)), _c(224, 256, (3, 1)))
        self.conv2d = Conv2d(448, 2080, 1)


class InceptionResNetV2(Module):
    """Inception-ResNet-v2 for 299x299 input: stem (``conv2d_1a`` ... ``maxpool_5a``) ->
    ``mixed_5b`` -> ``repeat`` (10 x Block35, residual scale 0.17) -> ``mixed_6a`` ->
    ``repeat_1`` (20 x Block17, 0.10) -> ``mixed_7a`` -> ``repeat_2`` (9 x Block8,
    0.20) -> ``block8`` (scale 1, no ReLU) -> ``conv2d_7b`` (1536) -> global average
    pool -> dropout -> ``classif``.

    55,843,464 parameters with 1000 classes, as timm's ``inception_resnet_v2``
    (shared/MODELS.md; Cadene's 1001-class port has 1,537 more), with timm's key names.
    Convs are conv (no bias) -> BN(eps=1e-3) -> ReLU except the residual "up"
    projections (``conv2d``: 1x1 with bias, no BN). Dropout 0.2 before the classifier
    (the paper's keep probability 0.8; timm's default is 0). torch's default
    initialisation, as timm. Runs from 75x75 up.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool_3a = MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.maxpool_5a = MaxPool2d(3, stride=2)
        self.mixed_5b = Mixed_5b()
        self.repeat = Sequential(*[Block35(0.17) for _ in range(10)])
        self.mixed_6a = Mixed_6a()
        self.repeat_1 = Sequential(*[Block17(0.10) for _ in range(20)])
        self.mixed_7a = Mixed_7a()
        self.repeat_2 = Sequential(*[Block8(0.20) for _ in range(9)])
        self.block8 = Block8(1.0, no_relu=True)
        self.conv2d_7b = BasicConv2d(2080, 1536, 1)
        self.global_pool = AdaptiveAvgPool2d((1, 1))
        self.head_drop = Dropout(p=dropout)
        self.classif = Linear(1536, num_classes)

    def forward(self, x):
        for name in ("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b",
                     "conv2d_4a", "maxpool_5a", "mixed_5b", "repeat", "mixed_6a", "repeat_1",
                     "mixed_7a", "repeat_2", "block8", "conv2d_7b"):
            x = getattr(self, name)(x)
        x = F.flatten(self.global_pool(x), 1)
        return self.classif(self.head_drop(x))


def inception_v4(num_classes: int = 1000, *, dropout: float = 0.2) -> InceptionV4:
    """Inception-v4 (299x299 input): 42,679,816 parameters, as timm. See
    :class:`InceptionV4`."""
    return InceptionV4(num_classes=num_classes, dropout=dropout)


def inception_resnet_v2(num_classes: int = 1000, *, dropout: float = 0.2) -> InceptionResNetV2:
    """Inception-ResNet-v2 (299x299 input): 55,843,464 parameters, as timm. See
    :class:`InceptionResNetV2`."""
    return InceptionResNetV2(num_classes=num_classes, dropout=dropout)
