# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# cython: cdivision=True, nonecheck=False, embedsignature=True
"""Pooling loops (max, average, adaptive average; forward and backward).

Private: call fastdl.ops.max_pool2d & co., which check and normalise every argument,
allocate the outputs and pass C-contiguous arrays viewed as planes (N*C, H, W).

Every kernel runs `prange` over the N*C planes with the thread count it is given (the
wrapper passes fastdl.get_num_threads()). A plane is read and written by one thread
only, and the loops inside a plane run in a fixed order, so results are bitwise
identical for any thread count and any schedule. The schedule is guided rather than
static: on a shared 2-core machine a static half of the planes waits for a descheduled
thread (avg 2x2 pool of (8, 256, 28, 28), 2 threads beside a busy neighbour: 8.5 ms
static, 0.5 ms guided; 1.0 ms on 1 thread). The window loops and their order follow torch's CPU
kernels (aten/src/ATen/native/cpu/{MaxPool,AvgPool,AdaptiveAvgPool}Kernel.cpp): the
first maximum of a window in row-major order wins, a NaN wins over any number (the last
NaN of the window), and averages are sums in window order divided by the divisor.
"""

from cython cimport floating
from cython.parallel cimport prange, parallel, threadid
from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memset

ctypedef Py_ssize_t isize

# The window offset i*kW + j of max pooling's running argmax: int32 (GCC vectorises the
# max loop with it) unless the window has 2**31 or more positions (the wrapper passes an
# int64 scratch then; an int32 offset wrapped and gave wrong indices).
ctypedef fused offset_t:
    int32_t
    int64_t


cdef inline isize _imin(isize a, isize b) noexcept nogil:
    return a if a < b else b


cdef inline isize _imax(isize a, isize b) noexcept nogil:
    return a if a > b else b


# ----------------------------------------------------------------------------- max

cdef inline isize _ceil_div(isize a, isize b) noexcept nogil:
    # ceil(a / b) for b > 0 and any sign of a (C division truncates toward zero)
    return -((-a) // b) if a < 0 else (a + b - 1) // b


cdef inline void _span(isize col, isize s, isize W, isize OW, isize* lo,
                       isize* hi) noexcept nogil:
    # The outputs [lo, hi) whose column o*s + col lies inside the input [0, W)
    lo[0] = _imax(0, _ceil_div(-col, s))
    hi[0] = _imin(OW, _ceil_div(W - col, s))


cdef inline void _max_run(const floating* xr, floating* yr, offset_t* best, isize lo,
                          isize hi, isize s, offset_t pos) noexcept nogil:
    # yr[o], best[o] <- xr[o*s], pos where xr[o*s] is greater or NaN, for o in [lo, hi)
    cdef isize o
    cdef floating v, m
    cdef bint take
    for o in range(lo, hi):
        v = xr[o * s]
        m = yr[o]
        take = (v > m) | (v != v)  # a NaN wins, and stays unless a NaN follows
        yr[o] = v if take else m
        best[o] = pos if take else best[o]


cdef void _max_plane(const floating* x, floating* y, int64_t* ind, offset_t* best,
                     isize H, isize W, isize OH, isize OW, isize kH, isize kW, isize sH,
                     isize sW, isize pH, isize pW, isize dH, isize dW) noexcept nogil:
    # x (H, W) -> y, ind (OH, OW); best (OW) is scratch.
    # One output row at a time, window offset by window offset (row-major, torch's
    # order): offset (i, j) of the windows ow in [lo, hi) is x[h, ow*sW + j*dW - pW], a
    # branch-free loop over ow that GCC vectorises. The output row holds the running
    # maxima and `best` the winning offset i*kW + j (-1: none yet), int32: with int64
    # flat indices beside the values GCC 12 vectorised neither dtype. The flat indices
    # are made at the end of the row. A loop per window instead mispredicts its branch
    # every few elements on random data and ran 3.5x slower (ResNet stem pool, float32,
    # 1 thread: 31 ms against 8.5 ms).
    cdef isize oh, ow, i, j, h, h_start, col, lo, hi, k, first_h, first_w
    cdef offset_t pos
    cdef floating* yr
    cdef const floating* xr
    for oh in range(OH):
        yr = y + oh * OW
        for ow in range(OW):
            yr[ow] = -INFINITY
            best[ow] = -1
        h_start = oh * sH - pH
        for i in range(kH):
            h = h_start + i * dH
            if h < 0 or h >= H:
                continue
            xr = x + h * W
            for j in range(kW):
                col = j * dW - pW
                _span(col, sW, W, OW, &lo, &hi)
                pos = <offset_t>(i * kW + j)
                # constant strides let GCC load with shuffles instead of element by element
                if sW == 1:
                    _max_run(xr + col, yr, best, lo, hi, 1, pos)
                elif sW == 2:
                    _max_run(xr + col, yr, best, lo, hi, 2, pos)
                else:
                    _max_run(xr + col, yr, best, lo, hi, sW, pos)
        # torch's index of a window of -inf: its first in-bounds position
        first_h = h_start + dH * _ceil_div(_imax(0, -h_start), dH)
        for ow in range(OW):
            k = best[ow]
            col = ow * sW - pW
            if k < 0:
                first_w = col + dW * _ceil_div(_imax(0, -col), dW)
                ind[oh * OW + ow] = first_h * W + first_w
            else:
                ind[oh * OW + ow] = (h_start + (k // kW) * dH) * W + col + (k % kW) * dW


def max_pool2d_forward(const floating[:, :, ::1] x, floating[:, :, ::1] y,
                       int64_t[:, :, ::1] ind, offset_t[:, ::1] scratch, isize kH, isize kW,
                       isize sH, isize sW, isize pH, isize pW, isize dH, isize dW):
    """x (P, H, W) -> y (P, OH, OW) and the flat indices h*W + w of the maxima.

    scratch is (threads, OW): one row per thread; its row count is the thread count;
    int64 when kH*kW >= 2**31, else int32."""
    cdef isize P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef isize OH = y.shape[1], OW = y.shape[2], p
    cdef int nt = <int>scratch.shape[0]
    with nogil, parallel(num_threads=nt):
        for p in prange(P, schedule="guided"):
            _max_plane(&x[p, 0, 0], &y[p, 0, 0], &ind[p, 0, 0], &scratch[threadid(), 0],
                       H, W, OH, OW, kH, kW, sH, sW, pH, pW, dH, dW)


cdef isize _max_backward_plane(const floating* gy, const int64_t* ind, floating* gx,
                               isize HW, isize OHW) noexcept nogil:
    # gy, ind (OH*OW) -> gx (H*W); returns how many indices fall outside [0, HW)
    cdef isize i, bad = 0
    cdef int64_t j
    memset(gx, 0, HW * sizeof(floating))
    for i in range(OHW):
        j = ind[i]
        if j < 0 or j >= HW:
            bad += 1
        else:
            gx[j] += gy[i]
    return bad


def max_pool2d_backward(const floating[:, ::1] grad_y, const int64_t[:, ::1] ind,
                        floating[:, ::1] grad_x, int num_threads):
    """grad_y, ind (P, OH*OW) -> grad_x (P, H*W), scattered in output order.

    Returns the number of indices outside the plane (they are skipped)."""
    cdef isize P = grad_y.shape[0], OHW = grad_y.shape[1], HW = grad_x.shape[1], p
    cdef isize bad = 0
    for p in prange(P, nogil=True, num_threads=num_threads, schedule="guided"):
        bad += _max_backward_plane(&grad_y[p, 0], &ind[p, 0], &grad_x[p, 0], HW, OHW)
    return bad


# ----------------------------------------------------------------------------- avg

cdef inline isize _avg_window(isize o, isize s, isize p, isize k, isize size,
                              isize* lo, isize* hi) noexcept nogil:
    # The window of output o clipped to the input [lo, hi); returns its extent clipped
    # to the padded input instead (torch's divisor with count_include_pad). Never empty:
    # padding <= k // 2 and, with ceil_mode, the last window starts before `size`.
    cdef isize a = o * s - p
    cdef isize b = _imin(a + k, size + p)
    lo[0] = _imax(a, 0)
    hi[0] = _imin(b, size)
    return b - a


cdef inline void _add_run(const floating* xr, floating* yr, isize lo, isize hi,
                          isize s) noexcept nogil:
    # yr[o] += xr[o*s] for o in [lo, hi)
    cdef isize o
    for o in range(lo, hi):
        yr[o] = yr[o] + xr[o * s]


cdef inline void _scatter_run(const floating* d, floating* gr, isize lo, isize hi,
                              isize s) noexcept nogil:
    # gr[o*s] += d[o] for o in [lo, hi)
    cdef isize o
    for o in range(lo, hi):
        gr[o * s] = gr[o * s] + d[o]


cdef void _avg_plane(const floating* x, floating* y, isize H, isize W, isize OH,
                     isize OW, isize kH, isize kW, isize sH, isize sW, isize pH, isize pW,
                     bint count_include_pad) noexcept nogil:
    # x (H, W) -> y (OH, OW), by window offsets as _max_plane. Each output is summed
    # from 0 in row-major window order, skipping padding, as torch (so the NumPy twin,
    # which adds zeros for the padding, and torch give the same bits).
    cdef isize oh, ow, h, j, h0, h1, w0, w1, ph, pw, col, lo, hi
    cdef floating* yr
    cdef const floating* xr
    for oh in range(OH):
        yr = y + oh * OW
        for ow in range(OW):
            yr[ow] = 0
        ph = _avg_window(oh, sH, pH, kH, H, &h0, &h1)
        for h in range(h0, h1):
            xr = x + h * W
            for j in range(kW):
                col = j - pW
                _span(col, sW, W, OW, &lo, &hi)
                if sW == 1:
                    _add_run(xr + col, yr, lo, hi, 1)
                elif sW == 2:
                    _add_run(xr + col, yr, lo, hi, 2)
                else:
                    _add_run(xr + col, yr, lo, hi, sW)
        for ow in range(OW):
            pw = _avg_window(ow, sW, pW, kW, W, &w0, &w1)
            yr[ow] = yr[ow] / (ph * pw if count_include_pad else (h1 - h0) * (w1 - w0))


def avg_pool2d_forward(const floating[:, :, ::1] x, floating[:, :, ::1] y, isize kH,
                       isize kW, isize sH, isize sW, isize pH, isize pW,
                       bint count_include_pad, int num_threads):
    """x (P, H, W) -> y (P, OH, OW)."""
    cdef isize P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef isize OH = y.shape[1], OW = y.shape[2], p
    for p in prange(P, nogil=True, num_threads=num_threads, schedule="guided"):
        _avg_plane(&x[p, 0, 0], &y[p, 0, 0], H, W, OH, OW, kH, kW, sH, sW, pH, pW,
                   count_include_pad)


cdef void _avg_backward_plane(const floating* gy, floating* gx, floating* delta, isize H,
                              isize W, isize OH, isize OW, isize kH, isize kW, isize sH,
                              isize sW, isize pH, isize pW,
                              bint count_include_pad) noexcept nogil:
    # gy (OH, OW) -> gx (H, W); delta (OW) is scratch. Per output row: delta = gy / the
    # divisors, then added to the window positions offset by offset.
    cdef isize oh, ow, h, j, h0, h1, w0, w1, ph, pw, col, lo, hi
    cdef floating* gr
    memset(gx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        ph = _avg_window(oh, sH, pH, kH, H, &h0, &h1)
        for ow in range(OW):
            pw = _avg_window(ow, sW, pW, kW, W, &w0, &w1)
            delta[ow] = gy[oh * OW + ow] / (ph * pw if count_include_pad
                                            else (h1 - h0) * (w1 - w0))
        for h in range(h0, h1):
            gr = gx + h * W
            for j in range(kW):
                col = j - pW
                _span(col, sW, W, OW, &lo, &hi)
                if sW == 1:
                    _scatter_run(delta, gr + col, lo, hi, 1)
                elif sW == 2:
                    _scatter_run(delta, gr + col, lo, hi, 2)
                else:
                    _scatter_run(delta, gr + col, lo, hi, sW)


def avg_pool2d_backward(const floating[:, :, ::1] grad_y, floating[:, :, ::1] grad_x,
                        floating[:, ::1] scratch, isize kH, isize kW, isize sH, isize sW,
                        isize pH, isize pW, bint count_include_pad):
    """grad_y (P, OH, OW) -> grad_x (P, H, W).

    scratch is (threads, OW), of grad_y's dtype: one row per thread; its row count is
    the thread count."""
    cdef isize P = grad_y.shape[0], OH = grad_y.shape[1], OW = grad_y.shape[2]
    cdef isize H = grad_x.shape[1], W = grad_x.shape[2], p
    cdef int nt = <int>scratch.shape[0]
    with nogil, parallel(num_threads=nt):
        for p in prange(P, schedule="guided"):
            _avg_backward_plane(&grad_y[p, 0, 0], &grad_x[p, 0, 0], &scratch[threadid(), 0],
                                H, W, OH, OW, kH, kW, sH, sW, pH, pW, count_include_pad)


# ------------------------------------------------------------------------ adaptive

cdef inline double _sum_run(const floating* r, isize n) noexcept nogil:
    # sum of r[0:n] in double, four chains at a time (a single chain of dependent adds
    # ran 4x slower on global pooling of 7x7 planes)
    cdef double a0 = 0, a1 = 0, a2 = 0, a3 = 0
    cdef isize i = 0
    while i + 4 <= n:
        a0 += r[i]
        a1 += r[i + 1]
        a2 += r[i + 2]
        a3 += r[i + 3]
        i += 4
    while i < n:
        a0 += r[i]
        i += 1
    return (a0 + a1) + (a2 + a3)


cdef void _adaptive_plane(const floating* x, floating* y, isize H, isize W, isize OH,
                          isize OW, const int64_t* hb, const int64_t* wb) noexcept nogil:
    # x (H, W) -> y (OH, OW); output row oh averages the input rows [hb[oh], hb[OH+oh]),
    # column ow the columns [wb[ow], wb[OW+ow]). The sum runs in double: a bin can be the
    # whole plane (global average pooling), and a float32 sum drifts there. A bin of
    # whole rows is one contiguous run.
    cdef isize oh, ow, h, h0, h1, w0, w1
    cdef double acc
    for oh in range(OH):
        h0 = hb[oh]
        h1 = hb[OH + oh]
        for ow in range(OW):
            w0 = wb[ow]
            w1 = wb[OW + ow]
            if w1 - w0 == W:
                acc = _sum_run(x + h0 * W, (h1 - h0) * W)
            else:
                acc = 0
                for h in range(h0, h1):
                    acc += _sum_run(x + h * W + w0, w1 - w0)
            y[oh * OW + ow] = <floating>(acc / (h1 - h0) / (w1 - w0))


def adaptive_avg_pool2d_forward(const floating[:, :, ::1] x, floating[:, :, ::1] y,
                                const int64_t[:, ::1] hbins, const int64_t[:, ::1] wbins,
                                int num_threads):
    """x (P, H, W) -> y (P, OH, OW); the bins are (2, OH) and (2, OW): starts, ends."""
    cdef isize P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef isize OH = y.shape[1], OW = y.shape[2], p
    for p in prange(P, nogil=True, num_threads=num_threads, schedule="guided"):
        _adaptive_plane(&x[p, 0, 0], &y[p, 0, 0], H, W, OH, OW, &hbins[0, 0], &wbins[0, 0])


cdef void _adaptive_backward_plane(const floating* gy, floating* gx, isize H, isize W,
                                   isize OH, isize OW, const int64_t* hb,
                                   const int64_t* wb) noexcept nogil:
    # gy (OH, OW) -> gx (H, W), bins as _adaptive_plane; they overlap when OH does not
    # divide H
    cdef isize oh, ow, h, w, h0, h1, w0, w1
    cdef floating delta
    memset(gx, 0, H * W * sizeof(floating))
    for oh in range(OH):
        h0 = hb[oh]
        h1 = hb[OH + oh]
        for ow in range(OW):
            w0 = wb[ow]
            w1 = wb[OW + ow]
            delta = gy[oh * OW + ow] / (h1 - h0) / (w1 - w0)  # as torch, bit for bit
            for h in range(h0, h1):
                for w in range(w0, w1):
                    gx[h * W + w] += delta


def adaptive_avg_pool2d_backward(const floating[:, :, ::1] grad_y,
                                 floating[:, :, ::1] grad_x, const int64_t[:, ::1] hbins,
                                 const int64_t[:, ::1] wbins, int num_threads):
    """grad_y (P, OH, OW) -> grad_x (P, H, W); bins as adaptive_avg_pool2d_forward."""
    cdef isize P = grad_y.shape[0], OH = grad_y.shape[1], OW = grad_y.shape[2]
    cdef isize H = grad_x.shape[1], W = grad_x.shape[2], p
    for p in prange(P, nogil=True, num_threads=num_threads, schedule="guided"):
        _adaptive_backward_plane(&grad_y[p, 0, 0], &grad_x[p, 0, 0], H, W, OH, OW,
                                 &hbins[0, 0], &wbins[0, 0])
