"""The alert list grouped in a flood (dashboard/alert_groups.py), as the digest groups it."""

from __future__ import annotations

from dashboard import alert_groups


def alert(severity: str, satellite: str | None, station: str | None, subsystem: str | None,
          raised: str, kind: str = "limit") -> dict:
    return {"severity": severity, "satellite": satellite, "station": station,
            "subsystem": subsystem, "raised": raised, "kind": kind}


def test_groups_put_the_most_severe_first_then_the_larger(mission: dict) -> None:
    alerts = [alert("warning", "kazsat-2", None, "payload", "2026-12-08T02:00:01Z"),
              alert("warning", "kazsat-2", None, "payload", "2026-12-08T02:00:02Z"),
              alert("critical", "kazsat-2", None, "power", "2026-12-08T02:00:03Z"),
              alert("warning", "kazsat-3", "akkol", "link", "2026-12-08T02:00:04Z"),
              alert("critical", None, "kokterek", None, "2026-12-08T02:00:05Z", "stale"),
              alert("warning", "kazsat-2", None, "power", "2026-12-08T02:00:00Z")]
    got = [(key, [a["raised"][-3:-1] for a in rows])
           for key, rows in alert_groups.grouped(mission, alerts)]
    power = mission["subsystems"]["power"]["name"]
    payload = mission["subsystems"]["payload"]["name"]
    link = mission["subsystems"]["link"]["name"]
    assert got == [(("KazSat-2", power), ["03", "00"]),  # critical, then by time
                   (("Kokterek", "telemetry"), ["05"]),
                   (("KazSat-2", payload), ["01", "02"]),
                   (("Akkol → KazSat-3", link), ["04"])]


def test_the_banner_shows_only_in_a_flood() -> None:
    assert alert_groups.flood_text({"active": False, "alarms": 3}) == ""
    text = alert_groups.flood_text({"active": True, "alarms": 50, "threshold": 10,
                                    "window_s": 600.0})
    assert text.startswith("ALARM FLOOD: 50 alarms in the last 10 min (more than 10).")

