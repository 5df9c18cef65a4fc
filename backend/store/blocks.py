"""The compressed block: one series' samples of one time segment, times and values packed.

Layout (little-endian): b"KZB", a format version byte, then count, the length of the times
part and a CRC-32 of both parts (three uint32), then the times (int64 ns) and the values
(float64) each compressed by pcodec, a codec made for numerical columns (measured against
zstd and zlib on the simulator's telemetry: benchmarks/codecs.py, docs/storage.md). Both are
lossless: every float comes back bit for bit. The checksum makes a damaged block fail to
decode instead of returning wrong numbers.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from pcodec import ChunkConfig, standalone

MAGIC = b"KZB"
VERSION = 1
_HEAD = struct.Struct("<3sBIII")
_CONFIG = ChunkConfig()


class BlockError(ValueError):
    """A block that cannot be decoded: damaged bytes, or a format this program does not know."""


def encode(ts: np.ndarray, vs: np.ndarray) -> bytes:
    """Times (int64 ns, strictly increasing) and their values (float64) as one block."""
    if len(ts) != len(vs) or not len(ts):
        raise ValueError("a block holds one or more samples, a value for each time")
    t_part = standalone.simple_compress(np.ascontiguousarray(ts, dtype=np.int64), _CONFIG)
    v_part = standalone.simple_compress(np.ascontiguousarray(vs, dtype=np.float64), _CONFIG)
    crc = zlib.crc32(v_part, zlib.crc32(t_part))
    return bytes(_HEAD.pack(MAGIC, VERSION, len(ts), len(t_part), crc) + t_part + v_part)


def decode(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of a block; BlockError saying why when it cannot be trusted."""
    if len(data) < _HEAD.size:
        raise BlockError(f"{len(data)} bytes is shorter than a block header")
    magic, version, count, t_len, crc = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise BlockError("not a block (wrong magic bytes)")
    if version != VERSION:
        raise BlockError(f"block format version {version} is unknown to this program "
                         f"(it reads version {VERSION})")
    body = memoryview(data)[_HEAD.size:]
    if t_len > len(body) or zlib.crc32(body) != crc:
        raise BlockError("checksum mismatch: the block's bytes are damaged")
    try:
        ts = standalone.simple_decompress(bytes(body[:t_len]))
        vs = standalone.simple_decompress(bytes(body[t_len:]))
    except (RuntimeError, ValueError, TypeError) as exc:
        raise BlockError(f"pcodec could not decode it: {exc}") from exc
    if ts.dtype != np.int64 or vs.dtype != np.float64 or len(ts) != count or len(vs) != count:
        raise BlockError(f"decoded {len(ts)} times and {len(vs)} values, header says {count}")
    if count > 1 and not (ts[1:] > ts[:-1]).all():
        raise BlockError("times are not strictly increasing")
    return ts, vs
