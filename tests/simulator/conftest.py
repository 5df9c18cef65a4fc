"""Fixtures: the mission dict built exactly as the backend serves it, and a limit checker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backend.mission import load_mission
from simulator.model import Block

MISSION_YAML = Path(__file__).resolve().parents[2] / "backend" / "mission.yaml"


def utc(*args: int) -> int:
    """Nanoseconds since the epoch of a UTC date-time."""
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * 10**9


@pytest.fixture(scope="session")
def mission() -> dict[str, Any]:
    return load_mission(MISSION_YAML).document()


def _runs(mask: np.ndarray, n: int) -> np.ndarray:
    """True where mask has held for at least n consecutive samples."""
    if n <= 1:
        return mask
    c = np.convolve(mask.astype(int), np.ones(n, dtype=int), mode="full")[: len(mask)]
    return c >= n


def breaches(blocks: list[Block], mission: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    """(severity, entity tags, parameter, first time ns) of every limit breach, judged by the
    mission's limits, states, persistence and active_when, written independently of the backend."""
    params = mission["parameters"]
    by_entity: dict[tuple, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for b in blocks:
        ent = by_entity.setdefault(tuple(sorted(b.tags.items())), {})
        for k, v in b.fields.items():
            if k in ent:
                ent[k] = (np.concatenate([ent[k][0], b.times]), np.concatenate([ent[k][1], v]))
            else:
                ent[k] = (b.times, v)
    out = []
    for tags, fields in by_entity.items():
        for k, (t, v) in fields.items():
            p = params[k]
            sev_masks = {}
            if p["type"] in ("bool", "enum"):
                text = np.where(v, "true", "false") if p["type"] == "bool" else v.astype(str)
                for value, sev in p["states"].items():
                    sev_masks.setdefault(sev, np.zeros(len(v), bool))
                    sev_masks[sev] |= text == value
            else:
                for sev in ("warning", "critical"):
                    band = p["limits"].get(sev)
                    if band:
                        m = np.zeros(len(v), bool)
                        if band.get("low") is not None:
                            m |= v < band["low"]
                        if band.get("high") is not None:
                            m |= v > band["high"]
                        sev_masks[sev] = m
            if p["active_when"]:
                at, av = fields[p["active_when"]]
                active = av[np.searchsorted(at, t).clip(0, len(at) - 1)].astype(bool)
                sev_masks = {s: m & active for s, m in sev_masks.items()}
            for sev, m in sev_masks.items():
                hit = _runs(m, int(p["persistence"]))
                if hit.any():
                    out.append(
                        (sev, ",".join(f"{a}={b}" for a, b in tags), k, int(t[np.argmax(hit)]))
                    )
    return out
