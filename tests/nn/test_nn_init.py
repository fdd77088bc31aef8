"""fastdl.nn.init: torch's gains, fans and distributions; seeding; bad input."""

import math

import numpy as np
import pytest

import fastdl as fd
from fastdl.nn import Parameter, init

NONLINEARITIES = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None),
                  ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                  ("leaky_relu", math.sqrt(5)), ("selu", None)]


@pytest.mark.parametrize("name,param", NONLINEARITIES)
def test_calculate_gain_matches_torch(name, param):
    expected = {"linear": 1, "conv2d": 1, "sigmoid": 1, "tanh": 5 / 3, "relu": math.sqrt(2),
                "selu": 0.75}.get(name)
    if name == "leaky_relu":
        expected = math.sqrt(2 / (1 + (0.01 if param is None else param) ** 2))
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-15)
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_calculate_gain_bad_input():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "x")


SHAPE = (64, 32, 3, 3)  # fan_in 288, fan_out 576; 18432 draws
FAN_IN, FAN_OUT = 32 * 9, 64 * 9


@pytest.mark.parametrize("fn,kw,dist,scale", [
    (init.kaiming_normal_, {}, "normal", math.sqrt(2 / (1 + 0.01 ** 2)) / math.sqrt(FAN_IN)),
    (init.kaiming_normal_, {"mode": "fan_out", "nonlinearity": "relu"}, "normal",
     math.sqrt(2) / math.sqrt(FAN_OUT)),
    (init.kaiming_uniform_, {"a": math.sqrt(5)}, "uniform",
     math.sqrt(3) * math.sqrt(2 / 6) / math.sqrt(FAN_IN)),
    (init.xavier_normal_, {"gain": 2.0}, "normal", 2.0 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    (init.xavier_uniform_, {}, "uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (init.normal_, {"mean": 0.0, "std": 0.02}, "normal", 0.02),
    (init.uniform_, {"a": -0.3, "b": 0.3}, "uniform", 0.3),
])
def test_distributions(fn, kw, dist, scale):
    fd.manual_seed(0)
    p = Parameter(np.zeros(SHAPE, np.float32))
    assert fn(p, **kw) is p
    a = p.data.astype(np.float64)
    assert p.dtype == np.float32
    if dist == "normal":  # scale is the standard deviation
        assert abs(a.mean()) < 4 * scale / math.sqrt(a.size)
        assert abs(a.std() / scale - 1) < 0.03
    else:                 # scale is the bound
        assert a.min() >= -scale and a.max() <= scale
        assert a.min() < -0.99 * scale and a.max() > 0.99 * scale
        assert abs(a.std() / (scale / math.sqrt(3)) - 1) < 0.03
    torch = pytest.importorskip("torch")
    t = torch.zeros(SHAPE)
    torch.manual_seed(0)
    getattr(torch.nn.init, fn.__name__)(t, **kw)
    assert abs(a.std() / t.std().item() - 1) < 0.04


def test_linear_weight_fans():
    fd.manual_seed(0)
    w = np.zeros((300, 200))
    init.kaiming_uniform_(w, a=math.sqrt(5))  # nn.Linear's default: bound 1/sqrt(fan_in)
    assert np.abs(w).max() <= 1 / math.sqrt(200)
    assert np.abs(w).max() > 0.99 / math.sqrt(200)


def test_constants_and_generators():
    p = Parameter(np.ones((2, 3)))
    init.zeros_(p)
    np.testing.assert_array_equal(p.data, 0)
    init.ones_(p)
    np.testing.assert_array_equal(p.data, 1)
    init.constant_(p.data, 0.5)
    np.testing.assert_array_equal(p.data, 0.5)
    g1, g2 = fd.Generator().manual_seed(3), fd.Generator().manual_seed(3)
    a, b = np.zeros((4, 5)), np.zeros((4, 5))
    init.xavier_normal_(a, generator=g1)
    init.xavier_normal_(b, generator=g2)
    np.testing.assert_array_equal(a, b)
    fd.manual_seed(9)
    init.normal_(a)
    fd.manual_seed(9)
    init.normal_(b)
    np.testing.assert_array_equal(a, b)
    init.normal_(b, generator=np.random.default_rng(0))
    assert not np.array_equal(a, b)


def test_bad_input():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(np.zeros(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(np.zeros((3, 3)), mode="fan_avg")
    with pytest.raises(TypeError, match="float32 or float64"):
        init.normal_(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="generator"):
        init.normal_(np.zeros(3), generator=42)
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        init.zeros_(ro)
    empty = np.zeros((0, 3))
    assert init.kaiming_uniform_(empty) is empty
