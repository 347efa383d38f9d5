"""The PDF report a maintenance lead acts on (reportlab platypus, matplotlib figures).

Pages: a one-page summary (money at risk, top risks, what to do first, the budget), the
risk matrix, a map of the top-risk assets on both networks, the ranked table, the
programme for 1 and 5 years, and one page per top asset with its evidence and action.
Deterministic: reportlab's invariant mode and PNGs without time stamps give the same bytes
for the same inputs. Privacy: customers appear only as counts.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from reportlab import rl_config  # noqa: E402
from reportlab.lib import colors  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.styles import getSampleStyleSheet  # noqa: E402
from reportlab.lib.units import cm  # noqa: E402
from reportlab.platypus import (  # noqa: E402
    Image,
    LongTable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from twin.maintenance.assess import risk_matrix  # noqa: E402
from twin.maintenance.planning import plan  # noqa: E402

#: Width of the text frame [pt].
FRAME_W = A4[0] - 3 * cm
#: Colours of the risk-matrix cells (low to high).
MATRIX_CMAP = "YlOrRd"
#: Rows of the ranked table in the report.
TABLE_ROWS = 40


def build_report(assessment, path: Path, budget: float = 2e6, top: int = 20) -> Path:
    """Write the report of ``assessment`` to ``path``; return ``path``.

    Raises
    ------
    ValueError
        A budget that is not positive or ``top`` below 1.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    rl_config.invariant = 1
    plt.rcParams["svg.hashsalt"] = "twin"
    r = assessment.ranking
    p1, p5 = plan(r, budget, 1), plan(r, budget, 5)
    styles = getSampleStyleSheet()
    story = []
    story += _summary(assessment, p1, p5, budget, top, styles)
    story += [PageBreak()] + _matrix_page(r, styles)
    story += [PageBreak()] + _map_page(assessment, top, styles)
    story += [PageBreak()] + _ranked_table(r, styles)
    story += [PageBreak()] + _plan_page(p1, p5, styles)
    for a in r.head(top).itertuples():
        story += [PageBreak()] + _asset_page(assessment, a, styles)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(str(path), pagesize=A4, leftMargin=1.5 * cm, rightMargin=1.5 * cm,
                            topMargin=1.5 * cm, bottomMargin=1.5 * cm,
                            title=f"Maintenance report {assessment.city_name}",
                            author="CityTwin", subject="asset risk and maintenance plan")
    doc.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return path


def _footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 8)
    canvas.drawRightString(A4[0] - 1.5 * cm, 1 * cm, f"page {doc.page}")
    canvas.drawString(1.5 * cm, 1 * cm, "CityTwin maintenance report - counts only, no "
                      "customer data")
    canvas.restoreState()


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _table(rows: list[list], widths=None, header=True, font=8) -> Table:
    t = LongTable(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("FONT", (0, 0), (-1, -1), "Helvetica", font),
             ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
             ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style += [("FONT", (0, 0), (-1, 0), "Helvetica-Bold", font),
                  ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde4ee"))]
    t.setStyle(TableStyle(style))
    return t


def _figure(fig, width: float = FRAME_W) -> Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    buf.seek(0)
    w, h = fig.get_size_inches()
    return Image(buf, width=width, height=width * h / w)


def _summary(a, p1, p5, budget, top, styles) -> list:
    r = a.ranking
    total = r.risk_money_per_year.sum()
    by_class = r.groupby("asset_class").agg(assets=("asset_id", "size"),
                                            risk=("risk_money_per_year", "sum"),
                                            failures_expected=("pof_per_year", "sum"))
    by_class = by_class.sort_values("risk", ascending=False)
    first = p1.actions.head(8)
    out = [Paragraph(f"Maintenance report - {a.city_name}", styles["Title"]),
           Paragraph(f"Assessment for {a.as_of_year}, from the work-order history "
                     f"{a.history.first_year}-{a.history.last_year} "
                     f"({len(a.history.failures)} failures, {len(a.history.inspections)} "
                     f"inspections) and the twin's simulated year.", styles["Normal"]),
           Spacer(1, 6),
           Paragraph(f"<b>Money at risk: {_money(total)} per year</b> over {len(r)} assets; "
                     f"{r.pof_per_year.sum():.1f} failures expected next year. The top {top} "
                     f"assets carry {_money(r.risk_money_per_year.head(top).sum())} "
                     f"({r.risk_money_per_year.head(top).sum() / max(total, 1e-9):.0%}).",
                     styles["Normal"]),
           Spacer(1, 6),
           Paragraph(f"<b>Budget {_money(budget)} per year.</b> Year 1: {p1.summary()}. "
                     f"Five years: {p5.summary()}.", styles["Normal"]),
           Spacer(1, 8), Paragraph("Top risks", styles["Heading3"])]
    rows = [["#", "asset", "class", "age", "health", "PoF/yr", "CoF", "risk/yr", "action"]]
    for x in r.head(8).itertuples():
        rows.append([x.rank, x.asset_id, x.asset_class, f"{x.age_years:.0f}",
                     f"{x.health_index:.1f} {x.health_band}", f"{x.pof_per_year:.3f}",
                     _money(x.cof_money), _money(x.risk_money_per_year), x.action])
    out.append(_table(rows))
    out += [Spacer(1, 8), Paragraph("What to do first (year 1 of the programme)",
                                    styles["Heading3"])]
    rows = [["asset", "class", "action", "cost", "risk removed/yr"]]
    for x in first.itertuples():
        rows.append([x.asset_id, x.asset_class, x.action, _money(x.action_cost),
                     _money(x.risk_reduction_money_per_year)])
    out.append(_table(rows))
    out += [Spacer(1, 8), Paragraph("Risk by asset class", styles["Heading3"])]
    rows = [["class", "assets", "failures expected/yr", "risk/yr"]]
    for cls_name, x in by_class.iterrows():
        rows.append([cls_name, int(x.assets), f"{x.failures_expected:.2f}", _money(x.risk)])
    out.append(_table(rows))
    out += [Spacer(1, 6), Paragraph(f"Pipe break model: {a.break_model_reason}.",
                                    styles["Normal"])]
    flagged = int((r["flag"] != "").sum())
    if flagged:
        out.append(Paragraph(f"{flagged} register rows are flagged (see the ranked table's "
                             "flag column in the CSV export).", styles["Normal"]))
    if len(a.meters):
        out.append(Paragraph(f"{int(a.meters.failing.sum())} meters failing by their VEE "
                             "flags.", styles["Normal"]))
    return out


def _matrix_page(r, styles) -> list:
    counts, risk = risk_matrix(r), risk_matrix(r, "risk")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.imshow(risk.to_numpy(), cmap=MATRIX_CMAP, aspect="auto", vmin=0,
              vmax=1.6 * max(float(risk.to_numpy().max()), 1.0))
    for i in range(risk.shape[0]):
        for j in range(risk.shape[1]):
            ax.text(j, i, f"{int(counts.iat[i, j])} assets\n{risk.iat[i, j]:,.0f}/yr",
                    ha="center", va="center", fontsize=8)
    ax.set_xticks(range(risk.shape[1]), [f"{c} ({n})" for c, n in zip(
        risk.columns, ["low", "average", "high", "very high"], strict=True)])
    ax.set_yticks(range(risk.shape[0]), risk.index)
    ax.set_xlabel("criticality band (consequence relative to the class median)")
    ax.set_ylabel("health band")
    ax.set_title("Risk matrix: assets and risk [money/yr] per cell")
    fig.tight_layout()
    return [Paragraph("Risk matrix", styles["Heading2"]),
            Paragraph("Rows: CNAIM health-index bands HI1 (good) to HI5 (poor). Columns: "
                      "criticality bands C1-C4 by the consequence of failure relative to the "
                      "class's median (CNAIM: below 75 %, 75-125 %, 125-200 %, above 200 %).",
                      styles["Normal"]), _figure(fig)]


def _map_page(a, top, styles) -> list:
    city = a.city
    r = a.ranking.head(top)
    bxy, nxy = city.bus_xy, city.node_xy
    net, wn = city.net, city.wn
    fig, ax = plt.subplots(figsize=(9, 7.5))
    from matplotlib.collections import LineCollection

    f, t = bxy.loc[net.line.from_bus].to_numpy(), bxy.loc[net.line.to_bus].to_numpy()
    ax.add_collection(LineCollection(np.stack([f, t], axis=1), colors="0.6", lw=0.7, zorder=1))
    ends = [(link.start_node_name, link.end_node_name) for _, link in wn.links()]
    a_ = nxy.loc[[e[0] for e in ends]].to_numpy()
    b_ = nxy.loc[[e[1] for e in ends]].to_numpy()
    ax.add_collection(LineCollection(np.stack([a_, b_], axis=1), colors="#6baed6", lw=0.9,
                                     zorder=1))
    ax.autoscale()
    for x in r.itertuples():
        xy = _asset_xy(city, x)
        if xy is None:
            continue
        electric = x.network == "electric"
        ax.scatter([xy[0]], [xy[1]], s=45, marker="^" if electric else "o",
                   color="#d7301f" if electric else "#54278f", zorder=3)
        ax.annotate(str(x.rank), xy, fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.plot([], [], color="0.6", label="lines and cables")
    ax.plot([], [], color="#6baed6", label="pipes")
    ax.scatter([], [], marker="^", color="#d7301f", label="electric asset (rank)")
    ax.scatter([], [], marker="o", color="#54278f", label="water asset (rank)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_aspect("equal")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    fig.tight_layout()
    return [Paragraph(f"Where the top {top} risks are", styles["Heading2"]),
            Paragraph("Both networks in the city frame; markers are the top-ranked assets, "
                      "labelled with their rank.", styles["Normal"]), _figure(fig)]


def _asset_xy(city, x) -> tuple | None:
    el = str(x.element)
    try:
        if x.network == "electric":
            net = city.net
            if x.asset_class == "cable":
                ln = net.line.loc[int(el)]
                return tuple(city.bus_xy.loc[[ln.from_bus, ln.to_bus]].mean())
            if x.asset_class == "hv_mv_transformer":
                return tuple(city.bus_xy.loc[net.trafo.at[int(el), "lv_bus"]])
            if x.asset_class == "distribution_transformer":
                return tuple(city.bus_xy.loc[net.load.at[int(el), "bus"]])
            if x.asset_class == "switch":
                return tuple(city.bus_xy.loc[net.switch.at[int(el), "bus"]])
            return None
        wn = city.wn
        if el in wn.link_name_list:
            link = wn.get_link(el)
            return tuple(city.node_xy.loc[[link.start_node_name, link.end_node_name]].mean())
        if el in wn.node_name_list:
            return tuple(city.node_xy.loc[el])
    except (KeyError, ValueError):
        return None
    return None


def _ranked_table(r, styles) -> list:
    rows = [["#", "asset", "class", "age", "HI", "band", "PoF/yr", "CoF", "risk/yr", "crit.",
             "action", "cost"]]
    for x in r.head(TABLE_ROWS).itertuples():
        rows.append([x.rank, x.asset_id, x.asset_class.replace("_", " "), f"{x.age_years:.0f}",
                     f"{x.health_index:.1f}", x.health_band, f"{x.pof_per_year:.3f}",
                     _money(x.cof_money), _money(x.risk_money_per_year), x.criticality_band,
                     x.action, _money(x.action_cost)])
    return [Paragraph(f"Ranked assets (top {min(TABLE_ROWS, len(r))} of {len(r)})",
                      styles["Heading2"]), _table(rows, font=7)]


def _plan_page(p1, p5, styles) -> list:
    out = [Paragraph("Programme", styles["Heading2"]),
           Paragraph("Chosen to remove the most risk within the budget: an exact 0/1 "
                     "(multiple) knapsack solved by mixed-integer programming.",
                     styles["Normal"]),
           Paragraph(f"<b>Year 1:</b> {p1.summary()}.", styles["Normal"]),
           Paragraph(f"<b>Five years:</b> {p5.summary()}.", styles["Normal"]), Spacer(1, 6)]
    by = p5.actions.groupby(["year", "action"]).agg(n=("asset_id", "size"),
                                                    cost=("action_cost", "sum"),
                                                    gain=("risk_reduction_money_per_year",
                                                          "sum")).reset_index()
    rows = [["year", "action", "assets", "cost", "risk removed/yr"]]
    for x in by.itertuples():
        rows.append([x.year, x.action, x.n, _money(x.cost), _money(x.gain)])
    out.append(_table(rows))
    return out


def _asset_page(a, x, styles) -> list:
    out = [Paragraph(f"#{x.rank} {x.asset_id} - {x.asset_class.replace('_', ' ')}",
                     styles["Heading2"])]
    rows = [["element", f"{x.network} {x.element}", "age", f"{x.age_years:.0f} a"],
            ["health index", f"{x.health_index:.2f} ({x.health_band})", "PoF",
             f"{x.pof_per_year:.4f} per year"],
            ["consequence", _money(x.cof_money), "risk", f"{_money(x.risk_money_per_year)} "
                                                         "per year"],
            ["criticality", x.criticality_band, "recommended",
             f"{x.action} ({_money(x.action_cost)})"],
            ["customers cut", f"{x.customers_cut:.0f} ({x.critical_cut:.0f} critical, "
                              f"{x.customers_restorable:.0f} restorable)",
             "below service pressure", f"{x.customers_low_pressure:.0f} customers"],
            ["failures recorded", f"{x.failures_recorded:.0f}", "last inspection grade",
             "-" if not np.isfinite(x.latest_grade) else f"{x.latest_grade:.0f}"]]
    out.append(_table(rows, header=False, font=8))
    out += [Spacer(1, 6), Paragraph(f"<b>Evidence:</b> {x.evidence}", styles["Normal"])]
    if x.flag:
        out.append(Paragraph(f"<b>Register:</b> {x.flag}", styles["Normal"]))
    fig = _evidence_figure(a, x)
    if fig is not None:
        out.append(_figure(fig, FRAME_W * 0.9))
    out.append(Paragraph(f"<b>Action:</b> {_action_text(x)}", styles["Normal"]))
    return out


def _action_text(x) -> str:
    text = {"replace": "replace the asset", "refurbish": "refurbish (overhaul) the asset",
            "inspect": "inspect and test; decide on repair from the findings",
            "monitor": "no action this year; keep monitoring"}[x.action]
    return (f"{text}; it removes about {_money(x.risk_reduction_money_per_year)} of risk per "
            f"year for {_money(x.action_cost)}.")


def _evidence_figure(a, x):
    obs = a.observations
    fig, ax = plt.subplots(figsize=(8, 3.2))
    if x.asset_class in ("distribution_transformer", "hv_mv_transformer"):
        key = ("DT-" if x.element_table == "load" else "TR-") + str(x.element)
        if key not in obs.daily_hot_spot_c:
            plt.close(fig)
            return None
        s = obs.daily_hot_spot_c[key]
        ax.plot(np.arange(len(s)), s.to_numpy(), lw=0.8)
        for lim in (98, 120, 140):
            ax.axhline(lim, color="0.6", lw=0.6, ls="--")
        ax.set_xlabel("day of the simulated year")
        ax.set_ylabel("daily max hot spot [C]")
        ax.set_title("Hot spot (IEC 60076-7) from the year's loading")
    elif x.asset_class == "cable" and int(x.element) in obs.weekly_line_loading_pct:
        s = obs.weekly_line_loading_pct[int(x.element)]
        ax.plot(np.arange(len(s)), s.to_numpy(), marker=".", lw=0.8)
        ax.axhline(100, color="0.6", lw=0.6, ls="--")
        ax.set_xlabel("week of the simulated year")
        ax.set_ylabel("max loading [%]")
        ax.set_title("Utilisation from QSTS")
    elif x.asset_class in ("pipe", "pump", "switch", "valve", "tank", "flow_meter"):
        f = a.history.failures
        years = np.arange(a.history.first_year, a.history.last_year + 1)
        n = f[f.asset_id == x.asset_id].time.dt.year.value_counts().reindex(years, fill_value=0)
        ax.bar(years, n.to_numpy(), color="#3182bd")
        ax.set_xlabel("year")
        ax.set_ylabel("failures recorded")
        ax.set_title("Failure history (work orders)")
        eff = a.pump_efficiency
        if x.asset_class == "pump" and len(eff) and str(x.element) in eff.index:
            e = eff.loc[str(x.element)]
            ax.set_title(f"Failure history; wire-to-water efficiency {e.mean_efficiency:.2f} "
                         f"(drift {e.drift_per_year:+.3f}/yr, SCADA)")
    else:
        plt.close(fig)
        return None
    fig.tight_layout()
    return fig

