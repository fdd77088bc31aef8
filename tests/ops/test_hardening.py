"""Hardening of the native layer (issue 9): every native kernel family called from
several Python threads at once, resident memory flat over many calls (no leaks), huge
sizes (more than 2**31 elements; absurd requests raise instead of crashing).

The sanitizer build (ASan + UBSan, .ci/steps/40-sanitize.sh) runs this file too; the
resident-memory tests are skipped there (ASan's quarantine holds freed memory).
"""

import concurrent.futures
import os

import numpy as np
import pytest

import fastdl
from fastdl import _core, ops

SANITIZED = bool(os.environ.get("FASTDL_SANITIZED"))


def rand(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def two_threads():
    """fastdl.set_num_threads(2) for the test (each Python thread's kernels then open
    OpenMP teams of their own); restored after."""
    old = fastdl.get_num_threads()
    fastdl.set_num_threads(2)
    yield
    fastdl.set_num_threads(old)


# --- thread safety ------------------------------------------------------------------------
# One job per native op family. Each takes its data (made once, read only) and returns
# fresh arrays; the in-place kernels (optimizer steps, batch norm's running statistics)
# work on copies owned by the call. Sizes are above the kernels' parallel thresholds so
# that each Python thread also opens OpenMP teams.

def _optim_data(rng):
    sizes = [(70_000,), (300, 129), (3,), (1,), (40_001,)]
    return [rand(rng, s) for s in sizes], [rand(rng, s) for s in sizes]


def _job_optim(data):
    params0, grads = data
    out = []
    p = [a.copy() for a in params0]
    m, v, vmax = ([np.zeros_like(a) for a in p] for _ in range(3))
    for step in (1, 2, 3):
        ops.adam_step(p, grads, m, v, vmax, step=step, lr=1e-2, weight_decay=0.1, amsgrad=True)
    out += p + m + v + vmax
    p = [a.copy() for a in params0]
    buf = [np.zeros_like(a) for a in p]
    for step in (1, 2, 3):
        ops.sgd_step(p, grads, buf, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
                     step=step)
    out += p + buf
    p = [a.copy() for a in params0]
    sq, ga, mb = ([np.zeros_like(a) for a in p] for _ in range(3))
    for _ in range(3):
        ops.rmsprop_step(p, grads, sq, ga, mb, lr=1e-2, momentum=0.5, centered=True)
    out += p + sq + ga + mb
    p = [a.copy() for a in params0]
    sums = [np.zeros_like(a) for a in p]
    for step in (1, 2):
        ops.adagrad_step(p, grads, sums, lr=0.1, lr_decay=0.01, step=step)
    out += p + sums
    p = [a.copy() for a in params0]
    sq, acc = ([np.zeros_like(a) for a in p] for _ in range(2))
    ops.adadelta_step(p, grads, sq, acc, weight_decay=0.01)
    out += p + sq + acc
    p = [a.copy() for a in params0]
    m, v = ([np.zeros_like(a) for a in p] for _ in range(2))
    mu = 1.0
    for step in (1, 2):
        mu = ops.nadam_step(p, grads, m, v, step=step, mu_product=mu, lr=1e-2)
    out += p + m + v + [np.array(mu)]
    return out


def _bn_data(rng):
    return (rand(rng, (8, 16, 20, 21)), rand(rng, (16,)), rand(rng, (16,)),
            rand(rng, (8, 16, 20, 21)), rand(rng, (300, 40)), rand(rng, (300, 40)))


def _job_batchnorm(data):
    x, gamma, beta, gy, x2, gy2 = data
    rm, rv = np.zeros(16, np.float32), np.ones(16, np.float32)
    y, mean, invstd = ops.batch_norm(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
    grads = ops.batch_norm_backward(gy, x, gamma, mean, invstd, True)
    y2, m2, i2 = ops.batch_norm(x2, None, None, None, None, True)
    y3 = ops.batch_norm(x, gamma, beta, rm, rv, False)[0]
    return [y, mean, invstd, rm, rv, y2, m2, i2, y3] + list(grads) + list(
        ops.batch_norm_backward(gy2, x2, None, m2, i2, True))


def _linear_data(rng):
    return (rand(rng, (300, 200)), rand(rng, (150, 200)), rand(rng, (150,)),
            rand(rng, (300, 150)), rand(rng, (3, 200)), rand(rng, (200, 500)))


def _job_linear(data):
    x, w, b, gy, x1, m = data
    y = ops.linear(x, w, b)
    gx, gw, gb = ops.linear_backward(gy, x, w, True)
    return [y, gx, gw, gb, ops.linear(x1, w, b), ops.matmul(x, m), ops.matmul(x1, m)]


def _im2col_data(rng):
    return rand(rng, (3, 5, 17, 19)), rand(rng, (2, 3, 40, 40))


def _job_im2col(data):
    x, x2 = data
    cols = ops.im2col(x, (3, 2), (1, 2), 1, (2, 1))
    cols2 = ops.im2col(x2, 5, 1, 2, 1)
    return [cols, ops.col2im(cols, (17, 19), (3, 2), (1, 2), 1, (2, 1)), cols2,
            ops.col2im(cols2, 40, 5, 1, 2, 1)]


# (x, weight, stride, padding, groups): the GEMM path with stride 1 (grad_x as a
# convolution), the strided col2im path, depthwise (direct loops), a 1x1.
_CONV_CASES = [((2, 16, 20, 20), (24, 16, 3, 3), 1, 1, 1),
               ((3, 8, 31, 30), (16, 8, 7, 7), 2, 3, 1),
               ((2, 12, 14, 14), (12, 1, 3, 3), 1, 1, 12),
               ((2, 12, 15, 15), (12, 1, 3, 3), 2, 1, 12),
               ((4, 32, 9, 9), (16, 32, 1, 1), 1, 0, 1)]


def _conv_data(rng):
    return [(rand(rng, xs), rand(rng, ws), rand(rng, ws[:1]), s, p, g)
            for xs, ws, s, p, g in _CONV_CASES]


def _job_conv(data):
    out = []
    for x, w, b, s, p, g in data:
        y = ops.conv2d(x, w, b, s, p, 1, g)
        out += [y, *ops.conv2d_backward(y, x, w, s, p, 1, g)]
    return out


def _pool_data(rng):
    return rand(rng, (4, 16, 33, 30)), rand(rng, (2, 8, 20, 20))


def _job_pool(data):
    x, x2 = data
    y, idx = ops.max_pool2d(x, 3, 2, 1, 1, True)
    a = ops.avg_pool2d(x, (3, 2), (2, 1), (1, 0), True, False)
    ad = ops.adaptive_avg_pool2d(x2, (7, 5))
    return [y, idx, ops.max_pool2d_backward(y, idx, x.shape), a,
            ops.avg_pool2d_backward(a, x.shape, (3, 2), (2, 1), (1, 0), True, False), ad,
            ops.adaptive_avg_pool2d_backward(ad, x2.shape)]


_FAMILIES = {"optim": (_optim_data, _job_optim), "batchnorm": (_bn_data, _job_batchnorm),
             "linear": (_linear_data, _job_linear), "im2col": (_im2col_data, _job_im2col),
             "conv": (_conv_data, _job_conv), "pool": (_pool_data, _job_pool)}


def test_concurrent_python_threads_every_family(two_threads):
    # Kernels release the GIL and keep their scratch per calling thread (thread_local
    # workspaces, per-call buffers): 4 Python threads running every family at once, each
    # job 3 times in a shuffled order, give bitwise the serial results.
    rng = np.random.default_rng(2024)
    data = {name: make(rng) for name, (make, _) in _FAMILIES.items()}
    want = {name: job(data[name]) for name, (_, job) in _FAMILIES.items()}
    jobs = [name for name in _FAMILIES for _ in range(3)]
    rng.shuffle(jobs)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda name: (name, _FAMILIES[name][1](data[name])), jobs))
    for name, got in results:
        assert len(got) == len(want[name])
        for i, (g, w) in enumerate(zip(got, want[name])):
            np.testing.assert_array_equal(g, w, err_msg=f"{name} output {i}")


def _unaligned(obj):
    """obj with every array replaced by a C-contiguous copy at an odd address."""
    if isinstance(obj, np.ndarray):
        out = np.zeros(obj.nbytes + 1, np.uint8)[1:].view(obj.dtype).reshape(obj.shape)
        out[...] = obj
        assert out.flags.c_contiguous and not out.flags.aligned
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unaligned(o) for o in obj)
    return obj


@pytest.mark.parametrize("name", list(_FAMILIES))
def test_unaligned_inputs_every_family(name):
    # C-contiguous inputs at odd addresses are copied once (np.ascontiguousarray passed
    # them through: loads of misaligned doubles, undefined behaviour that UBSan reported
    # in the sanitizer build); same results as aligned inputs.
    make, job = _FAMILIES[name]
    data = make(np.random.default_rng(5))
    for g, w in zip(job(_unaligned(data)), job(data)):
        np.testing.assert_array_equal(g, w)
    for dtype in (np.float32, np.float64):  # float64 too (8-byte alignment)
        x = np.random.default_rng(6).standard_normal((2, 3, 9, 8)).astype(dtype)
        y, idx = ops.max_pool2d(_unaligned(x), 2)
        np.testing.assert_array_equal(y, ops.max_pool2d(x, 2)[0])
        np.testing.assert_array_equal(ops.max_pool2d_backward(_unaligned(y), _unaligned(idx),
                                                               x.shape),
                                      ops.max_pool2d_backward(y, idx, x.shape))


def test_same_parameters_from_two_threads_do_not_crash(two_threads):
    # Documented behaviour (README "Hardening"): two threads stepping the SAME parameter
    # arrays race on them (the result is undefined, as for any unsynchronised writes to
    # shared NumPy arrays) but nothing crashes and no other memory is touched: each call
    # only reads and writes the arrays it was given. The values stay finite here because
    # every interleaving of these updates is a convex-ish Adam step.
    rng = np.random.default_rng(3)
    params = [rand(rng, (50_000,)), rand(rng, (7, 9))]
    grads = [rand(rng, p.shape) for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    guard = [np.full(1000, 7.0, np.float32) for _ in range(2)]

    def steps(_):
        for step in range(1, 51):
            ops.adam_step(params, grads, m, v, [], step=step, lr=1e-3)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(steps, range(2)))
    for p in params + m + v:
        assert np.isfinite(p).all()
    for g in guard:
        assert (g == 7.0).all()


# --- leaks: resident memory flat ----------------------------------------------------------

_RSS_SCRIPT = r"""
import os, sys
import numpy as np
import fastdl
from fastdl import ops

# one thread: on a busy 2-core machine each OpenMP team start costs up to a millisecond,
# and the kernels' memory does not depend on the team size
fastdl.set_num_threads(1)
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

rng = np.random.default_rng(0)
which = sys.argv[1]
if which == "optim":
    sizes = [(33,), (4, 5), (1,), (257,)]
    p = [rng.standard_normal(s).astype(np.float32) for s in sizes]
    g = [rng.standard_normal(s).astype(np.float32) * 1e-3 for s in sizes]
    z = lambda: [np.zeros_like(a) for a in p]
    m, v, vmax, buf, sq, ga, mb, sums, acc, nm, nv = (z() for _ in range(11))
    state = {"mu": 1.0}

    def run(i):
        # every fused optimizer step on a small list of tensors, each call once
        ops.adam_step(p, g, m, v, vmax, step=i + 1, lr=1e-4, amsgrad=True)
        ops.sgd_step(p, g, buf, lr=1e-4, momentum=0.9, step=i + 1)
        ops.rmsprop_step(p, g, sq, ga, mb, lr=1e-5, momentum=0.5, centered=True)
        ops.adagrad_step(p, g, sums, lr=1e-4, step=i + 1)
        ops.adadelta_step(p, g, sq, acc, lr=1e-4)
        state["mu"] = ops.nadam_step(p, g, nm, nv, step=i + 1, mu_product=state["mu"], lr=1e-4)
    n, warm = 10_000, 1_000
else:
    x = rng.standard_normal((2, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    wd = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    gamma, beta = np.ones(8, np.float32), np.zeros(8, np.float32)
    xl = x.reshape(32, 128)
    wl = rng.standard_normal((8, 128)).astype(np.float32)

    def run(i):
        # conv2d and conv2d_backward (GEMM, strided and depthwise paths), with the other
        # allocating kernels alongside: every result is a fresh array, freed next call
        s = 1 + i % 2
        y = ops.conv2d(x, w, b, s, 1)
        ops.conv2d_backward(y, x, w, s, 1)
        yd = ops.conv2d(x, wd, None, 1, 1, 1, 8)
        ops.conv2d_backward(yd, x, wd, 1, 1, 1, 8, bias=False)
        cols = ops.im2col(x, 3, 1, 1, s)
        ops.col2im(cols, 16, 3, 1, 1, s)
        yb, mean, invstd = ops.batch_norm(x, gamma, beta, None, None, True)
        ops.batch_norm_backward(yb, x, gamma, mean, invstd)
        yl = ops.linear(xl, wl, b)
        ops.linear_backward(yl, xl, wl)
        ops.matmul(xl, wl.T)
        yp, idx = ops.max_pool2d(x, 2)
        ops.max_pool2d_backward(yp, idx, x.shape)
        ops.avg_pool2d_backward(ops.avg_pool2d(x, 3, 2, 1), x.shape, 3, 2, 1)
        ops.adaptive_avg_pool2d_backward(ops.adaptive_avg_pool2d(x, 5), x.shape)
    n, warm = 1_000, 200

for i in range(warm):
    run(i)
before = rss()
for i in range(warm, warm + n):
    run(i)
after = rss()
print(before, after)
"""


@pytest.mark.skipif(SANITIZED, reason="ASan's quarantine keeps freed memory resident")
@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
@pytest.mark.parametrize("which", ["optim", "conv"])
def test_resident_memory_flat(run_python, which):
    # optim: 10,000 rounds of the six fused optimizer steps (60,000 native calls) on a
    # small list; conv: 1,000 rounds of conv2d + conv2d_backward (three paths), im2col,
    # col2im, batch norm, linear and the pooling kernels, forward and backward. After a
    # warm-up (thread_local workspaces and the allocator's pools at their steady size)
    # resident memory must not grow by more than 2 MB: a leak of one 32-byte object per
    # call would already add 2 MB over the optimizer loop, of one result per call 8 MB or
    # more over the conv loop.
    r = run_python(_RSS_SCRIPT, which, timeout=300)
    assert r.returncode == 0, r.stderr
    before, after = map(int, r.stdout.split())
    assert after - before < 2 * 2**20, (before, after)


# --- sizes --------------------------------------------------------------------------------

def _available_bytes():
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


@pytest.mark.slow
def test_im2col_col2im_beyond_2_to_31_elements():
    # cols (9, 15500*15500) float32: 2.16e9 elements (> 2**31 = 2.147e9), 8.7 GB; x and
    # col2im's result 1 GB each. Every index past 2**31 must be computed in 64 bits (an
    # int product wraps to a negative offset: a crash, or values written far away).
    h = w = 15500
    need = 11 * h * w * 4 + (1 << 30)  # cols, x, col2im's result, comparison temporaries
    if _available_bytes() < need:
        pytest.skip(f"needs {need / 2**30:.1f} GiB of free memory")
    x = np.empty((1, h, w), np.float32)
    # small integers and halves: every sum below is exact in float32
    x[0] = (np.arange(w, dtype=np.float32) % 1024)[None, :] + (
        np.arange(h, dtype=np.float32) % 512)[:, None] * 0.5
    cols = ops.im2col(x, 3, 1, 1, 1)
    assert cols.shape == (9, h * w) and cols.size > 2**31
    for kh in range(3):  # row kh*3 + kw holds x[oh + kh - 1, ow + kw - 1], 0 outside
        for kw in range(3):
            row = cols[kh * 3 + kw].reshape(h, w)
            dh, dw = kh - 1, kw - 1
            inside = row[max(-dh, 0):h - max(dh, 0), max(-dw, 0):w - max(dw, 0)]
            src = x[0, max(dh, 0):h + min(dh, 0), max(dw, 0):w + min(dw, 0)]
            assert np.array_equal(inside, src), (kh, kw)
            if dh:
                assert not row[0 if dh < 0 else h - 1].any()
            if dw:
                assert not row[:, 0 if dw < 0 else w - 1].any()
    assert cols[8, -1] == 0 and cols[0, 0] == 0 and cols[4, -1] == x[0, -1, -1]
    back = ops.col2im(cols, (h, w), 3, 1, 1, 1)
    del cols
    # each interior pixel is covered by 9 windows, an edge pixel by 6, a corner by 4
    assert np.array_equal(back[0, 1:-1, 1:-1], 9 * x[0, 1:-1, 1:-1])
    assert np.array_equal(back[0, -1, 1:-1], 6 * x[0, -1, 1:-1])
    assert back[0, -1, -1] == 4 * x[0, -1, -1] and back[0, 0, 0] == 4 * x[0, 0, 0]


# Each of these asks for far more than any machine has; a clear MemoryError (or a
# ValueError when the sizes overflow 64 bits) comes before anything is allocated.
_ABSURD = [
    ("conv2d output of 17 TB", lambda: ops.conv2d(np.ones((1, 1, 1, 1), np.float32),
                                                  np.ones((1, 1, 1, 1), np.float32),
                                                  padding=2**20)),
    ("conv2d with a padding of 2**62", lambda: ops.conv2d(np.ones((1, 1, 1, 1), np.float32),
                                                          np.ones((1, 1, 1, 1), np.float32),
                                                          padding=2**62)),
    ("conv2d of 2**20 images padded by 2**14",
     lambda: ops.conv2d(np.ones((2**20, 1, 4, 4), np.float32),
                        np.ones((2**10, 1, 1, 1), np.float32), padding=2**14)),
    ("im2col of 280 TB", lambda: ops.im2col(np.ones((1, 4, 4), np.float32), 1, padding=2**22)),
    ("im2col with a huge kernel and padding", lambda: ops.im2col(
        np.ones((1, 1, 1, 1), np.float64), 2**31, padding=2**31)),
    ("col2im of 4 PB", lambda: ops.col2im(np.ones((1, 1), np.float32), (2**25, 2**25), 1,
                                          stride=2**25)),
    ("matmul of 4 TB", lambda: ops.matmul(np.ones((2**20, 1), np.float32),
                                          np.ones((1, 2**20), np.float32))),
    ("linear of 4 TB", lambda: ops.linear(np.ones((2**20, 1), np.float32),
                                          np.ones((2**20, 1), np.float32))),
    ("adaptive_avg_pool2d of 1 PB", lambda: ops.adaptive_avg_pool2d(
        np.ones((1, 1, 2, 2), np.float32), 2**24)),
    ("max_pool2d_backward into 4 EB", lambda: ops.max_pool2d_backward(
        np.ones((1, 1, 1, 1), np.float32), np.zeros((1, 1, 1, 1), np.int64),
        (1, 1, 2**30, 2**30))),
    ("avg_pool2d_backward into 4 PB", lambda: ops.avg_pool2d_backward(
        np.ones((1, 1, 1, 1), np.float32), (1, 1, 2**25, 2**25), 2**25)),
]


@pytest.mark.parametrize("call", [c for _, c in _ABSURD], ids=[n for n, _ in _ABSURD])
def test_absurd_sizes_raise_before_allocating(call):
    with pytest.raises((MemoryError, ValueError)) as info:
        call()
    assert "need" in str(info.value) or "overflow" in str(info.value) or "less than 1" in str(
        info.value), str(info.value)


@pytest.mark.parametrize("args", [
    # padding + size or dilation * (kernel - 1) past int64: ValueError, not undefined
    # behaviour (the native module's own checks, for calls that skip fastdl.ops)
    dict(kh=1, kw=1, dh=1, dw=1, ph=2**62, pw=2**62, sh=1, sw=1),
    dict(kh=3, kw=3, dh=2**62, dw=1, ph=0, pw=0, sh=1, sw=1),
    dict(kh=2**32, kw=2**32, dh=1, dw=1, ph=2**62, pw=2**62, sh=1, sw=1),
])
def test_native_geometry_overflow_is_a_value_error(args):
    x = np.ones((1, 1, 2, 2), np.float32)
    with pytest.raises((ValueError, MemoryError)):
        _core._im2col(x, args["kh"], args["kw"], args["dh"], args["dw"], args["ph"], args["pw"],
                      args["sh"], args["sw"])
    w = np.ones((1, 1, 1, 1), np.float32)
    if args["kh"] == 1:
        with pytest.raises((ValueError, MemoryError)):
            _core._conv2d(x, w, None, args["sh"], args["sw"], args["ph"], args["pw"],
                          args["ph"], args["pw"], args["dh"], args["dw"], 1)


def test_max_pool_window_offsets_beyond_int32():
    # kernel 70001 x 70001 (4.9e9 window offsets, past int32) padded by half of it over a
    # 2x2 input: every window covers the whole input, and the window offset of x[1, 1]
    # is about 35001 * 70001 > 2**31. Found by this test: the int32 offset wrapped and
    # the maximum's index came out as 0. (The NumPy twin would loop over 4.9e9 offsets;
    # the expected values are plain: every window's maximum is the input's.)
    for k in (70001, 70002):
        for x, i_max in ((np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), 3),
                         (np.array([[[[1.0, 5.0], [3.0, 4.0]]]]), 1),
                         (np.array([[[[6.0, 2.0], [3.0, 4.0]]]]), 0)):
            for dtype in (np.float32, np.float64):
                y, idx = ops.max_pool2d(x.astype(dtype), k, 1, k // 2)
                assert y.shape == idx.shape == (1, 1, 3 - k % 2, 3 - k % 2)
                assert (y == x.max()).all() and (idx == i_max).all(), (k, idx)


# --- memory running out inside a parallel region -----------------------------------------
#
# A kernel's per-thread scratch allocated inside an OpenMP region: a std::bad_alloc there
# used to escape the region, which calls std::terminate (the process died of SIGABRT).
# Now it is carried out of the region and raised as MemoryError. The child process
# limits its address space (RLIMIT_AS) to what it has, plus the outputs, plus a margin
# that the kernel's other allocations fit in but one thread's scratch does not; each
# case's scratch is over 64 MB, more than a glibc thread arena can hand out from the
# address space it already reserved.

_OOM_SCRIPT = r"""
import resource, sys
import numpy as np
import fastdl
from fastdl import ops

fastdl.set_num_threads(2)
which = sys.argv[1]
rng = np.random.default_rng(0)
# Start the OpenMP threads (their stacks) with a small call of the same kind.
ops.conv2d(rng.standard_normal((2, 4, 8, 8)), rng.standard_normal((4, 4, 3, 3)))

if which == "conv_backward_col2im":
    # Stride 2, one group: grad_x by col2im, one image per thread, each with a buffer of
    # K x 64 columns, K = C*7*7 = 200704: 103 MB of float64 per thread.
    x = rng.standard_normal((2, 4096, 16, 16))
    w = rng.standard_normal((8, 4096, 7, 7))
    gy = rng.standard_normal((2, 8, 8, 8))
    out_bytes = x.nbytes + w.nbytes + 8 * 8
    call = lambda: ops.conv2d_backward(gy, x, w, stride=2, padding=3)
elif which == "conv_direct":
    # Depthwise-like groups (direct loops): each thread pads a group's 256 channels into
    # 181 x 181 planes, 67 MB of float64, for an output of 2 x 2 x 181 x 181.
    x = rng.standard_normal((2, 512, 1, 1))
    w = rng.standard_normal((2, 256, 1, 1))
    out_bytes = 2 * 2 * 181 * 181 * 8
    call = lambda: ops.conv2d(x, w, padding=90, groups=2)
else:
    raise SystemExit("unknown case " + which)

def vm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

limit = vm_bytes() + out_bytes + (40 << 20)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    call()
except MemoryError:
    print("MemoryError")
else:
    print("no error")
"""


@pytest.mark.skipif(SANITIZED, reason="ASan reserves terabytes of shadow address space: "
                                      "RLIMIT_AS cannot be set below it")
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc/self/status")
@pytest.mark.skipif(not fastdl.build_info().get("openmp"), reason="no OpenMP: no parallel region")
@pytest.mark.parametrize("which", ["conv_backward_col2im", "conv_direct"])
def test_memory_error_inside_parallel_region(run_python, which):
    r = run_python(_OOM_SCRIPT, which)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.strip() == "MemoryError", (r.stdout, r.stderr[-2000:])
