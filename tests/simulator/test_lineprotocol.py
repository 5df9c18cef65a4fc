"""Line protocol: a strict grammar, values round-trip, shared timestamps share a line."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from simulator.lineprotocol import batches, escape_key, lines
from simulator.model import Block, Model

from .conftest import utc

NAME = r"(?:[^,= \\]|\\[,= \\])+"
FIELD_VALUE = r'-?\d+(?:\.\d+)?(?:e[+-]\d+)?|-?\d+i|true|false|"(?:[^"\\]|\\.)*"'
LINE = re.compile(
    rf"^({NAME})((?:,{NAME}={NAME})+) "
    rf"((?:{NAME}=(?:{FIELD_VALUE}))(?:,{NAME}=(?:{FIELD_VALUE}))*) (\d{{19}})$"
)
FIELD = re.compile(rf"({NAME})=({FIELD_VALUE})(?:,|$)")


def parse(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    m = LINE.match(line)
    assert m, line
    tags = dict(kv.split("=") for kv in m.group(2)[1:].split(","))
    fields: dict[str, object] = {}
    for k, v in FIELD.findall(m.group(3)):
        if v in ("true", "false"):
            fields[k] = v == "true"
        elif v.startswith('"'):
            fields[k] = v[1:-1]
        elif v.endswith("i"):
            fields[k] = int(v[:-1])
        else:
            fields[k] = float(v)
    return m.group(1), tags, fields, int(m.group(4))


def test_every_line_parses_and_round_trips(mission: dict) -> None:
    t0 = utc(2026, 9, 22, 19, 50)
    model = Model(mission, seed=9, start_ns=t0, scenario="breach")
    blocks = model.generate(t0, t0 + 300 * 10**9)
    want = {}
    for b in blocks:
        for k, v in b.fields.items():
            for t, x in zip(b.times.tolist(), v.tolist(), strict=True):
                want[(b.measurement, tuple(sorted(b.tags.items())), t, k)] = x
    seen: Counter = Counter()
    got = {}
    for ls, _ in lines(blocks, model.catalogue.params):
        for line in ls:
            meas, tags, fields, t = parse(line)
            key = (meas, tuple(sorted(tags.items())), t)
            seen[key] += 1
            for k, v in fields.items():
                got[(*key, k)] = v
    assert set(got) == set(want)
    assert max(seen.values()) == 1  # one line per entity, measurement and time
    for key, x in want.items():
        y = got[key]
        p = mission["parameters"][key[3]]
        if p["type"] == "float":
            tol = 1e-4 * abs(x) if p["decimals"] >= 6 else 0.51 * 10 ** -(p["decimals"] + 1)
            assert abs(y - x) <= tol + 1e-12, (key, x, y)
        else:
            assert y == x, (key, x, y)
    # Fields of different periods that share a timestamp share the line.
    power = [
        ln
        for ls, _ in lines(blocks, model.catalogue.params)
        for ln in ls
        if ln.startswith("power,satellite=kazsat-2 ")
    ]
    assert sum("battery_temp=" in ln for ln in power) == 30 and len(power) == 300


def test_escaping_and_batches() -> None:
    assert escape_key("a b,c=d") == "a\\ b\\,c\\=d"
    b = Block(
        "m x",
        {"satellite": "s,1"},
        np.arange(3, dtype=np.int64) * 10**9,
        {"v": np.array([1.0, 2.0, 3.0]), "s": np.array(['say "hi"'] * 3)},
    )
    ((ls, n),) = list(lines([b], {}))
    assert n == 6 and ls[0] == 'm\\ x,satellite=s\\,1 v=1.000000,s="say \\"hi\\"" 0'
    big = Block(
        "m",
        {"satellite": "s"},
        np.arange(5000, dtype=np.int64),
        {f"f{i}": np.zeros(5000) for i in range(10)},
    )
    out = list(batches([big], {}, max_values=10_000))
    assert [c for _, c in out] == [10_000] * 5 and all(body.count("\n") == 999 for body, _ in out)
