"""Panels shared by the live pages and replay: a station with its links, a satellite's
subsystem tiles, a satellite's parameter tables. Each panel has a layout function and a
`*_cells` function that fills its cells from a snapshot, so live and replay draw the same."""

from __future__ import annotations

from dash import dcc, html

from dashboard import parameters as pm
from dashboard.snapshot import Model, Snapshot, worst
from dashboard.widgets import figure_line, initial, param_row, state_tile, value_cell

# ---- stations --------------------------------------------------------------------------


def station_panel(page: str, mission: pm.Mission, station: str) -> html.Section:
    """A station: its equipment, and per satellite its link with the prime marked."""
    st = mission["stations"][station]
    equipment = [figure_line(page, pm.series_key(None, station, p["key"]), pm.label(p),
                             p.get("unit", ""))
                 for sub, _ in pm.subsystems(mission, "station")
                 for p in pm.parameters(mission, sub)]
    links = [link_block(page, mission, station, sat) for sat in mission["satellites"]]
    return html.Section([
        html.Div([dcc.Link(st["name"], href=f"/station/{station}", className="kz-h2"),
                  html.Span(st["role"].upper(), className=f"kz-role kz-role-{st['role']}")],
                 className="kz-panel-head"),
        state_tile(page, f"tile|{station}", "Equipment", equipment,
                   href=f"/station/{station}"),
        html.Div(links, className="kz-links"),
    ], className="kz-panel kz-station")


def link_block(page: str, mission: pm.Mission, station: str, sat: str) -> html.Div:
    figures = [figure_line(page, pm.series_key(sat, station, k), pm.label(p), p.get("unit", ""))
               for k in pm.headlines(mission, "link") if k != pm.prime_flag(mission)
               for p in [mission["parameters"][k]]]
    return html.Div([
        html.Div([html.Span(f"→ {mission['satellites'][sat]['name']}", className="kz-h3"),
                  prime_badge(page, station, sat)], className="kz-link-head"),
        state_tile(page, f"tile|{station}|{sat}", "Link", figures),
    ], className="kz-link")


def prime_badge(page: str, station: str, sat: str) -> html.Div:
    """'★ PRIME — IN CONTROL' filled and glowing, or a dim 'standby': beyond doubt."""
    key = f"prime|{station}|{sat}"
    text, code, _ = initial(key, "")
    return html.Div(html.Span(text, id={"kz": "v", "page": page, "key": key}, className="kz-num"),
                    id={"kz": "vc", "page": page, "key": key}, className=f"kz-prime kz-{code}")


def station_cells(snap: Snapshot, model: Model, station: str) -> None:
    mission = snap.mission
    keys = [pm.series_key(None, station, p["key"]) for sub, _ in pm.subsystems(mission, "station")
            for p in pm.parameters(mission, sub)]
    for k in keys:
        model.series(snap, k)
    model.cell(f"tile|{station}", "", snap.worst(keys))
    for sat in mission["satellites"]:
        link_keys = [pm.series_key(sat, station, p["key"])
                     for p in pm.parameters(mission, "link")]
        for k in pm.headlines(mission, "link"):
            model.series(snap, pm.series_key(sat, station, k))
        model.cell(f"tile|{station}|{sat}", "", snap.worst(link_keys))
        flag = pm.prime_flag(mission) or ""
        prime = snap.value(pm.series_key(sat, station, flag))
        prime_state = snap.state(pm.series_key(sat, station, flag))
        if prime_state == "stale" or prime is None:
            model.cell(f"prime|{station}|{sat}", "? PRIME UNKNOWN", "stale")
        else:
            model.cells[f"prime|{station}|{sat}"] = (
                ["★ PRIME — IN CONTROL", "p"] if prime else ["standby", "n"])


# ---- satellites: summary tiles ---------------------------------------------------------


def satellite_summary(page: str, mission: pm.Mission, sat: str) -> html.Section:
    """A satellite: one tile per subsystem with its headline figures, the prime station,
    and the next (or current) eclipse."""
    s = mission["satellites"][sat]
    tiles = []
    for sub, info in pm.subsystems(mission, "satellite"):
        figures = []
        for k in pm.headlines(mission, sub):
            fam = pm.family(mission, k, sat)
            if not fam:
                continue
            p = fam[0]
            key = pm.series_key(sat, None, k) if len(fam) == 1 else f"agg|{sat}|{k}"
            name = pm.label(p) if len(fam) == 1 else pm.template_label(p)
            figures.append(figure_line(page, key, name, p.get("unit", "")))
        figures.append(html.Div(value_cell(page, f"alarms|{sat}|{sub}", size="sm"),
                                className="kz-alarms"))
        tiles.append(state_tile(page, f"tile|{sat}|{sub}", info["name"], figures,
                                href=f"/satellite/{sat}#{sub}"))
    return html.Section([
        html.Div([dcc.Link(s["name"], href=f"/satellite/{sat}", className="kz-h2"),
                  html.Span(f"{s['longitude_deg']:.1f}° E", className="kz-sub"),
                  html.Div([html.Span("Prime", className="kz-fig-label"),
                            value_cell(page, f"primeby|{sat}", size="md")],
                           className="kz-inline"),
                  html.Div([html.Span("Eclipse", className="kz-fig-label"),
                            value_cell(page, f"eclipse|{sat}", size="md")],
                           className="kz-inline")],
                 className="kz-panel-head"),
        html.Div(tiles, className="kz-tiles"),
    ], className="kz-panel kz-satellite")


def satellite_summary_cells(snap: Snapshot, model: Model, sat: str) -> None:
    mission = snap.mission
    for sub, _ in pm.subsystems(mission, "satellite"):
        params = pm.parameters(mission, sub, sat)
        keys = [pm.series_key(sat, None, p["key"]) for p in params]
        for k in pm.headlines(mission, sub):
            fam = pm.family(mission, k, sat)
            if len(fam) == 1:
                model.series(snap, pm.series_key(sat, None, k))
            elif fam:
                aggregate_cell(snap, model, f"agg|{sat}|{k}", sat, fam)
        model.cell(f"tile|{sat}|{sub}", "", snap.worst(keys))
        alarms_cell(snap, model, f"alarms|{sat}|{sub}", params, sat)
    flag = pm.prime_flag(mission) or ""
    rows = {st: snap.row(pm.series_key(sat, st, flag)) for st in mission["stations"]}
    primes = [mission["stations"][st]["name"] for st, r in rows.items()
              if r and r["state"] != "stale" and r["value"] is True]
    if not primes and not any(r and r["state"] != "stale" for r in rows.values()):
        model.cell(f"primeby|{sat}", "? PRIME UNKNOWN", "stale")  # no station reports
    elif len(primes) == 1:
        model.cell(f"primeby|{sat}", f"★ {primes[0]}", "nominal")
    else:
        model.cell(f"primeby|{sat}", "NO PRIME STATION" if not primes
                   else "TWO PRIME: " + " + ".join(primes), "critical")


def aggregate_cell(snap: Snapshot, model: Model, key: str, sat: str, fam: list[dict]) -> None:
    """A family of per-transponder values in one figure: how many on, or the range."""
    p = fam[0]
    rows = [snap.row(pm.series_key(sat, None, f["key"])) for f in fam]
    values = [r["value"] for r in rows if r and r["state"] != "stale"]
    state = worst(r["state"] if r else None for r in rows)
    if not values:
        model.cell(key, "—", state)
    elif p["type"] == "bool":
        model.cell(key, f"{sum(1 for v in values if v)}/{len(fam)} on", state)
    elif p["type"] in ("float", "int"):
        lo, hi = pm.format_value(p, min(values)), pm.format_value(p, max(values))
        model.cell(key, lo if lo == hi else f"{lo}–{hi}", state)
    else:
        model.cell(key, pm.format_value(p, values[0]), state)


def alarms_cell(snap: Snapshot, model: Model, key: str, params: list[dict],
                sat: str | None, station: str | None = None) -> None:
    """Names and values of what is out of limits in a tile (or nothing when all is well)."""
    out = []
    for p in params:
        row = snap.row(pm.series_key(sat, station, p["key"]))
        if row and row["state"] in ("warning", "critical"):
            out.append((row["state"], f"{pm.label(p)} {pm.format_value(p, row['value'])}"
                        f"{' ' + p['unit'] if p.get('unit') else ''}"))
    out.sort(key=lambda x: x[0] != "critical")
    text = " · ".join(t for _, t in out[:2]) + (f" · +{len(out) - 2} more" if len(out) > 2 else "")
    model.cell(key, text, out[0][0] if out else None)


def eclipse_cell(model: Model, sat: str, eclipse: dict | None, now: str) -> None:
    """Next eclipse start and duration, or the time left in the current one; '—' when the
    backend does not serve eclipses yet."""
    from dashboard.snapshot import parse_time

    if not eclipse or not now:
        model.cell(f"eclipse|{sat}", "—", None)
        return
    start, end, t = parse_time(eclipse["start"]), parse_time(eclipse["end"]), parse_time(now)
    minutes = (end - start).total_seconds() / 60
    if start <= t < end:
        left = int((end - t).total_seconds())
        model.cell(f"eclipse|{sat}", f"IN ECLIPSE · {left // 60} min {left % 60:02d} s left",
                   "warning")
    elif t < end:
        model.cell(f"eclipse|{sat}", f"{start:%d %b %H:%M} UTC · {minutes:.0f} min", None)
    else:
        model.cell(f"eclipse|{sat}", "none ahead", None)


# ---- satellites: every parameter -------------------------------------------------------


def subsystem_table(page: str, mission: pm.Mission, sat: str, sub: str) -> html.Table:
    """Every non-transponder parameter of a subsystem: name, value and unit, state, limits."""
    from dashboard.widgets import limits_text

    rows = [param_row(page, pm.series_key(sat, None, p["key"]), pm.label(p), p.get("unit", ""),
                      limits_text(p))
            for p in pm.parameters(mission, sub, sat) if not p.get("per_transponder")]
    return html.Table(html.Tbody(rows), className="kz-table")


def transponder_table(page: str, mission: pm.Mission, sat: str, sub: str) -> html.Table | None:
    """One row per transponder, one column per per-transponder parameter family."""
    params = [p for p in pm.parameters(mission, sub, sat) if p.get("per_transponder")]
    if not params:
        return None
    templates = list(dict.fromkeys(p["template"] for p in params))
    heads = {t: next(p for p in params if p["template"] == t) for t in templates}
    count = mission["satellites"][sat]["transponders"]
    firsts = {(pm.template_label(heads[t]).split() or [""])[0] for t in templates}
    header = html.Tr([html.Th("#")] + [
        html.Th(f"{_column(pm.template_label(heads[t]), firsts)}"
                f"{' (' + heads[t]['unit'] + ')' if heads[t].get('unit') else ''}")
        for t in templates])
    body = [html.Tr([html.Td(str(n), className="kz-label")] + [
        html.Td(value_cell(page, pm.series_key(sat, None, t.replace("{n}", str(n))), size="sm"))
        for t in templates]) for n in range(1, count + 1)]
    return html.Table([html.Thead(header), html.Tbody(body)], className="kz-table kz-xpdr")


def _column(name: str, first_words: set[str]) -> str:
    """A transponder table's column: the family's name without the first word when every
    column starts with it ('TWTA power' -> 'Power'); a name of that word alone stays."""
    words = name.split()
    if len(first_words) != 1 or len(words) < 2:
        return name
    rest = " ".join(words[1:])
    return rest[:1].upper() + rest[1:]


def link_table(page: str, mission: pm.Mission, sat: str) -> html.Table:
    """The satellite's links: one column per station."""
    stations = list(mission["stations"])
    header = html.Tr([html.Th("")] + [html.Th(mission["stations"][s]["name"]) for s in stations])
    body = [html.Tr([html.Td(pm.label(p) + (f" ({p['unit']})" if p.get("unit") else ""),
                             className="kz-label")]
                    + [html.Td(value_cell(page, pm.series_key(sat, s, p["key"]), size="sm"))
                       for s in stations])
            for p in pm.parameters(mission, "link")]
    return html.Table([html.Thead(header), html.Tbody(body)], className="kz-table")


def satellite_detail_cells(snap: Snapshot, model: Model, sat: str) -> None:
    """Every series of the satellite and its links, and one state per subsystem tile."""
    mission = snap.mission
    for sub, _ in pm.subsystems(mission, "satellite"):
        params = pm.parameters(mission, sub, sat)
        keys = [pm.series_key(sat, None, p["key"]) for p in params]
        for k in keys:
            model.series(snap, k)
        model.cell(f"tile|{sat}|{sub}", "", snap.worst(keys))
        alarms_cell(snap, model, f"alarms|{sat}|{sub}", params, sat)
    link_keys = [pm.series_key(sat, st, p["key"]) for st in mission["stations"]
                 for p in pm.parameters(mission, "link")]
    for k in link_keys:
        model.series(snap, k)
    model.cell(f"tile|{sat}|link", "", snap.worst(link_keys))
