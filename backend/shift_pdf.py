"""The shift report as a PDF (reportlab): the figures of backend/shift_report.py in tables,
with the battery plot. Built invariant (no creation date or random document id), so the same
shift gives the same bytes whenever it is asked."""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import Engine

from backend.mission import Mission
from backend.series import SeriesRegistry
from backend.settings import Settings
from backend.shift_plot import battery_plot
from backend.shift_report import compose_summary, local_label, report
from backend.store.base import TelemetryStore


def shift_pdf(engine: Engine, store: TelemetryStore, registry: SeriesRegistry,
              mission: Mission, settings: Settings, start: int, end: int, now: int) -> bytes:
    """The PDF of the shift [start, end) (up to `now` if it is not over)."""
    r = report(engine, store, registry, start, end, now, mission=mission)
    return render(f"Shift report {local_label(settings, start, end)}", r,
                  battery_plot(store, registry, start, end))


def render(title: str, r: dict[str, Any], plot_png: bytes) -> bytes:
    """The report `r` (backend.shift_report.report) under `title`, as PDF bytes."""
    styles = getSampleStyleSheet()
    a = r["alerts"]
    story: list[Any] = [Paragraph(title, styles["Title"]),
                        Paragraph(f"{r['start'][:16]}Z to {r['end'][:16]}Z", styles["Normal"]),
                        Spacer(1, 4 * mm),
                        Image(io.BytesIO(plot_png), width=160 * mm, height=60 * mm),
                        Spacer(1, 4 * mm)]
    story += [Paragraph(line, styles["Normal"]) for line in compose_summary(r)]

    def table(heading: str, head: list[str], rows: list[list[str]]) -> None:
        story.extend([Spacer(1, 4 * mm), Paragraph(heading, styles["Heading3"])])
        if not rows:
            story.append(Paragraph("None.", styles["Normal"]))
            return
        t = Table([head, *rows], hAlign="LEFT")
        t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                               ("FONTSIZE", (0, 0), (-1, -1), 9),
                               ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                               ("ROWBACKGROUNDS", (0, 1), (-1, -1),
                                [colors.white, colors.whitesmoke])]))
        story.append(t)

    table("Acknowledged in the shift", ["Alert", "Alarm", "By", "At (UTC)", "After (min)"],
          [[str(x["id"]), x["alarm"], x["by"] or "", x["at"][:16].replace("T", " "),
            f"{x['after_min']:g}"]
           for x in a["acknowledged"]])
    table("Still open at the end of the shift",
          ["Alert", "Alarm", "Severity", "Open (min)", "Acknowledged by"],
          [[str(x["id"]), x["alarm"], x["severity"], f"{x['open_min']:g}",
            x["acked_by"] or "nobody"] for x in a["open"]])
    table("Lowest battery state of charge", ["Satellite", "Lowest (%)"],
          [[sat, _num(v)] for sat, v in sorted(r["battery_soc_min"].items())])
    table("Eb/N0 per station link", ["Station", "Satellite", "Lowest (dB)", "Mean (dB)"],
          [[x["station"], x["satellite"] or "-", _num(x["min"]), _num(x["mean"])]
           for x in r["ebn0_db"]])
    table("Eclipses in this shift and the next",
          ["Satellite", "Start (UTC)", "End (UTC)", "Minutes", "Shift"],
          [[x["satellite"], x["start"][:16].replace("T", " "), x["end"][:16].replace("T", " "),
            f"{x['minutes']:g}", x["shift"]] for x in r["eclipses"]])
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, title=title, author="KazSat monitor",
                      invariant=True, leftMargin=18 * mm, rightMargin=18 * mm,
                      topMargin=15 * mm, bottomMargin=15 * mm).build(story)
    return out.getvalue()


def _num(x: float | None) -> str:
    return "no data" if x is None else f"{x:.1f}"
