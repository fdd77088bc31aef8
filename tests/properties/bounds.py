"""Error bounds for the property suites: a native result against the float64 twin.

A result that is a sum of ``length`` terms, computed in floating point of unit roundoff
``u`` in any order, is within ``length * u * sum|terms|`` of the exact sum (Higham,
"Accuracy and Stability of Numerical Algorithms", 2nd ed., section 4.2); ``sum|terms|``
is the same operation applied to the absolute values of the operands (the twin on
``abs`` inputs, in float64). GEMM-based kernels sum in a different order from the twin,
so they get exactly this bound: it grows with the reduction length, as it must, and
does not depend on the data's scale. A few extra ``u`` cover the final rounding to the
output dtype and any fused multiply-add.
"""

import numpy as np


def unit(dtype):
    """Unit roundoff of a float dtype (half of numpy's eps)."""
    return np.finfo(dtype).eps / 2


def assert_within(got, want64, bound, length, what="", slack=4):
    """``|got - want64| <= (length + slack) * 2u * bound + tiny`` elementwise.

    got: the native result (float32 or float64); want64: the float64 twin on the same
    (upcast) inputs; bound: the twin on the absolute values; length: the longest
    reduction behind one element. NaN and inf must sit at the same places."""
    assert got.shape == want64.shape, (what, got.shape, want64.shape)
    got64 = got.astype(np.float64)
    fin = np.isfinite(want64)
    np.testing.assert_array_equal(np.isnan(got64), np.isnan(want64), err_msg=f"{what}: NaN")
    np.testing.assert_array_equal(got64[~fin & ~np.isnan(want64)],
                                  want64[~fin & ~np.isnan(want64)], err_msg=f"{what}: inf")
    err = np.abs(got64 - want64)[fin]
    tol = ((length + slack) * 2 * unit(got.dtype) * np.abs(bound)[fin]
           + np.finfo(got.dtype).tiny)
    bad = err > tol
    if bad.any():
        i = np.argmax(err - tol)
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} elements off; worst "
                             f"error {err[i]:.3g} against a bound of {tol[i]:.3g} "
                             f"(length {length})")


def up(a):
    """float64 copy of an array (None stays None)."""
    return None if a is None else np.asarray(a, dtype=np.float64)


def absf(a):
    """|a| in float64 (None stays None)."""
    return None if a is None else np.abs(np.asarray(a, dtype=np.float64))


def relayout(a, kind):
    """``a``'s values in another memory layout."""
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    return a
