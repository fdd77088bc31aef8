"""Property tests of the GEMM family (fastdl.ops.matmul, linear, linear_backward) against
the NumPy twins: random sizes on both sides of the GEMM's blocks, transposed, strided and
Fortran operands, any number of leading dimensions of x (0-size included), with or
without bias, both dtypes.

The GEMM sums in its own blocked order, so each element is held to the summation bound
of tests/properties/bounds.py with the reduction length K (in_features for y,
out_features for grad_x, the number of rows for grad_weight) against the float64 twin
on the same inputs; grad_bias is summed in double by both.
"""

import numpy as np
from hypothesis import given, strategies as st

from bounds import absf, assert_within, up
from fastdl import ops, reference as ref

DTYPES = [np.float32, np.float64]


def _view(rng, shape, dtype, layout):
    """An array of ``shape`` stored C-order, transposed (2-D: Fortran) or strided."""
    if layout == "transposed":
        return np.ascontiguousarray(rng.standard_normal(shape[::-1]).astype(dtype).T)
    if layout == "strided":
        base = rng.standard_normal(shape[:-1] + (3 * shape[-1],)).astype(dtype)
        return base[..., ::3]
    if layout == "reversed":
        return rng.standard_normal(shape).astype(dtype)[::-1]
    return rng.standard_normal(shape).astype(dtype)


LAYOUTS = st.sampled_from(["C", "transposed", "strided", "reversed"])


@given(m=st.integers(1, 80), n=st.integers(1, 140), k=st.integers(0, 300), la=LAYOUTS,
       lb=LAYOUTS, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_matmul_matches_twin(m, n, k, la, lb, dtype, seed):
    rng = np.random.default_rng(seed)
    if k == 0:
        la = lb = "C"
    a, b = _view(rng, (m, k), dtype, la), _view(rng, (k, n), dtype, lb)
    a0, b0 = a.copy(), b.copy()
    c = ops.matmul(a, b)
    assert c.shape == (m, n) and c.dtype == dtype and c.flags.c_contiguous
    assert_within(c, ref.matmul(up(a), up(b)), ref.matmul(absf(a), absf(b)), k, "c")
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


@given(lead=st.lists(st.integers(0, 9), max_size=3), fin=st.integers(1, 70),
       fout=st.integers(1, 70), with_bias=st.booleans(), layout=LAYOUTS,
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_linear_forward_backward_match_twin(lead, fin, fout, with_bias, layout, dtype, seed):
    rng = np.random.default_rng(seed)
    lead = tuple(lead)
    x = _view(rng, lead + (fin,), dtype, layout if lead else "C")
    w = _view(rng, (fout, fin), dtype, layout)
    b = rng.standard_normal(fout).astype(dtype) if with_bias else None
    y = ops.linear(x, w, b)
    assert y.shape == lead + (fout,) and y.dtype == dtype
    assert_within(y, ref.linear(up(x), up(w), up(b)), ref.linear(absf(x), absf(w), absf(b)),
                  fin, "y")

    gy = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = ops.linear_backward(gy, x, w, bias=with_bias)
    rx, rw, rb = ref.linear_backward(up(gy), up(x), up(w))
    bx, bw, bb = ref.linear_backward(absf(gy), absf(x), absf(w))
    rows = int(np.prod(lead))
    assert gx.shape == x.shape and gw.shape == w.shape and gx.dtype == gw.dtype == dtype
    assert_within(gx, rx, bx, fout, "grad_x")
    assert_within(gw, rw, bw, rows, "grad_weight")
    if with_bias:
        assert gb.shape == (fout,) and gb.dtype == dtype
        tol = np.finfo(dtype).eps * np.abs(rb) + (rows + 4) * np.finfo(np.float64).eps * bb
        assert (np.abs(gb - rb) <= tol).all()
    else:
        assert gb is None
