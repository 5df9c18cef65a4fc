"""Small helpers shared by the simulator tests."""

from __future__ import annotations

import numpy as np

from simulator.model import Block, Model


def run(
    model: Model, t0: int, hours: float, step_s: float | None = None, window_h: float = 1.0
) -> list[Block]:
    out: list[Block] = []
    end = t0 + int(hours * 3600e9)
    a = t0
    while a < end:
        b = min(a + int(window_h * 3600e9), end)
        out += model.generate(a, b, step_s)
        a = b
    return out


def series(blocks: list[Block], key: str, **tags: str) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of one field of one entity, concatenated over windows."""
    parts = [(b.times, b.fields[key]) for b in blocks if key in b.fields and b.tags == tags]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
