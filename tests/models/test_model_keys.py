"""state_dict keys: torchvision's key names (and order) for the models torchvision has,
timm's / Cadene's for the others. The expected lists are built here from torchvision's
module layout (its source's attribute names and registration order), independently of
fastdl's model code."""

import numpy as np
import pytest

import fastdl.models as M

BN = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def bn(prefix):
    return [f"{prefix}.{k}" for k in BN]


def resnet_keys(block_counts, bottleneck):
    keys = ["conv1.weight", *bn("bn1")]
    n_convs = 3 if bottleneck else 2
    for stage, blocks in enumerate(block_counts, start=1):
        for i in range(blocks):
            p = f"layer{stage}.{i}"
            for c in range(1, n_convs + 1):
                keys += [f"{p}.conv{c}.weight", *bn(f"{p}.bn{c}")]
            if i == 0 and (stage > 1 or bottleneck):
                keys += [f"{p}.downsample.0.weight", *bn(f"{p}.downsample.1")]
    return keys + ["fc.weight", "fc.bias"]


def test_resnet18_keys_exactly():
    keys = list(M.resnet18().state_dict())
    assert keys == resnet_keys([2, 2, 2, 2], bottleneck=False)
    assert len(keys) == 122


def test_resnet50_keys_exactly():
    model = M.resnet50()
    sd = model.state_dict()
    assert list(sd) == resnet_keys([3, 4, 6, 3], bottleneck=True)
    assert len(sd) == 320
    # stride on the 3x3 (torchvision's v1.5), expansion 4
    assert model.layer2[0].conv2.stride == (2, 2)
    assert model.layer2[0].conv1.stride == (1, 1)
    assert sd["layer2.0.downsample.0.weight"].shape == (512, 256, 1, 1)
    assert sd["bn1.num_batches_tracked"].dtype == np.int64
    assert sd["bn1.num_batches_tracked"].shape == ()


def test_resnext_grouped_convs():
    sd = M.resnext50_32x4d().state_dict()
    assert list(sd) == resnet_keys([3, 4, 6, 3], bottleneck=True)
    # width = planes * 4/64 * 32: 128 in layer1, grouped 32 ways
    assert sd["layer1.0.conv2.weight"].shape == (128, 4, 3, 3)
    assert sd["layer4.2.conv2.weight"].shape == (1024, 32, 3, 3)


def vgg_keys(cfg, batch_norm):
    keys, i = [], 0
    for v in cfg:
        if v == "M":
            i += 1
            continue
        keys += [f"features.{i}.weight", f"features.{i}.bias"]
        if batch_norm:
            keys += bn(f"features.{i + 1}")
        i += 3 if batch_norm else 2
    return keys + [f"classifier.{j}.{k}" for j in (0, 3, 6) for k in ("weight", "bias")]


D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg16_keys_exactly(batch_norm):
    # small_input changes the head's widths, not the keys (and builds in a blink)
    model = (M.vgg16_bn if batch_norm else M.vgg16)(small_input=True)
    assert list(model.state_dict()) == vgg_keys(D, batch_norm)
    sd = model.state_dict()
    assert sd["features.40.weight" if batch_norm else "features.28.weight"].shape == \
        (512, 512, 3, 3)


@pytest.mark.parametrize("lrn", [False, True])
def test_alexnet_keys(lrn):
    sd = M.alexnet(lrn=lrn).state_dict()
    convs = [0, 4, 8, 10, 12] if lrn else [0, 3, 6, 8, 10]
    assert list(sd) == [f"{s}.{i}.{k}" for s, idx in (("features", convs),
                                                     ("classifier", [1, 4, 6]))
                        for i in idx for k in ("weight", "bias")]
    assert sd["features.0.weight"].shape == ((96, 3, 11, 11) if lrn else (64, 3, 11, 11))


def densenet_keys(blocks, small=False):
    keys = ["features.conv0.weight", *bn("features.norm0")]
    for b, n in enumerate(blocks, start=1):
        for j in range(1, n + 1):
            p = f"features.denseblock{b}.denselayer{j}"
            keys += [*bn(f"{p}.norm1"), f"{p}.conv1.weight", *bn(f"{p}.norm2"),
                     f"{p}.conv2.weight"]
        if b < len(blocks):
            keys += [*bn(f"features.transition{b}.norm"), f"features.transition{b}.conv.weight"]
    return keys + [*bn("features.norm5"), "classifier.weight", "classifier.bias"]


def test_densenet121_keys_exactly():
    sd = M.densenet121().state_dict()
    assert list(sd) == densenet_keys([6, 12, 24, 16])
    assert sd["features.denseblock1.denselayer1.conv1.weight"].shape == (128, 64, 1, 1)
    assert sd["features.denseblock1.denselayer6.norm1.weight"].shape == (64 + 5 * 32,)
    assert sd["features.transition1.conv.weight"].shape == (128, 256, 1, 1)
    assert sd["features.norm5.weight"].shape == (1024,)
    assert sd["classifier.weight"].shape == (1000, 1024)


def basic_conv(prefix):
    return [f"{prefix}.conv.weight", *bn(f"{prefix}.bn")]


def test_googlenet_keys_exactly():
    keys = []
    for name in ("conv1", "conv2", "conv3"):
        keys += basic_conv(name)
    for blk in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        p = f"inception{blk}"
        keys += basic_conv(f"{p}.branch1")
        keys += basic_conv(f"{p}.branch2.0") + basic_conv(f"{p}.branch2.1")
        keys += basic_conv(f"{p}.branch3.0") + basic_conv(f"{p}.branch3.1")
        keys += basic_conv(f"{p}.branch4.1")
    aux = []
    for a in ("aux1", "aux2"):
        aux += basic_conv(f"{a}.conv") + [f"{a}.{fc}.{k}" for fc in ("fc1", "fc2")
                                           for k in ("weight", "bias")]
    tail = ["fc.weight", "fc.bias"]
    assert list(M.googlenet().state_dict()) == keys + tail
    sd = M.googlenet(aux_logits=True).state_dict()
    assert list(sd) == keys + aux + tail
    assert sd["inception3a.branch3.1.conv.weight"].shape == (32, 16, 3, 3)  # torchvision's 3x3
    assert sd["aux1.fc1.weight"].shape == (1024, 2048)


def test_googlenet_paper_keys():
    sd = M.googlenet(paper=True).state_dict()
    assert sd["inception3a.branch3.1.conv.weight"].shape == (32, 16, 5, 5)   # a true 5x5
    assert sd["inception3a.branch3.1.conv.bias"].shape == (32,)
    assert not any(".bn." in k for k in sd)


def test_inception_v3_keys():
    sd = M.inception_v3().state_dict()
    units = {  # torchvision's BasicConv2d names per block type
        "A": ["branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2",
              "branch3x3dbl_3", "branch_pool"],
        "B": ["branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"],
        "C": ["branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3"]
             + [f"branch7x7dbl_{i}" for i in range(1, 6)] + ["branch_pool"],
        "D": ["branch3x3_1", "branch3x3_2"] + [f"branch7x7x3_{i}" for i in range(1, 5)],
        "E": ["branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1",
              "branch3x3dbl_2", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"],
    }
    keys = []
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1",
                 "Conv2d_4a_3x3"):
        keys += basic_conv(name)
    blocks = [("Mixed_5b", "A"), ("Mixed_5c", "A"), ("Mixed_5d", "A"), ("Mixed_6a", "B"),
              ("Mixed_6b", "C"), ("Mixed_6c", "C"), ("Mixed_6d", "C"), ("Mixed_6e", "C")]
    for name, kind in blocks:
        for u in units[kind]:
            keys += basic_conv(f"{name}.{u}")
    keys += basic_conv("AuxLogits.conv0") + basic_conv("AuxLogits.conv1")
    keys += ["AuxLogits.fc.weight", "AuxLogits.fc.bias"]
    for name, kind in [("Mixed_7a", "D"), ("Mixed_7b", "E"), ("Mixed_7c", "E")]:
        for u in units[kind]:
            keys += basic_conv(f"{name}.{u}")
    keys += ["fc.weight", "fc.bias"]
    assert list(sd) == keys
    assert sd["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert sd["Mixed_6b.branch7x7_3.conv.weight"].shape == (192, 128, 7, 1)
    assert sd["AuxLogits.conv1.conv.weight"].shape == (768, 128, 5, 5)
    assert sd["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)


def test_preact_keys():
    sd = M.preact_resnet18().state_dict()
    assert list(sd)[:7] == ["conv1.weight", *bn("layer1.0.bn1"), "layer1.0.conv1.weight"]
    assert "layer2.0.downsample.0.weight" in sd and "layer2.0.downsample.1.weight" not in sd
    assert "layer1.0.downsample.0.weight" not in sd
    assert list(sd)[-7:] == [*bn("bn"), "fc.weight", "fc.bias"]
    cifar = M.preact_resnet18(10, small_input=True).state_dict()
    assert not any(k.startswith("bn.") for k in cifar)
    assert cifar["conv1.weight"].shape == (64, 3, 3, 3)
    sd50 = M.preact_resnet50().state_dict()
    assert sd50["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert sd50["layer1.0.bn1.weight"].shape == (64,)
    assert sd50["layer1.1.bn1.weight"].shape == (256,)


def test_timm_and_cadene_keys():
    v4 = M.inception_v4().state_dict()
    for k in ("features.0.conv.weight", "features.0.bn.running_var", "features.3.conv.conv.weight",
              "features.6.branch3.1.conv.weight", "features.21.branch2_3b.bn.bias",
              "last_linear.weight", "last_linear.bias"):
        assert k in v4, k
    irv2 = M.inception_resnet_v2().state_dict()
    for k in ("conv2d_1a.conv.weight", "mixed_5b.branch3.1.conv.weight",
              "repeat.9.conv2d.bias", "repeat_1.19.branch1.2.bn.weight",
              "repeat_2.8.conv2d.weight", "block8.conv2d.bias", "conv2d_7b.bn.weight",
              "classif.weight"):
        assert k in irv2, k
    bni = M.bn_inception().state_dict()
    for k in ("conv1_7x7_s2.weight", "conv1_7x7_s2.bias", "conv1_7x7_s2_bn.running_mean",
              "conv2_3x3_reduce.weight", "inception_3a_1x1.weight",
              "inception_3c_double_3x3_2_bn.weight", "inception_5b_pool_proj.bias",
              "last_linear.weight"):
        assert k in bni, k
    assert "inception_3c_1x1.weight" not in bni and "inception_4e_pool_proj.weight" not in bni
    assert bni["inception_4e_double_3x3_2.weight"].shape == (256, 256, 3, 3)
    assert "conv1_7x7_s2.bias" not in M.bn_inception(conv_bias=False).state_dict()
