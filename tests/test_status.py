"""Series states as the read routes report them (backend.status), against the limit checker:
a gated limit follows one rule live and in replay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import status
from backend.services import Services, build_services
from backend.settings import Settings
from backend.store.base import NS, Batch


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.delenv("KAZSAT_DATABASE_URL", raising=False)
    built = build_services(Settings(_env_file=None, data_dir=tmp_path / "data"))
    yield built
    built.close()


def test_a_gate_never_seen_closes_the_limit_live_and_in_replay(services: Services) -> None:
    """Akkol's carrier lock is an alarm only while Akkol is prime; with no is_prime sample
    at all the gate is unknown, and unknown is closed both live and at a past time."""
    lock = services.registry.find("kazsat-2", "akkol", "carrier_lock")
    t0 = time.time_ns() - 10 * NS
    times = [t0 + i * NS for i in range(5)]  # five samples: past its persistence of 3
    services.limits.observe(Batch([lock.id] * 5, times, [0.0] * 5), times[-1])
    assert services.limits.state(lock.id) == "nominal"
    samples = {lock.id: (times[-1], 0.0)}  # the values at the replayed time: no gate flag
    assert status.series_state(services.registry, services.limits, samples, lock,
                               times[-1], at_ns=times[-1]) == "nominal"
    # With the gate known true, both say critical: the rule is the gate, not the route.
    prime = services.registry.find("kazsat-2", "akkol", "is_prime")
    later = [times[-1] + i * NS for i in range(1, 5)]
    services.limits.observe(Batch([prime.id] + [lock.id] * 3, later, [1.0, 0.0, 0.0, 0.0]),
                            later[-1])
    assert services.limits.state(lock.id) == "critical"
    samples = {lock.id: (later[-1], 0.0), prime.id: (later[0], 1.0)}
    assert status.series_state(services.registry, services.limits, samples, lock,
                               later[-1], at_ns=later[-1]) == "critical"
