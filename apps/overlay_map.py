"""A quiet map of both networks with marks on top: what a page wants to point at.

The MV grid and the pipes are drawn grey; :meth:`OverlayMap.mark` puts coloured marks (a
violation, a leak candidate, an asset at risk, a difference between two runs) at buses,
junctions or lines. One figure per session; marks replace the data of their sources.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper
from bokeh.palettes import interp_palette
from bokeh.plotting import figure

from apps.network_map import lean
from twin.city import City

DIVERGING = interp_palette(["#2166ac", "#92c5de", "#f7f7f7", "#f4a582", "#b2182b"], 256)
SEQUENTIAL = interp_palette(["#fee8c8", "#fdbb84", "#e34a33", "#7f0000"], 256)


def _segments(city: City, kind: str) -> pd.DataFrame:
    """End coordinates of every MV line (``kind='line'``) or pipe (``'link'``) [m]."""
    if kind == "line":
        net, xy = city.net, city.bus_xy
        f, t = net.line.from_bus.to_numpy(), net.line.to_bus.to_numpy()
        names = net.line.index.astype(str)
    else:
        wn, xy = city.wn, city.node_xy
        links = [wn.get_link(n) for n in wn.link_name_list]
        f = [lk.start_node_name for lk in links]
        t = [lk.end_node_name for lk in links]
        names = pd.Index(wn.link_name_list)
    return pd.DataFrame({"x0": xy.x_m.loc[f].to_numpy(), "y0": xy.y_m.loc[f].to_numpy(),
                         "x1": xy.x_m.loc[t].to_numpy(), "y1": xy.y_m.loc[t].to_numpy()},
                        index=names)


class OverlayMap:
    """Grey networks with coloured point marks (buses, junctions) and line marks.

    ``reverse`` darkens low values (a rank, a pressure) instead of high ones.
    """

    def __init__(self, city: City, name: str, title: str, colour_label: str,
                 diverging: bool = False, height: int = 520, reverse: bool = False):
        self.city = city
        self.points = ColumnDataSource(name=f"{name}-points",
                                       data={k: [] for k in ("x", "y", "name", "label",
                                                             "value")})
        self.lines = ColumnDataSource(name=f"{name}-lines",
                                      data={k: [] for k in ("x0", "y0", "x1", "y1", "name",
                                                            "label", "value")})
        palette = DIVERGING if diverging else SEQUENTIAL
        self.mapper = LinearColorMapper(palette[::-1] if reverse else palette, low=0, high=1,
                                        nan_color="#9e9e9e")
        p = figure(height=height, sizing_mode="stretch_width", match_aspect=True, title=title,
                   x_axis_label="east [m]", y_axis_label="north [m]",
                   tools="pan,wheel_zoom,box_zoom,reset,save", active_scroll="wheel_zoom",
                   toolbar_location="above", background_fill_color="#f5f5f2")
        p.grid.grid_line_color = "#e2e2dc"
        for kind, colour in (("line", "#b0b0b0"), ("link", "#9ec3e0")):
            seg = _segments(city, kind)
            p.segment(seg.x0, seg.y0, seg.x1, seg.y1, line_color=colour, line_width=1.5)
        colour = {"field": "value", "transform": self.mapper}
        lines = p.segment("x0", "y0", "x1", "y1", source=self.lines, line_color=colour,
                          line_width=5)
        points = p.scatter("x", "y", source=self.points, size=11, fill_color=colour,
                           line_color="#222222", line_width=0.8)
        p.add_tools(HoverTool(renderers=[points, lines],
                              tooltips=[("", "@name"), ("", "@label")]))
        p.add_layout(ColorBar(color_mapper=self.mapper, title=colour_label, width=12,
                              title_text_font_style="normal", title_text_font_size="9pt",
                              major_label_text_font_size="8pt"), "right")
        lean(p)
        self.figure = p

    def mark(self, buses=None, junctions=None, lines=None, links=None,
             symmetric: bool = False) -> None:
        """Replace the marks.

        Each argument is a DataFrame indexed by element id with ``value`` (colour) and
        ``label`` (hover text); ``symmetric`` centres the colour scale on zero.
        """
        pts = []
        if buses is not None and len(buses):
            xy = self.city.bus_xy.loc[buses.index]
            pts.append(pd.DataFrame({"x": xy.x_m.to_numpy(), "y": xy.y_m.to_numpy(),
                                     "name": [f"bus {b}" for b in buses.index]}).assign(
                label=buses.label.to_numpy(), value=buses.value.to_numpy()))
        if junctions is not None and len(junctions):
            xy = self.city.node_xy.loc[junctions.index.astype(str)]
            pts.append(pd.DataFrame({"x": xy.x_m.to_numpy(), "y": xy.y_m.to_numpy(),
                                     "name": [f"junction {j}" for j in junctions.index]}).assign(
                label=junctions.label.to_numpy(), value=junctions.value.to_numpy()))
        segs = []
        for frame, kind, word in ((lines, "line", "line"), (links, "link", "pipe")):
            if frame is not None and len(frame):
                seg = _segments(self.city, kind).loc[frame.index.astype(str)]
                segs.append(seg.reset_index(drop=True).assign(
                    name=[f"{word} {i}" for i in frame.index], label=frame.label.to_numpy(),
                    value=frame.value.to_numpy()))
        keys_p = ("x", "y", "name", "label", "value")
        keys_l = ("x0", "y0", "x1", "y1", "name", "label", "value")
        p = pd.concat(pts, ignore_index=True) if pts else pd.DataFrame(columns=keys_p)
        s = pd.concat(segs, ignore_index=True) if segs else pd.DataFrame(columns=keys_l)
        values = np.concatenate([p.value.to_numpy(float), s.value.to_numpy(float)])
        values = values[np.isfinite(values)]
        if len(values):
            lo, hi = float(values.min()), float(values.max())
            if symmetric:
                lo, hi = -max(abs(lo), abs(hi), 1e-9), max(abs(lo), abs(hi), 1e-9)
            elif hi <= lo:
                hi = lo + 1.0
            self.mapper.update(low=lo, high=hi)
        self.points.data = {k: p[k].tolist() for k in keys_p}
        self.lines.data = {k: s[k].tolist() for k in keys_l}
