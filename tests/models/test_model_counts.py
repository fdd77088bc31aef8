"""Parameter counts: every model against the reference count (torchvision's, timm's or
the named repository's, from shared/MODELS.md), and per-layer breakdowns that MODELS.md
gives or that follow from the papers' tables by arithmetic."""

import numpy as np
import pytest

import fastdl.models as M
from fastdl.nn import BatchNorm2d, Conv2d, Linear

slow = pytest.mark.slow


def n_params(module) -> int:
    return sum(p.size for p in module.parameters())


# (constructor, kwargs, count). The models with a breakdown test below (LeNet-5, paper
# AlexNet, the Inceptions v4 / ResNet-v2 / BN, the pre-activation ResNets) have their
# totals checked there, so that each big model is built once. VGG builds ~120M-parameter
# heads (about 2 s each here): two in the default run, the rest with -m slow.
COUNTS = [
    ("alexnet", {}, 61_100_840),
    pytest.param("vgg11", {}, 132_863_336, marks=slow),
    ("vgg11_bn", {}, 132_868_840),
    pytest.param("vgg13", {}, 133_047_848, marks=slow),
    pytest.param("vgg13_bn", {}, 133_053_736, marks=slow),
    ("vgg16", {}, 138_357_544),
    pytest.param("vgg16_bn", {}, 138_365_992, marks=slow),
    pytest.param("vgg19", {}, 143_667_240, marks=slow),
    pytest.param("vgg19_bn", {}, 143_678_248, marks=slow),
    ("googlenet", {}, 6_624_904),
    ("googlenet", {"aux_logits": True}, 13_004_888),
    ("inception_v3", {}, 27_161_264),
    ("inception_v3", {"aux_logits": False}, 23_834_568),
    ("resnet18", {}, 11_689_512),
    ("resnet34", {}, 21_797_672),
    ("resnet50", {}, 25_557_032),
    ("resnet101", {}, 44_549_160),
    ("resnet152", {}, 60_192_808),
    ("resnext50_32x4d", {}, 25_028_904),
    ("resnext101_32x8d", {}, 88_791_336),
    ("densenet121", {}, 7_978_856),
    ("densenet169", {}, 14_149_480),
    ("densenet201", {}, 20_013_928),
]


@pytest.mark.parametrize("name,kwargs,count", COUNTS)
def test_parameter_count(name, kwargs, count):
    model = getattr(M, name)(**kwargs)
    assert n_params(model) == count
    for p in model.parameters():
        assert p.dtype == np.float32
        assert p.requires_grad


# one cheap member of each family (their classifiers are built by the same code as the
# family's big members)
@pytest.mark.parametrize("name,kwargs", [
    ("lenet5", {}), ("lenet5", {"classic": True}), ("vgg11_bn", {"small_input": True}),
    ("googlenet", {"aux_logits": True}), ("googlenet", {"paper": True}),
    ("bn_inception", {}), ("inception_v3", {}), ("inception_v4", {}), ("resnet18", {}),
    ("resnext50_32x4d", {"small_input": True}), ("preact_resnet18", {}),
    ("preact_resnet50", {"small_input": True}), ("densenet121", {}),
])
def test_num_classes_changes_only_the_classifier(name, kwargs):
    base = getattr(M, name)(**kwargs)
    other = getattr(M, name)(num_classes=7, **kwargs)
    default_classes = 10 if name == "lenet5" else 1000
    heads = [m for m in other.modules() if isinstance(m, Linear) and m.out_features == 7]
    assert heads, "no 7-way classifier"
    removed = sum((default_classes - 7) * (m.in_features + 1) for m in heads)
    assert n_params(base) - n_params(other) == removed


def test_small_input_counts():
    # the CIFAR stem swaps the 7x7x3x64 conv for a 3x3x3x64 one, and nothing else
    delta = 64 * 3 * (49 - 9)
    assert n_params(M.resnet18()) - n_params(M.resnet18(small_input=True)) == delta
    assert n_params(M.densenet121()) - n_params(M.densenet121(small_input=True)) == delta
    assert n_params(M.resnext50_32x4d()) - n_params(M.resnext50_32x4d(small_input=True)) \
        == delta
    # CIFAR VGG: same convs, 512-wide head on the 1x1 map
    convs = 138_357_544 - (25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000)
    assert n_params(M.vgg16(10, small_input=True)) == \
        convs + 512 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10


def by_type(model, cls):
    return sum(p.size for m in model.modules() if isinstance(m, cls) for p in m.parameters())


def conv_bias(model):
    return sum(m.bias.size for m in model.modules()
               if isinstance(m, Conv2d) and m.bias is not None)


@pytest.mark.parametrize("classic", [False, True])
def test_lenet5_per_layer(classic):
    m = M.lenet5(classic=classic)
    assert n_params(m) == 61_706
    layers = [m for m in m.modules() if isinstance(m, (Conv2d, Linear))]
    assert [n_params(l) for l in layers] == [156, 2_416, 48_120, 10_164, 850]


def test_alexnet_paper_per_layer():
    m = M.alexnet(lrn=True)
    assert n_params(m) == 62_378_344
    layers = [m for m in m.modules() if isinstance(m, (Conv2d, Linear))]
    assert [n_params(l) for l in layers] == [34_944, 614_656, 885_120, 1_327_488, 884_992,
                                             37_752_832, 16_781_312, 4_097_000]


def test_googlenet_paper_count_from_table_1():
    # the paper's Table 1 with 5x5 convs, every conv with a bias, no BN
    rows = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64),
            (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
            (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
            (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
            (832, 384, 192, 384, 48, 128, 128)]

    def conv(cin, cout, k):
        return cin * cout * k * k + cout

    total = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3) + 1024 * 1000 + 1000
    for cin, n1, r3, n3, r5, n5, pp in rows:
        total += (conv(cin, n1, 1) + conv(cin, r3, 1) + conv(r3, n3, 3) + conv(cin, r5, 1)
                  + conv(r5, n5, 5) + conv(cin, pp, 1))
    m = M.googlenet(paper=True)
    assert n_params(m) == total
    assert by_type(m, BatchNorm2d) == 0
    aux = conv(512, 128, 1) + conv(528, 128, 1) + 2 * (2048 * 1024 + 1024 + 1024 * 1000 + 1000)
    assert n_params(M.googlenet(paper=True, aux_logits=True)) == total + aux


def test_inception_v4_breakdown():
    m = M.inception_v4()
    assert n_params(m) == 42_679_816
    f = m.features
    assert by_type(m, BatchNorm2d) == 63_168
    assert conv_bias(m) == 0
    assert n_params(m.last_linear) == 1_537_000
    assert sum(n_params(f[i]) for i in range(6)) == 605_728          # stem
    assert [n_params(f[i]) for i in range(6, 10)] == [317_632] * 4     # Inception-A
    assert n_params(f[10]) == 2_306_112                                 # Reduction-A
    assert [n_params(f[i]) for i in range(11, 18)] == [2_936_256] * 7  # Inception-B
    assert n_params(f[18]) == 2_747_392                                 # Reduction-B
    assert [n_params(f[i]) for i in range(19, 22)] == [4_553_088] * 3  # Inception-C
    assert len(f) == 22


def test_inception_resnet_v2_breakdown():
    m = M.inception_resnet_v2()
    assert n_params(m) == 55_843_464
    assert by_type(m, BatchNorm2d) == 60_544
    assert conv_bias(m) == 45_760
    assert n_params(m.classif) == 1_537_000
    stem = ["conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a"]
    assert sum(n_params(getattr(m, s)) for s in stem) == 172_672
    assert n_params(m.mixed_5b) == 268_320
    assert [n_params(b) for b in m.repeat] == [123_168] * 10
    assert n_params(m.mixed_6a) == 2_664_960
    assert [n_params(b) for b in m.repeat_1] == [1_126_784] * 20
    assert n_params(m.mixed_7a) == 3_880_960
    assert [n_params(b) for b in m.repeat_2] == [2_035_424] * 9
    assert n_params(m.block8) == 2_035_424
    assert [b.scale for b in m.repeat] == [0.17] * 10
    assert [b.scale for b in m.repeat_1] == [0.10] * 20
    assert [b.scale for b in m.repeat_2] == [0.20] * 9
    assert (m.block8.scale, m.block8.no_relu) == (1.0, True)
    assert not any(b.no_relu for b in m.repeat_2)
    assert n_params(m.conv2d_7b) == 3_197_952


def test_bn_inception_breakdown():
    m = M.bn_inception()
    assert n_params(m) == 11_295_240
    assert conv_bias(m) == 10_016
    assert by_type(m, BatchNorm2d) == 20_032
    m = M.bn_inception(conv_bias=False)
    assert n_params(m) == 11_285_224
    assert conv_bias(m) == 0


@pytest.mark.parametrize("post,pre,post_bn,pre_bn,count", [
    ("resnet18", "preact_resnet18", 9_600, 7_808, 11_687_720),
    ("resnet34", "preact_resnet34", 17_024, 15_232, 21_795_880),
    ("resnet50", "preact_resnet50", 53_120, 45_440, 25_549_352),
])
def test_preact_differs_from_resnet_only_in_bn(post, pre, post_bn, pre_bn, count):
    a, b = getattr(M, post)(), getattr(M, pre)()
    assert n_params(b) == count
    assert by_type(a, BatchNorm2d) == post_bn
    assert by_type(b, BatchNorm2d) == pre_bn
    assert n_params(a) - post_bn == n_params(b) - pre_bn


@pytest.mark.parametrize("name,count", [("preact_resnet18", 11_171_146),
                                        ("preact_resnet34", 21_279_306),
                                        ("preact_resnet50", 23_509_066)])
def test_preact_cifar_counts(name, count):
    # kuangliu/pytorch-cifar's PreActResNet: no stem BN, no final BN
    m = getattr(M, name)(10, small_input=True)
    assert n_params(m) == count
    assert m.bn is None


def test_preact_cifar_breakdown():
    m = M.preact_resnet18(10, small_input=True)
    assert by_type(m, Conv2d) == 11_159_232
    assert by_type(m, BatchNorm2d) == 6_784
    assert n_params(m.fc) == 5_130
