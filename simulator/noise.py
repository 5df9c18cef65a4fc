"""Counter-based random numbers: a value depends only on (seed, stream name, index).

That makes output identical however a span is chunked into windows, and lets every sample be
drawn in one vectorised step (splitmix64 finaliser on uint64 arrays; no Generator per block).
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def stream_key(seed: int, *names: object) -> np.uint64:
    """A 64-bit key for one named random stream (e.g. seed, 'kazsat-2', 'roll_error')."""
    text = "\x1f".join([str(seed), *map(str, names)]).encode()
    return np.uint64(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little"))


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def uniform(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1), one per integer index."""
    idx = (
        np.asarray(index, dtype=np.int64).view(np.uint64)
        if np.ndim(index)
        else np.array([index], dtype=np.int64).view(np.uint64)
    )
    with np.errstate(over="ignore"):
        x = _mix(idx * _GOLDEN + key)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normal(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """Standard normal numbers, one per integer index (Box-Muller on two hashed uniforms)."""
    u1 = uniform(key, index)
    u2 = uniform(key ^ np.uint64(0x5DEECE66D), index)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def smooth(key: np.uint64, t_s: np.ndarray, knot_s: float) -> np.ndarray:
    """Smooth noise (about unit variance) with knots every knot_s seconds, cosine-interpolated."""
    x = np.asarray(t_s, dtype=np.float64) / knot_s
    k = np.floor(x).astype(np.int64)
    f = x - k
    w = 0.5 - 0.5 * np.cos(np.pi * f)
    a = normal(key, k)
    b = normal(key, k + 1)
    return a + (b - a) * w
