"""The alert list grouped as the flood digest groups it (backend/flood.py): by satellite or
station and subsystem, the group with the most severe alert first, then the larger."""

from __future__ import annotations

RANK = {"critical": 2, "warning": 1}


def group_name(mission: dict | None, a: dict) -> tuple[str, str]:
    """('KazSat-2', 'Power'), ('Akkol → KazSat-3', 'Link'), ('Kokterek', 'telemetry')."""
    def name(kind: str) -> str | None:
        key = a.get(kind)
        return ((mission or {}).get(f"{kind}s", {}).get(key) or {}).get("name", key) \
            if key else None

    sat, sta = name("satellite"), name("station")
    where = f"{sta} → {sat}" if sat and sta else (sat or sta or "Monitor")
    subsystem = a.get("subsystem")
    if subsystem:
        label = ((mission or {}).get("subsystems", {}).get(subsystem) or {}).get(
            "name", subsystem)
    else:
        label = "telemetry" if a.get("kind") == "stale" else "monitor"
    return where, label


def grouped(mission: dict | None, alerts: list[dict]) -> list[tuple[tuple[str, str],
                                                                      list[dict]]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for a in alerts:
        groups.setdefault(group_name(mission, a), []).append(a)
    for rows in groups.values():
        rows.sort(key=lambda a: (-RANK.get(a.get("severity", ""), 0), a.get("raised", "")))
    return sorted(groups.items(), key=lambda kv: (
        -max(RANK.get(a.get("severity", ""), 0) for a in kv[1]), -len(kv[1]), kv[0]))


def flood_text(flood: dict) -> str:
    """The banner while alarms are in flood; '' otherwise."""
    if not flood.get("active"):
        return ""
    return (f"ALARM FLOOD: {flood['alarms']} alarms in the last "
            f"{flood['window_s'] / 60:g} min (more than {flood['threshold']}). Email comes as "
            f"digests; the list is grouped by satellite, station and subsystem, most severe "
            f"first.")
