"""`kazsat store copy` between real stores: SQLite to PostgreSQL and back."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from backend.store.base import NS, Batch
from backend.store.copy import copy_history, open_endpoint
from tests.databases import database_url
from tests.test_store_contract import T0

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("sealed", [False, True], ids=["rows", "blocks"])
def test_sqlite_to_postgres_and_back(tmp_path, sealed):
    """With `sealed`, each side's history is compacted into blocks before it is read."""
    from backend.settings import Settings

    settings = Settings(data_dir=tmp_path)
    lite = f"sqlite:///{tmp_path / 'a.db'}"
    with database_url("postgres", tmp_path) as pg:
        a = open_endpoint(lite, settings)
        bus = a.registry.find("kazsat-2", None, "bus_voltage").id
        soc = a.registry.find("kazsat-3", None, "battery_soc").id
        a.store.write(Batch([bus] * 12_000, [T0 + i * NS for i in range(12_000)],
                            [float(i) for i in range(12_000)]))
        a.store.write(Batch([soc] * 3, [T0, T0 + 60 * NS, T0 + 120 * NS], [90.0, 91.0, 92.0]))
        if sealed:
            assert a.store.compact(now_ns=2**62) == 12_003
        b = open_endpoint(pg, settings)
        seen = []
        assert copy_history(a, b, progress=lambda d, t, n: seen.append(n)) == 12_003
        assert seen[-1] == 12_003 and seen == sorted(seen)
        if sealed:
            assert b.store.compact(now_ns=2**62) == 12_003
        bus_b = b.registry.find("kazsat-2", None, "bus_voltage").id
        assert b.store.latest()[bus_b] == (T0 + 11_999 * NS, 11_999.0)
        r = b.store.range(bus_b, T0, T0 + 4 * 3600 * NS, 10)  # from rollups built as it went
        assert sum(r.buckets.count) == 12_000 and max(r.buckets.max) == 11_999.0
        assert copy_history(a, b) == 0  # again: nothing new
        b.store.close()
        # and back, through the command, into a fresh SQLite file
        from kazsat.cli import app

        result = CliRunner().invoke(app, ["store", "copy", "--from", pg, "--to",
                                          f"sqlite:///{tmp_path / 'c.db'}"])
        assert result.exit_code == 0, result.output
        assert "12,003" in result.output
        c = open_endpoint(f"sqlite:///{tmp_path / 'c.db'}", settings)
        assert list(c.store.export([c.registry.find("kazsat-3", None, "battery_soc").id],
                                   T0, T0 + 3600 * NS, None))[1][1:] == (T0 + 60 * NS, 91.0)
        for e in (a, c):
            e.store.close()
