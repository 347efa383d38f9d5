"""The *What-if* page: set up a change, run it beside the base, see what breaks.

The knobs become a scenario (:func:`twin.whatif.knobs_scenario`); the base of its period
(:func:`apps.state.base_result`, shared by the server's sessions) and the scenario
(:func:`twin.scenario.run_scenario`) run in the server's what-if pool (:data:`apps.state.WHATIFS`,
one run per core, in the order asked, the page showing its place in the queue) with progress
and a cancel. Base and scenario are compared in the same worker (:func:`comparison`, from
:mod:`twin.scenario_impact`) and shown side by side: difference maps, the metric table, the
violations, low pressures and customers affected; the event loop only fills the widgets. A result can be saved (NetCDF and
the scenario file ``twin scenario run`` reproduces) and any saved result opened again.
"""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from apps import state
from apps.jobs import ASKED, REST, TURNS, Job, in_session, model_batch, show_job
from apps.overlay_map import OverlayMap
from apps.pages.now import TABLE_CSS
from apps.pick_map import PickMap
from apps.snapshot_view import OPENING_TIME
from twin import scenario_impact as impact
from twin.scenario import ScenarioResult, open_result, run_scenario, scenario_yaml
from twin.whatif import PERIODS, WhatIfKnobs, knobs_scenario

OUTAGE_KINDS = ["", "line", "trafo", "feeder", "bus", "pipe", "tank"]
#: The period the page opens with: (month, day) of its first day in the city's year (the
#: *Now* page's opening day), and its length (a key of :data:`twin.whatif.PERIODS`).
OPENING_DAY, OPENING_PERIOD = OPENING_TIME[:2], "a day"

TABLE = {"disabled": True, "show_index": False, "theme": "simple", "layout": "fit_data_table",
         "sizing_mode": "stretch_width", "page_size": 10, "pagination": "local"}


def opening_knobs(year: int) -> WhatIfKnobs:
    """The knobs as the page opens (its period, nothing changed), whose base run the server
    makes before its first session (``apps/serve.py``)."""
    return WhatIfKnobs(start=date(year, *OPENING_DAY), days=PERIODS[OPENING_PERIOD])


def element_options(city, kind: str) -> list[str]:
    """The ids an outage of ``kind`` can name, for the picker."""
    net, wn = city.net, city.wn
    return {"line": [str(i) for i in net.line.index], "trafo": [str(i) for i in net.trafo.index],
            "bus": [str(i) for i in net.bus.index],
            "feeder": sorted({f for f in net.bus.feeder.astype(str) if f.startswith("F")}),
            "pipe": list(wn.pipe_name_list), "tank": list(wn.tank_name_list)}.get(kind, [])


#: The difference maps: (source name, title, colour bar label), in the order of
#: :func:`comparison`'s marks.
DIFFERENCE_MAPS = [("wi-voltage", "Change of each bus's lowest voltage", "Δ p.u."),
                   ("wi-loading", "Change of each line's highest loading", "Δ %"),
                   ("wi-water", "Change of each junction's lowest pressure", "Δ m")]


def comparison(city, base: ScenarioResult, result: ScenarioResult) -> dict:
    """Everything the page shows of a scenario beside its base (pure; a worker thread).

    Returns
    -------
    dict
        ``period`` (text), ``metrics`` (:func:`twin.scenario_impact.metric_table`),
        ``not_converged`` (grid steps), ``customers``, ``events``, ``lows`` (tables for the
        page) and ``marks`` (keyword arguments of :meth:`OverlayMap.mark` per difference map).
    """
    tz = city.timezone
    t = result.dataset.time.values
    t0 = pd.Timestamp(t[0]).tz_localize("UTC").tz_convert(tz)
    t1 = pd.Timestamp(t[-1]).tz_localize("UTC").tz_convert(tz)
    table = impact.metric_table(base, result)
    events = impact.grid_events(result, city)
    lows = impact.low_pressure_junctions(result, city)
    diff = impact.element_differences(base, result)
    junctions = diff["junction"].loc[diff["junction"].index.isin(city.demand_junctions)]
    return {
        "period": f"{t0:%a %d %b %Y %H:%M} – {t1:%a %d %b %H:%M %Z}",
        "metrics": table,
        "not_converged": table.set_index("metric").loc["steps_not_converged", "scenario"],
        "customers": impact.customers_affected(result, city).reset_index(),
        "events": events.assign(start=events.start.astype(str), end=events.end.astype(str))[
            ["element_type", "element", "kind", "start", "duration_h", "worst", "unit"]]
        if len(events) else pd.DataFrame({"violations": ["none"]}),
        "lows": lows.reset_index() if len(lows) else pd.DataFrame({"low pressures": ["none"]}),
        "marks": [{"buses": _marks(diff["bus"], "p.u.", 4)},
                  {"lines": _marks(diff["line"], "%", 1)},
                  {"junctions": _marks(junctions, "m", 2)}],
    }


def difference_maps(city, marks: list[dict]) -> list[OverlayMap]:
    """The :data:`DIFFERENCE_MAPS` of a :func:`comparison`'s ``marks``, built in the worker
    thread that compared the runs: new bokeh figures belong to no document yet, so building
    them needs no lock, and the event loop (every session's) only adds them (0.09 s of
    figure building per run moved off it)."""
    maps = [OverlayMap(city, key, title, unit, diverging=True, height=400)
            for key, title, unit in DIFFERENCE_MAPS]
    for m, kwargs in zip(maps, marks, strict=True):
        m.mark(**kwargs, symmetric=True)
    return maps


def compared(city, base: ScenarioResult, result: ScenarioResult) -> tuple:
    """``(city, base, result, shown, maps)``: a result beside its base (:func:`comparison`)
    and its difference maps, built off the event loop for :meth:`WhatIfPage.show`."""
    shown = comparison(city, base, result)
    return city, base, result, shown, difference_maps(city, shown["marks"])


class WhatIfPage:
    """One session's what-if page; its runs and results belong to this session only."""

    def __init__(self):
        self.city = None
        self._maps: list[OverlayMap] | None = None
        self.base: ScenarioResult | None = None
        self.result: ScenarioResult | None = None
        self.job = Job("the what-if")
        year = state.recipe().year
        w = pn.widgets
        self.name = w.TextInput(name="Name", value="what-if", width=150, css_classes=["wi-name"])
        self.start = w.DatePicker(name="First day", value=date(year, *OPENING_DAY), width=150,
                                  css_classes=["wi-start"])
        self.period = w.Select(name="Period", options=list(PERIODS), value=OPENING_PERIOD,
                               width=120, css_classes=["wi-period"])
        self.ev = w.FloatInput(name="EV share [%]", value=0.0, step=5, width=120,
                               css_classes=["wi-ev"])
        self.pv = w.FloatInput(name="Rooftop PV share [%]", value=0.0, step=5, width=150,
                               css_classes=["wi-pv"])
        self.heat_days = w.FloatInput(name="Heatwave [days]", value=0.0, step=1, width=120,
                                      css_classes=["wi-heat"])
        self.heat_c = w.FloatInput(name="… hotter by [°C]", value=5.0, step=1, width=120,
                                   css_classes=["wi-heat-c"])
        self.outage_kind = w.Select(name="Out of service", options=OUTAGE_KINDS, width=120,
                                    css_classes=["wi-outage-kind"])
        self.outage_element = w.TextInput(name="… which one (id)", width=120,
                                          css_classes=["wi-outage-element"])
        self.outage_pick = w.Select(name="… or pick", options=[], width=120,
                                    css_classes=["wi-outage-pick"])
        self.leak = w.TextInput(name="Leak at junction", width=120, css_classes=["wi-leak"])
        self.leak_pick = w.Select(name="… or pick", options=[], width=100,
                                  css_classes=["wi-leak-pick"])
        self.leak_flow = w.FloatInput(name="… flow [L/s]", value=5.0, step=1, width=110,
                                      css_classes=["wi-leak-flow"])
        self.drought = w.FloatInput(name="Drought restriction [%]", value=0.0, step=5,
                                    width=160, css_classes=["wi-drought"])
        self.pump = w.Select(name="Pump out", options=[""], width=110, css_classes=["wi-pump"])
        # the map to pick the element on is built when first asked for (a figure per session)
        self.pick_toggle = w.Toggle(name="… or click it on the map", width=190, margin=(24, 10),
                                    css_classes=["wi-pick-toggle"])
        self.pick_box = pn.Column(sizing_mode="stretch_width", visible=False,
                                  css_classes=["wi-pick-map"])
        self.hosting = w.Checkbox(name="PV hosting capacity left (about 4 s more a day)",
                                  value=False, css_classes=["wi-hosting"])
        self.run_button = w.Button(name="Run", button_type="primary", width=110,
                                   css_classes=["wi-run"])
        self.cancel_button = w.Button(name="Cancel", disabled=True, width=90,
                                      css_classes=["wi-cancel"])
        self.progress = pn.indicators.Progress(value=0, max=100, visible=False, width=240,
                                               css_classes=["wi-progress"])
        self.status = pn.pane.HTML("", css_classes=["wi-status"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["wi-error"])
        self.warning = pn.pane.Alert("", alert_type="warning", visible=False,
                                     css_classes=["wi-warning"])
        self.title = pn.pane.HTML("", css_classes=["wi-title"], sizing_mode="stretch_width")
        self.metrics = w.Tabulator(None, css_classes=["wi-metrics"], hidden_columns=[
            "description"], widths={"metric": 230, "unit": 70, "base": 105, "scenario": 105,
                                    "delta": 105}, **{**TABLE, "page_size": 30})
        # read-only lists: HTML tables (one model each; a Tabulator is some 15)
        self.events = pn.pane.DataFrame(None, index=False, css_classes=["wi-events"],
                                        sizing_mode="stretch_width", max_height=300,
                                        styles={"overflow-y": "auto"}, stylesheets=[TABLE_CSS])
        self.lows = pn.pane.DataFrame(None, index=False, css_classes=["wi-low-pressure"],
                                      sizing_mode="stretch_width", max_height=300,
                                      styles={"overflow-y": "auto"}, stylesheets=[TABLE_CSS])
        self.customers = w.Tabulator(None, css_classes=["wi-customers"], **TABLE)
        self.maps = pn.Row(sizing_mode="stretch_width", css_classes=["wi-maps"])
        self.notes = pn.pane.HTML("", css_classes=["wi-notes"], sizing_mode="stretch_width")
        self.save_button = w.Button(name="Save result", width=130, css_classes=["wi-save"])
        self.download = w.FileDownload(label="Download scenario file", callback=self._yaml_file,
                                       filename="what-if.yaml", width=200,
                                       css_classes=["wi-download"])
        self.saved_note = pn.pane.HTML("", css_classes=["wi-saved"])
        self.saved = w.Select(name="Saved results", options=self._saved_options(), width=320,
                              css_classes=["wi-saved-list"])
        self.open_button = w.Button(name="Open", width=90, css_classes=["wi-open"])
        self.results = pn.Column(
            self.title, self.warning, self.maps,
            pn.Row(pn.Column(pn.pane.Markdown("#### Metrics: base, scenario, change"),
                             self.metrics, width=660),
                   pn.Column(pn.pane.Markdown("#### Customers affected"), self.customers,
                             pn.pane.Markdown("#### Grid violations"), self.events,
                             pn.pane.Markdown("#### Junctions below the service pressure"),
                             self.lows, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            self.notes, pn.Row(self.save_button, self.download, self.saved_note),
            visible=False, sizing_mode="stretch_width")
        self.outage_kind.param.watch(self._outage_kind_changed, "value")
        self.outage_pick.param.watch(
            lambda e: setattr(self.outage_element, "value", e.new or ""), "value")
        self.leak_pick.param.watch(lambda e: setattr(self.leak, "value", e.new or ""), "value")
        self.pick_toggle.param.watch(self._show_pick_map, "value")
        self.run_button.on_click(self._run)
        self.cancel_button.on_click(lambda _: self.job.cancel())
        self.save_button.on_click(self._save)
        self.open_button.on_click(self._open)
        self.job.param.watch(self._job_state, ["running", "error", "fraction", "message"])
        self.panel = pn.Column(
            pn.pane.Markdown("### What if …\nSet up a change, run it beside the base over the "
                             "same period, and see what breaks. Zero or empty: no change."),
            pn.Row(self.name, self.start, self.period),
            pn.Row(self.ev, self.pv, self.heat_days, self.heat_c),
            pn.Row(self.outage_kind, self.outage_element, self.outage_pick, self.pick_toggle,
                   self.pump),
            self.pick_box,
            pn.Row(self.leak, self.leak_pick, self.leak_flow, self.drought),
            self.hosting,
            pn.Row(self.run_button, self.cancel_button, self.progress, self.status),
            pn.Row(self.saved, self.open_button),
            self.error, self.results, sizing_mode="stretch_width", css_classes=["page-whatif"])
        if state.city_is_ready():
            self._fill_lists(state.city_future().result())

    # ---- lists of the city's elements
    def _fill_lists(self, city):
        self.city = city
        self.leak_pick.options = ["", *city.demand_junctions]
        self.pump.options = ["", *city.wn.pump_name_list]
        self._outage_kind_changed()

    def _outage_kind_changed(self, *_):
        if self.city is not None:
            self.outage_pick.options = ["", *element_options(self.city, self.outage_kind.value)]

    def _show_pick_map(self, *_):
        if self.city is None and state.city_is_ready():  # the page opened before the city
            self._fill_lists(state.city_future().result())
        shown = self.pick_toggle.value
        if shown and not self.pick_box.objects and self.city is not None:
            pick = PickMap(self.city, self.pick)  # a figure of no document yet: any thread

            def show() -> None:
                with model_batch():
                    self.pick_box[:] = [pn.pane.Bokeh(pick.figure, sizing_mode="stretch_width")]
                self.pick_box.visible = shown

            in_session(show)
            return
        self.pick_box.visible = shown

    def pick(self, kind: str, element: str) -> None:
        """An element clicked on the map: it is the one out of service."""
        self.outage_kind.value = kind  # its list of ids follows
        self.outage_element.value = element

    def _saved_options(self) -> dict[str, str]:
        folder = state.results_dir()
        files = sorted(folder.glob("*.nc"), key=lambda p: p.stat().st_mtime, reverse=True) \
            if folder.is_dir() else []
        names = {}
        for f in files:
            label = (f.with_suffix(".yaml").read_text().split("\n", 1)[0].removeprefix("name: ")
                     if f.with_suffix(".yaml").exists() else f.stem)
            names[f"{label} ({f.stem})"] = str(f)
        return {"": "", **names}

    def _job_state(self, *_):
        show_job(self.job, self.run_button, self.cancel_button, self.progress, self.status,
                 self.error)
        self.open_button.disabled = self.job.running

    def knobs(self) -> WhatIfKnobs:
        """The knobs as set on the page."""
        return WhatIfKnobs(
            start=self.start.value, days=PERIODS[self.period.value],
            ev_share_percent=self.ev.value or 0.0, pv_share_percent=self.pv.value or 0.0,
            heatwave_days=self.heat_days.value or 0.0,
            heatwave_delta_c=self.heat_c.value if self.heat_c.value is not None else 5.0,
            outage_kind=self.outage_kind.value or "",
            outage_element=(self.outage_element.value or "").strip(),
            leak_junction=(self.leak.value or "").strip(),
            leak_flow_l_s=self.leak_flow.value or 0.0,
            drought_restriction_percent=self.drought.value or 0.0,
            pump_out=self.pump.value or "", hosting_capacity=self.hosting.value)

    # ---- run
    async def _run(self, *_):
        if self.start.value is None:
            self.job.error = "pick the first day of the period"
            return
        knobs, name, job = self.knobs(), self.name.value.strip() or "what-if", self.job

        def work(cancel):
            scenario = knobs_scenario(knobs, name)
            city = state.city_future().result()

            def tick(offset):
                return lambda stage, done, total: job.progress(
                    offset + done, 2 * total, f"{'base' if offset == 0 else name}: {stage}")

            base = state.base_result(city, scenario, progress=tick(0))
            result = run_scenario(city, scenario, profiles=None, progress=tick(4),
                                  cancel=cancel.is_set)
            return compared(city, base, result)

        await self._run_and_show(work)

    async def _open(self, *_):
        path = self.saved.value
        if not path:
            self.job.error = "pick a saved result to open"
            return

        def work(cancel):
            result = open_result(path)
            city = state.city_future().result()
            base = state.base_result(city, result.scenario)
            return compared(city, base, result)

        await self._run_and_show(work)

    async def _run_and_show(self, work):
        """Run ``work`` (returning :func:`compared`'s tuple) in the what-if pool and show
        its result, if any, in one model batch."""
        out = await self.job.run(work, pool=state.WHATIFS)
        if out is None:
            return
        async with TURNS.turn(ASKED):
            with model_batch():
                self.show(*out)
        # the difference maps follow, each in a turn of its own (some 60 models each)
        maps = out[-1]
        for i, m in enumerate(maps):
            async with TURNS.turn(REST):
                if self._maps is not maps:  # a newer result is shown, or the page closed
                    return
                with model_batch():
                    self.maps[i] = pn.pane.Bokeh(m.figure, sizing_mode="stretch_width")

    def show(self, city, base: ScenarioResult, result: ScenarioResult, shown: dict,
              maps: list[OverlayMap]):
        """Fill the page from a :func:`comparison` and its :func:`difference_maps` (on the
        event loop: widgets only)."""
        self.city, self.base, self.result = city, base, result
        if len(self.leak_pick.options) < 2:
            self._fill_lists(city)
        sc = result.scenario
        self.title.object = (f"<h4>Base and <span class='wi-result-name'>{sc.name}</span> "
                             f"<small>({sc.hash})</small>, {shown['period']}</h4>")
        self.metrics.formatters = dict.fromkeys(["base", "scenario", "delta"],
                                                NumberFormatter(format="0.[000]"))
        self.metrics.value = shown["metrics"]
        failed = shown["not_converged"]
        self.warning.object = (f"**{failed:.0f} grid steps of the scenario did not converge**: "
                               "their values are left out of the figures; the change may be too "
                               "large for the network" if failed else "")
        self.warning.visible = bool(failed)
        self.customers.value = shown["customers"]
        self.events.object = shown["events"]
        self.lows.object = shown["lows"]
        # the figures were built with their marks in the worker (:func:`difference_maps`):
        # they join the document in turns of their own (:meth:`_run_and_show`), in place of
        # the last result's
        self._maps = maps
        self.maps[:] = [pn.pane.HTML("<p>Drawing the map…</p>", width=300) for _ in maps]
        self.notes.object = ("<p><b>What the changes did:</b> " + "; ".join(result.notes)
                             + "</p>") if result.notes else ""
        self.download.filename = f"{sc.name}.yaml"
        self.saved_note.object = ""
        self.results.visible = True

    def release(self) -> None:
        """The page has closed: stop its run and drop its results."""
        self.job.release()
        self.city = self.base = self.result = self._maps = None

    # ---- save
    def _yaml_file(self):
        return io.BytesIO(scenario_yaml(self.result.scenario).encode()) if self.result \
            else io.BytesIO(b"")

    def _save(self, *_):
        if self.result is None:
            return
        try:
            path = self.result.save(state.results_dir())
            path.with_suffix(".yaml").write_text(scenario_yaml(self.result.scenario))
        except OSError as exc:
            self.job.error = f"could not save the result: {exc}"
            return
        self.saved_note.object = (f"saved <code class='wi-saved-path'>{path}</code> and "
                                  f"<code>{path.with_suffix('.yaml').name}</code> (reproduce "
                                  f"with <code>twin scenario run {path.with_suffix('.yaml')}"
                                  "</code>)")
        self.saved.options = self._saved_options()


def _marks(diff: pd.DataFrame, unit: str, digits: int) -> pd.DataFrame:
    """Map marks from an element difference table: colour by the change, hover says all."""
    d = diff.dropna(subset=["delta"])
    return pd.DataFrame({"value": d.delta, "label": [
        f"base {a:.{digits}f} → {b:.{digits}f} {unit} ({c:+.{digits}f})"
        for a, b, c in zip(d.base, d.scenario, d.delta, strict=True)]}, index=d.index)
