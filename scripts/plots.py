"""Plots of key parameters over a day and a year, to PNG, for eyeballing the physics.

    .venv/bin/python scripts/plots.py --out artifacts/plots [--seed N]

A developer's tool beside the packages, not in the simulator (which knows nothing of the
backend): it builds the mission document from backend/mission.yaml (or --mission-file) and
needs plotly's static export (kaleido + a Chromium; BROWSER_PATH=/usr/bin/chromium if not found).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orbit.eclipse import eclipse_intervals_ns
from orbit.geometry import to_ns
from simulator.model import Block, Model


def _mission(mission_file: Path | None) -> dict[str, Any]:
    if mission_file:
        return json.loads(mission_file.read_text())
    from backend.mission import load_mission

    return load_mission(Path(__file__).resolve().parents[1] / "backend" / "mission.yaml").document()


def _run(model: Model, t0: int, hours: float, step: float | None, window_h: float) -> list[Block]:
    out: list[Block] = []
    a, end = t0, t0 + int(hours * 3600e9)
    while a < end:
        b = min(a + int(window_h * 3600e9), end)
        out += model.generate(a, b, step)
        a = b
    return out


def _series(blocks: list[Block], key: str, **tags: str) -> tuple[np.ndarray, np.ndarray]:
    parts = [(b.times, b.fields[key]) for b in blocks if key in b.fields and b.tags == tags]
    t = np.concatenate([p[0] for p in parts]).astype("datetime64[ns]")
    return t, np.concatenate([p[1] for p in parts])


def _figure(rows: list[str], title: str):
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=len(rows), cols=1, shared_xaxes=True, subplot_titles=rows, vertical_spacing=0.04
    )
    fig.update_layout(
        title=title,
        height=260 * len(rows),
        width=1300,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.04},
    )
    return fig


def _line(fig, row: int, t, y, name: str, **kw: Any) -> None:
    import plotly.graph_objects as go

    kw.setdefault("mode", "lines")
    fig.add_trace(go.Scatter(x=t, y=y, name=name, line={"width": 1.2}, **kw), row=row, col=1)


def plot_day(mission: dict, out: Path, seed: int) -> list[Path]:
    t0 = to_ns(dt.datetime(2026, 3, 21, 12, tzinfo=dt.UTC))
    model = Model(mission, seed=seed, start_ns=t0)
    blocks = _run(model, t0, 24, step=10, window_h=6)
    sats = list(mission["satellites"])
    files = []

    fig = _figure(
        [
            "solar-array current (A)",
            "battery SOC (%)",
            "battery current (A)",
            "bus voltage (V)",
            "battery voltage (V)",
        ],
        "Power through the equinox eclipses",
    )
    for s in sats:
        for i, k in enumerate(
            [
                "sa_north_current",
                "battery_soc",
                "battery_current",
                "bus_voltage",
                "battery_voltage",
            ],
            1,
        ):
            _line(fig, i, *_series(blocks, k, satellite=s), f"{s} {k}")
        _line(fig, 1, *_series(blocks, "sa_south_current", satellite=s), f"{s} sa_south_current")
    files.append(_save(fig, out / "day_power.png"))

    fig = _figure(
        [
            "panel north / south (°C)",
            "payload panel, battery, tank, OBC (°C)",
            "heater duty (%)",
            "TWTA 1 and 12 temperature (°C)",
        ],
        "Thermal, equinox day",
    )
    for s in sats:
        for k in ("panel_north_temp", "panel_south_temp"):
            _line(fig, 1, *_series(blocks, k, satellite=s), f"{s} {k}")
        for k in ("payload_panel_temp", "battery_temp", "tank_temp", "obc_temp"):
            _line(fig, 2, *_series(blocks, k, satellite=s), f"{s} {k}")
        _line(fig, 3, *_series(blocks, "heater_duty", satellite=s), f"{s} heater")
        for n in (1, 12):
            _line(fig, 4, *_series(blocks, f"twta_{n}_temp", satellite=s), f"{s} twta {n}")
    files.append(_save(fig, out / "day_thermal.png"))

    fig = _figure(["wheel speeds (rpm)", "pointing error (deg)"], "Attitude, equinox day")
    for s in sats:
        for n in range(1, 5):
            _line(fig, 1, *_series(blocks, f"wheel_{n}_speed", satellite=s), f"{s} wheel {n}")
        for k in ("roll_error", "pitch_error", "yaw_error"):
            _line(fig, 2, *_series(blocks, k, satellite=s), f"{s} {k}")
    files.append(_save(fig, out / "day_aocs.png"))

    # Links: a day with a thunderstorm at Akkol (scenario) and whatever rain the seed brings.
    t1 = to_ns(dt.datetime(2026, 4, 14, tzinfo=dt.UTC))
    model = Model(mission, seed=seed, start_ns=t1, scenario="heavy_rain_akkol")
    blocks = _run(model, t1, 24, step=5, window_h=6)
    fig = _figure(
        [
            "Eb/N0 (dB)",
            "rain attenuation (dB)",
            "is prime (offset per link)",
            "frames lost per second",
        ],
        "Links: rain fades and failover (heavy rain at Akkol 00:05)",
    )
    for j, (s, g) in enumerate((s, g) for s in sats for g in mission["stations"]):
        tags = {"station": g, "satellite": s}
        _line(fig, 1, *_series(blocks, "ebn0_db", **tags), f"{g}→{s}")
        _line(fig, 2, *_series(blocks, "rain_attenuation", **tags), f"{g}→{s} rain")
        t, p = _series(blocks, "is_prime", **tags)
        _line(fig, 3, t, p.astype(float) + 1.5 * j, f"{g}→{s} prime")
        _line(fig, 4, *_series(blocks, "frames_lost", **tags), f"{g}→{s} lost")
    files.append(_save(fig, out / "day_links.png"))
    return files


def plot_year(mission: dict, out: Path, seed: int) -> list[Path]:
    t0 = to_ns(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    model = Model(mission, seed=seed, start_ns=t0)
    blocks = _run(model, t0, 365 * 24, step=600, window_h=24 * 10)
    sats = list(mission["satellites"])
    fig = _figure(
        [
            "propellant (kg)",
            "tank pressure (bar)",
            "panel north / south (°C)",
            "eclipse duration (min)",
            "battery SOC, daily minimum (%)",
            "thruster temperature (°C)",
        ],
        "A year (10 min samples)",
    )
    for s in sats:
        _line(fig, 1, *_series(blocks, "propellant_mass", satellite=s), s)
        _line(fig, 2, *_series(blocks, "tank_pressure", satellite=s), s)
        for k in ("panel_north_temp", "panel_south_temp"):
            _line(fig, 3, *_series(blocks, k, satellite=s), f"{s} {k}")
        lon = mission["satellites"][s]["longitude_deg"]
        ecl = eclipse_intervals_ns(lon, t0, t0 + 365 * 86_400 * 10**9)
        _line(
            fig,
            4,
            np.array([a for a, _ in ecl]).astype("datetime64[ns]"),
            [(b - a) / 60e9 for a, b in ecl],
            f"{s} eclipse",
            mode="markers",
        )
        t, soc = _series(blocks, "battery_soc", satellite=s)
        day = t.astype("datetime64[D]")
        days, idx = np.unique(day, return_index=True)
        _line(fig, 5, days, np.minimum.reduceat(soc, idx), f"{s} min SOC")
        _line(fig, 6, *_series(blocks, "thruster_temp", satellite=s), f"{s} thruster")
    return [_save(fig, out / "year.png")]


def _save(fig, path: Path) -> Path:
    fig.write_image(str(path), scale=1)
    return path


def main(
    out: Annotated[Path, typer.Option(help="Directory for the PNG files.")] = Path(
        "artifacts/plots"
    ),
    seed: Annotated[int, typer.Option()] = 0,
    mission_file: Annotated[Path | None, typer.Option()] = None,
) -> None:
    if "BROWSER_PATH" not in os.environ and Path("/usr/bin/chromium").exists():
        os.environ["BROWSER_PATH"] = "/usr/bin/chromium"
    out.mkdir(parents=True, exist_ok=True)
    mission = _mission(mission_file)
    for p in plot_day(mission, out, seed) + plot_year(mission, out, seed):
        print(p)


if __name__ == "__main__":
    typer.run(main)
