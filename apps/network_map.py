"""One map of both networks in the city frame [m], coloured by a snapshot's state.

:class:`NetworkMap` owns one bokeh figure per session. Its glyphs never change; each new
snapshot replaces the data of their sources, so the view (zoom, hidden layers) stays put.
The data of the layers (:func:`map_layers`) is computed in a worker thread, once per server
and time (:func:`apps.state.solve`); the session's event loop only hands it to its sources.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
    LinearColorMapper,
)
from bokeh.palettes import Viridis256, interp_palette
from bokeh.plotting import figure

from twin.city import City
from twin.electric.powerflow import MAX_LOADING_PERCENT, VOLTAGE_BAND_PU
from twin.scenario import Snapshot

#: Colour scales: fixed ranges, so colours mean the same at every time.
VOLTAGE_RANGE_PU = VOLTAGE_BAND_PU
LOADING_RANGE_PERCENT = (0.0, MAX_LOADING_PERCENT)
PRESSURE_RANGE_M = (0.0, 80.0)

#: Under-voltage blue, nominal white, over-voltage red; loading green to red.
VOLTAGE_PALETTE = interp_palette(["#08306b", "#6baed6", "#f7f7f7", "#f4a582", "#99000d"], 256)
LOADING_PALETTE = interp_palette(["#1a9850", "#fee08b", "#d73027"], 256)
NO_DATA = "#9e9e9e"
PIPE = "#5b8db8"
PUMP = "#c2185b"
STORAGE = "#0d3b66"

_LINE_KEYS = ["xs", "ys", "x0", "y0", "x1", "y1", "name", "ends", "loading", "p_mw", "state"]


def _source(name: str, keys: list[str]) -> ColumnDataSource:
    """An empty source; the name lets a browser test find it (``Bokeh.documents``)."""
    return ColumnDataSource(name=name, data={k: [] for k in keys})


def lean(figure) -> None:
    """Let BokehJS derive each renderer's unselected and muted looks from its glyph ("auto")
    instead of sending two more glyph models per renderer: a session's document is built and
    serialized on the server's event loop, at a cost that grows with its models."""
    for renderer in figure.renderers:
        renderer.nonselection_glyph = "auto"
        renderer.muted_glyph = "auto"


class NetworkMap:
    """A bokeh map of the MV grid and the water network, updated from snapshots."""

    def __init__(self, height: int = 660):
        self.lines = _source("mv-lines", _LINE_KEYS)
        self.open_lines = _source("mv-lines-open", _LINE_KEYS)
        self.buses = _source("mv-buses", ["x", "y", "name", "feeder", "vm_pu", "vn_kv"])
        self.pipes = _source("pipes", ["x0", "y0", "x1", "y1", "name", "diameter_mm",
                                       "flow_l_s", "velocity_ms"])
        self.junctions = _source("junctions", ["x", "y", "name", "dma", "pressure_m", "head_m",
                                               "demand_l_s"])
        self.storage = _source("storage", ["x", "y", "name", "kind", "head_m"])
        self.pumps = _source("pumps", ["x", "y", "name", "bus", "bus_name", "flow_l_s",
                                       "head_m", "power_kw", "state", "alpha"])
        self.coupling = _source("pump-coupling", ["x0", "y0", "x1", "y1"])
        self.substations = _source("substations", ["x", "y", "name", "loading"])
        self.figure = self._figure(height)

    def _figure(self, height: int):
        voltage = LinearColorMapper(VOLTAGE_PALETTE, low=VOLTAGE_RANGE_PU[0],
                                    high=VOLTAGE_RANGE_PU[1], nan_color=NO_DATA)
        loading = LinearColorMapper(LOADING_PALETTE, low=LOADING_RANGE_PERCENT[0], high=LOADING_RANGE_PERCENT[1],
                                    nan_color=NO_DATA)
        pressure = LinearColorMapper(Viridis256, low=PRESSURE_RANGE_M[0],
                                     high=PRESSURE_RANGE_M[1], nan_color=NO_DATA)
        p = figure(height=height, sizing_mode="stretch_width", match_aspect=True,
                   x_axis_label="east [m]", y_axis_label="north [m]",
                   tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom",
                   toolbar_location="above", background_fill_color="#f5f5f2",
                   css_classes=["citytwin-map-figure"])
        p.grid.grid_line_color = "#e2e2dc"
        p.axis.axis_label_text_font_style = "normal"

        pipes = p.segment("x0", "y0", "x1", "y1", source=self.pipes, line_color=PIPE,
                          line_width=2, line_alpha=0.7)
        junctions = p.scatter("x", "y", source=self.junctions, size=7, marker="circle",
                              fill_color={"field": "pressure_m", "transform": pressure},
                              line_color="#1f3b57", line_width=0.6)
        storage = p.scatter("x", "y", source=self.storage, size=13, marker="square",
                            fill_color=STORAGE, line_color="white")
        open_lines = p.multi_line("xs", "ys", source=self.open_lines, line_color="#7a7a7a",
                                  line_width=2, line_dash="dashed")
        lines = p.multi_line("xs", "ys", source=self.lines, line_width=3.5,
                             line_color={"field": "loading", "transform": loading})
        buses = p.scatter("x", "y", source=self.buses, size=8, marker="circle",
                          fill_color={"field": "vm_pu", "transform": voltage},
                          line_color="#222222", line_width=0.8)
        coupling = p.segment("x0", "y0", "x1", "y1", source=self.coupling, line_color=PUMP,
                             line_width=2, line_dash="dotted")
        pumps = p.scatter("x", "y", source=self.pumps, size=16, marker="triangle",
                          fill_color=PUMP, fill_alpha="alpha", line_color=PUMP, line_width=2)
        substations = p.scatter("x", "y", source=self.substations, size=20, marker="square_x",
                                fill_color="white", line_color="#222222", line_width=2)

        p.add_tools(
            HoverTool(renderers=[lines, open_lines], tooltips=[
                ("line", "@name"), ("buses", "@ends"), ("loading", "@loading{0.0} %"),
                ("P (from end)", "@p_mw{0.000} MW"), ("state", "@state")]),
            HoverTool(renderers=[buses], tooltips=[
                ("bus", "@name"), ("voltage", "@vm_pu{0.0000} p.u."), ("nominal", "@vn_kv kV"),
                ("feeder", "@feeder")]),
            HoverTool(renderers=[junctions], tooltips=[
                ("junction", "@name"), ("pressure", "@pressure_m{0.0} m"),
                ("head", "@head_m{0.0} m"), ("demand", "@demand_l_s{0.00} L/s"),
                ("DMA", "@dma")]),
            HoverTool(renderers=[pipes], tooltips=[
                ("pipe", "@name"), ("diameter", "@diameter_mm{0} mm"),
                ("flow", "@flow_l_s{0.0} L/s"), ("velocity", "@velocity_ms{0.00} m/s")]),
            HoverTool(renderers=[storage], tooltips=[
                ("@kind", "@name"), ("head", "@head_m{0.0} m")]),
            HoverTool(renderers=[pumps], tooltips=[
                ("pump", "@name (@state)"), ("power", "@power_kw{0.0} kW"),
                ("flow", "@flow_l_s{0.0} L/s"), ("head gain", "@head_m{0.0} m"),
                ("fed from bus", "@bus_name (@bus)")]),
            HoverTool(renderers=[substations], tooltips=[
                ("substation", "@name"), ("transformer loading", "@loading{0.0} %")]),
        )

        legend = Legend(items=[
            LegendItem(label="MV line (colour: loading)", renderers=[lines]),
            LegendItem(label="MV line, open", renderers=[open_lines]),
            LegendItem(label="MV bus (colour: voltage)", renderers=[buses]),
            LegendItem(label="HV/MV substation", renderers=[substations]),
            LegendItem(label="water pipe", renderers=[pipes]),
            LegendItem(label="junction (colour: pressure)", renderers=[junctions]),
            LegendItem(label="tank / reservoir", renderers=[storage]),
            LegendItem(label="pump (filled: running)", renderers=[pumps]),
            LegendItem(label="pump ↔ feeding bus", renderers=[coupling]),
        ], click_policy="hide", title="layers (click to hide)", label_text_font_size="9pt",
            title_text_font_size="9pt", location="bottom_left", background_fill_alpha=0.85,
            glyph_height=14, label_height=14, spacing=0, padding=6)
        p.add_layout(legend)
        lean(p)
        for mapper, title in [(voltage, "voltage [p.u.]"),
                              (loading, "loading [%]"),
                              (pressure, "pressure [m]")]:
            p.add_layout(ColorBar(color_mapper=mapper, title=title, width=14,
                                  title_text_font_style="normal", title_text_font_size="9pt",
                                  major_label_text_font_size="8pt", padding=8,
                                  title_standoff=6), "right")
        return p

    def show(self, city: City, snap: Snapshot) -> None:
        """Draw ``snap`` of ``city``: replace the data of every layer."""
        self.draw(map_layers(city, snap))

    def draw(self, layers: dict[str, dict]) -> None:
        """Replace the data of every layer with ``layers`` (from :func:`map_layers`), which
        stay read-only: they may be shared with other sessions."""
        for name, data in layers.items():
            getattr(self, name).data = dict(data)


def map_layers(city: City, snap: Snapshot) -> dict[str, dict]:
    """The data of every layer of the map for ``snap`` of ``city`` (pure; any thread).

    Returns
    -------
    dict
        Layer name (an attribute of :class:`NetworkMap`) to the columns of its source.
    """
    net, wn = city.net, city.wn
    layers: dict[str, dict] = {}
    bxy, nxy = city.bus_xy, city.node_xy
    el, wa = snap.electric, snap.water

    vm = el["vm_pu"].to_series().reindex(net.bus.index)
    layers['buses'] = {
        "x": bxy.x_m.to_numpy(), "y": bxy.y_m.to_numpy(), "name": net.bus.name.tolist(),
        "feeder": net.bus.feeder.astype(str).tolist(), "vm_pu": vm.to_numpy(),
        "vn_kv": net.bus.vn_kv.to_numpy()}

    loading = el["line_loading_percent"].to_series().reindex(net.line.index)
    p_mw = el["line_p_from_mw"].to_series().reindex(net.line.index)
    sw = net.switch[(net.switch.et == "l") & ~net.switch.closed.astype(bool)]
    is_open = net.line.index.isin(sw.element) | ~net.line.in_service.astype(bool)
    f, t = net.line.from_bus.to_numpy(), net.line.to_bus.to_numpy()
    x0, y0 = bxy.x_m.loc[f].to_numpy(), bxy.y_m.loc[f].to_numpy()
    x1, y1 = bxy.x_m.loc[t].to_numpy(), bxy.y_m.loc[t].to_numpy()
    names = net.bus.name
    lines = pd.DataFrame({
        "x0": x0, "y0": y0, "x1": x1, "y1": y1, "name": net.line.name.to_numpy(),
        "ends": [f"{names[a]} – {names[b]}" for a, b in zip(f, t, strict=True)],
        "loading": loading.to_numpy(), "p_mw": p_mw.to_numpy(),
        "state": np.where(is_open, "open", "closed")})
    lines["xs"] = [[a, b] for a, b in zip(x0, x1, strict=True)]
    lines["ys"] = [[a, b] for a, b in zip(y0, y1, strict=True)]
    layers['lines'] = {k: lines.loc[~is_open, k].tolist() for k in _LINE_KEYS}
    layers['open_lines'] = {k: lines.loc[is_open, k].tolist() for k in _LINE_KEYS}

    trafo_loading = el["trafo_loading_percent"].to_series()
    hv = net.trafo.hv_bus.to_numpy()
    layers['substations'] = {
        "x": bxy.x_m.loc[hv].to_numpy(), "y": bxy.y_m.loc[hv].to_numpy(),
        "name": net.trafo.name.tolist(),
        "loading": trafo_loading.reindex(net.trafo.index).to_numpy()}

    pressure = wa["pressure_m"].to_series()
    head = wa["head_m"].to_series()
    demand = wa["demand_m3s"].to_series()
    junctions = wn.junction_name_list
    layers['junctions'] = {
        "x": nxy.x_m.loc[junctions].to_numpy(), "y": nxy.y_m.loc[junctions].to_numpy(),
        "name": junctions, "dma": city.dmas.reindex(junctions).fillna("–").tolist(),
        "pressure_m": pressure.loc[junctions].to_numpy(),
        "head_m": head.loc[junctions].to_numpy(),
        "demand_l_s": demand.loc[junctions].to_numpy() * 1000.0}
    storage = [(n, "tank") for n in wn.tank_name_list] + [
        (n, "reservoir") for n in wn.reservoir_name_list]
    layers['storage'] = {
        "x": [nxy.x_m[n] for n, _ in storage], "y": [nxy.y_m[n] for n, _ in storage],
        "name": [n for n, _ in storage], "kind": [k for _, k in storage],
        "head_m": [head[n] for n, _ in storage]}

    flow = wa["flow_m3s"].to_series()
    velocity = wa["velocity_ms"].to_series()
    pipes = wn.pipe_name_list + wn.valve_name_list
    ends = [(wn.get_link(n).start_node_name, wn.get_link(n).end_node_name) for n in pipes]
    layers['pipes'] = {
        "x0": [nxy.x_m[a] for a, _ in ends], "y0": [nxy.y_m[a] for a, _ in ends],
        "x1": [nxy.x_m[b] for _, b in ends], "y1": [nxy.y_m[b] for _, b in ends],
        "name": pipes,
        "diameter_mm": [getattr(wn.get_link(n), "diameter", np.nan) * 1000 for n in pipes],
        "flow_l_s": flow.loc[pipes].to_numpy() * 1000.0,
        "velocity_ms": velocity.loc[pipes].to_numpy()}

    pumps = snap.pumps
    sites = [(wn.get_link(n).start_node_name, wn.get_link(n).end_node_name)
             for n in pumps.index]
    px = [(nxy.x_m[a] + nxy.x_m[b]) / 2 for a, b in sites]
    py = [(nxy.y_m[a] + nxy.y_m[b]) / 2 for a, b in sites]
    running = (pumps.power_kw > 0).to_numpy()
    layers['pumps'] = {
        "x": px, "y": py, "name": pumps.index.tolist(), "bus": pumps.bus.tolist(),
        "bus_name": names.loc[pumps.bus].tolist(),
        "flow_l_s": pumps.flow_m3s.to_numpy() * 1000.0, "head_m": pumps.head_m.to_numpy(),
        "power_kw": pumps.power_kw.to_numpy(),
        "state": np.where(running, "running", "off").tolist(),
        "alpha": np.where(running, 0.9, 0.0).tolist()}
    layers['coupling'] = {
        "x0": px, "y0": py, "x1": bxy.x_m.loc[pumps.bus].tolist(),
        "y1": bxy.y_m.loc[pumps.bus].tolist()}
    return layers
