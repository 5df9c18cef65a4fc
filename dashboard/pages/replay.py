"""Replay page (/replay)."""

from __future__ import annotations

import dash
from dash import html


def layout(**_: str) -> html.Div:
    return html.Div("Replay", className="kz-empty")


dash.register_page(__name__, path="/replay", name="Replay", title="KazSat · Replay",
                   order=4, layout=layout)
