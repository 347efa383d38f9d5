"""The asset register, checked for what the maintenance models need.

Unknown classes, missing or future install years, duplicate ids and assets that map to no
network element are not dropped: each asset gets a ``flag`` text naming the problem; rows
that cannot be ranked at all (unknown class, no install year) are listed with their row and
column in :class:`RegisterError` when ``strict``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.maintenance.parameters import asset_classes


class RegisterError(ValueError):
    """The asset register cannot be ranked as it is."""


def check_register(assets: pd.DataFrame, net, wn, as_of_year: int) -> pd.DataFrame:
    """Return the register with ``age_years`` and ``flag`` (``""`` when nothing is wrong).

    Raises
    ------
    RegisterError
        Naming the row (1-based data row of the register file, the header is row 1) and
        column of every asset that cannot be ranked: unknown ``asset_class``, missing
        ``install_year``, duplicate ``asset_id``.
    """
    df = assets.reset_index(drop=True).copy()
    problems = []
    known = asset_classes().index
    for col in ("asset_id", "asset_class", "install_year", "element_table", "element"):
        if col not in df.columns:
            raise RegisterError(f"asset register: column {col!r} missing")
    for i in np.flatnonzero(~df.asset_class.isin(known)):
        problems.append(f"row {i + 2}, column asset_class: unknown class "
                        f"{df.asset_class.iat[i]!r} (known: {', '.join(known)})")
    year = pd.to_numeric(df.install_year, errors="coerce")
    for i in np.flatnonzero(year.isna()):
        problems.append(f"row {i + 2}, column install_year: missing or not a year "
                        f"({df.install_year.iat[i]!r}) for {df.asset_id.iat[i]}")
    dup = df.asset_id.duplicated(keep=False)
    for i in np.flatnonzero(dup):
        problems.append(f"row {i + 2}, column asset_id: duplicate id {df.asset_id.iat[i]!r}")
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise RegisterError("asset register: " + "; ".join(problems[:10]) + more)
    df["install_year"] = year.astype(int)
    df["age_years"] = (as_of_year - df.install_year).astype(float)
    flags = pd.Series("", index=df.index)
    future = df.install_year > as_of_year
    flags[future] = f"install_year after {as_of_year}: not yet in service, age 0 used; "
    df.loc[future, "age_years"] = 0.0
    mapped = df.apply(lambda r: _maps(r, net, wn), axis=1)
    flags[~mapped] += "maps to no network element (no network consequence); "
    df["mapped"] = mapped
    df["flag"] = flags.str.rstrip("; ")
    return df


def _maps(row, net, wn) -> bool:
    table, element = row.element_table, str(row.element)
    if row.network == "electric":
        if table not in net or not len(net[table]):
            return False
        try:
            return int(element) in net[table].index
        except ValueError:
            return False
    try:
        if table == "pipe":
            return element in wn.pipe_name_list
        if table == "pump":
            return element in wn.pump_name_list
        if table == "tank":
            return element in wn.tank_name_list
        if table == "valve":
            return element in wn.valve_name_list
    except Exception:
        return False
    return False
