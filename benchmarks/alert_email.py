"""What a richer alert email costs: drawing its plot (an hour of 1 s samples from the SQL
store, with the limit lines, as the outbox sender does before the first attempt), and the
flood check each emailed raise makes, over an alerts table with a flood's worth of rows.

    .venv/bin/python benchmarks/alert_email.py            # 20 plots, 1,000 flood checks

Prints figures (median and worst, ms); nothing is asserted.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend import db, flood
from backend.alert_plot import PlotSpec, Plotter
from backend.api.write import ingest_text
from backend.services import build_services
from backend.settings import Settings
from backend.store.base import NS


def main(plots: int = 20, checks: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as folder:
        services = build_services(Settings(_env_file=None, data_dir=Path(folder),
                                           stale_alert_s=0))
        try:
            end = time.time_ns() - 60 * NS
            start = end - 3600 * NS
            body = "\n".join(f"power,satellite=kazsat-2 bus_voltage={100 + (i % 300) / 200:.3f} "
                             f"{start + i * NS}" for i in range(3600))
            ingest_text(services, body, "ns")
            info = services.registry.find("kazsat-2", None, "bus_voltage")
            assert info is not None
            plotter = Plotter(services.store, services.mission)
            spec = PlotSpec(info.id, "bus_voltage", "KazSat-2 bus_voltage", end,
                            info.parameter.limits.model_dump())
            plotter(spec)  # the first draw loads fonts: not counted
            took = []
            for _ in range(plots):
                t0 = time.perf_counter()
                png = plotter(spec)
                took.append((time.perf_counter() - t0) * 1000)
            print(f"plot of 3,600 samples: median {statistics.median(took):.1f} ms, worst "
                  f"{max(took):.1f} ms over {plots} draws; {len(png):,} bytes")
            with services.engine.begin() as conn:
                conn.execute(db.alerts.insert(), [
                    {"kind": "limit", "satellite": "kazsat-3", "station": None,
                     "parameter": f"twta_{n % 28 + 1}_helix_current", "severity": "critical",
                     "state": "critical", "value": 11.0, "limit_text": "x",
                     "raised_t": end - n * NS, "updated_t": end - n * NS}
                    for n in range(500)])
            took = []
            with services.engine.connect() as conn:
                for _ in range(checks):
                    t0 = time.perf_counter()
                    flood.flood(conn, services.settings, end)
                    took.append((time.perf_counter() - t0) * 1000)
            print(f"flood check over 500 alarms in the window: median "
                  f"{statistics.median(took):.3f} ms, worst {max(took):.3f} ms over "
                  f"{checks} checks")
        finally:
            services.close()


if __name__ == "__main__":
    main()
