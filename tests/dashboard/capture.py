"""Makes answers.json, the API answers the dashboard's unit tests draw from: a real API
process (kazsat/stack.py) is fed one known picture of the fleet and asked what the dashboard
asks. Run it again when the API's answers or the mission change (a test says when):

    python -m tests.dashboard.capture

The picture at the moment T of the capture; everything else nominal (tests/browser/feed.py),
and a full nominal set ten minutes before T is the history:
- KazSat-2: bus voltage 104 V (critical), battery 27 °C (warning), TWTA 3 off; Kokterek
  claims its prime link as well as Akkol (two prime stations).
- KazSat-3: Akkol, its prime station, has lost carrier lock; Kokterek's link to it has sent
  nothing since the history (stale).

The mission itself (GET /api/v1/mission, 100 KB) is not kept: tests/dashboard/conftest.py
builds it with the API's own code.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path

import orjson

from dashboard.snapshot import format_time
from kazsat.stack import Stack
from tests.browser.feed import Feeder

OUT = Path(__file__).with_name("answers.json")
S = 1_000_000_000
BREACHES = {("kazsat-2", None, "bus_voltage"): 104.0, ("kazsat-2", None, "battery_temp"): 27.0,
            ("kazsat-2", None, "twta_3_on"): False, ("kazsat-2", "kokterek", "is_prime"): True,
            ("kazsat-3", "akkol", "carrier_lock"): False}
SILENT = ("kazsat-3", "kokterek")  # this link's series are not written at T
CHARTED = ["bus_voltage", "battery_temp"]  # their history, raw and in buckets


def capture(data_dir: Path) -> dict:
    stack = Stack(data_dir)
    stack.start_api()
    try:
        feeder = Feeder(stack)
        t = time.time_ns()
        history = t - 600 * S
        assert stack.write(feeder.lines(history)).status_code == 204
        silent = f"satellite={SILENT[0]},station={SILENT[1]}"
        lines = [line for line in feeder.lines(t).splitlines() if silent not in line]
        assert stack.write("\n".join(lines)).status_code == 204
        for series, value in BREACHES.items():
            feeder.breach(series, value)
        # Geostationary eclipses come in seasons around the equinoxes: ask for the next
        # March equinox's days, so that the answer holds some.
        year = dt.datetime.now(dt.UTC).year + 1
        with stack.client() as c:
            def get(path: str, **params: object) -> dict:
                r = c.get(path, params=params)
                assert r.status_code == 200, r.text
                return r.json()

            return {
                "latest": get("/api/v1/latest"),
                "latest_at": get("/api/v1/latest", station="akkol", at=_time(history + S // 2)),
                "alerts": get("/api/v1/alerts", status="all"),
                "series": get("/api/v1/series", parameter=CHARTED, satellite="kazsat-2",
                              start=_time(history - S)),
                "series_buckets": get("/api/v1/series", parameter=CHARTED,
                                      satellite="kazsat-2", start=_time(history - S),
                                      max_points=2),
                "eclipses": get("/api/v1/eclipses", start=f"{year}-03-20T00:00:00Z",
                                end=f"{year}-03-21T00:00:00Z"),
            }
    finally:
        stack.stop()


def _time(t_ns: int) -> str:
    return format_time(dt.datetime.fromtimestamp(t_ns / S, dt.UTC))


def dump(answers: dict) -> bytes:
    """JSON with one list item (a series row, an alert) per line: small, and diffs read well."""
    parts = []
    for name, body in answers.items():
        fields = []
        for key, value in body.items():
            if isinstance(value, list) and value:
                items = ",\n".join(f"   {orjson.dumps(v).decode()}" for v in value)
                fields.append(f'  "{key}": [\n{items}\n  ]')
            else:
                fields.append(f'  "{key}": {orjson.dumps(value).decode()}')
        parts.append(f' "{name}": {{\n' + ",\n".join(fields) + "\n }")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        answers = capture(Path(tmp) / "data")
    OUT.write_bytes(dump(answers))
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")
