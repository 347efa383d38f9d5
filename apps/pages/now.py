"""The *Now* page: the state of the electricity and water networks at a chosen time.

``?at=2016-01-14 03:00`` in the address opens (and links to) another time. Beside the map, the
chosen feeder's loading and voltage envelope, the chosen DMA's inflow and pressures and the
tanks' levels over the day or week around that time (:func:`twin.timeline.base_timeline`).

:func:`build` runs once per browser session: it builds the page and one
:class:`~apps.snapshot_view.SnapshotView`. The city itself is loaded once per server in
:mod:`apps.state` and shared read-only by all sessions.
"""

from __future__ import annotations

from datetime import date
from functools import partial

import pandas as pd
import panel as pn

from apps import state
from apps.jobs import REST, in_session, model_batch
from apps.network_map import NetworkMap
from apps.series_view import SeriesView
from apps.snapshot_view import SnapshotView, opening_at
from twin.scenario import MAX_LOADING_PERCENT, MIN_SERVICE_PRESSURE_M, VOLTAGE_BAND_PU

OK, BAD = "#1b3a4b", "#c62828"
INF = float("inf")

#: Summary cards: (summary key, title, format, scale to the shown unit, colour thresholds).
#: A card takes the colour of the first threshold its value does not exceed.
CARDS = [
    ("vm_min_pu", "Min voltage", "{value:.3f} p.u.", 1.0,
     [(VOLTAGE_BAND_PU[0], BAD), (VOLTAGE_BAND_PU[1], OK), (INF, BAD)]),
    ("vm_max_pu", "Max voltage", "{value:.3f} p.u.", 1.0,
     [(VOLTAGE_BAND_PU[0], BAD), (VOLTAGE_BAND_PU[1], OK), (INF, BAD)]),
    ("line_loading_max_percent", "Max line loading", "{value:.1f} %", 1.0,
     [(MAX_LOADING_PERCENT, OK), (INF, BAD)]),
    ("grid_import_mw", "Grid import", "{value:.2f} MW", 1.0, None),
    ("losses_mw", "Grid losses", "{value:.1f} kW", 1000.0, None),
    ("pressure_min_m", "Min pressure", "{value:.1f} m", 1.0,
     [(MIN_SERVICE_PRESSURE_M, BAD), (INF, OK)]),
    ("pressure_mean_m", "Mean pressure", "{value:.1f} m", 1.0, None),
    ("demand_l_s", "Water demand", "{value:.0f} L/s", 1.0, None),
    ("pump_kw", "Pump power", "{value:.1f} kW", 1.0, None),
    ("violations", "Violations", "{value:.0f}", 1.0, [(0, "#2e7d32"), (INF, BAD)]),
]
QUARTER_HOURS = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 15, 30, 45)]


TABLE_CSS = ("table {font-size: 12px; border-collapse: collapse; width: 100%}"
             " th, td {padding: 2px 8px; border-bottom: 1px solid #e3e6ea; text-align: right}"
             " th {background: #f4f6f8}")


def violations_table(violations: pd.DataFrame) -> pd.DataFrame:
    """The snapshot's limit violations as shown: type, name, kind, value, limit and unit, the
    values as text to three and two decimals."""
    def fixed(column, digits):
        return [f"{float(x):.{digits}f}" for x in column]

    return violations.drop(columns=["element"]).rename(columns={"element_type": "type"}).assign(
        value=fixed(violations.value, 3), limit=fixed(violations.limit, 2))


def pumps_table(pumps: pd.DataFrame) -> pd.DataFrame:
    """The snapshot's pumps as shown: feeding bus, running or off, flow [L/s], head gain [m]
    and electric power [kW] to one decimal."""
    return pd.DataFrame({
        "pump": pumps.index.astype(str), "bus": pumps.bus.to_numpy(),
        "state": ["running" if kw > 0 else "off" for kw in pumps.power_kw],
        "flow [L/s]": [f"{q * 1000.0:.1f}" for q in pumps.flow_m3s],
        "head [m]": [f"{h:.1f}" for h in pumps.head_m],
        "P [kW]": [f"{kw:.1f}" for kw in pumps.power_kw]})


def _date_and_clock(at: str):
    """Split ``'YYYY-MM-DD HH:MM'`` into a date and a clock string, or ``None``."""
    try:
        day, clock = at.strip().split(" ", 1)
        return date.fromisoformat(day), clock.strip()[:5]
    except ValueError:
        return None


def build():
    """The page for one session: ``(sidebar, main, view, release, start)``; ``start()`` starts
    its work (call it once the page's numbers have joined the document: the map and the
    series come after them), ``release()`` stops it when the session closes."""
    recipe = state.recipe()  # the city's year and clock; a small YAML read, per session
    year = recipe.year
    view = SnapshotView(at=opening_at(year))
    first_day, clock0 = _date_and_clock(view.at)

    # --- time picker ---------------------------------------------------------------------------
    date_picker = pn.widgets.DatePicker(
        name="Date", value=first_day, start=date(year, 1, 1), end=date(year, 12, 31),
        css_classes=["time-date"], sizing_mode="stretch_width")
    clock_picker = pn.widgets.Select(name="Time (15-min step)", options=QUARTER_HOURS,
                                     value=clock0, css_classes=["time-clock"],
                                     sizing_mode="stretch_width")


    def _picked(*_):
        view.at = f"{date_picker.value:%Y-%m-%d} {clock_picker.value}"


    def _at_to_pickers(*_):
        parts = _date_and_clock(view.at)
        if parts and date_picker.start <= parts[0] <= date_picker.end and parts[1] in QUARTER_HOURS:
            date_picker.value, clock_picker.value = parts


    date_picker.param.watch(_picked, "value")
    clock_picker.param.watch(_picked, "value")
    view.param.watch(_at_to_pickers, "at")

    # --- what is shown -------------------------------------------------------------------------
    # the marker classes sit on a Column: a Bokeh pane neither renders them nor can show `loading`
    map_box = pn.Column(name="network-map", css_classes=["citytwin-map"],
                        sizing_mode="stretch_width", min_height=660)
    maps: list[NetworkMap] = []  # the session's map, once it has joined the page


    def _attach_map():
        """The map joins the page once the browser shows the rest. Its hundred-odd Bokeh
        models are half the page: built and sent on their own, the numbers go out first and
        the server's event loop is held for two shorter spells instead of one long one.
        The figure is built where this runs (in Panel's thread when the server has them: it
        belongs to no document yet), it joins the page on the session's own thread."""
        nmap = NetworkMap()
        if view.layers is not None:
            nmap.draw(view.layers)
        maps.append(nmap)

        def show() -> None:
            with model_batch():
                map_box[:] = [pn.pane.Bokeh(nmap.figure, sizing_mode="stretch_width",
                                            min_height=660)]

        in_session(show, REST)
    CARD_STYLE = {"background": "white", "border": "1px solid #d9dee3", "border-radius": "6px",
                  "padding": "4px 10px", "box-shadow": "0 1px 2px rgba(0,0,0,.06)"}
    cards = {
        key: pn.indicators.Number(name=title, value=float("nan"), format=fmt, colors=colors,
                                  default_color=OK, font_size="16pt", title_size="9.5pt",
                                  css_classes=["summary-card", f"summary-{key}"], width=116,
                                  height=62, sizing_mode="fixed", margin=(3, 4), styles=CARD_STYLE)
        for key, title, fmt, _, colors in CARDS
    }


    def _group(label: str, keys: list[str]) -> pn.Column:
        return pn.Column(
            pn.pane.HTML(f"<span style='font-size:10pt;color:#555'>{label}</span>",
                         margin=(0, 6), height=18),
            pn.Row(*(cards[k] for k in keys)), margin=(0, 10, 0, 0))


    card_row = pn.FlexBox(
        _group("Electricity", ["vm_min_pu", "vm_max_pu", "line_loading_max_percent",
                               "grid_import_mw", "losses_mw"]),
        _group("Water", ["pressure_min_m", "pressure_mean_m", "demand_l_s", "pump_kw"]),
        _group("Limits", ["violations"]),
        name="summary", css_classes=["summary-cards"], sizing_mode="stretch_width")
    shown_at = pn.pane.HTML("<h4 style='margin:4px 0'>No state shown yet</h4>", css_classes=["snapshot-time"],
                            margin=(0, 10), sizing_mode="fixed", width=640, height=40,
                            styles={"font-size": "15pt"})
    spinner = pn.indicators.LoadingSpinner(value=False, visible=False, size=24, color="primary",
                                           margin=(6, 6), css_classes=["busy"])
    status = pn.pane.HTML("", css_classes=["status"], styles={"color": "#555"}, margin=(8, 6),
                         sizing_mode="stretch_width")
    error = pn.pane.Alert("", alert_type="danger", visible=False, css_classes=["time-error"])

    # read-only and small: HTML tables (one model each; a Tabulator is some 25 models, and
    # each session's document is built and sent on the server's event loop)
    violations = pn.pane.DataFrame(None, index=False, name="violations", visible=False,
                                   css_classes=["violations-table"], sizing_mode="stretch_width",
                                   max_height=300, styles={"overflow-y": "auto"},
                                   stylesheets=[TABLE_CSS])
    no_violations = pn.pane.HTML(
        f"<p class='ok'>None: every bus within {VOLTAGE_BAND_PU[0]:.2f}–{VOLTAGE_BAND_PU[1]:.2f}"
        f" p.u., every line and transformer at or below {MAX_LOADING_PERCENT:.0f} %, every"
        f" demand junction at or above {MIN_SERVICE_PRESSURE_M:.0f} m.</p>",
        css_classes=["no-violations"], visible=False, sizing_mode="stretch_width")
    pumps = pn.pane.DataFrame(None, index=False, name="pumps", visible=False,
                              css_classes=["pumps-table"], sizing_mode="stretch_width",
                              stylesheets=[TABLE_CSS])


    def _show(*_):
        snap = view.snapshot
        if snap is None:
            return
        for key, _, _, scale, _ in CARDS:
            cards[key].value = float(snap.summary[key]) * scale
        local = f"{snap.at_local:%a %d %b %Y, %H:%M %Z}"
        shown_at.object = (
            f"<h4 style='margin:4px 0'>State at <span class='at-local'>{local}</span>"
            f" <small style='color:#666'>({snap.at_utc:%H:%M} UTC)</small></h4>")
        violations.object = violations_table(snap.violations)
        violations.visible = not snap.violations.empty
        no_violations.visible = snap.violations.empty
        pumps.object = pumps_table(snap.pumps)
        pumps.visible = True
        if maps:  # bokeh models in a document change only under its lock: the next tick
            pn.state.execute(partial(maps[0].draw, view.layers), schedule=True)


    def _busy(*_):
        spinner.value = spinner.visible = view.busy
        status.object = view.status
        for pane in (map_box, card_row):
            pane.loading = view.busy and view.snapshot is None


    def _error(*_):
        error.object = f"**{view.error}**" if view.error else ""
        error.visible = bool(view.error)


    view.param.watch(_show, "snapshot")
    view.param.watch(_busy, ["busy", "status"])
    view.param.watch(_error, "error")
    _busy()

    state.city_future()  # start loading the city now (at server start with `panel serve --warm`)
    if pn.state.location is not None:
        pn.state.location.sync(view, {"at": "at"})

    # --- page ----------------------------------------------------------------------------------
    sidebar = [
        pn.pane.Markdown(f"### Time\nCity time ({recipe.timezone}) of the year the twin holds.",
                         sizing_mode="stretch_width"),
        date_picker,
        clock_picker,
        pn.pane.Markdown(
            "### Colours\n"
            f"- **Buses**: voltage, white at 1.00 p.u., blue to {VOLTAGE_BAND_PU[0]:.2f} p.u.,"
            f" red to {VOLTAGE_BAND_PU[1]:.2f} p.u. (the allowed band)\n"
            f"- **MV lines**: loading, green 0 % to red {MAX_LOADING_PERCENT:.0f} %\n"
            "- **Junctions**: pressure [m]\n"
            "- **Pumps**: filled when running; the dotted line goes to the bus that feeds them\n\n"
            "Hover over an element for its name and values; click a legend entry to hide a layer.",
            sizing_mode="stretch_width"),
    ]
    # a warm server that has shown this time before: the numbers and the map go out with the
    # page itself; else the first solve starts once the page is in the browser. The series
    # wait for the browser either way (before it connects, Panel defers every change and a
    # job's progress poll would re-schedule itself on every tick of the event loop)
    shown = view.show_if_solved()
    series = SeriesView(view)

    def start() -> None:
        """Start the page's work: the map, and the series (or the solve, when the server has
        not solved the time yet) once the page is in the browser."""
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.onload(_attach_map)
            pn.state.onload(series.refresh if shown else view.refresh)
        else:  # not served (a test building the page): whole at once
            _attach_map()
    main = [
        pn.Row(shown_at, spinner, status, sizing_mode="stretch_width"),
        error,
        card_row,
        pn.Row(map_box, series.panel, sizing_mode="stretch_width"),
        pn.Row(
            pn.Column(pn.pane.Markdown("#### Limit violations", margin=(0, 10)), violations,
                      no_violations, sizing_mode="stretch_width"),
            pn.Column(pn.pane.Markdown("#### Pumps", margin=(0, 10)), pumps, width=520),
            sizing_mode="stretch_width"),
    ]
    return sidebar, main, view, series.job.release, start
