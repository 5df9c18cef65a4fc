"""The compressed block format: exact round trip, and damage that is refused, never read."""

import numpy as np
import pytest

from backend.store.blocks import BlockError, decode, encode


def sample(n: int = 5000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**64, n, dtype=np.uint64).view(np.float64)
    vs = np.concatenate([bits[np.isfinite(bits)], [-0.0, 0.0, 5e-324, -1.7976931348623157e308,
                                                    1.0, 0.0, 3.0, 2.0**53 + 1]])
    ts = np.cumsum(rng.integers(1, 10**10, len(vs))).astype(np.int64) + 1_764_000_000 * 10**9
    return ts, vs


def test_round_trip_is_bit_for_bit():
    ts, vs = sample()
    t2, v2 = decode(encode(ts, vs))
    assert np.array_equal(t2, ts)
    assert np.array_equal(v2.view(np.uint64), vs.view(np.uint64))  # -0.0, subnormals too


def test_one_sample():
    t2, v2 = decode(encode(np.array([5], np.int64), np.array([-0.0])))
    assert t2.tolist() == [5] and np.signbit(v2[0])


@pytest.mark.parametrize("where", [0, 3, 10, 20, 200, -1])
def test_a_flipped_bit_is_refused(where):
    data = bytearray(encode(*sample(500)))
    data[where] ^= 0x10
    with pytest.raises(BlockError):
        decode(bytes(data))


def test_truncated_and_unknown_version_are_refused():
    data = encode(*sample(500))
    with pytest.raises(BlockError, match=r"damaged|shorter"):
        decode(data[: len(data) // 2])
    with pytest.raises(BlockError, match="version 9 is unknown"):
        decode(data[:3] + bytes([9]) + data[4:])


def test_mismatched_columns_are_refused_when_encoding():
    with pytest.raises(ValueError, match="a value for each time"):
        encode(np.array([1, 2], np.int64), np.array([1.0]))
