"""BN-Inception, also called Inception-v2 (Ioffe and Szegedy, "Batch normalization:
accelerating deep network training by reducing internal covariate shift", ICML 2015),
as the Caffe model of yjxiong that Cadene's ``bninception`` ports."""

from __future__ import annotations

from fastdl.autograd import cat
from fastdl.nn import functional as F
from fastdl.nn.batchnorm import BatchNorm2d
from fastdl.nn.layers import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from fastdl.nn.linear import Conv2d, Linear
from fastdl.nn.module import Module

__all__ = ["BNInception", "bn_inception"]

# name, in, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, proj, stride
# (Figure 5 of the paper; stride-2 blocks have no 1x1 branch and pass the max pool
# through without a projection)
_BLOCKS = [
    ("3a", 192, 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 256, 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 320, 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 576, 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 576, 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 576, 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 608, 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 608, 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 1056, 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 1024, 352, 192, 320, 192, 224, "max", 128, 1),
]


class BNInception(Module):
    """BN-Inception for 224x224 input (features end at 1024 channels at 7x7): stem
    (7x7/2 conv, max pool, 1x1 conv, 3x3 conv, max pool) -> ten Inception blocks (3a-3c,
    4a-4e, 5a-5b: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 | pool -> 1x1, where 3c and 4e
    reduce the grid with stride 2) -> global average pool -> ``last_linear``. Every conv
    is followed by BN (eps 1e-5) and ReLU; the max pools round up (``ceil_mode``).

    Cadene's flat key names, so its converted checkpoint loads directly:
    ``conv1_7x7_s2``, ``conv1_7x7_s2_bn``, ``inception_3a_1x1``,
    ``inception_3a_double_3x3_2_bn``, ``inception_5b_pool_proj``, ``last_linear`` ...
    (that checkpoint wants BGR input in 0-255 minus the mean [104, 117, 128]).

    11,295,240 parameters with 1000 classes, as Cadene's ``bninception`` (its convs have
    biases, from Caffe); ``conv_bias=False`` drops the 10,016 conv biases, which the BN
    that follows makes redundant: 11,285,224 (shared/MODELS.md). torch's default
    initialisation (Cadene defines none). Input sizes that are multiples of 32 run (the
    stride-2 blocks need even grids, as in the Caffe original).
    """

    def __init__(self, num_classes: int = 1000, conv_bias: bool = True):
        super().__init__()
        self.conv_bias = bool(conv_bias)
        self._unit("conv1_7x7_s2", 3, 64, 7, 2)
        self.pool1_3x3_s2 = MaxPool2d(3, stride=2, ceil_mode=True)
        self._unit("conv2_3x3_reduce", 64, 64, 1)
        self._unit("conv2_3x3", 64, 192, 3)
        self.pool2_3x3_s2 = MaxPool2d(3, stride=2, ceil_mode=True)
        for name, cin, n1, r3, n3, rd, nd, pool, proj, stride in _BLOCKS:
            p = f"inception_{name}"
            if n1:
                self._unit(f"{p}_1x1", cin, n1, 1)
            self._unit(f"{p}_3x3_reduce", cin, r3, 1)
            self._unit(f"{p}_3x3", r3, n3, 3, stride)
            self._unit(f"{p}_double_3x3_reduce", cin, rd, 1)
            self._unit(f"{p}_double_3x3_1", rd, nd, 3)
            self._unit(f"{p}_double_3x3_2", nd, nd, 3, stride)
            if pool == "avg":
                self.add_module(f"{p}_pool", AvgPool2d(3, stride=1, padding=1, ceil_mode=True,
                                                       count_include_pad=True))
            else:
                self.add_module(f"{p}_pool", MaxPool2d(3, stride=stride, padding=stride % 2,
                                                       ceil_mode=True))
            if proj:
                self._unit(f"{p}_pool_proj", cin, proj, 1)
        self.global_pool = AdaptiveAvgPool2d((1, 1))
        self.last_linear = Linear(1024, num_classes)

    def _unit(self, name: str, cin: int, cout: int, k: int, stride: int = 1) -> None:
        self.add_module(name, Conv2d(cin, cout, k, stride=stride, padding=k // 2,
                                     bias=self.conv_bias))
        self.add_module(f"{name}_bn", BatchNorm2d(cout))

    def _cbr(self, name: str, x):
        return F.relu(getattr(self, f"{name}_bn")(getattr(self, name)(x)))

    def features(self, x):
        """The 1024-channel feature map before pooling."""
        x = self.pool1_3x3_s2(self._cbr("conv1_7x7_s2", x))
        x = self._cbr("conv2_3x3", self._cbr("conv2_3x3_reduce", x))
        x = self.pool2_3x3_s2(x)
        for name, _, n1, _, _, _, _, _, proj, _ in _BLOCKS:
            p = f"inception_{name}"
            outs = [self._cbr(f"{p}_1x1", x)] if n1 else []
            outs.append(self._cbr(f"{p}_3x3", self._cbr(f"{p}_3x3_reduce", x)))
            d = self._cbr(f"{p}_double_3x3_reduce", x)
            outs.append(self._cbr(f"{p}_double_3x3_2", self._cbr(f"{p}_double_3x3_1", d)))
            pooled = getattr(self, f"{p}_pool")(x)
            outs.append(self._cbr(f"{p}_pool_proj", pooled) if proj else pooled)
            x = cat(outs, 1)
        return x

    def forward(self, x):
        return self.last_linear(F.flatten(self.global_pool(self.features(x)), 1))


def bn_inception(num_classes: int = 1000, *, conv_bias: bool = True) -> BNInception:
    """BN-Inception / Inception-v2 (224x224 input): 11,295,240 parameters as Cadene's
    Caffe port, or 11,285,224 with ``conv_bias=False``. See :class:`BNInception`."""
    return BNInception(num_classes=num_classes, conv_bias=conv_bias)
