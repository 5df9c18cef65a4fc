"""First-order lag filters on a regular grid, vectorised in chunks (no per-sample loop)."""

from __future__ import annotations

import numpy as np

_CHUNK = 96


def lag(u: np.ndarray, y0: float, dt_s: float, tau_s: float) -> np.ndarray:
    """y[k] = a*y[k-1] + (1-a)*u[k], a = exp(-dt/tau): the exact step response of a first-order
    system (thermal masses, *model*).
    Chunked closed form: y[k] = a^k (a y0 + (1-a) sum_j<=k a^-j u[j])."""
    a = float(np.exp(-dt_s / tau_s))
    out = np.empty(len(u))
    pw = a ** np.arange(0, _CHUNK)
    inv = a ** -np.arange(0, _CHUNK)
    y = y0
    for s in range(0, len(u), _CHUNK):
        seg = u[s : s + _CHUNK]
        m = len(seg)
        acc = np.cumsum(seg * inv[:m])
        out[s : s + m] = pw[:m] * (a * y + (1 - a) * acc)
        y = out[s + m - 1]
    return out


def hysteresis(x: np.ndarray, low: float, high: float, initial: bool) -> np.ndarray:
    """True above `high`, False below `low`, else the last decided state (forward fill)."""
    decided = np.where(x > high, 1, np.where(x < low, 0, -1))
    idx = np.where(decided >= 0, np.arange(len(x)), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, decided[np.maximum(idx, 0)] == 1, initial)


def erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function, fractional error < 1.2e-7 (Numerical Recipes erfcc)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2.0 - r)
