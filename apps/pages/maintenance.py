"""The *Maintenance* page: assets ranked by risk, on the map and in a table, the risk matrix,
and the PDF report to download.

One assessment per server (:func:`apps.state.assessment`, i.e. :func:`twin.maintenance.assess`
on the work-order history), shared by every session; the risk matrix is
:func:`twin.maintenance.risk_matrix` and the report :func:`twin.maintenance.write_report`.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from apps import state
from apps.jobs import Job, user_message
from apps.overlay_map import OverlayMap
from twin.maintenance import risk_matrix, write_report

SHOWN = ["rank", "asset_id", "asset_class", "network", "element", "age_years", "health_band",
         "pof_per_year", "cof_money", "risk_money_per_year", "criticality_band", "action",
         "evidence"]
TABLE = {"disabled": True, "show_index": False, "theme": "simple", "layout": "fit_data_table",
         "sizing_mode": "stretch_width"}


def risk_marks(city, ranking: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Map marks for the ranked assets, coloured by risk [money/a]: lines, pipes and pumps as
    segments; transformers, switches and tanks at their bus or node (riskiest asset shown
    where several share a place)."""
    net = city.net
    table = city.assets.set_index("asset_id").element_table.reindex(ranking.asset_id)
    r = ranking.assign(table=table.to_numpy(), label=[
        f"{a} {c} (rank {k}): {x}" for a, c, k, x in zip(
            ranking.asset_id, ranking.asset_class, ranking["rank"], ranking.action, strict=True)])
    el = r.element.astype(str)

    def frame(rows, index):
        out = pd.DataFrame({"value": rows.risk_money_per_year.to_numpy(),
                            "label": rows.label.to_numpy()}, index=pd.Index(list(index)))
        return out[~out.index.duplicated()]  # the ranking is riskiest first

    lines = r[r.table == "line"]
    links = r[r.table.isin(["pipe", "pump"])]
    at_bus = {"trafo": net.trafo.lv_bus, "load": net.load.bus, "switch": net.switch.bus}
    points = r[r.table.isin(list(at_bus))]
    bus = [int(at_bus[t].get(int(e), -1)) for t, e in zip(points.table, points.element,
                                                           strict=True)]
    keep = [b in net.bus.index for b in bus]
    tanks = r[r.table == "tank"]
    return {"lines": frame(lines, el[lines.index].astype(int)),
            "links": frame(links, el[links.index]),
            "buses": frame(points[keep], [b for b, k in zip(bus, keep, strict=True) if k]),
            "junctions": frame(tanks, el[tanks.index])}


class MaintenancePage:
    """One session's maintenance page (the assessment itself is the server's)."""

    def __init__(self):
        self.assessment = None
        self.job = Job("the maintenance assessment")
        self.run_button = pn.widgets.Button(name="Assess the assets", button_type="primary",
                                            width=180, css_classes=["mt-run"])
        self.progress = pn.indicators.Progress(value=-1, active=True, visible=False, width=200)
        self.status = pn.pane.HTML("", css_classes=["mt-status"])
        self.error = pn.pane.Alert("", alert_type="danger", visible=False,
                                   css_classes=["mt-error"])
        self.summary = pn.pane.HTML("", css_classes=["mt-summary"], sizing_mode="stretch_width")
        self.ranking = pn.widgets.Tabulator(
            None, css_classes=["mt-ranking"], page_size=15, pagination="local",
            formatters={"pof_per_year": NumberFormatter(format="0.000"),
                        "cof_money": NumberFormatter(format="0,0"),
                        "risk_money_per_year": NumberFormatter(format="0,0")}, **TABLE)
        self.matrix = pn.widgets.Tabulator(None, css_classes=["mt-matrix"], **TABLE)
        self.map_box = pn.Column(sizing_mode="stretch_width", css_classes=["mt-map"])
        self.download = pn.widgets.FileDownload(label="Download the PDF report",
                                                callback=self._report, filename="maintenance.pdf",
                                                width=220, css_classes=["mt-report"])
        self.results = pn.Column(
            self.summary,
            pn.Row(self.map_box, pn.Column(pn.pane.Markdown(
                "#### Risk matrix (assets per health and criticality band)"), self.matrix,
                self.download, width=520), sizing_mode="stretch_width"),
            pn.pane.Markdown("#### Assets ranked by risk"), self.ranking,
            visible=False, sizing_mode="stretch_width")
        self.run_button.on_click(self._run)
        self.job.param.watch(self._job_state, ["running", "error", "message"])
        self.panel = pn.Column(
            pn.pane.Markdown("### Maintenance\nEvery asset's health, probability and "
                             "consequence of failure; risk = PoF × CoF. The first assessment "
                             "on a server takes a minute or two; later ones are immediate."),
            pn.Row(self.run_button, self.progress, self.status), self.error, self.results,
            sizing_mode="stretch_width", css_classes=["page-maintenance"])

    def _job_state(self, *_):
        j = self.job
        self.run_button.disabled = j.running
        self.progress.visible = j.running
        self.status.object = j.message
        self.error.object, self.error.visible = j.error, bool(j.error)

    async def _run(self, *_):
        job = self.job

        def work(cancel):
            city = state.city_future().result()
            return city, state.assessment(city, progress=lambda stage: job.progress(
                0, 1, f"assessing: {stage}"))

        out = await job.run(work)
        if out is not None:
            self._show(*out)

    def _show(self, city, a):
        """Fill the results in one batch; the summary (the count a user reads first) goes
        last so it never shows before the tables it describes."""
        self.assessment = a
        r = a.ranking
        omap = OverlayMap(city, "risk", "Assets at risk (colour: risk per year)", "risk / a",
                          height=520)
        omap.mark(**risk_marks(city, r))
        with pn.io.hold():
            self.ranking.value = r[SHOWN]
            self.matrix.value = risk_matrix(r).reset_index()
            self.map_box[:] = [pn.pane.Bokeh(omap.figure, sizing_mode="stretch_width")]
            self.summary.object = (
                f"<p><b class='mt-assets'>{len(r)}</b> assets as of {a.as_of_year}; total risk "
                f"<b class='mt-total-risk'>{r.risk_money_per_year.sum():,.0f}</b> per year; "
                f"riskiest <b class='mt-top'>{r.asset_id.iloc[0]}</b> "
                f"({r.asset_class.iloc[0]}, {r.action.iloc[0]}).</p>")
            self.results.visible = True

    def _report(self):
        if self.assessment is None:
            return io.BytesIO(b"")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = write_report(self.assessment, Path(tmp) / "maintenance.pdf")
                return io.BytesIO(path.read_bytes())
        except Exception as exc:  # the page says why; no traceback in the browser
            self.error.object = user_message("the PDF report", exc)
            self.error.visible = True
            return io.BytesIO(b"")
