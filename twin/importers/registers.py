"""Registers of a city being imported: customers, meters, pumps and assets, mapped to loads
and junctions by id or, failing that, to the nearest node; what maps nowhere is counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd

from twin import schemas
from twin.electric.network import bus_xy
from twin.importers.report import CityImportError
from twin.water.network import demand_junctions, node_xy


def _xy_or_none(fn) -> pd.DataFrame | None:
    """Coordinates from ``fn()``, or None for a network without any."""
    try:
        xy = fn()
    except Exception:  # networks without coordinates
        return None
    return xy if np.isfinite(xy.to_numpy()).any() else None


def _nearest(points: np.ndarray, targets: pd.DataFrame) -> np.ndarray:
    """Label of the nearest target row to every point (same frame) [m]."""
    from scipy.spatial import cKDTree

    ok = np.isfinite(targets.to_numpy()).all(axis=1)
    t = targets[ok]
    _, idx = cKDTree(t.to_numpy()).query(points)
    return t.index.to_numpy()[idx]


def _resolve_load(value: str, net: pp.pandapowerNet) -> int | None:
    """A load given by index or name; None if the grid has no such load."""
    value = str(value).strip()
    if value.lstrip("-").isdigit() and int(value) in net.load.index:
        return int(value)
    named = net.load.index[net.load["name"].astype(str) == value]
    return int(named[0]) if len(named) else None


def read_customers(path: str | Path, net, wn) -> pd.DataFrame:
    """Read a customer register; ids must exist, rows may leave load/junction to coordinates.

    Raises
    ------
    CityImportError
        For a malformed file or a load/junction the networks lack (file, line, column).
    """
    try:
        df = schemas.read_table("customers", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    loads = net.load.index if net is not None else pd.Index([])
    bad = df.index[(df["load"] >= 0) & ~df["load"].isin(loads)]
    if len(bad):
        i = bad[0]
        raise CityImportError(f"{path}, line {i + 2}, column load: no load {df.at[i, 'load']} "
                              f"in the grid ({len(bad)} such rows); give a load index of the "
                              "grid, or leave it empty and give x_m, y_m")
    nodes = wn.node_name_list if wn is not None else []
    bad = df.index[(df["junction"] != "") & ~df["junction"].isin(nodes)]
    if len(bad):
        i = bad[0]
        raise CityImportError(f"{path}, line {i + 2}, column junction: no junction "
                              f"{df.at[i, 'junction']!r} in the water network ({len(bad)} such "
                              "rows)")
    return df


def meters_as_customers(path: str | Path, customers: pd.DataFrame, net, wn) -> pd.DataFrame:
    """Merge a meter register into the customers: a meter names its customer (or is one) and
    the load or junction it serves (or has coordinates for the nearest).

    Raises
    ------
    CityImportError
        For a malformed file, or an element the networks lack (file, line, column).
    """
    try:
        meters = schemas.read_table("meters", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    rows = {r["customer_id"]: r for r in customers.to_dict("records")}
    blank = schemas.with_defaults("customers", pd.DataFrame({"customer_id": [""]})).iloc[0]
    nodes = set(wn.node_name_list) if wn is not None else set()
    for i, m in zip(meters.index, meters.itertuples(), strict=True):
        electric = m.network == "electric"
        element = None
        if m.element:
            element = _resolve_load(m.element, net) if electric and net is not None else (
                m.element if not electric and m.element in nodes else None)
            if element is None:
                what = "load (index or name) in the grid" if electric else \
                    "junction in the water network"
                raise CityImportError(f"{path}, line {i + 2}, column element: no {what} "
                                      f"named {m.element!r}")
        cid = m.customer_id or m.meter_id
        row = rows.setdefault(cid, {**blank.to_dict(), "customer_id": cid})
        row["electric_meter_id" if electric else "water_meter_id"] = m.meter_id
        if element is not None:
            row["load" if electric else "junction"] = element
        if np.isfinite(m.x_m) and not np.isfinite(row["x_m"]):
            row["x_m"], row["y_m"] = m.x_m, m.y_m
    return pd.DataFrame(list(rows.values()), columns=customers.columns)


def map_customers(customers: pd.DataFrame, net, wn) -> tuple[pd.DataFrame, dict]:
    """Map customers without a load or junction to the nearest one by their coordinates.

    Electricity customers go to the load of the nearest bus that has one (pump loads
    excepted), water customers to the nearest junction with demand.

    Returns
    -------
    (DataFrame, dict)
        The customers, and counts of those mapped to no load / no junction.
    """
    df = customers.copy()
    has_xy = np.isfinite(df[["x_m", "y_m"]].to_numpy(dtype=float)).all(axis=1)
    unmapped = {}
    if net is not None:
        loads = net.load[net.load.profile.astype(str) != "pump"]
        need = (df["load"] < 0) & (df["electric_meter_id"] != "")
        xy = _xy_or_none(lambda: bus_xy(net).loc[loads.bus.unique()])
        if xy is not None and (need & has_xy).any():
            bus = _nearest(df.loc[need & has_xy, ["x_m", "y_m"]].to_numpy(float), xy)
            first_load = loads.reset_index().groupby("bus")["index"].first()
            df.loc[need & has_xy, "load"] = first_load.loc[bus].to_numpy()
        unmapped["electricity meters with no load"] = int(((df["load"] < 0)
                                                           & (df["electric_meter_id"] != "")).sum())
    if wn is not None:
        demand = demand_junctions(wn) or \
            wn.junction_name_list
        need = (df["junction"] == "") & (df["water_meter_id"] != "")
        xy = _xy_or_none(lambda: node_xy(wn).loc[demand])
        if xy is not None and (need & has_xy).any():
            df.loc[need & has_xy, "junction"] = _nearest(
                df.loc[need & has_xy, ["x_m", "y_m"]].to_numpy(float), xy)
        unmapped["water meters with no junction"] = int(((df["junction"] == "")
                                                         & (df["water_meter_id"] != "")).sum())
    return df, unmapped


def read_pumps(path: str | Path, net, wn) -> pd.DataFrame:
    """Read the pump-to-bus list (``pump``, ``bus``, ``rated_kw``, ``efficiency``)."""
    try:
        pumps = schemas.read_table("pumps", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    for i, p in pumps.iterrows():
        if wn is None or p.pump not in wn.pump_name_list:
            raise CityImportError(f"{path}, line {i + 2}, column pump: no pump {p.pump!r} in "
                                  "the water network")
        if net is None or p.bus not in net.bus.index:
            raise CityImportError(f"{path}, line {i + 2}, column bus: no bus {p.bus} in the "
                                  "grid")
    return pumps


def read_assets(path: str | Path, net, wn) -> pd.DataFrame:
    """Read an asset register and check every element exists in its network."""
    try:
        assets = schemas.read_table("assets", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    water_names = {"pipe": "pipe_name_list", "pump": "pump_name_list",
                   "tank": "tank_name_list", "valve": "valve_name_list"}
    for i, a in assets.iterrows():
        if a.network == "electric":
            ok = net is not None and a.element_table in net and \
                str(a.element).lstrip("-").isdigit() and int(a.element) in net[a.element_table].index
        else:
            ok = wn is not None and a.element_table in water_names and \
                a.element in getattr(wn, water_names[a.element_table])
        if not ok:
            raise CityImportError(f"{path}, line {i + 2}, column element: no "
                                  f"{a.element_table} {a.element!r} in the {a.network} network")
    return assets
