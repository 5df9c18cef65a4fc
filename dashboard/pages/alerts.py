"""Alerts page (/alerts)."""

from __future__ import annotations

import dash
from dash import html


def layout(**_: str) -> html.Div:
    return html.Div("Alerts", className="kz-empty")


dash.register_page(__name__, path="/alerts", name="Alerts", title="KazSat · Alerts",
                   order=3, layout=layout)
