"""The shift report over 12 h of full simulated telemetry: how long the report (alert tables,
lowest battery SoC, Eb/N0 per link), its plot and its PDF take to build from the store.

Loads 12 h of both satellites, both stations and all links at full rate from the simulator
(limit checks on, so the alerts are the telemetry's own) into the embedded SQLite store in a
temp folder, adds a busy shift's alert log (1,000 alarms), then builds the report of that
12 h shift several times.

    .venv/bin/python benchmarks/reports.py                 # 12 h, 3 builds
    .venv/bin/python benchmarks/reports.py --hours 1       # a quick look

Prints figures; the target is a 12 h shift's report (with plot and PDF) in under 5 s.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from backend import db
from backend.api.write import ingest_text
from backend.services import build_services
from backend.settings import Settings
from backend.shift_pdf import render
from backend.shift_plot import battery_plot
from backend.shift_report import local_label, report
from backend.store.base import NS
from simulator.lineprotocol import batches
from simulator.model import Model


def main(hours: Annotated[float, typer.Option(help="Simulated hours (the shift).")] = 12.0,
         builds: Annotated[int, typer.Option(help="Timed builds of the report.")] = 3) -> None:
    with tempfile.TemporaryDirectory() as folder:
        services = build_services(Settings(_env_file=None, data_dir=Path(folder),
                                           stale_alert_s=0))
        try:
            # The shift ends a minute ago: every sample is in the past, and limit checked.
            end = (time.time_ns() // (60 * NS)) * 60 * NS - 60 * NS
            start = end - int(hours * 3600) * NS
            model = Model(services.mission.document(), seed=0, start_ns=start)
            t0 = time.perf_counter()
            values = 0
            window = 900 * NS
            for a in range(start, end, window):
                for body, count in batches(model.generate(a, min(a + window, end)),
                                           model.catalogue.params, 20_000):
                    ingest_text(services, body, "ns")
                    values += count
            print(f"loaded {hours:g} h of full telemetry: {values:,} field values in "
                  f"{time.perf_counter() - t0:.1f} s")
            # A busy shift's alert log on top of the telemetry's own: 1,000 alarms, half
            # cleared, a third acknowledged.
            with services.engine.begin() as conn:
                conn.execute(db.alerts.insert(), [
                    {"kind": "limit", "satellite": "kazsat-3", "station": None,
                     "parameter": f"twta_{n % 28 + 1}_helix_current",
                     "severity": "critical" if n % 4 == 0 else "warning", "state": "warning",
                     "value": 11.0, "limit_text": "x", "raised_t": t, "updated_t": t,
                     "cleared_t": t + 600 * NS if n % 2 else None,
                     "acked_t": t + 120 * NS if n % 3 == 0 else None,
                     "acked_by": "oleg" if n % 3 == 0 else None}
                    for n, t in enumerate(range(start, end, (end - start) // 1000))])
            now = end + 60 * NS
            took: dict[str, list[float]] = {"report": [], "plot": [], "pdf": []}
            for _ in range(builds):
                c0 = time.perf_counter()
                r = report(services.engine, services.store, services.registry, start, end,
                           now, mission=services.mission)
                c1 = time.perf_counter()
                png = battery_plot(services.store, services.registry, start, end)
                c2 = time.perf_counter()
                pdf = render(f"Shift report {local_label(services.settings, start, end)}", r,
                             png)
                c3 = time.perf_counter()
                took["report"].append(c1 - c0)
                took["plot"].append(c2 - c1)
                took["pdf"].append(c3 - c2)
            a = r["alerts"]
            print(f"the report: {a['raised']} alerts raised, {len(a['open'])} open, "
                  f"{len(r['ebn0_db'])} links, battery min {r['battery_soc_min']}; "
                  f"PDF {len(pdf):,} bytes")
            for name, xs in took.items():
                print(f"{name:>7}: median {statistics.median(xs):.2f} s, worst {max(xs):.2f} s "
                      f"over {builds} builds")
            total = [sum(x) for x in zip(*took.values(), strict=True)]
            print(f"report + plot + PDF (what the email at a shift change builds): median "
                  f"{statistics.median(total):.2f} s, worst {max(total):.2f} s (target < 5 s)")
        finally:
            services.close()


if __name__ == "__main__":
    typer.run(main)
