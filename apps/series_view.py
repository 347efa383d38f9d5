"""Time series beside the *Now* map: a feeder, a DMA and the tanks over the day or week.

The window is solved once per server, time and window length (:func:`apps.state.timeline`,
i.e. :func:`twin.timeline.base_timeline` in a solver thread, shared read-only by the sessions);
picking another feeder or DMA only reads another slice of it
(:func:`twin.electric.feeder_series.feeder_series`, :func:`twin.water.zone_series.dma_series`),
and its plots are built in a worker thread too (:func:`series_figures`).
Times are shown on the city's clock.
"""

from __future__ import annotations

import asyncio
import threading

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
from bokeh.document import Document
from bokeh.models import DatetimeTickFormatter, FixedTicker, HoverTool, Toolbar

from apps import state
from apps.jobs import REST, TURNS, Job, model_batch
from apps.network_map import lean
from twin.electric.feeder_series import feeder_names, feeder_series
from twin.scenario import MAX_LOADING_PERCENT, MIN_SERVICE_PRESSURE_M, VOLTAGE_BAND_PU
from twin.water.zone_series import dma_series, tank_levels_m

WINDOWS = {"the day": 1, "the week around it": 7}
#: The window the series open with (a key of :data:`WINDOWS`).
OPENING_WINDOW = "the day"
PLOT = {"height": 180, "width": 305, "grid": True, "xlabel": "", "legend": "top_left",
        "fontsize": {"title": "10pt", "labels": "9pt", "xticks": "8pt", "yticks": "8pt"}}


def _local(frame: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The frame with its UTC index on the city's clock (naive, for the plot's axis)."""
    return frame.set_axis(frame.index.tz_convert(timezone).tz_localize(None), axis=0)


class SeriesView:
    """Feeder, DMA and tank plots for one session's :class:`~apps.snapshot_view.SnapshotView`."""

    def __init__(self, view):
        self.view = view
        self.timeline = None
        self._key = None
        self._drawing = 0
        self.job = Job("solving the window")
        self.window = pn.widgets.RadioButtonGroup(name="Window", options=list(WINDOWS),
                                                  value=OPENING_WINDOW,
                                                  css_classes=["series-window"])
        self.feeder = pn.widgets.Select(name="Feeder", options=[], css_classes=["series-feeder"],
                                        width=140)
        self.dma = pn.widgets.Select(name="DMA", options=[], css_classes=["series-dma"],
                                     width=140)
        self.summary = pn.pane.HTML("", css_classes=["series-summary"],
                                    sizing_mode="stretch_width")
        self.message = pn.pane.Alert("", alert_type="danger", visible=False,
                                     css_classes=["series-error"])
        self.loading_plot = pn.pane.Bokeh(None, css_classes=["series-loading-plot"])
        self.voltage_plot = pn.pane.Bokeh(None, css_classes=["series-voltage-plot"])
        self.inflow_plot = pn.pane.Bokeh(None, css_classes=["series-inflow-plot"])
        self.pressure_plot = pn.pane.Bokeh(None, css_classes=["series-pressure-plot"])
        self.tank_plot = pn.pane.Bokeh(None, css_classes=["series-tank-plot"])
        self.progress = pn.indicators.Progress(value=-1, active=True, visible=False, width=200)
        self.job.param.watch(self._job_state, ["running", "error"])
        view.param.watch(self.refresh, "snapshot")
        self.window.param.watch(self.refresh, "value")
        self.feeder.param.watch(self._draw, "value")
        self.dma.param.watch(self._draw, "value")
        self.panel = pn.Column(
            pn.pane.Markdown("#### Around the chosen time", margin=(10, 10, 0, 10)),
            pn.Row(self.window, self.progress), pn.Row(self.feeder, self.dma),
            self.message, self.summary,
            pn.Row(self.loading_plot, self.voltage_plot), pn.Row(self.inflow_plot,
                                                                 self.pressure_plot),
            self.tank_plot, width=640,
            css_classes=["now-series"])

    def _job_state(self, *_):
        self.progress.visible = self.job.running
        self.message.object = self.job.error
        self.message.visible = bool(self.job.error)

    async def refresh(self, *_):
        """Solve the window around the view's time (shared, in a solver thread) and draw it."""
        city = self.view.city
        if city is None or self.view.snapshot is None:
            return
        if not self.feeder.options:
            async with TURNS.turn(REST):
                self.feeder.options, self.dma.options = feeder_names(city.net), dma_names(city)
                self.feeder.value, self.dma.value = opening_choice(city)
        days = WINDOWS[self.window.value]
        key = (self.view.at, days)
        if key == self._key:
            return
        at = self.view.at

        def work(cancel):
            return state.timeline(city, at, days)

        timeline = await self.job.run(work)
        if timeline is not None:
            self.timeline, self._key = timeline, key
            await self._draw()

    async def _draw(self, *_):
        tl, city = self.timeline, self.view.city
        if tl is None or not self.feeder.value or not self.dma.value:
            return
        self._drawing += 1
        ticket = self._drawing
        shown = await asyncio.wrap_future(state.SOLVERS.submit(
            series_figures, city, tl, self.feeder.value, self.dma.value))
        # the summary, then each figure (some 25-50 models) in a turn of its own
        for pane, key in ((self.summary, "summary"), (self.loading_plot, "loading"),
                          (self.voltage_plot, "voltage"), (self.inflow_plot, "inflow"),
                          (self.pressure_plot, "pressure"), (self.tank_plot, "tanks")):
            async with TURNS.turn(REST):
                if ticket != self._drawing:  # another feeder, DMA or time was picked meanwhile
                    return
                with model_batch():
                    pane.object = shown[key]


def dma_names(city) -> list[str]:
    """The city's DMAs the page offers (the zones named DMA…), sorted."""
    return sorted(z for z in set(city.dmas) if z.startswith("DMA"))


def opening_choice(city) -> tuple[str, str]:
    """The feeder and the DMA the series open with: the first of each."""
    return feeder_names(city.net)[0], dma_names(city)[0]


#: HoloViews renders one plot at a time: its renderer's state is not safe to share between
#: two solver threads (seen as a figure's title set on another plot's, under 10 sessions).
_HOLOVIEWS = threading.Lock()


def _rendered(plot):
    """The bokeh figure of a HoloViews plot, rendered against a document of its own and with
    no theme (the session's document gives it its theme when the figure joins it).

    Left to itself HoloViews takes bokeh's current document, which in a worker thread can be
    any session's (bokeh's stack of current documents is one for the process), and applies
    its theme to models that a session's document holds too, without that session's lock
    (seen as lock errors and a broken session under 10 concurrent sessions).

    The HoloViews plot is let go once its figure is made: it hooks itself on a document's
    ``on_session_destroyed`` (here bokeh's process-wide current document, never destroyed),
    which kept every figure ever drawn, and its data, alive for the server's life."""
    with _HOLOVIEWS:
        rendered = hv.renderer("bokeh").instance(theme=None).get_plot(plot, doc=Document())
        rendered.document = None  # drops the hook (HoloViews' ``Plot._unwatch_session``)
    return rendered.state


#: Hours between the time axis' ticks for a window of up to (days): a tick every 6 h on a day,
#: every other day on a week (the labels of a 305 px wide plot stay apart).
TICK_HOURS = ((1, 6), (2, 12), (7, 48))


def time_ticks(first: pd.Timestamp, last: pd.Timestamp) -> list[float]:
    """The time axis' ticks of a window [ms since the epoch, the axis' own unit]: whole hours
    of the shown clock, :data:`TICK_HOURS` apart."""
    days = (last - first) / pd.Timedelta(days=1)
    step = next((h for d, h in TICK_HOURS if days <= d), 48 * max(1, round(days / 7)))
    ticks = pd.date_range(first.ceil(f"{min(step, 24)}h"), last, freq=f"{step}h")
    return [t.value / 1e6 for t in ticks]


def lean_series(figure, first: pd.Timestamp, last: pd.Timestamp) -> None:
    """Cut a series figure to the models it needs (the five plots of the sample city's day:
    287 -> 161 models), each one built, sent and indexed on the server's event loop in every
    session.

    - the time axis gets its ticks for the window (:func:`time_ticks`) and one formatter,
      instead of bokeh's composite of 13 tickers and a chain of three formatters;
    - the tools are the hover only: the window is already the day or week around the time
      (zooming into it is what the window and the time picker do), so no toolbar to show;
    - each renderer's unselected and muted looks are left to BokehJS (:func:`lean`)."""
    ticker = FixedTicker(ticks=time_ticks(first, last), minor_ticks=[])
    formatter = DatetimeTickFormatter(hours="%H:%M", days="%a %d", months="%b", context=None)
    for axis in figure.xaxis:
        axis.ticker, axis.formatter = ticker, formatter
    for grid in figure.xgrid:
        grid.ticker = ticker
    hovers = [t for t in figure.tools if isinstance(t, HoverTool)]
    figure.toolbar = Toolbar(tools=hovers, logo=None)
    figure.toolbar_location = None
    lean(figure)


def series_figures(city, tl, feeder: str, dma: str) -> dict:
    """The plots (bokeh figures, rendered from hvplot) and the summary line of a feeder and a
    DMA over a timeline (pure; built and rendered in a worker thread, so the session's event
    loop only hands the figures to its panes: 0.06 s instead of 0.30 s)."""
    tz = city.timezone
    f = feeder_series(tl.electric, city.net, feeder)
    d = dma_series(tl.water, city.dma_meters, city.dmas, city.demand_junctions, dma,
                   tl.start_utc)
    tanks = tank_levels_m(tl.water, city.wn, tl.start_utc)
    fl, dl = _local(f, tz), _local(d, tz)
    t0 = tl.start_utc.tz_convert(tz)
    t1 = (tl.end_utc - pd.Timedelta(minutes=15)).tz_convert(tz)
    plots = {
        "loading": fl.hvplot.line(
            y="loading_max_percent", ylabel="max line loading [%]", color="#d73027",
            title=f"{feeder}: most loaded line", **PLOT),
        "voltage": fl.hvplot.area(
            y="vm_min_pu", y2="vm_max_pu", ylabel="voltage [p.u.]", alpha=0.5,
            color="#4575b4", title=f"{feeder}: voltage min–max", **PLOT),
        "inflow": dl.hvplot.line(
            y="inflow_l_s", ylabel="net inflow [L/s]", color="#1b7837",
            title=f"{dma}: net inflow", **PLOT),
        "pressure": dl.hvplot.area(
            y="pressure_min_m", y2="pressure_max_m", ylabel="pressure [m]", alpha=0.35,
            color="#5b8db8", title=f"{dma}: pressure min, mean, max", **PLOT) * dl.hvplot.line(
            y="pressure_mean_m", color="#0d3b66", **PLOT),
        "tanks": _local(tanks, tz).rename(columns=lambda t: f"tank {t}").hvplot.line(
            ylabel="level [m]", title="Tanks", **{**PLOT, "width": 620, "legend": "right"})}
    figures = {}
    for key, plot in plots.items():
        TURNS.yield_to_first_views()
        figures[key] = _rendered(plot)
        lean_series(figures[key], fl.index[0], fl.index[-1])
    return {**figures,
            "summary": (
            f"<span class='series-period'>{t0:%a %d %b %H:%M} – {t1:%a %d %b %H:%M %Z}</span>: "
            f"feeder {feeder} <b class='series-loading-max'>"
            f"{f.loading_max_percent.max():.1f} %</b> max loading (limit "
            f"{MAX_LOADING_PERCENT:.0f} %), voltage <b class='series-vm-min'>"
            f"{f.vm_min_pu.min():.3f}</b>–<b class='series-vm-max'>{f.vm_max_pu.max():.3f}</b>"
            f" p.u. (band {VOLTAGE_BAND_PU[0]:.2f}–{VOLTAGE_BAND_PU[1]:.2f}); "
            f"{dma} lowest pressure <b class='series-pressure-min'>"
            f"{d.pressure_min_m.min():.1f} m</b> (service {MIN_SERVICE_PRESSURE_M:.0f} m), "
            f"peak inflow <b class='series-inflow-max'>{d.inflow_l_s.max():.1f} L/s</b>."),
    }
