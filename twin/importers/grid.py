"""The grid of a city being imported: a pandapower JSON file, a SimBench code, a MATPOWER
case (``.m``/``.mat``, pandapower's converter) or CGMES/CIM files pandapower reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd

from twin.city import prepare_electric
from twin.importers.report import CityImportError

#: Grid file formats by suffix.
GRID_FORMATS = {".json": "pandapower JSON", ".m": "MATPOWER case", ".mat": "MATPOWER case",
                ".xml": "CGMES/CIM", ".zip": "CGMES/CIM"}


def read_grid(source: str | Path) -> tuple[pp.pandapowerNet, str | None, str]:
    """Read a grid from a file or a SimBench code.

    Returns
    -------
    (pandapowerNet, str or None, str)
        The grid made ready for the twin (:func:`twin.city.prepare_electric`, coordinates
        in metres), its SimBench code (None for a file) and what it was read from.

    Raises
    ------
    CityImportError
        For a missing or unreadable file, or a name that is neither a file nor a SimBench code.
    """
    path = Path(source)
    if path.exists():
        kind = GRID_FORMATS.get(path.suffix.lower())
        if kind is None and path.is_dir():
            kind = "CGMES/CIM"
        if kind is None:
            raise CityImportError(f"{path}: unknown grid format {path.suffix!r}; give a "
                                  f"pandapower JSON, a MATPOWER .m/.mat case, CGMES XML/zip "
                                  "or a SimBench code")
        try:
            net = _read_grid_file(path, kind)
        except CityImportError:
            raise
        except Exception as exc:  # converters raise many kinds for a bad file
            raise CityImportError(f"{path}: cannot read it as a {kind} "
                                  f"({type(exc).__name__}: {str(exc)[:200]})") from None
        code, what = None, f"{kind} {path.name}"
    elif str(source).endswith("-sw") and "/" not in str(source):
        from twin.electric.network import simbench_grid

        try:
            net = simbench_grid(str(source))
        except Exception as exc:  # simbench names the unknown code
            raise CityImportError(f"{source}: not a SimBench code ({str(exc)[:160]})") from None
        net.profiles = {}
        code, what = str(source), f"SimBench {source}"
    else:
        raise CityImportError(f"{source}: no such grid file, and not a SimBench code such as "
                              "1-MV-urban--0-sw")
    if not len(net.bus):
        raise CityImportError(f"{source}: the grid has no buses")
    _coordinates_in_metres(net)
    return prepare_electric(net), code, what


def reset_scaling(net: pp.pandapowerNet) -> list[str]:
    """Set every load's and generator's ``scaling`` to 1, in place; return a note per table
    whose scaling was not 1.

    A grid file's scaling is a study-case setting (pandapower's ``mv_oberrhein`` ships loads at
    0.6 and generators at 0); the twin's profiles give each element's power over time, with
    ``p_mw`` as its rating, so a scaling left in place would scale the profiles again.
    """
    notes = []
    for table in ("load", "sgen", "storage"):
        df = net[table] if table in net else None
        if df is None or not len(df) or "scaling" not in df:
            continue
        off = df.scaling.fillna(1.0) != 1.0
        if off.any():
            values = ", ".join(f"{v:g}" for v in sorted(df.scaling[off].unique())[:4])
            notes.append(f"{int(off.sum())} {table} elements had scaling {values} (a study case "
                         "setting): reset to 1, the profiles give their power over time")
            df["scaling"] = 1.0
    return notes


def _read_grid_file(path: Path, kind: str) -> pp.pandapowerNet:
    if kind == "pandapower JSON":
        return pp.from_json(str(path))
    if kind == "MATPOWER case":
        from pandapower.converter.matpower.from_mpc import from_mpc

        return from_mpc(str(path))
    from pandapower.converter.cim.cim2pp.from_cim import from_cim

    files = sorted(str(p) for p in path.glob("*.xml")) if path.is_dir() else [str(path)]
    return from_cim(file_list=files)


def _coordinates_in_metres(net: pp.pandapowerNet) -> None:
    """Bus coordinates as GeoJSON points in metres, in place.

    Longitude/latitude (every |x| ≤ 180, |y| ≤ 90 over a span under 5°) are projected to a
    local east/north frame; a bus without coordinates gets NaN.
    """
    from twin.electric.network import lonlat_to_local_m, set_bus_xy

    geo = net.bus["geo"] if "geo" in net.bus else pd.Series(None, index=net.bus.index)

    def xy(s):
        try:
            return json.loads(s)["coordinates"][:2]
        except (TypeError, ValueError, KeyError):
            return [np.nan, np.nan]

    arr = np.array([xy(s) for s in geo], dtype=float).reshape(-1, 2)
    x, y = arr[:, 0], arr[:, 1]
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any() and (np.abs(x[ok]) <= 180).all() and (np.abs(y[ok]) <= 90).all() and \
            np.ptp(x[ok]) < 5 and np.ptp(y[ok]) < 5:
        x[ok], y[ok] = lonlat_to_local_m(x[ok], y[ok])
    set_bus_xy(net, pd.DataFrame({"x_m": x, "y_m": y}, index=net.bus.index))
