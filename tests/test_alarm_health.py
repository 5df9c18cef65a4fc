"""The alarm system's ISA-18.2 measures (backend/alarm_health.py) over a seeded month of
alerts, each figure checked against an independent SQL query over the raw alert log, on
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from backend import db
from backend.alarm_health import measures
from backend.store.base import NS
from tests.databases import STORES, database_url

START = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()) * NS
END = int(dt.datetime(2026, 12, 1, tzinfo=dt.UTC).timestamp()) * NS
MIN = 60 * NS
SOURCES = ([("limit", "kazsat-2", None, f"twta_{n}_helix_current") for n in range(1, 17)]
           + [("limit", "kazsat-3", None, "bus_voltage"), ("limit", "kazsat-3", "akkol",
                                                            "ebn0_db"),
              ("stale", None, "kokterek", None), ("limit", None, "akkol", "ups_charge")])


def alert_log(seed: int) -> list[dict]:
    """A month: 600 scattered alarms, three floods (30 alarms in 5 minutes), a chattering
    series (5 raises in 50 s), alarms open since long before the end (stale), two shelved
    ones, one alarm from before the month still open."""
    rng = random.Random(seed)
    rows = []

    def add(source: tuple, t: int, cleared: int | None = -1, shelved: int | None = None) -> None:
        kind, satellite, station, parameter = source
        if cleared == -1:
            cleared = t + rng.randint(1, 7200) * NS
        rows.append({"kind": kind, "satellite": satellite, "station": station,
                     "parameter": parameter, "severity": rng.choice(["warning", "critical"]),
                     "state": "cleared" if cleared else "warning", "value": 1.0,
                     "limit_text": "x", "raised_t": t, "updated_t": t, "cleared_t": cleared,
                     "shelved_until_t": shelved})

    for _ in range(600):
        add(rng.choice(SOURCES), START + rng.randrange(0, (END - START) // NS - 86400) * NS)
    for day in (3, 11, 27):
        t0 = START + day * 86400 * NS + 7 * 3600 * NS
        for i in range(30):
            add(SOURCES[i % len(SOURCES)], t0 + i * 10 * NS)
    chatter = START + 15 * 86400 * NS
    for i in range(5):
        add(SOURCES[16], chatter + i * 10 * NS, chatter + i * 10 * NS + 5 * NS)
    for days in (3, 9):
        add(SOURCES[18], END - days * 86400 * NS, None)  # stale, open at the end
    add(SOURCES[17], END - 2 * 3600 * NS, None)  # open but not stale
    add(SOURCES[19], END - 5 * 3600 * NS, None, shelved=END + 3600 * NS)
    add(SOURCES[1], END - 40 * 3600 * NS, None, shelved=END + 60 * NS)  # stale and shelved
    add(SOURCES[2], START - 3 * 86400 * NS, None)  # raised before the month, still open
    add(SOURCES[3], START - 86400 * NS, START - 3600 * NS)  # before the month, cleared
    return rows


@pytest.fixture(params=STORES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with database_url(request.param, tmp_path) as url:
        made = db.make_engine(url)
        db.upgrade(made)
        with made.begin() as conn:
            conn.execute(db.alerts.insert(), alert_log(seed=17))
        yield made
        made.dispose()


def query(engine: Engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), {"s": START, "e": END, "p": 600 * NS,
                                                         "m": MIN, "d": 86400 * NS})]


def test_the_measures_equal_those_of_the_raw_alert_log(engine: Engine) -> None:
    got = measures(engine, START, END, flood_alarms=10)
    in_month = "raised_t >= :s AND raised_t < :e"
    [(total,)] = query(engine, f"SELECT count(*) FROM alerts WHERE {in_month}")
    assert got["alarms"] == total == 600 + 90 + 5 + 5
    periods = query(engine, f"SELECT (raised_t - :s) / :p AS k, count(*) FROM alerts "
                            f"WHERE {in_month} GROUP BY k ORDER BY k")
    counts = got["per_10min"]["counts"]
    assert len(counts) == 30 * 24 * 6
    assert [(k, c) for k, c in enumerate(counts) if c] == periods
    assert got["per_10min"]["peak"] == max(c for _, c in periods)
    assert got["per_10min"]["average"] == round(total / len(counts), 3)
    flooded = [k for k, c in periods if c > 10]
    assert got["flood"]["periods"] == len(flooded) >= 3
    assert got["flood"]["percent"] == round(100 * len(flooded) / len(counts), 3)

    top = query(engine, f"SELECT kind, satellite, station, parameter, count(*) AS n "
                        f"FROM alerts WHERE {in_month} "
                        f"GROUP BY kind, satellite, station, parameter ORDER BY n DESC")
    assert [t["raised"] for t in got["top10"]] == [r[4] for r in top[:10]]
    tenth = top[9][4]
    assert {(t["kind"], t["satellite"], t["station"], t["parameter"]) for t in got["top10"]
            if t["raised"] > tenth} == {r[:4] for r in top if r[4] > tenth}
    assert got["top10"][0]["percent"] == round(100 * top[0][4] / total, 2)

    same = ("b.kind = a.kind AND COALESCE(b.satellite, '') = COALESCE(a.satellite, '') "
            "AND COALESCE(b.station, '') = COALESCE(a.station, '') "
            "AND COALESCE(b.parameter, '') = COALESCE(a.parameter, '')")
    chattering = query(engine, f"SELECT DISTINCT a.kind, a.satellite, a.station, a.parameter "
                               f"FROM alerts a JOIN alerts b ON {same} "
                               f"AND b.raised_t >= a.raised_t AND b.raised_t <= a.raised_t + :m "
                               f"AND b.raised_t < :e "
                               f"WHERE a.raised_t >= :s AND a.raised_t < :e "
                               f"GROUP BY a.id, a.kind, a.satellite, a.station, a.parameter "
                               f"HAVING count(*) >= 3")
    assert {(c["kind"], c["satellite"], c["station"], c["parameter"])
            for c in got["chattering"]} == set(chattering)
    assert ("limit", "kazsat-3", None, "bus_voltage") in set(chattering)

    stale = query(engine, "SELECT id FROM alerts WHERE raised_t < :e - :d "
                          "AND (cleared_t IS NULL OR cleared_t > :e) ORDER BY id")
    assert sorted(s["id"] for s in got["stale"]) == [r[0] for r in stale]
    assert len(stale) == 4  # two at Kokterek, one shelved, one from before the month
    shelved = query(engine, "SELECT id FROM alerts WHERE shelved_until_t > :e "
                            "AND raised_t < :e AND (cleared_t IS NULL OR cleared_t > :e)")
    assert sorted(s["id"] for s in got["shelved"]) == sorted(r[0] for r in shelved)
    assert len(shelved) == 2


def test_the_same_month_gives_the_same_figures(engine: Engine) -> None:
    assert measures(engine, START, END, 10) == measures(engine, START, END, 10)


def test_a_month_not_over_counts_stale_alarms_as_of_now(engine: Engine) -> None:
    now = END - 4 * 86400 * NS  # before the Kokterek alarm raised 3 days before the end
    got = measures(engine, START, END, 10, now)
    stale = query(engine, f"SELECT id FROM alerts WHERE raised_t < {now} - :d "
                          f"AND (cleared_t IS NULL OR cleared_t > {now}) ORDER BY id")
    assert sorted(s["id"] for s in got["stale"]) == [r[0] for r in stale]
    assert len(stale) == 2  # the one raised 9 days before the end, the one from October
