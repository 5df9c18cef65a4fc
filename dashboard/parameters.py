"""Lookups over the mission database (as served by GET /api/v1/mission) and value formatting.

Names, units, decimals, groupings, headline figures and limits all come from the mission;
nothing here names a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Mission = dict[str, Any]
Param = dict[str, Any]

def series_key(satellite: str | None, station: str | None, parameter: str) -> str:
    """The key one series has everywhere in the dashboard (cell ids, chart traces)."""
    return f"{satellite or ''}|{station or ''}|{parameter}"


def subsystems(mission: Mission, entity: str) -> list[tuple[str, dict]]:
    """Subsystems of an entity kind (satellite, station, link) in the mission's order."""
    return [(sid, s) for sid, s in mission["subsystems"].items() if s["entity"] == entity]


def parameters(mission: Mission, subsystem: str, satellite: str | None = None) -> list[Param]:
    """Parameters of a subsystem in mission order; per-transponder ones only up to the
    satellite's transponder count."""
    count = mission["satellites"][satellite]["transponders"] if satellite else None
    return [p for p in mission["parameters"].values() if p["subsystem"] == subsystem
            and not (p.get("per_transponder") and count is not None and p["n"] > count)]


def label(p: Param) -> str:
    """A parameter's display name: the mission's short `label`, else its description."""
    return p.get("label") or p["description"]


def template_label(p: Param) -> str:
    """The name of a templated parameter family, e.g. 'TWTA power' for 'TWTA 3 power'."""
    text = label(p)
    if p.get("n") is not None:
        n = str(p["n"])
        words = [w for w in text.split() if w != n]
        text = " ".join(words) if words else text
    return text[:1].upper() + text[1:]


def prime_flag(mission: Mission) -> str | None:
    """The link parameter saying which station holds a satellite's prime link: the boolean
    link parameter that gates the other link parameters' alarms (their `active_when`)."""
    gates = {p.get("active_when") for p in mission["parameters"].values()
             if p["subsystem"] in {s for s, _ in subsystems(mission, "link")}}
    return next((k for k, p in mission["parameters"].items()
                 if k in gates and p["type"] == "bool"
                 and p["subsystem"] in {s for s, _ in subsystems(mission, "link")}), None)


def format_value(p: Param, value: Any) -> str:
    """A value as the mission says to show it: decimals, booleans and enums in words."""
    if value is None:
        return "—"
    kind = p["type"]
    if kind == "bool":
        return "YES" if value else "NO"
    if kind == "enum":
        return str(value).replace("_", " ").upper()
    if kind == "int":
        return f"{int(value):,}"
    decimals = p.get("decimals", 2)
    if decimals >= 6 and value != 0:
        return f"{value:.2e}"  # bit-error rates: 1.00e-09 reads better than 0.000000001
    return f"{value:.{decimals}f}"


def numeric(p: Param, value: Any) -> float | None:
    """A value as a chart plots it: bools 1/0, enums by index (as /series returns them)."""
    if value is None:
        return None
    if p["type"] == "bool":
        return 1.0 if value else 0.0
    if p["type"] == "enum":
        values = p.get("values") or []
        return float(values.index(value)) if value in values else None
    return float(value)


def headlines(mission: Mission, subsystem: str) -> list[str]:
    """Keys or templates (twta_{n}_on) of a subsystem's headline figures: those the mission
    marks `headline: true`, in mission order."""
    return list(dict.fromkeys(p.get("template") or p["key"] for p in mission["parameters"].values()
                              if p["subsystem"] == subsystem and p.get("headline")))


def family(mission: Mission, template: str, satellite: str | None = None) -> list[Param]:
    """Every parameter expanded from one key or template, up to the satellite's count."""
    count = mission["satellites"][satellite]["transponders"] if satellite else None
    return [p for p in mission["parameters"].values()
            if (p.get("template") or p["key"]) == template
            and not (p.get("per_transponder") and count is not None and p["n"] > count)]


@dataclass
class ChartRow:
    """One strip of a strip chart: parameters sharing a unit and limits drawn together."""

    title: str
    unit: str
    params: list[Param] = field(default_factory=list)
    limits: dict = field(default_factory=dict)
    step: bool = False  # bools and enums plotted as steps


def chart_rows(params: list[Param]) -> list[ChartRow]:
    """Group parameters into strips: same template, or same unit and limits, overlay."""
    rows: dict[tuple, ChartRow] = {}
    for p in params:
        if p["type"] in ("bool", "enum"):
            continue  # states are shown in the tables; a strip of 0/1 says little
        limits = p.get("limits") or {}
        group = (p.get("template") or "", p.get("unit", ""), _limits_key(limits)) \
            if p.get("template") else ("", p.get("unit", ""), _limits_key(limits))
        row = rows.get(group)
        if row is None:
            row = rows[group] = ChartRow(title="", unit=p.get("unit", ""), limits=limits)
        row.params.append(p)
    for row in rows.values():
        first = row.params[0]
        row.title = template_label(first) if first.get("template") \
            else _common_title([label(q) for q in row.params])
    return list(rows.values())


def _limits_key(limits: dict) -> tuple:
    return tuple((level, (b or {}).get("low"), (b or {}).get("high"))
                 for level, b in sorted(limits.items()) if b)


def _common_title(names: list[str]) -> str:
    """'North solar-array wing current' + 'South …' -> 'Solar-array wing current'; names
    without most of their words in common are all listed ('Roll error / Pitch error / …')."""
    if len(names) == 1:
        return names[0]
    words = [n.split() for n in names]
    shorter = min(len(w) for w in words)
    tail: list[str] = []
    while len(tail) < shorter and len({w[-1 - len(tail)].lower() for w in words}) == 1:
        tail.insert(0, words[0][-1 - len(tail)])
    # A shared tail names the group only when it is most of the name ("pointing error").
    text = " ".join(tail) if len(tail) >= 2 and len(tail) > shorter / 2 else " / ".join(names)
    return text[:1].upper() + text[1:]
