"""The *Losses and leaks* page: water balance, night flow, leak alarms, non-technical losses.

One library call over a period of the store, :func:`twin.loss_review.losses_of_period`: NRW and
ILI per DMA with their flags, the night-flow trend, leak alarms with their located candidates
(on the map), non-technical losses per feeder (sums only where the aggregation rules hold) and
the suspicious meters under pseudonyms. The balance's and night flow's customer figures of a DMA
whose read customers break the aggregation rules come back withheld, with a note saying why
(:mod:`twin.water.balance_privacy`).
"""

from __future__ import annotations

import html
from datetime import timedelta

import hvplot.pandas  # noqa: F401  (registers .hvplot)
import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from apps import state
from apps.jobs import Job, show_job
from apps.overlay_map import OverlayMap
from twin.loss_review import MAX_DAYS, LossesResult

TABLE = {"disabled": True, "show_index": False, "theme": "simple", "layout": "fit_data_table",
         "sizing_mode": "stretch_width", "page_size": 12, "pagination": "local"}
BALANCE_COLUMNS = {"siv_m3": "system input [m³]", "billed_metered_m3": "billed metered [m³]",
                   "nrw_m3": "NRW [m³]", "nrw_percent": "NRW [%]",
                   "real_losses_l_s": "real losses [L/s]", "ili": "ILI",
                   "ili_indicative": "ILI indicative", "consistent": "consistent",
                   "withheld": "withheld (privacy)"}
NTL_COLUMNS = {"head_mwh": "head [MWh]", "metered_mwh": "metered [MWh]",
               "technical_losses_mwh": "technical losses [MWh]", "ntl_mwh": "NTL [MWh]",
               "ntl_percent": "NTL [%]"}


class LossesPage:
    """One session's losses-and-leaks page."""

    def __init__(self):
        self.job = Job("the losses analysis")
        self.first_day = pn.widgets.DatePicker(name="First day", css_classes=["loss-start"],
                                               width=160)
        self.days = pn.widgets.IntInput(name="Days", value=21, start=3, end=MAX_DAYS,
                                        css_classes=["loss-days"], width=100)
        self.run_button = pn.widgets.Button(name="Analyse the period", button_type="primary",
                                            css_classes=["loss-run"], width=180)
        self.cancel_button = pn.widgets.Button(name="Cancel", disabled=True, width=90,
                                               css_classes=["loss-cancel"])
        self.progress = pn.indicators.Progress(value=0, max=100, visible=False, width=220)
        self.status = pn.pane.HTML("", css_classes=["loss-status"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["loss-error"])
        self.balance = pn.widgets.Tabulator(None, css_classes=["loss-balance"], **TABLE)
        self.balance_notes = pn.pane.HTML("", css_classes=["loss-balance-notes"],
                                          sizing_mode="stretch_width")
        self.night_plot = pn.pane.HoloViews(None, sizing_mode="stretch_width",
                                            css_classes=["loss-night-plot"])
        self.night_note = pn.pane.HTML("", css_classes=["loss-night-note"])
        self.alarms = pn.widgets.Tabulator(None, css_classes=["loss-alarms"], **TABLE)
        self.map_box = pn.Column(sizing_mode="stretch_width", css_classes=["loss-map"])
        self.feeders = pn.widgets.Tabulator(None, css_classes=["loss-ntl"], **TABLE)
        self.notes = pn.pane.HTML("", css_classes=["loss-notes"], sizing_mode="stretch_width")
        self.suspicious = pn.widgets.Tabulator(None, css_classes=["loss-suspicious"],
                                               height=300, **TABLE)
        self.results = pn.Column(
            pn.pane.Markdown("#### Water balance per DMA (IWA)"), self.balance,
            self.balance_notes,
            pn.pane.Markdown("#### Net night flow per DMA (02–04 h) and its trend"),
            self.night_plot, self.night_note,
            pn.Row(pn.Column(pn.pane.Markdown("#### Leak alarms, best located junction"),
                             self.alarms, width=620), self.map_box,
                   sizing_mode="stretch_width"),
            pn.pane.Markdown("#### Non-technical losses per feeder"), self.feeders, self.notes,
            pn.pane.Markdown("#### Suspicious meters (pseudonymous ids)"), self.suspicious,
            visible=False, sizing_mode="stretch_width")
        self.run_button.on_click(self._run)
        self.cancel_button.on_click(lambda _: self.job.cancel())
        self.job.param.watch(self._job_state, ["running", "error", "fraction", "message"])
        self.panel = pn.Column(
            pn.pane.Markdown("### Losses and leaks\nFrom the measurements of a period: where "
                             "water and energy go that nobody pays for."),
            pn.Row(self.first_day, self.days),
            pn.Row(self.run_button, self.cancel_button, self.progress, self.status),
            self.error, self.results, sizing_mode="stretch_width", css_classes=["page-losses"])
        try:
            last = state.open_store().last_time("scada")
            if last is not None:
                tz = state.recipe().timezone
                end = last.tz_convert(tz).date()
                self.first_day.value = end - timedelta(days=self.days.value - 1)
        except Exception as exc:  # no store: say so now
            self.error.object, self.error.visible = str(exc), True

    def _job_state(self, *_):
        show_job(self.job, self.run_button, self.cancel_button, self.progress, self.status,
                 self.error)

    async def _run(self, *_):
        first, days, job = self.first_day.value, self.days.value, self.job
        if first is None:
            job.error = "pick the first day of the period"
            return

        def work(cancel):
            city = state.city_future().result()
            return city, state.losses_review(city, first, days, job.progress)

        out = await job.run(work)
        if out is not None:
            self._show(*out)

    def _show(self, city, r: LossesResult):
        self.balance.formatters = dict.fromkeys(
            [BALANCE_COLUMNS[c] for c in ("siv_m3", "billed_metered_m3", "nrw_m3")],
            NumberFormatter(format="0,0")) | dict.fromkeys(
            [BALANCE_COLUMNS[c] for c in ("nrw_percent", "real_losses_l_s", "ili")],
            NumberFormatter(format="0.00"))
        self.balance.value = r.balance[list(BALANCE_COLUMNS)].rename(
            columns=BALANCE_COLUMNS).rename_axis("zone").reset_index()
        self.balance_notes.object = _withheld_html(r.water_privacy_notes)
        trend = r.night.pivot(index="night", columns="dma", values="nnf_trend_l_s") \
            .dropna(axis=1, how="all")  # the DMAs withheld have no trend to draw
        self.night_plot.object = trend.hvplot.line(
            ylabel="net night flow, 7-night median [L/s]", xlabel="", height=260,
            responsive=True, grid=True) if trend.shape[1] else None
        self.night_plot.visible = bool(trend.shape[1])
        self.night_note.object = "" if trend.shape[1] else (
            "<p>Withheld for every DMA by the aggregation rules (see the notes above).</p>")
        alarms = r.leaks.alarms
        self.alarms.value = (alarms.assign(
            alarm=alarms.alarm_utc.dt.tz_convert(city.timezone).dt.strftime("%d %b %H:%M"))[
            ["dma", "alarm", "step_l_s", "element", "leak_m3h"]].rename(columns={
                "step_l_s": "step [L/s]", "element": "reported position",
                "leak_m3h": "fitted leak [m³/h]"}) if len(alarms)
            else pd.DataFrame({"alarms": ["none in the period"]}))
        cand = r.leaks.candidates
        # a position on a pipe is drawn at the pipe's nearer end (the map marks junctions)
        at_node = [el if kind != "pipe" else (
            city.wn.get_link(el).start_node_name if at <= 0.5 else city.wn.get_link(el).end_node_name)
            for el, kind, at in zip(cand.element, cand.kind, cand["at"], strict=True)]
        best = cand.assign(junction=at_node).sort_values("rank").drop_duplicates("junction") \
            .set_index("junction")
        omap = OverlayMap(city, "leaks", "Leak candidates (colour: rank, 1 = reported)", "rank",
                          reverse=True)
        omap.mark(junctions=pd.DataFrame({"value": best["rank"].astype(float), "label": [
            f"alarm {a}, rank {k}, {q:.2f} L/s, {w:.0%} of the posterior within the search "
            "radius" for a, k, q, w in zip(best.alarm, best["rank"], best.leak_l_s,
                                              best.probability_within, strict=True)]},
            index=best.index))
        self.map_box[:] = [pn.pane.Bokeh(omap.figure, sizing_mode="stretch_width")]
        self.feeders.formatters = dict.fromkeys(NTL_COLUMNS.values(),
                                                NumberFormatter(format="0.00"))
        self.feeders.value = r.feeders[list(NTL_COLUMNS)].rename(columns=NTL_COLUMNS) \
            .reset_index()
        self.notes.object = _withheld_html(r.privacy_notes)
        self.suspicious.value = r.suspicious
        self.results.visible = True


def _withheld_html(notes: list[str]) -> str:
    """The notes of what the aggregation rules withheld, as a list (empty: nothing)."""
    return ("<p><b>Withheld by the aggregation rules:</b></p><ul>" + "".join(
        f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>") if notes else ""
