"""The city's water network: an EPANET model read and written through WNTR."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import wntr


class NetworkFileError(ValueError):
    """An EPANET ``.inp`` file that cannot be read; the message names the file and line."""


def shipped_network_path(name: str) -> Path:
    """Return the path of an EPANET example network shipped inside the WNTR wheel.

    Parameters
    ----------
    name : str
        ``"Net1"``, ``"Net2"``, ``"Net3"``, ``"Net6"``, ``"ky4"`` or ``"ky10"``.
    """
    folder = Path(wntr.__file__).parent / "library" / "networks"
    path = folder / f"{name}.inp"
    if not path.exists():
        known = sorted(p.stem for p in folder.glob("*.inp"))
        raise FileNotFoundError(f"WNTR ships no network {name!r}; choose one of {known}")
    return path


def read_inp(path: str | Path) -> wntr.network.WaterNetworkModel:
    """Read an EPANET 2.2 ``.inp`` file.

    Raises
    ------
    NetworkFileError
        When the file is missing or malformed; the message names the file and, where WNTR
        reports it, the line.
    """
    path = Path(path)
    if not path.exists():
        raise NetworkFileError(f"{path}: no such EPANET file")
    try:
        return wntr.network.WaterNetworkModel(str(path))
    except Exception as exc:  # WNTR raises several types for malformed input
        line, text = getattr(exc, "line_num", None), None
        if line is None:
            line, text = _failing_line(exc)
        where = f"{path}, line {line}" if line else str(path)
        quoted = f" ({text.strip()!r})" if text else ""
        raise NetworkFileError(f"{where}{quoted}: cannot read EPANET network: {exc!r}; fix "
                               "that line") from exc


def _failing_line(exc: BaseException) -> tuple[int | None, str | None]:
    """The ``.inp`` line WNTR's reader was parsing when it failed (its ``lnum``/``line``
    locals, innermost frame first), or ``(None, None)``."""
    tb, found = exc.__traceback__, (None, None)
    while tb is not None:
        local = tb.tb_frame.f_locals
        if "lnum" in local and isinstance(local.get("lnum"), int):
            text = local.get("line")
            found = (local["lnum"], text if isinstance(text, str) else None)
        tb = tb.tb_next
    return found


def node_xy(wn: wntr.network.WaterNetworkModel) -> pd.DataFrame:
    """Return node coordinates as columns ``x_m`` and ``y_m``, indexed by node name."""
    names = wn.node_name_list
    xy = np.array([wn.get_node(n).coordinates for n in names], dtype=float)
    return pd.DataFrame({"x_m": xy[:, 0], "y_m": xy[:, 1]}, index=pd.Index(names, name="node"))


def metres_per_coordinate_unit(wn: wntr.network.WaterNetworkModel) -> float:
    """Estimate the map scale of a model from its pipes: median of length / drawn distance.

    Returns
    -------
    float
        Metres of pipe per unit of the model's coordinates [m/unit].
    """
    xy = node_xy(wn)
    ratios = []
    for _, pipe in wn.pipes():
        a = xy.loc[pipe.start_node_name].to_numpy()
        b = xy.loc[pipe.end_node_name].to_numpy()
        drawn = float(np.hypot(*(a - b)))
        if drawn > 0:
            ratios.append(pipe.length / drawn)
    return float(np.median(ratios))


def transform_coordinates(
    wn: wntr.network.WaterNetworkModel, scale: float, offset_x_m: float, offset_y_m: float
) -> None:
    """Scale then shift every node's coordinates, in place: ``x' = scale * x + offset``."""
    for _, node in wn.nodes():
        x, y = node.coordinates
        node.coordinates = (round(scale * x + offset_x_m, 2), round(scale * y + offset_y_m, 2))


_AT_TIME = re.compile(r"^\s*(LINK\s+\S+\s+\S+)\s+AT\s+TIME\s+([\d.:]+)\s*$", re.IGNORECASE)


def daily_controls(inp_text: str) -> str:
    """Turn ``AT TIME`` controls of a one-week model into daily ``AT CLOCKTIME`` controls.

    Example networks such as Net3 schedule a pump with one ``AT TIME h`` control per day of
    the week they were written for; a year-long run would stop the schedule after that week.
    Controls repeating the first day's clock times are dropped, so each distinct clock time is
    kept once.
    """
    out, seen = [], set()
    for line in inp_text.splitlines():
        m = _AT_TIME.match(line)
        if not m:
            out.append(line)
            continue
        hours = _hours(m.group(2)) % 24
        key = (m.group(1).upper(), hours)
        if key in seen:
            continue
        seen.add(key)
        hh, mm = int(hours), int(round((hours % 1) * 60))
        out.append(f"{m.group(1)} AT CLOCKTIME {hh:02d}:{mm:02d}")
    return "\n".join(out) + "\n"


def _hours(text: str) -> float:
    """Parse an EPANET time, ``"15"`` or ``"15:30"``, to hours."""
    if ":" in text:
        parts = [float(p) for p in text.split(":")]
        return parts[0] + parts[1] / 60 + (parts[2] / 3600 if len(parts) > 2 else 0)
    return float(text)


def unreachable_nodes(wn: wntr.network.WaterNetworkModel) -> list[str]:
    """Nodes with no path through pipes, pumps or valves to a reservoir or tank.

    EPANET cannot give such nodes a head (it reports them as disconnected and stops); a
    model with them needs a link added or the nodes removed.
    """
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(wn.node_name_list)
    graph.add_edges_from((link.start_node_name, link.end_node_name) for _, link in wn.links())
    sources = set(wn.reservoir_name_list) | set(wn.tank_name_list)
    reached = set()
    for part in nx.connected_components(graph):
        if part & sources:
            reached |= part
    return sorted(set(wn.node_name_list) - reached)
