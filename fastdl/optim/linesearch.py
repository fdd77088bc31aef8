"""The strong-Wolfe line search shared by :func:`fastdl.optim.minimize` and
:class:`fastdl.optim.LBFGS`.

Given a descent direction :math:`d` at :math:`x` (:math:`\\phi(t) = f(x + t d)`,
:math:`\\phi'(0) = g^T d < 0`), find a step :math:`t > 0` with

.. math::

    \\phi(t) \\le \\phi(0) + c_1 t \\phi'(0)  \\quad\\text{(sufficient decrease)}, \\qquad
    |\\phi'(t)| \\le c_2 |\\phi'(0)|          \\quad\\text{(strong curvature)},

with :math:`0 < c_1 < c_2 < 1`. This is Nocedal & Wright's algorithm 3.5 (bracketing)
and 3.6 (zoom), with cubic interpolation in both phases and the safeguards of minFunc's
``WolfeLineSearch`` as ported to ``torch.optim.LBFGS`` (``_strong_wolfe``). For finite
values it takes exactly torch's steps, so that :class:`fastdl.optim.LBFGS` reproduces
torch's iterates; where a trial point has a non-finite value or slope, it is treated as
"too far" (it fails the sufficient-decrease test), so the search backs off instead of
interpolating through NaN.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["strong_wolfe", "cubic_interpolate", "sufficient_decrease"]


def cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2).

    Clipped to ``bounds`` (default: the interval between x1 and x2). When the cubic has
    no real minimiser (or the points coincide, or a value is non-finite) the midpoint of
    the bounds is returned.
    Formula (Nocedal & Wright 3.59, with x2 the far point)::

        d1 = g1 + g2 - 3 (f1 - f2) / (x1 - x2);   d2 = sqrt(d1^2 - g1 g2)
        t  = x2 - (x2 - x1) (g2 + d2 - d1) / (g2 - g1 + 2 d2)
    """
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    try:
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1 * d1 - g1 * g2
        if d2_square >= 0:  # False for NaN as well
            d2 = math.sqrt(d2_square)
            if x1 <= x2:
                min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
            else:
                min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
            if min_pos == min_pos:  # not NaN
                return min(max(min_pos, xmin_bound), xmax_bound)
    except ZeroDivisionError:  # coincident points or a flat cubic (torch: inf/NaN)
        pass
    return (xmin_bound + xmax_bound) / 2.0


def sufficient_decrease(f_new, gtd_new, f, c1, t, gtd, flat_eps=None):
    """Whether a trial point decreases f enough (and is finite).

    ``f_new <= f + c1 t gtd``; for finite numbers ``not`` of this is torch's
    ``f_new > f + c1 t gtd``, and a NaN fails it. With ``flat_eps``, a point whose f is
    within ``flat_eps`` of ``f`` -- where the difference is rounding noise -- passes
    when its slope does: ``gtd_new <= (2 c1 - 1) gtd``, the derivative form of the
    same test, exact for a quadratic (Hager & Zhang's approximate Wolfe condition).
    """
    if not math.isfinite(gtd_new):
        return False
    if f_new <= f + c1 * t * gtd:
        return True
    return flat_eps is not None and f_new <= f + flat_eps and gtd_new <= (2 * c1 - 1) * gtd


def strong_wolfe(phi, d, t, f, g, gtd, *, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                 max_ls=25, flat_eps=None):
    """Search along ``d`` for a step that satisfies the strong Wolfe conditions.

    Parameters
    ----------
    phi : callable ``phi(t) -> (f, g)``
        The objective and its gradient (ndarray like ``g``) at ``x + t * d``.
    d : ndarray (n,)
        The search direction.
    t : float
        The first trial step (> 0).
    f : float
        The objective at ``x`` (``t = 0``).
    g : ndarray (n,)
        The gradient at ``x``.
    gtd : float
        ``g @ d``, negative for a descent direction.
    c1, c2 : float
        The sufficient-decrease and curvature constants, ``0 < c1 < c2 < 1``
        (0.9 for (quasi-)Newton directions, 0.1-0.4 for nonlinear CG).
    tolerance_change : float
        Stop zooming when the bracket's length times ``max|d|`` (the change of x it
        spans) is below this.
    max_ls : int
        The most evaluations of ``phi`` after the first one.
    flat_eps : float, optional
        Where f differs from ``f`` by less than this (rounding noise, near a minimum),
        judge sufficient decrease by the slope instead (:func:`sufficient_decrease`).
        None (torch's behaviour): never.

    Returns
    -------
    f_new : float
    g_new : ndarray (n,)
    t : float
        The step taken: the best point found (lowest f among those that decrease
        sufficiently); 0.0 when none does, and then ``f_new, g_new`` are ``f, g``.
    nfev : int
        Calls of ``phi``.

    Notes
    -----
    Bracketing (N&W 3.5): trial steps grow by cubic extrapolation, clipped to
    ``[t + 0.01 (t - t_prev), 10 t]``, until a step fails sufficient decrease or is no
    better than the previous one (checked from the third trial on, as torch does),
    satisfies strong curvature (done), or has a non-negative slope. Zoom (N&W 3.6):
    cubic interpolation inside the bracket; a trial within 10% of the bracket's length
    of an end is moved to 10% away from it when the previous trial was also too close
    (minFunc's "insufficient progress" safeguard). The result is not re-checked here:
    after ``max_ls`` evaluations or a bracket below ``tolerance_change`` the best point
    so far is returned, which may satisfy sufficient decrease only.
    """
    d_norm = float(np.max(np.abs(d))) if d.size else 0.0
    f_new, g_new = phi(t)
    ls_func_evals = 1
    gtd_new = float(g_new @ d)

    # --- bracketing -------------------------------------------------------------------
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket_gtd = None
    while ls_iter < max_ls:
        if (not sufficient_decrease(f_new, gtd_new, f, c1, t, gtd, flat_eps)
                or (ls_iter > 1 and not f_new < f_prev)):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate: the cubic's minimiser, at least 1% past t and at most 10 t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                              bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = phi(t)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:  # no bracket found: keep the better of x and the last trial
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # --- zoom -------------------------------------------------------------------------
    insuf_progress = False
    # the low end is the one with the lower f (a NaN end is never the low one)
    low_pos, high_pos = (1, 0) if bracket_f[-1] < bracket_f[0] else (0, 1)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                              bracket[1], bracket_f[1], bracket_gtd[1])
        hi, lo = max(bracket), min(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = phi(t)
        ls_func_evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1

        if (not sufficient_decrease(f_new, gtd_new, f, c1, t, gtd, flat_eps)
                or not f_new < bracket_f[low_pos]):
            # not low enough: the trial becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (1, 0) if bracket_f[1] < bracket_f[0] else (0, 1)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the minimiser lies between the trial and the old low end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals
