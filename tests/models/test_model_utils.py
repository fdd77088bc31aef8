"""fastdl.models.summary (per-layer table, totals against the reference counts and
torchvision's published multiply-accumulate figures) and load_torch_state_dict (.npz
round trip, torch absent)."""

import sys

import numpy as np
import pytest

import fastdl as fd
import fastdl.models as M
from fastdl.nn import BatchNorm2d


def test_lenet5_summary_by_hand():
    for size in (32, 28):
        s = M.summary(M.lenet5(), (2, 1, size, size))
        rows = {r.name: r for r in s.layers}
        # per image: C1 6*28*28*25, C3 16*10*10*150, then 400*120, 120*84, 84*10
        assert rows["features.0"].mult_adds == 2 * 117_600
        assert rows["features.0"].output_shape == (2, 6, 28, 28)
        assert rows["features.3"].mult_adds == 2 * 240_000
        assert rows["features.5"].output_shape == (2, 16, 5, 5)
        assert [rows[f"classifier.{i}"].params for i in (0, 2, 4)] == [48_120, 10_164, 850]
        assert s.total_mult_adds == 2 * 416_520
        assert s.total_params == s.trainable_params == 61_706
        assert s.output_shape == (2, 10)
    text = str(s)
    assert "Total params: 61,706" in text and "features.3 (Conv2d)" in text
    assert "(2, 16, 10, 10)" in text


# torchvision's "GFLOPS" column (multiply-accumulates, one 224x224 image; 299 for v3)
@pytest.mark.parametrize("name,size,gmacs,params", [
    ("resnet18", 224, 1.81, 11_689_512),
    ("alexnet", 224, 0.71, 61_100_840),
    ("googlenet", 224, 1.50, 6_624_904),
    ("densenet121", 224, 2.83, 7_978_856),
    pytest.param("resnet50", 224, 4.09, 25_557_032, marks=pytest.mark.slow),
    pytest.param("resnext50_32x4d", 224, 4.23, 25_028_904, marks=pytest.mark.slow),
    pytest.param("inception_v3", 299, 5.71, 27_161_264, marks=pytest.mark.slow),
    pytest.param("vgg16", 224, 15.47, 138_357_544, marks=pytest.mark.slow),
])
def test_summary_matches_torchvision_figures(name, size, gmacs, params):
    s = M.summary(getattr(M, name)(), (1, 3, size, size))
    assert round(s.total_mult_adds / 1e9, 2) == gmacs
    assert s.total_params == params
    assert s.output_shape == (1, 1000)


# issue 10's models: summary totals equal the counts (the Inceptions at their smallest
# input, 75x75, to stay cheap: the parameters do not depend on it)
@pytest.mark.parametrize("name,kwargs,shape,params", [
    ("preact_resnet18", {"small_input": True, "num_classes": 10}, (1, 3, 32, 32), 11_171_146),
    ("alexnet", {"lrn": True}, (1, 3, 227, 227), 62_378_344),
    ("bn_inception", {}, (1, 3, 64, 64), 11_295_240),
    ("inception_v4", {}, (1, 3, 75, 75), 42_679_816),
    ("inception_resnet_v2", {}, (1, 3, 75, 75), 55_843_464),
])
def test_summary_totals(name, kwargs, shape, params):
    s = M.summary(getattr(M, name)(**kwargs), shape)
    assert s.total_params == params
    assert sum(r.params for r in s.layers) == params      # every parameter is called
    assert s.output_shape == (1, kwargs.get("num_classes", 1000))


def test_summary_leaves_the_model_as_it_was():
    model = M.resnet18(num_classes=10, small_input=True)     # in training mode
    bns = [m for m in model.modules() if isinstance(m, BatchNorm2d)]
    M.summary(model, (2, 3, 32, 32))
    assert model.training and all(m.training for m in model.modules())
    assert all(int(m.num_batches_tracked) == 0 for m in bns)   # ran in eval mode
    assert all("forward" not in m.__dict__ for m in model.modules())
    model.eval()
    M.summary(model, (1, 3, 32, 32))
    assert not model.training
    with pytest.raises(TypeError, match="Module"):
        M.summary(lambda x: x, (1, 3, 32, 32))


def test_summary_counts_aux_heads_in_total_only():
    s = M.summary(M.googlenet(aux_logits=True), (1, 3, 224, 224))
    assert s.total_params == 13_004_888
    assert not any(r.name.startswith("aux") for r in s.layers)   # eval: heads not run
    assert sum(r.params for r in s.layers) == 6_624_904


def test_state_dict_npz_round_trip(tmp_path):
    def build():  # a small DenseNet-BC: BN buffers, concatenations, the same code as 121
        return M.DenseNet(growth_rate=8, block_config=(2, 3), num_init_features=16,
                          num_classes=10, small_input=True)

    fd.manual_seed(0)
    model = build()
    x = fd.Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32))
    model.train()
    model(x)                                # running statistics off their defaults
    path = tmp_path / "densenet.npz"
    np.savez(path, **model.state_dict())
    fd.manual_seed(1)
    other = build()
    missing, unexpected = M.load_torch_state_dict(other, path)
    assert missing == [] and unexpected == []
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    model.eval()
    other.eval()
    with fd.no_grad():
        np.testing.assert_array_equal(model(x).data, other(x).data)


def test_load_pt_without_torch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)     # "import torch" raises ImportError
    with pytest.raises(ImportError, match="needs torch"):
        M.load_torch_state_dict(M.lenet5(), tmp_path / "x.pt")


def test_load_npz_checks_keys(tmp_path):
    model = M.lenet5()
    sd = dict(model.state_dict())
    del sd["classifier.4.bias"]
    path = tmp_path / "partial.npz"
    np.savez(path, **sd)
    with pytest.raises(fd.nn.StateDictError, match="classifier.4.bias"):
        M.load_torch_state_dict(model, path)
    missing, _ = M.load_torch_state_dict(model, path, strict=False)
    assert missing == ["classifier.4.bias"]
