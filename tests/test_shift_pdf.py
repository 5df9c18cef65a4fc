"""The shift report as a PDF (backend/shift_pdf.py), read back with pypdf: its figures are
those of the raw alert log and samples, and the same shift gives the same bytes."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from backend.services import Services, build_services
from backend.settings import Settings
from backend.shift_pdf import shift_pdf
from backend.shift_report import shift_of
from backend.store.base import NS
from tests.test_shift_email import fill

OUTPUT = Path(__file__).resolve().parent.parent / "artifacts" / "reports"


@pytest.fixture
def services(tmp_path: Path, store_env: dict[str, str],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    for key, value in {"KAZSAT_DATA_DIR": str(tmp_path / "data"), "KAZSAT_STALE_ALERT_S": "0",
                       **store_env}.items():
        monkeypatch.setenv(key, value)
    built = build_services(Settings(_env_file=None))
    yield built
    built.close()


def test_the_pdf_holds_the_shifts_figures(services: Services) -> None:
    start, end = shift_of(services.settings, time.time_ns() - 3 * 86400 * NS)
    fill(services, start, end)
    now = end + 3600 * NS
    args = (services.engine, services.store, services.registry, services.mission,
            services.settings)
    pdf = shift_pdf(*args, start, end, now)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "shift-report.pdf").write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    words = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert reader.metadata is not None and reader.metadata.title.startswith("Shift report ")

    def sql(query: str) -> list[tuple]:
        with services.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query), {"s": start, "e": end})]

    [(raised, critical, warning)] = sql(
        "SELECT count(*), sum(CASE WHEN severity = 'critical' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN severity = 'warning' THEN 1 ELSE 0 END) FROM alerts "
        "WHERE raised_t >= :s AND raised_t < :e")
    [(still,)] = sql("SELECT count(*) FROM alerts WHERE raised_t < :e "
                     "AND (cleared_t IS NULL OR cleared_t >= :e)")
    [(acked,)] = sql("SELECT count(*) FROM alerts WHERE acked_t >= :s AND acked_t < :e")
    assert (raised, critical, warning, still, acked) == (3, 1, 2, 3, 2)
    assert f"Alerts raised: {raised} ({critical} critical, {warning} warning)" in words
    assert f"Acknowledged: {acked}" in words and f"Still open at end: {still}" in words
    for alert_id, by in sql("SELECT id, acked_by FROM alerts WHERE acked_t >= :s "
                            "AND acked_t < :e"):
        assert f"{alert_id} kazsat-2 bus_voltage {by}" in words
    [(lowest,)] = sql("SELECT min(value) FROM samples JOIN series ON series.id = "
                      "samples.series_id WHERE series.satellite = 'kazsat-2' AND "
                      "series.parameter = 'battery_soc' AND t >= :s AND t < :e")
    assert f"kazsat-2 {lowest:.1f}" in words and lowest == 41.5
    [(low, mean)] = sql("SELECT min(value), avg(value) FROM samples JOIN series ON series.id "
                        "= samples.series_id WHERE series.station = 'akkol' AND "
                        "series.satellite = 'kazsat-2' AND series.parameter = 'ebn0_db' "
                        "AND t >= :s AND t < :e")
    assert f"akkol kazsat-2 {low:.1f} {mean:.1f}" in words
    assert shift_pdf(*args, start, end, now + 3600 * NS) == pdf  # asked again: the same
