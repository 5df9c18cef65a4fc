"""The escalation ladder in words, for the alerts page: where an alert's ladder stands, and
how far a test page got (the API's `escalation` steps, backend/escalation.py)."""

from __future__ import annotations


def hhmm(t: str | None) -> str:
    """'2026-11-25T14:12:03.250Z' -> '14:12 UTC'."""
    return f"{t[11:16]} UTC" if t else ""


def ladder_text(steps: list[dict]) -> str:
    """'escalated to tier 2 at 14:12 UTC · tier 3 due 14:32 UTC', 'paged tier 1 at 14:02
    UTC · stopped at 14:05 UTC: acknowledged by aigerim', or '' with no ladder. Only the
    ladder in force (after an escalation to critical: critical's)."""
    if not steps:
        return ""
    current = _current(steps)
    paged = [s for s in current if s["state"] == "paged"]
    owed = [s for s in current if s["state"] == "owed"]
    stopped = [s for s in current if s["state"] == "stopped"]
    parts = []
    if paged:
        top = paged[-1]
        verb = "paged tier 1" if top["tier"] == 1 else f"escalated to tier {top['tier']}"
        parts.append(f"{verb} at {hhmm(top['at'])}"
                     + ("" if top.get("delivered") else " (not delivered yet)"))
    if owed:
        parts.append(f"tier {owed[0]['tier']} due {hhmm(owed[0]['due'])}")
    elif stopped:
        parts.append(f"stopped at {hhmm(stopped[0]['at'])}: {stopped[0]['reason']}")
    return " · ".join(parts)


def _current(steps: list[dict]) -> list[dict]:
    """The last ladder started: steps from the last tier 1 on."""
    starts = [i for i, s in enumerate(steps) if s["tier"] == 1]
    return steps[starts[-1]:] if starts else steps


def test_text(test: dict) -> str:
    """'Test page 3: tier 1 delivered 14:12 UTC (duty@x) · tier 2 waiting …'."""
    tiers = []
    for s in test.get("steps", []):
        to = ", ".join(s["to"])
        if s.get("delivered"):
            state = f"delivered {hhmm(s['delivered'])}"
        elif s.get("failed"):
            state = f"refused: {s.get('delivery_error') or ''}".strip()
        elif s.get("delivery_error"):
            state = f"not delivered yet: {s['delivery_error']}"
        else:
            state = "waiting for the mail server"
        tiers.append(f"tier {s['tier']} {state} ({to})")
    done = " — every tier delivered" if test.get("delivered") else ""
    return f"Test page {test.get('test')}{done}: " + " · ".join(tiers)
