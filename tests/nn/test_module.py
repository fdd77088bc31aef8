"""fastdl.nn.Module and Sequential: registration, traversal, modes, state dicts with
torch's key names, repr."""

from collections import OrderedDict

import numpy as np
import pytest

import fastdl as fd
from fastdl.nn import Module, Parameter, Sequential


class Block(Module):
    """Parameters, persistent and non-persistent buffers, like a BatchNorm."""

    def __init__(self, n=3):
        super().__init__()
        self.weight = Parameter(np.arange(2.0 * n).reshape(n, 2))
        self.bias = Parameter(np.zeros(n))
        self.register_buffer("running_mean", np.zeros(n))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self.register_buffer("scratch", np.zeros(1), persistent=False)
        self.register_parameter("absent", None)

    def forward(self, x):
        return x @ self.weight.T + self.bias

    def extra_repr(self):
        return f"n={self.bias.shape[0]}"


def torch_block(torch, n=3):
    class TBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(n, 2, dtype=torch.float64))
            self.bias = torch.nn.Parameter(torch.zeros(n, dtype=torch.float64))
            self.register_buffer("running_mean", torch.zeros(n, dtype=torch.float64))
            self.register_buffer("num_batches_tracked", torch.tensor(0))
            self.register_buffer("scratch", torch.zeros(1), persistent=False)
            self.register_parameter("absent", None)

        def extra_repr(self):
            return f"n={n}"
    TBlock.__name__ = "Block"
    return TBlock()


def net():
    return Sequential(Block(), fd.nn.ReLU(), Sequential(Block(4), fd.nn.Dropout(0.1)),
                      fd.nn.Flatten())


def torch_net(torch):
    nn = torch.nn
    return nn.Sequential(torch_block(torch), nn.ReLU(),
                         nn.Sequential(torch_block(torch, 4), nn.Dropout(0.1)), nn.Flatten())


def test_names_match_torch():
    torch = pytest.importorskip("torch")
    m, t = net(), torch_net(torch)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in t.named_children()]
    assert repr(m) == repr(t)


def test_state_dict_contents():
    m = net()
    sd = m.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "0.running_mean", "0.num_batches_tracked",
                        "2.0.weight", "2.0.bias", "2.0.running_mean", "2.0.num_batches_tracked"]
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    assert sd["0.weight"] is m[0].weight.data  # the module's own arrays, as torch
    assert sd["0.num_batches_tracked"].dtype == np.int64
    assert m.state_dict(keep_vars=True)["0.bias"] is m[0].bias
    assert len(list(m.parameters())) == 4 and len(list(m.buffers())) == 6


def test_load_state_dict_round_trip_and_dtype():
    src, dst = net(), net()
    for p in src.parameters():
        p.data[...] = np.random.default_rng(0).standard_normal(p.shape)
    src[0].num_batches_tracked[...] = 7
    before = dst[0].weight.data
    result = dst.load_state_dict({k: v.copy() for k, v in src.state_dict().items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst[0].weight.data is before  # copied in place: optimizers keep their arrays
    for (k, a), b in zip(src.state_dict().items(), dst.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert dst[0].num_batches_tracked == 7
    # values are cast to the target's dtype
    dst.load_state_dict({k: v.astype(np.float32) if v.dtype == np.float64 else v
                         for k, v in src.state_dict().items()})
    assert dst[0].weight.dtype == np.float64


def test_load_state_dict_errors_change_nothing():
    m = net()
    good = {k: np.ones_like(v) for k, v in m.state_dict().items()}
    snapshot = {k: v.copy() for k, v in m.state_dict().items()}

    bad = dict(good)
    del bad["0.bias"]
    bad["extra.weight"] = np.ones(2)
    with pytest.raises(fd.nn.StateDictError) as info:
        m.load_state_dict(bad)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "0.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)

    bad = dict(good, **{"2.0.weight": np.ones((3, 2))})
    with pytest.raises(ValueError, match=r"size mismatch for 2.0.weight: copying a param with "
                                         r"shape \(3, 2\) from checkpoint, the shape in current "
                                         r"model is \(4, 2\)"):
        m.load_state_dict(bad, strict=False)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, snapshot[k], err_msg=k)

    bad = dict(good)
    del bad["0.bias"]
    bad["extra"] = np.ones(1)
    missing, unexpected = m.load_state_dict(bad, strict=False)
    assert missing == ["0.bias"] and unexpected == ["extra"]
    np.testing.assert_array_equal(m[0].weight.data, 1)
    np.testing.assert_array_equal(m[0].bias.data, 0)
    with pytest.raises(TypeError, match="dict-like"):
        m.load_state_dict([1, 2])


def test_load_torch_state_dict():
    torch = pytest.importorskip("torch")
    t = torch_net(torch)
    with torch.no_grad():
        for p in t.parameters():
            p.normal_()
    m = net()
    m.load_state_dict(t.state_dict())
    for (k, a), b in zip(t.state_dict().items(), m.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b, err_msg=k)


def test_registration_rules():
    m = Block()
    with pytest.raises(TypeError, match="cannot assign 'ndarray' as parameter 'weight'"):
        m.weight = np.ones((3, 2))
    with pytest.raises(TypeError, match="buffer 'running_mean'"):
        m.running_mean = [1, 2, 3]
    m.running_mean = np.ones(3)  # a new ndarray replaces the buffer
    assert m.state_dict()["running_mean"] is m.running_mean
    m.bias = None
    assert "bias" not in m.state_dict() and len(list(m.parameters())) == 1
    m.extra = Parameter(np.ones(2))
    assert [n for n, _ in m.named_parameters()] == ["weight", "extra"]
    del m.extra
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    m.weight = fd.nn.ReLU()  # a module replaces the parameter of that name
    assert "weight" in dict(m.named_children()) and not list(m.parameters())
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("weight", np.ones(1))
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(TypeError, match="not a Module"):
        m.add_module("x", 3)

    class NoInit(Module):
        def __init__(self):
            self.w = Parameter(np.ones(1))
    with pytest.raises(AttributeError, match="before Module.__init__"):
        NoInit()
    with pytest.raises(NotImplementedError, match="forward"):
        Module()(1)


def test_shared_parameters_are_listed_once():
    a = Block()
    m = Sequential(a, a)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias", "0.running_mean",
                                    "0.num_batches_tracked", "1.weight", "1.bias",
                                    "1.running_mean", "1.num_batches_tracked"]


def test_train_eval_zero_grad_and_to():
    m = net()
    assert all(x.training for x in m.modules())
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert m[2][1].training
    with pytest.raises(ValueError, match="boolean"):
        m.train("no")
    x = fd.Tensor(np.ones((5, 2)))
    m[0](x).sum().backward()
    assert m[0].weight.grad is not None
    m.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(m[0].weight.grad, 0)
    m.zero_grad()
    assert m[0].weight.grad is None
    m.float()
    assert m[0].weight.dtype == np.float32 and m[0].running_mean.dtype == np.float32
    assert m[0].num_batches_tracked.dtype == np.int64
    assert m.state_dict()["0.running_mean"].dtype == np.float32
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_sequential_container():
    layers = [fd.nn.ReLU(), fd.nn.Identity(), fd.nn.Flatten()]
    s = Sequential(*layers)
    assert len(s) == 3 and list(s) == layers and s[-1] is layers[2]
    assert isinstance(s[1:], Sequential) and list(s[1:]) == layers[1:]
    with pytest.raises(IndexError):
        s[3]
    s.append(fd.nn.Sigmoid())
    assert len(s) == 4
    named = Sequential(OrderedDict(act=fd.nn.ReLU(), flat=fd.nn.Flatten()))
    assert [n for n, _ in named.named_children()] == ["act", "flat"]
    x = fd.Tensor(np.array([[[-1.0, 2.0]]]))
    np.testing.assert_array_equal(named(x).data, [[0.0, 2.0]])


def test_apply_visits_every_module():
    seen = []
    net().apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Block", "ReLU", "Block", "Dropout", "Sequential", "Flatten", "Sequential"]
