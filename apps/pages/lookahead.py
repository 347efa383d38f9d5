"""The *Next 48 hours* page: the look-ahead (``twin forecast lookahead``) in the browser.

One call, :func:`twin.scenario.lookahead`, forecasts every load, rooftop PV unit and DMA from
the store and runs both networks on the forecasts; the page shows the predicted violations and
low pressures on the map and in tables, and any forecast with its 10–90 % interval.
"""

from __future__ import annotations

import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn

from apps import state
from apps.jobs import Job, show_job
from apps.overlay_map import OverlayMap
from forecasts.lookahead import LOOKAHEAD_HOURS, default_issue_time
from forecasts.publishable import publishable_forecasts
from twin.scenario import lookahead

#: Models offered: fast baselines or the statistical models of the look-ahead's default.
MODELS = {
    "fast (seasonal naive, smart persistence)": {
        "electric": "seasonal_naive_daily", "pv": "pv_smart_persistence",
        "water": "seasonal_naive_daily"},
    "statistical (MSTL+ETS, clear-sky index)": None,
}
TABLE = {"disabled": True, "show_index": False, "theme": "simple", "layout": "fit_data_table",
         "sizing_mode": "stretch_width", "page_size": 8, "pagination": "local"}


def forecast_frame(ds, series: str, timezone: str) -> pd.DataFrame:
    """One series' forecast (mean, 10 % and 90 % quantiles) on the city's clock [the unit]."""
    one = ds.sel(series=series).isel(issue_time=0)
    times = pd.DatetimeIndex(one["valid_time"].to_numpy(), tz="UTC").tz_convert(timezone)
    q = one["forecast"]
    return pd.DataFrame({"mean": one["mean"].to_numpy(),
                         "low": q.sel(quantile=q["quantile"].min()).to_numpy(),
                         "high": q.sel(quantile=q["quantile"].max()).to_numpy()},
                        index=times.tz_localize(None))


class LookaheadPage:
    """One session's look-ahead page."""

    def __init__(self):
        self.result = None
        self.city = None
        self.job = Job("the look-ahead")
        self.issue = pn.widgets.TextInput(name="Issue time [UTC, whole hour]",
                                          placeholder="the hour after the data",
                                          css_classes=["la-issue"], width=240)
        self.hours = pn.widgets.IntInput(name="Hours", value=LOOKAHEAD_HOURS, start=1, end=168,
                                         css_classes=["la-hours"], width=100)
        self.models = pn.widgets.Select(name="Models", options=list(MODELS),
                                        css_classes=["la-models"], width=300)
        self.run_button = pn.widgets.Button(name="Run the look-ahead", button_type="primary",
                                            css_classes=["la-run"], width=180)
        self.cancel_button = pn.widgets.Button(name="Cancel", button_type="light",
                                               disabled=True, css_classes=["la-cancel"],
                                               width=90)
        self.progress = pn.indicators.Progress(value=0, max=100, visible=False, width=260,
                                               css_classes=["la-progress"])
        self.status = pn.pane.HTML("", css_classes=["la-status"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["la-error"])
        self.summary = pn.pane.HTML("", css_classes=["la-summary"], sizing_mode="stretch_width")
        self.violations = pn.widgets.Tabulator(None, css_classes=["la-violations"], **TABLE)
        self.low = pn.widgets.Tabulator(None, css_classes=["la-low-pressure"], **TABLE)
        self.series = pn.widgets.Select(name="Forecast", options=[], css_classes=["la-series"],
                                        width=220)
        self.plot = pn.pane.HoloViews(None, sizing_mode="stretch_width",
                                      css_classes=["la-forecast-plot"])
        self.map_box = pn.Column(sizing_mode="stretch_width", css_classes=["la-map"])
        self.run_button.on_click(self._run)
        self.cancel_button.on_click(lambda _: self.job.cancel())
        self.series.param.watch(self._draw_forecast, "value")
        self.job.param.watch(self._job_state, ["running", "error", "fraction", "message"])
        self.results = pn.Column(
            self.summary,
            pn.Row(self.map_box, pn.Column(
                pn.pane.Markdown("#### Predicted violations (grid)"), self.violations,
                pn.pane.Markdown("#### Predicted low pressures (junction-hours)"), self.low,
                width=560), sizing_mode="stretch_width"),
            pn.Row(self.series), self.plot, visible=False, sizing_mode="stretch_width")
        self.panel = pn.Column(
            pn.pane.Markdown(
                "### Next hours\nForecast every load, rooftop PV unit and DMA from the "
                "measurements, then run the grid and the water network on the forecasts: "
                "what will break?"),
            pn.Row(self.issue, self.hours, self.models),
            pn.Row(self.run_button, self.cancel_button, self.progress, self.status),
            self.error, self.results, sizing_mode="stretch_width", css_classes=["page-lookahead"])
        try:
            self.issue.placeholder = f"{default_issue_time(state.open_store()):%Y-%m-%d %H:%M}"
        except Exception as exc:  # no store yet: say so now rather than at Run
            self.error.object, self.error.visible = str(exc), True

    def _job_state(self, *_):
        show_job(self.job, self.run_button, self.cancel_button, self.progress, self.status,
                 self.error)

    async def _run(self, *_):
        issue = self.issue.value.strip() or None
        hours, models = self.hours.value, MODELS[self.models.value]
        if hours is None or not 1 <= hours <= 168:
            self.job.error = f"{hours} hours: a look-ahead covers 1 to 168 hours"
            return
        job = self.job

        def work(cancel):
            city = state.city_future().result()
            store = state.open_store()
            when = pd.Timestamp(issue) if issue else None  # ValueError names the text
            return city, lookahead(city, store, when, hours, models,
                                   client=state.dask_client(),
                                   progress=lambda what, d, t: job.progress(
                                       d, t, f"forecasting {what} ({d}/{t} batches)"))

        out = await job.run(work)
        if out is None:
            return
        self.city, self.result = out
        self._show()

    def _show(self):
        la, city = self.result, self.city
        tz = city.timezone
        times = la.forecasts.times
        e, v, low = la.electric, la.violations, la.low_pressure
        self.summary.object = (
            f"<h4>Look-ahead <span class='la-period'>{times[0].tz_convert(tz):%a %d %b %H:%M}"
            f" – {(times[-1] + pd.Timedelta('1h')).tz_convert(tz):%a %d %b %H:%M %Z}</span></h4>"
            f"<p>Grid solved for <b class='la-converged'>{int(e.converged.sum())}</b> of "
            f"{e.sizes['time']} hours; voltage <b class='la-vm-min'>{float(e.vm_pu.min()):.3f}"
            f"</b>–<b class='la-vm-max'>{float(e.vm_pu.max()):.3f}</b> p.u.; "
            f"<b class='la-violation-count'>{len(v)}</b> violation events; "
            f"<b class='la-low-count'>{len(low)}</b> junction-hours below the service "
            f"pressure.</p>")
        self.violations.value = v.assign(start=v.start.astype(str), end=v.end.astype(str)) \
            if len(v) else pd.DataFrame({"violations": ["none predicted"]})
        shown = low.assign(time=low.time.dt.tz_convert(tz).dt.strftime("%a %d %b %H:%M"))
        self.low.value = (shown[["time", "element", "value", "limit", "unit"]]
                          .sort_values("value") if len(low)
                          else pd.DataFrame({"low pressures": ["none predicted"]}))
        worst = low.sort_values("value").drop_duplicates("element").set_index("element")
        buses = v[v.element_type == "bus"].drop_duplicates("element").set_index("element")
        lines = v[v.element_type == "line"].drop_duplicates("element").set_index("element")
        omap = OverlayMap(city, "la", "Predicted problems (junctions: lowest pressure [m])",
                          "worst value", reverse=True)
        omap.mark(
            junctions=pd.DataFrame({"value": worst.value, "label": [
                f"lowest {p:.1f} m" for p in worst.value]}, index=worst.index),
            buses=pd.DataFrame({"value": buses.worst, "label": buses.kind}, index=buses.index),
            lines=pd.DataFrame({"value": lines.worst, "label": lines.kind}, index=lines.index))
        self.map_box[:] = [pn.pane.Bokeh(omap.figure, sizing_mode="stretch_width")]
        ds = {"water": la.forecasts.water, "loads": la.forecasts.loads, "pv": la.forecasts.pv}
        self._datasets = ds
        shown, withheld = publishable_forecasts(la.forecasts, city.customers)  # privacy
        options = [f"{k}: {s}" for k in ("water", "loads", "pv") for s in shown[k]]
        self.series.description = " ".join(withheld) or None
        self.series.options = options
        self.series.value = options[0] if options else None
        self.results.visible = True
        self._draw_forecast()

    def _draw_forecast(self, *_):
        if self.result is None or not self.series.value:
            return
        kind, name = self.series.value.split(": ", 1)
        ds = self._datasets[kind]
        f = forecast_frame(ds, name, self.city.timezone)
        unit = ds.attrs.get("units", "")
        band = f.hvplot.area(y="low", y2="high", alpha=0.3, color="#6baed6",
                             label="10–90 % interval", responsive=True, height=260)
        mean = f.hvplot.line(y="mean", color="#08306b", label="forecast", responsive=True,
                             height=260, ylabel=unit, xlabel="", title=f"{name} [{unit}]")
        self.plot.object = band * mean
