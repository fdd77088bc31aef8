"""Forward shapes on small inputs, train/eval behaviour (dropout, BN, auxiliary heads),
and one SGD step lowering the loss on a fixed batch."""

import numpy as np
import pytest

import fastdl as fd
import fastdl.models as M
import fastdl.nn.functional as F
from fastdl.nn import BatchNorm2d, Dropout, LocalResponseNorm


def images(n, c, h, w=None, seed=0):
    rng = np.random.default_rng(seed)
    return fd.Tensor(rng.standard_normal((n, c, h, w or h), dtype=np.float32))


def run(model, x, train=False):
    model.train(train)
    with fd.no_grad():
        return model(x)


@pytest.mark.parametrize("size", [32, 28])
@pytest.mark.parametrize("classic", [False, True])
def test_lenet5_shapes(size, classic):
    model = M.lenet5(classic=classic)
    y = run(model, images(3, 1, size))
    assert y.shape == (3, 10) and y.dtype == np.float32
    assert model.features[1].__class__.__name__ == ("Tanh" if classic else "ReLU")
    assert model.features[2].__class__.__name__ == ("AvgPool2d" if classic else "MaxPool2d")


def test_lenet5_28_is_32_with_zero_padding():
    model = M.lenet5().eval()
    x = images(2, 1, 28)
    padded = np.pad(x.data, ((0, 0), (0, 0), (2, 2), (2, 2)))
    with fd.no_grad():
        a, b = model(x).data, model(fd.Tensor(padded)).data
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lenet5_rejects_other_sizes():
    with pytest.raises(ValueError, match="32, 32"):
        M.lenet5()(images(1, 1, 30))


# small_input (CIFAR) variants at 32x32
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d", "preact_resnet18",
                                  "preact_resnet50", "densenet121", "vgg11_bn", "vgg16"])
def test_small_input_shapes(name):
    model = getattr(M, name)(num_classes=10, small_input=True)
    y = run(model, images(2, 3, 32))
    assert y.shape == (2, 10) and y.dtype == np.float32
    assert np.isfinite(y.data).all()


# ImageNet stems at small sizes (they pool adaptively)
@pytest.mark.parametrize("name,kwargs,size", [
    ("resnet18", {}, 64), ("resnet50", {}, 64), ("preact_resnet18", {}, 64),
    ("densenet121", {}, 64), ("alexnet", {}, 64),
    ("googlenet", {}, 64), ("googlenet", {"paper": True}, 64),
    ("bn_inception", {}, 64), ("inception_v3", {}, 75),
    ("inception_v4", {}, 75), ("inception_resnet_v2", {}, 75),
])
def test_imagenet_models_small_input_shapes(name, kwargs, size):
    model = getattr(M, name)(num_classes=5, **kwargs)
    y = run(model, images(1, 3, size))
    assert y.shape == (1, 5) and y.dtype == np.float32
    assert np.isfinite(y.data).all()


def test_alexnet_paper_at_227():
    model = M.alexnet(lrn=True, num_classes=7)
    assert sum(isinstance(m, LocalResponseNorm) for m in model.modules()) == 2
    lrn = model.features[2]
    assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    x = images(1, 3, 227)
    feats = run(model.features, x)
    assert feats.shape == (1, 256, 6, 6)
    assert run(model, x).shape == (1, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs,size", [
    ("resnet18", {}, 224), ("densenet121", {}, 224), ("googlenet", {}, 224),
    ("vgg16", {}, 224), ("alexnet", {}, 224), ("inception_v3", {}, 299),
    ("inception_v4", {}, 299), ("inception_resnet_v2", {}, 299), ("bn_inception", {}, 224),
    ("resnext50_32x4d", {}, 224), ("preact_resnet50", {}, 224),
])
def test_full_size_forward(name, kwargs, size):
    model = getattr(M, name)(**kwargs)
    y = run(model, images(1, 3, size))
    assert y.shape == (1, 1000)


# --- train / eval -------------------------------------------------------------------------

def test_dropout_only_in_training():
    fd.manual_seed(0)
    model = M.alexnet(num_classes=10)
    x = images(2, 3, 64)
    a, b = run(model, x, train=True).data, run(model, x, train=True).data
    assert not np.allclose(a, b)                  # two masks
    c, d = run(model, x).data, run(model, x).data
    np.testing.assert_array_equal(c, d)
    assert all(not m.training for m in model.modules())
    assert sum(isinstance(m, Dropout) for m in model.modules()) == 2


def test_batchnorm_train_and_eval():
    model = M.resnet18(num_classes=10, small_input=True)
    bns = [m for m in model.modules() if isinstance(m, BatchNorm2d)]
    x = images(4, 3, 32)
    run(model, x, train=True)
    assert all(int(m.num_batches_tracked) == 1 for m in bns)
    mean = model.bn1.running_mean.copy()
    assert np.abs(mean).max() > 0                 # updated from the batch
    y = run(model, x).data                         # eval: running statistics, no update
    assert all(int(m.num_batches_tracked) == 1 for m in bns)
    np.testing.assert_array_equal(model.bn1.running_mean, mean)
    # in eval mode a sample's output does not depend on the rest of its batch
    one = run(model, fd.Tensor(x.data[:1])).data
    np.testing.assert_allclose(one, y[:1], rtol=1e-4, atol=1e-5)


def test_googlenet_aux_heads():
    model = M.googlenet(num_classes=10, aux_logits=True)
    x = images(2, 3, 64)
    out = run(model, x, train=True)
    assert isinstance(out, M.GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 10)] * 3
    assert run(model, x).shape == (2, 10)          # eval: the logits alone
    plain = M.googlenet(num_classes=10)
    assert plain.aux1 is None and run(plain, x, train=True).shape == (2, 10)


@pytest.mark.slow
def test_inception_v3_aux_head_at_299():
    model = M.inception_v3(num_classes=10)
    out = run(model, images(2, 3, 299), train=True)
    assert isinstance(out, M.InceptionOutputs)
    assert out.logits.shape == (2, 10) and out.aux_logits.shape == (2, 10)


def test_inception_v3_without_aux_trains_at_75():
    model = M.inception_v3(num_classes=10, aux_logits=False)
    assert run(model, images(2, 3, 75), train=True).shape == (2, 10)


# --- one SGD step lowers the loss -------------------------------------------------------

def loss_before_and_after_step(model, x, y, lr):
    model.train()
    opt = fd.optim.SGD(model.parameters(), lr=lr)
    loss = F.cross_entropy(model(x), y)
    before = float(loss.data)
    opt.zero_grad()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and g.shape == p.shape for g, p in zip(grads, model.parameters()))
    opt.step()
    with fd.no_grad():
        after = float(F.cross_entropy(model(x), y).data)
    return before, after


def test_lenet5_sgd_step_lowers_the_loss():
    fd.manual_seed(0)
    x = images(8, 1, 28, seed=1)
    y = np.arange(8) % 10
    before, after = loss_before_and_after_step(M.lenet5(), x, y, lr=0.1)
    assert after < before


def test_resnet18_small_input_sgd_step_lowers_the_loss():
    # two images; BN in training mode normalises with the batch's statistics both times
    fd.manual_seed(0)
    x = images(2, 3, 32, seed=2)
    y = np.array([3, 7])
    before, after = loss_before_and_after_step(M.resnet18(10, small_input=True), x, y, lr=0.01)
    assert after < before


@pytest.mark.parametrize("build,size", [
    (lambda: M.preact_resnet18(5, small_input=True), 32),
    # DenseNet-BC with fewer, narrower layers: densenet121's code at a tenth of the cost
    (lambda: M.DenseNet(growth_rate=12, block_config=(3, 3, 3), num_init_features=24,
                        num_classes=5, small_input=True), 32),
    (lambda: M.googlenet(5), 64),
    (lambda: M.bn_inception(5), 64),
], ids=["preact_resnet18", "densenet", "googlenet", "bn_inception"])
def test_other_families_sgd_step_lowers_the_loss(build, size):
    fd.manual_seed(0)
    x = images(2, 3, size, seed=3)
    y = np.array([1, 4])
    before, after = loss_before_and_after_step(build(), x, y, lr=0.01)
    assert after < before
