"""fastdl.nn.init.trunc_normal_: bounds, the truncated normal's moments (both sampling
paths), seeding and bad input."""

import math

import numpy as np
import pytest

import fastdl as fd
from fastdl.nn import Parameter, init


def truncated_moments(mean, std, a, b):
    """Mean and standard deviation of N(mean, std^2) truncated to [a, b] (closed form)."""
    al, be = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi) if math.isfinite(z) else 0.0
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    Z = cdf(be) - cdf(al)
    m = (pdf(al) - pdf(be)) / Z
    t = lambda z: z * pdf(z) if math.isfinite(z) else 0.0
    var = 1 + (t(al) - t(be)) / Z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.parametrize("mean,std,a,b", [
    (0.0, 1.0, -2.0, 2.0),      # torch's defaults: rejection from the normal
    (0.0, 0.01, -2.0, 2.0),     # GoogLeNet's: the bounds never bite
    (0.5, 2.0, -1.0, 4.0),      # asymmetric
    (0.0, 1.0, 1.0, 1.5),       # narrow and off-centre: the uniform proposal
    (3.0, 1.0, -1.0, 0.0),      # 3 to 4 sigmas below the mean: uniform proposal
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bounds_and_moments(mean, std, a, b, dtype):
    p = Parameter(np.zeros((200, 100), dtype=dtype))
    assert init.trunc_normal_(p, mean, std, a, b, generator=np.random.default_rng(0)) is p
    x = p.data.astype(np.float64)
    assert p.dtype == dtype
    assert x.min() >= a and x.max() <= b
    m, s = truncated_moments(mean, std, a, b)
    assert abs(x.mean() - m) < 5 * s / math.sqrt(x.size)
    assert abs(x.std() / s - 1) < 0.03


def test_matches_torch_distribution():
    torch = pytest.importorskip("torch")
    t = torch.empty(20000)
    torch.manual_seed(0)
    torch.nn.init.trunc_normal_(t, mean=0.2, std=1.0, a=-1.0, b=1.5)
    x = np.zeros(20000, np.float32)
    init.trunc_normal_(x, mean=0.2, std=1.0, a=-1.0, b=1.5, generator=np.random.default_rng(0))
    tn = t.numpy().astype(np.float64)
    assert abs(tn.mean() - x.mean()) < 0.03
    assert abs(tn.std() - x.std()) < 0.03
    # quantiles agree (two samples of the same distribution)
    q = [0.1, 0.25, 0.5, 0.75, 0.9]
    assert np.allclose(np.quantile(tn, q), np.quantile(x, q), atol=0.05)


def test_seeding_and_ndarray_views():
    fd.manual_seed(3)
    a = init.trunc_normal_(np.empty((30, 40), np.float32))
    fd.manual_seed(3)
    b = np.empty((40, 30), np.float32).T                 # a non-contiguous view
    init.trunc_normal_(b)
    assert np.array_equal(a, b)


def test_bad_input():
    x = np.zeros(10, np.float32)
    with pytest.raises(ValueError, match="std > 0"):
        init.trunc_normal_(x, std=0.0)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(x, a=1.0, b=1.0)
    with pytest.raises(ValueError, match="too little"):
        init.trunc_normal_(x, a=10.0, b=math.inf)
    assert not x.any()
    with pytest.raises(TypeError):
        init.trunc_normal_(np.zeros(3, np.int64))
