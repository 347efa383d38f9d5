"""A map to pick an element on: click an MV line, a bus, a pipe or a tank to name it.

The What-if page uses it to choose the element out of service: a click selects the element in
the browser, and the selection (the index of the row in the layer's source) comes back to the
session, which looks up the element's id in the same source.
"""

from __future__ import annotations

from collections.abc import Callable

from bokeh.models import ColumnDataSource, HoverTool, TapTool
from bokeh.plotting import figure

from apps.overlay_map import _segments
from twin.city import City

#: Layers that can be picked: (outage kind, source name).
PICKABLE = [("line", "pick-lines"), ("pipe", "pick-pipes"), ("bus", "pick-buses"),
            ("tank", "pick-tanks")]


def pick_layers(city: City) -> dict[str, dict]:
    """The columns of each pickable layer (pure; any thread): ends or position [m] and the
    id the scenario names the element by (a line's or bus's index, a pipe's or tank's name)."""
    net, wn, bxy, nxy = city.net, city.wn, city.bus_xy, city.node_xy
    lines = _segments(city, "line")
    pipes = _segments(city, "link").loc[list(wn.pipe_name_list)]
    tanks = list(wn.tank_name_list)
    return {
        "line": {**{c: lines[c].to_numpy() for c in ("x0", "y0", "x1", "y1")},
                 "id": lines.index.tolist(), "label": [
                     f"line {i} ({n})" for i, n in zip(net.line.index, net.line.name,
                                                       strict=True)]},
        "pipe": {**{c: pipes[c].to_numpy() for c in ("x0", "y0", "x1", "y1")},
                 "id": pipes.index.tolist(), "label": [f"pipe {p}" for p in pipes.index]},
        "bus": {"x": bxy.x_m.reindex(net.bus.index).to_numpy(),
                "y": bxy.y_m.reindex(net.bus.index).to_numpy(),
                "id": [str(b) for b in net.bus.index],
                "label": [f"bus {b} ({n})" for b, n in zip(net.bus.index, net.bus.name,
                                                           strict=True)]},
        "tank": {"x": nxy.x_m.loc[tanks].to_numpy(), "y": nxy.y_m.loc[tanks].to_numpy(),
                 "id": tanks, "label": [f"tank {t}" for t in tanks]},
    }


class PickMap:
    """One session's map of both networks on which a click picks an element.

    Parameters
    ----------
    city : City
    on_pick : callable
        Called with ``(kind, element_id)`` when an element is clicked.
    """

    def __init__(self, city: City, on_pick: Callable[[str, str], None], height: int = 360):
        self.on_pick = on_pick
        layers = pick_layers(city)
        self.sources = {kind: ColumnDataSource(layers[kind], name=name)
                        for kind, name in PICKABLE}
        p = figure(height=height, sizing_mode="stretch_width", match_aspect=True,
                   title="Click an MV line, a bus, a pipe or a tank to take it out of service",
                   tools="pan,wheel_zoom,reset", active_scroll="wheel_zoom",
                   toolbar_location="above", background_fill_color="#f5f5f2",
                   x_axis_label="east [m]", y_axis_label="north [m]")
        p.grid.grid_line_color = "#e2e2dc"
        renderers = [
            p.segment("x0", "y0", "x1", "y1", source=self.sources["pipe"], line_color="#9ec3e0",
                      line_width=4, selection_line_color="#c62828",
                      nonselection_line_alpha=0.6),
            p.segment("x0", "y0", "x1", "y1", source=self.sources["line"], line_color="#8a8a8a",
                      line_width=4, selection_line_color="#c62828",
                      nonselection_line_alpha=0.6),
            p.scatter("x", "y", source=self.sources["bus"], size=8, fill_color="white",
                      line_color="#444444", selection_fill_color="#c62828"),
            p.scatter("x", "y", source=self.sources["tank"], size=13, marker="square",
                      fill_color="#0d3b66", selection_fill_color="#c62828"),
        ]
        p.add_tools(TapTool(renderers=renderers),
                    HoverTool(renderers=renderers, tooltips=[("", "@label")]))
        self.figure = p
        for kind, source in self.sources.items():
            source.selected.on_change("indices", self._picked(kind))

    def _picked(self, kind: str):
        def picked(_attr, _old, new):
            if new:  # a click elsewhere clears the selection: the knobs keep their values
                self.on_pick(kind, self.sources[kind].data["id"][new[0]])
        return picked
