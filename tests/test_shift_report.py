"""The shift report (backend/shift_report.py): shifts in Asia/Almaty time, and a past
shift's figures checked against independent SQL queries over the raw alert log and samples,
on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from backend import db
from backend.api.write import ingest_text
from backend.services import Services, build_services
from backend.settings import Settings
from backend.shift_report import report, shift_of
from backend.store.base import NS
from orbit.eclipse import illumination


def utc(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * NS


def test_shifts_change_at_local_times_in_almaty() -> None:
    s = Settings(_env_file=None)  # 08:00 and 20:00, Asia/Almaty (UTC+5)
    assert shift_of(s, utc(2026, 11, 20, 10, 0)) == (utc(2026, 11, 20, 3), utc(2026, 11, 20, 15))
    assert shift_of(s, utc(2026, 11, 20, 20, 0)) == (utc(2026, 11, 20, 15), utc(2026, 11, 21, 3))
    assert shift_of(s, utc(2026, 11, 20, 2, 59)) == (utc(2026, 11, 19, 15), utc(2026, 11, 20, 3))
    # The last nanosecond of a shift is in it (a float would round it into the next).
    assert shift_of(s, utc(2026, 11, 20, 3) - 1) == (utc(2026, 11, 19, 15), utc(2026, 11, 20, 3))
    three = Settings(_env_file=None, shift_changes="07:00, 15:00, 23:00")
    assert shift_of(three, utc(2026, 11, 20, 12)) == (utc(2026, 11, 20, 10), utc(2026, 11, 20, 18))
    with pytest.raises(ValueError, match="'7am' is not a time like 08:00"):
        Settings(_env_file=None, shift_changes="7am")
    with pytest.raises(ValueError, match="'Asia/Nowhere' is no time zone"):
        Settings(_env_file=None, shift_timezone="Asia/Nowhere")


@pytest.fixture
def services(tmp_path: Path, store_env: dict[str, str],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    for key, value in {"KAZSAT_DATA_DIR": str(tmp_path / "data"), "KAZSAT_STALE_ALERT_S": "0",
                       **store_env}.items():
        monkeypatch.setenv(key, value)
    built = build_services(Settings(_env_file=None))
    yield built
    built.close()


def test_a_past_shift_reports_what_the_raw_log_says(services: Services) -> None:
    rng = random.Random(5)
    now = time.time_ns()
    start, end = shift_of(services.settings, now - 2 * 86400 * NS)
    # Telemetry every 20 s over the shift and an hour either side, inside every limit.
    lines = []
    for t in range(start - 3600 * NS, end + 3600 * NS, 20 * NS):
        for sat in ("kazsat-2", "kazsat-3"):
            lines.append(f"power,satellite={sat} battery_soc={rng.uniform(55, 99):.2f} {t}")
        for sta, sat in (("akkol", "kazsat-2"), ("kokterek", "kazsat-3")):
            lines.append(f"link,station={sta},satellite={sat} ebn0_db={rng.uniform(9, 14):.2f}"
                         f" {t}")
        if len(lines) > 4000:
            ingest_text(services, "\n".join(lines), "ns")
            lines = []
    ingest_text(services, "\n".join(lines), "ns")
    # The alert log: before, in and across the shift; acknowledged in it or not.
    h = 3600 * NS
    log = [("critical", start - 2 * h, None, start + h, "oleg"),      # open, acked in shift
           ("warning", start + h, start + 2 * h, None, None),         # raised and cleared
           ("critical", start + 3 * h, None, start + 3 * h + 7 * 60 * NS, "dana"),
           ("warning", start + 5 * h, None, None, None),              # open, not acked
           ("warning", end + h, None, None, None),                    # after the shift
           ("critical", start - 5 * h, start - 4 * h, None, None)]    # before it
    with services.engine.begin() as conn:
        conn.execute(db.alerts.insert(), [
            {"kind": "limit", "satellite": "kazsat-2", "station": None,
             "parameter": "bus_voltage", "severity": sev, "state": sev, "value": 104.0,
             "limit_text": "critical high 103 V", "raised_t": raised, "updated_t": raised,
             "cleared_t": cleared, "acked_t": acked, "acked_by": by}
            for sev, raised, cleared, acked, by in log])
    got = report(services.engine, services.store, services.registry, start, end, now,
                 mission=services.mission)

    def sql(query: str) -> list[tuple]:
        with services.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query), {"s": start, "e": end})]

    [(raised, critical)] = sql("SELECT count(*), sum(CASE WHEN severity = 'critical' "
                               "THEN 1 ELSE 0 END) FROM alerts WHERE raised_t >= :s "
                               "AND raised_t < :e")
    assert (got["alerts"]["raised"], got["alerts"]["raised_critical"]) == (raised, critical)
    assert (raised, critical) == (3, 1)
    acked = sql("SELECT id, acked_by, (acked_t - raised_t) FROM alerts "
                "WHERE acked_t >= :s AND acked_t < :e ORDER BY raised_t")
    assert [(a["id"], a["by"], a["after_min"]) for a in got["alerts"]["acknowledged"]] == \
           [(i, by, round(d / (60 * NS), 1)) for i, by, d in acked]
    assert [a["after_min"] for a in got["alerts"]["acknowledged"]] == [180.0, 7.0]
    still = sql("SELECT id FROM alerts WHERE raised_t < :e "
                "AND (cleared_t IS NULL OR cleared_t >= :e) ORDER BY raised_t")
    assert [a["id"] for a in got["alerts"]["open"]] == [r[0] for r in still]
    assert [a["acked_by"] for a in got["alerts"]["open"]] == ["oleg", "dana", None]

    for sat in ("kazsat-2", "kazsat-3"):
        [(lowest,)] = sql(f"SELECT min(value) FROM samples JOIN series ON series.id = "
                          f"samples.series_id WHERE series.satellite = '{sat}' AND "
                          f"series.parameter = 'battery_soc' AND t >= :s AND t < :e")
        assert got["battery_soc_min"][sat] == pytest.approx(lowest)
    for row in got["ebn0_db"]:
        [(lowest, mean)] = sql(
            f"SELECT min(value), avg(value) FROM samples JOIN series ON series.id = "
            f"samples.series_id WHERE series.station = '{row['station']}' AND "
            f"series.satellite = '{row['satellite']}' AND series.parameter = 'ebn0_db' "
            f"AND t >= :s AND t < :e")
        if lowest is None:
            assert row["min"] is None and row["mean"] is None
        else:
            assert row["min"] == pytest.approx(lowest)
            assert row["mean"] == pytest.approx(mean, abs=1e-3)
    assert {(r["station"], r["satellite"]) for r in got["ebn0_db"] if r["min"] is not None} \
           == {("akkol", "kazsat-2"), ("kokterek", "kazsat-3")}
    # The same shift asked again: the same report.
    assert report(services.engine, services.store, services.registry, start, end, now,
                  mission=services.mission) == got


def test_eclipses_in_the_shift_and_the_next_are_the_orbits(services: Services) -> None:
    # The night of the March equinox: each satellite's eclipse falls near its local
    # midnight, in the 20:00-08:00 Almaty shift; the day shift after it has none.
    start, end = shift_of(services.settings, utc(2026, 3, 20, 18))
    assert (start, end) == (utc(2026, 3, 20, 15), utc(2026, 3, 21, 3))
    got = report(services.engine, services.store, services.registry, start, end,
                 end + NS, mission=services.mission)["eclipses"]
    assert sorted(e["satellite"] for e in got) == sorted(services.mission.satellites)
    for e in got:
        lon = services.mission.satellites[e["satellite"]].longitude_deg
        a, b = (int(dt.datetime.fromisoformat(e[k]).timestamp() * 1000) * 1_000_000
                for k in ("start", "end"))
        assert e["shift"] == "this" and start <= a < b <= end
        # In shadow in the middle, in full sun a minute either side (the orbit, asked
        # directly), and as long as an equinox eclipse at GEO is (about 70 minutes).
        inside, before, after = illumination(lon, np.array([(a + b) // 2, a - 60 * NS,
                                                            b + 60 * NS]))
        assert inside < 1.0 and before == after == 1.0
        assert 60 < e["minutes"] < 75
