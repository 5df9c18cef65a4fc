"""Counter-based random numbers: a value depends only on (seed, stream name, index).

That makes output identical however a span is chunked into windows, and lets every sample be
drawn in one vectorised step (splitmix64 finaliser on uint64 arrays; no Generator per block).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@lru_cache(maxsize=65536)
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


def _hash(key: np.uint64, index: np.ndarray) -> np.ndarray:
    idx = np.asarray(index, dtype=np.int64).reshape(-1).view(np.uint64)
    with np.errstate(over="ignore"):
        return _mix(idx * _GOLDEN + key)


def uniform(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1), one per integer index."""
    x = _hash(key, index)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


_MASK16 = np.uint64(0xFFFF)


def normal(key: np.uint64, index: np.ndarray) -> np.ndarray:
    """Unit-variance, zero-mean noise, one per integer index: the sum of four 16-bit uniforms of
    one hash (Irwin-Hall), scaled. Bounded at +-3.46 sigma, which suits sensor noise (*model*):
    no freak sample crosses a limit in a nominal run."""
    x = _hash(key, index)
    s = (x & _MASK16) + ((x >> np.uint64(16)) & _MASK16) + ((x >> np.uint64(32)) & _MASK16)
    s = s + (x >> np.uint64(48))
    return (s.astype(np.float64) * (1.0 / 65536.0) - 2.0 + 2.0 / 65536.0) * 1.7320508075688772


def smooth(key: np.uint64, t_s: np.ndarray, knot_s: float) -> np.ndarray:
    """Smooth noise (about unit variance) with knots every knot_s seconds, cosine-interpolated."""
    x = np.asarray(t_s, dtype=np.float64) / knot_s
    k = np.floor(x).astype(np.int64)
    f = x - k
    w = 0.5 - 0.5 * np.cos(np.pi * f)
    a = normal(key, k)
    b = normal(key, k + 1)
    return a + (b - a) * w
