"""The escalation ladder in words on the alerts page (dashboard/escalation.py), from the
API's steps."""

from __future__ import annotations

from dashboard import escalation as esc


def step(tier: int, state: str, at: str | None = None, due: str = "2026-12-08T14:02:00.000Z",
         reason: str | None = None, delivered: str | None = None) -> dict:
    return {"tier": tier, "tiers": 3, "state": state, "at": at, "due": due, "reason": reason,
            "to": [f"tier{tier}@example.org"], "delivered": delivered}


def test_the_ladder_reads_as_its_last_tier_paged_and_what_comes_next() -> None:
    assert esc.ladder_text([]) == ""
    owed = [step(1, "owed"), step(2, "owed", due="2026-12-08T14:12:00.000Z")]
    assert esc.ladder_text(owed) == "tier 1 due 14:02 UTC"
    t1 = step(1, "paged", "2026-12-08T14:02:01.000Z", delivered="2026-12-08T14:02:02.000Z")
    t2 = step(2, "paged", "2026-12-08T14:12:00.500Z", delivered="2026-12-08T14:12:01.000Z")
    t3 = step(3, "owed", due="2026-12-08T14:32:00.000Z")
    assert esc.ladder_text([t1, t2, t3]) == "escalated to tier 2 at 14:12 UTC · tier 3 due " \
                                            "14:32 UTC"
    stopped = step(3, "stopped", "2026-12-08T14:15:00.000Z", reason="acknowledged by aigerim")
    assert esc.ladder_text([t1, t2, stopped]) == (
        "escalated to tier 2 at 14:12 UTC · stopped at 14:15 UTC: acknowledged by aigerim")
    undelivered = {**t1, "delivered": None}
    assert esc.ladder_text([undelivered]) == "paged tier 1 at 14:02 UTC (not delivered yet)"


def test_after_an_escalation_the_critical_ladder_is_the_one_shown() -> None:
    warning = step(1, "stopped", "2026-12-08T14:05:00.000Z", reason="escalated to critical")
    critical = [step(1, "paged", "2026-12-08T14:05:01.000Z",
                     delivered="2026-12-08T14:05:02.000Z"),
                step(2, "owed", due="2026-12-08T14:15:00.000Z")]
    assert esc.ladder_text([warning, *critical]) == "paged tier 1 at 14:05 UTC · tier 2 due " \
                                                    "14:15 UTC"


def test_a_test_page_reads_tier_by_tier_until_every_one_is_delivered() -> None:
    test = {"test": 4, "delivered": False, "steps": [
        step(1, "paged", "2026-12-08T14:02:01.000Z", delivered="2026-12-08T14:02:02.000Z"),
        {**step(2, "paged", "2026-12-08T14:02:01.000Z"),
         "delivery_error": "connect: ConnectionRefusedError"}]}
    assert esc.test_text(test) == (
        "Test page 4: tier 1 delivered 14:02 UTC (tier1@example.org) · tier 2 not delivered "
        "yet: connect: ConnectionRefusedError (tier2@example.org)")
    test["steps"][1].update(delivered="2026-12-08T14:02:05.000Z", delivery_error=None)
    test["delivered"] = True
    assert esc.test_text(test).startswith("Test page 4 — every tier delivered: tier 1 ")
