"""Table schemas of a city folder, declared once with units; used to validate and to document.

Each column is declared with its type, its unit in brackets in the description, what values
it may take and, for an optional column, the default a table without it takes. A utility
fills only the required columns; ``validate(name, df, source)`` adds the optional ones at
their defaults, checks the table and names the file, line and column of the first bad values.
``data/CITY-FOLDER.md`` documents the same declarations (``describe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

#: Version of the city folder layout this twin writes and reads (``format_version`` in
#: ``recipe.yaml``).
CITY_FORMAT_VERSION = 1

CUSTOMER_CLASSES = ["residential", "commercial", "industrial", "critical"]
ASSET_CLASSES = [
    "hv_mv_transformer", "distribution_transformer", "cable", "switch",
    "pipe", "pump", "tank", "valve", "flow_meter",
]
ELEMENT_TABLES = ["trafo", "load", "line", "switch", "pipe", "pump", "tank", "valve"]
RATING_UNITS = ["MVA", "kVA", "kA", "A", "mm", "kW", "m3", ""]
#: Value of an integer element reference (``load``, ``bus``, ``sgen``) that points nowhere.
NO_ELEMENT = -1


@dataclass(frozen=True)
class Column:
    """One column of a city table: type, description with unit, checks, default if optional."""

    dtype: type
    description: str
    checks: dict = field(default_factory=dict)
    required: bool = True
    default: object = None
    nullable: bool = False

    def pandera(self) -> pa.Column:
        checks = [getattr(pa.Check, k)(*v) if isinstance(v, tuple) else getattr(pa.Check, k)(v)
                  for k, v in self.checks.items()]
        return pa.Column(self.dtype, checks=checks, description=self.description,
                         nullable=self.nullable, coerce=True)


def _req(dtype, description: str, **checks) -> Column:
    return Column(dtype, description, checks)


def _opt(dtype, default, description: str, nullable: bool = False, **checks) -> Column:
    return Column(dtype, description, checks, required=False, default=default,
                  nullable=nullable)


#: Every table of a city folder: columns in file order. Required columns first.
TABLES: dict[str, dict[str, Column]] = {
    "customers": {
        "customer_id": _req(str, "customer account"),
        "customer_class": _opt(str, "residential", "tariff class", isin=CUSTOMER_CLASSES),
        "segment": _opt(str, "", "what the connection serves, e.g. 'multi-family building'"),
        "electric_meter_id": _opt(str, "", "electricity meter id; empty for none"),
        "water_meter_id": _opt(str, "", "water meter id; empty for none"),
        "load": _opt(int, NO_ELEMENT, "index in net.load the connection draws from; -1 or "
                     "empty: `twin city import` maps it to the load of the nearest bus"),
        "bus": _opt(int, NO_ELEMENT, "index in net.bus of that load (derived from load)"),
        "feeder": _opt(str, "", "MV feeder supplying the bus (derived from bus)"),
        "load_share": _opt(float, np.nan, "mean share of the load's energy [-]; default an "
                           "equal share of the load's customers", nullable=True,
                           in_range=(0.0, 1.0)),
        "junction": _opt(str, "", "water junction the connection draws from; empty: `twin "
                         "city import` maps it to the nearest junction with demand"),
        "water_share": _opt(float, np.nan, "share of the junction's demand [-]; default an "
                            "equal share of the junction's customers", nullable=True,
                            in_range=(0.0, 1.0)),
        "dma": _opt(str, "", "district metered area of the junction (derived from junction)"),
        "pv_kwp": _opt(float, 0.0, "rooftop PV peak power [kWp]", ge=0.0),
        "sgen": _opt(int, NO_ELEMENT, "index in net.sgen of the PV the roof belongs to, -1 for "
                     "none"),
        "pv_tilt_deg": _opt(float, 0.0, "roof tilt from horizontal [deg]",
                            in_range=(0.0, 90.0)),
        "pv_azimuth_deg": _opt(float, 180.0, "roof azimuth clockwise from north [deg]",
                               in_range=(0.0, 360.0)),
        "x_m": _opt(float, np.nan, "easting in the city frame [m]; empty if unknown",
                    nullable=True),
        "y_m": _opt(float, np.nan, "northing in the city frame [m]; empty if unknown",
                    nullable=True),
    },
    "assets": {
        "asset_id": _req(str, "asset register id"),
        "asset_class": _req(str, "kind of asset", isin=ASSET_CLASSES),
        "network": _req(str, "'electric' or 'water'", isin=["electric", "water"]),
        "element_table": _req(str, "net table or WNTR element type it maps to",
                              isin=ELEMENT_TABLES),
        "element": _req(str, "element index (electric) or name (water)"),
        "install_year": _req(int, "year of installation [a]", in_range=(1850, 2100)),
        "type_material": _opt(str, "", "type, standard type or pipe material"),
        "rating": _opt(float, 0.0, "rated value, in rating_unit; 0 if unknown", ge=0.0),
        "rating_unit": _opt(str, "", "unit of rating", isin=RATING_UNITS),
        "length_m": _opt(float, 0.0, "length [m], 0 for point assets", ge=0.0),
        "criticality": _opt(int, 3, "consequence of failure, 1 (low) to 5 (high)",
                            in_range=(1, 5)),
    },
    "dmas": {
        "node": _req(str, "water node name"),
        "dma": _req(str, "zone of the node: a DMA, 'source', or an unmetered zone"),
    },
    "dma_meters": {
        "meter_id": _req(str, "boundary flow meter id (its SCADA tag names it)"),
        "link": _req(str, "water link the meter sits on"),
        "link_type": _opt(str, "Pipe", "'Pipe', 'Pump' or 'Valve'"),
        "from_zone": _req(str, "zone a positive link flow leaves"),
        "to_zone": _req(str, "zone a positive link flow enters"),
        "direction": _opt(str, "forward", "'forward': the meter reads the link flow [m3/s] "
                          "from its start node to its end node; 'reverse': the opposite",
                          isin=["forward", "reverse"]),
    },
    "pumps": {
        "pump": _req(str, "water pump name"),
        "bus": _req(int, "index in net.bus that feeds the pump motor"),
        "distance_m": _opt(float, np.nan, "distance pump to bus in the city frame [m]",
                           nullable=True),
        "design_flow_m3s": _opt(float, np.nan, "design flow [m3/s]", nullable=True),
        "design_head_m": _opt(float, np.nan, "design head [m]", nullable=True),
        "efficiency": _opt(float, 0.75, "wire-to-water efficiency [-]", in_range=(0.05, 1.0)),
        "rated_kw": _req(float, "rated electrical power [kW]", ge=0.0),
    },
    # ---- inputs of `twin city import` (not stored as such in a city folder)
    "boundary_meters": {
        "meter_id": _req(str, "flow meter id"),
        "link": _req(str, "water link (pipe, pump or valve) the meter sits on"),
        "direction": _opt(str, "forward", "'forward': positive reading is flow from the link's "
                          "start node to its end node; 'reverse': the opposite",
                          isin=["forward", "reverse"]),
    },
    "meters": {
        "meter_id": _req(str, "meter id, as the meter data exports name it"),
        "network": _req(str, "'electric' or 'water'", isin=["electric", "water"]),
        "customer_id": _opt(str, "", "customer the meter belongs to; empty: the meter is "
                            "its own customer"),
        "element": _opt(str, "", "load (index or name) or junction name it serves; empty: "
                        "the nearest one to x_m, y_m"),
        "x_m": _opt(float, np.nan, "easting in the city frame [m]", nullable=True),
        "y_m": _opt(float, np.nan, "northing in the city frame [m]", nullable=True),
    },
}

SCHEMAS = {
    name: pa.DataFrameSchema({c: col.pandera() for c, col in cols.items()}, strict=True,
                             unique=[next(iter(cols))] if name not in ("dmas",) else ["node"])
    for name, cols in TABLES.items()
}
# Kept for callers that use the schema objects directly.
CUSTOMERS = SCHEMAS["customers"]
ASSETS = SCHEMAS["assets"]


class TableError(ValueError):
    """A city table that breaks its schema; the message names file, line and column."""


def required_columns(name: str) -> list[str]:
    """Columns a table must have."""
    return [c for c, col in TABLES[name].items() if col.required]


def with_defaults(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Add the table's optional columns missing from ``df`` at their declared defaults, fill
    empty cells of optional columns likewise, and put the columns in declared order."""
    df = df.copy()
    for c, col in TABLES[name].items():
        if col.required:
            continue
        if c not in df:
            df[c] = col.default
        elif not col.nullable:
            df[c] = df[c].where(df[c].notna(), col.default)
    extra = [c for c in df.columns if c not in TABLES[name]]
    return df[list(TABLES[name]) + extra]


def _line(index_value, first_line: int) -> str:
    try:
        return f"line {int(index_value) + first_line}"
    except (TypeError, ValueError):
        return f"row {index_value}"


def validate(name: str, df: pd.DataFrame, source: str | Path | None = None,
             first_line: int = 2) -> pd.DataFrame:
    """Validate a city table against its schema, optional columns filled at their defaults.

    Parameters
    ----------
    name : str
        Table name, a key of :data:`TABLES`.
    df : DataFrame
        The table as read, with its default RangeIndex (row 0 is line ``first_line``).
    source : str or Path, optional
        File the table was read from, named in errors.
    first_line : int
        File line of the first row (2 for a CSV with one header line).

    Raises
    ------
    TableError
        Naming the file, line and column of the first failures and what to do.
    """
    where = f"{source}" if source else f"table {name!r}"
    missing = [c for c in required_columns(name) if c not in df.columns]
    if missing:
        raise TableError(f"{where}, line 1: required column(s) {missing} missing (has "
                         f"{list(df.columns)[:12]}); see data/CITY-FOLDER.md")
    unknown = [c for c in df.columns if c not in TABLES[name]]
    if unknown:
        raise TableError(f"{where}, line 1: unknown column(s) {unknown}; the columns of "
                         f"{name} are {list(TABLES[name])}")
    df = with_defaults(name, df)
    try:
        return SCHEMAS[name].validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        lines = []
        for r in cases.head(5).itertuples():
            col = r.column if isinstance(r.column, str) else name
            at = _line(r.index, first_line) if r.index == r.index and r.index is not None \
                else "every line"
            lines.append(f"{at}, column {col}: {r.failure_case!r} fails {r.check}")
        more = f" (and {len(cases) - 5} more)" if len(cases) > 5 else ""
        raise TableError(f"{where}: " + "; ".join(lines) + more + "; fix the file") from None


def read_table(name: str, path: str | Path) -> pd.DataFrame:
    """Read a city CSV table and validate it; every column is read as text first so that
    ids like ``007`` keep their zeros.

    Raises
    ------
    TableError
        For a missing, empty or malformed file, naming file, line and column.
    """
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: no such file")
    text_cols = {c: str for c, col in TABLES[name].items() if col.dtype is str}
    try:
        df = pd.read_csv(path, dtype=text_cols, keep_default_na=True, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise TableError(f"{path}, line 1: empty file; it needs the header "
                         f"{','.join(required_columns(name))}") from None
    except pd.errors.ParserError as exc:
        raise TableError(f"{path}: not a readable CSV ({str(exc).strip()})") from None
    except UnicodeDecodeError as exc:
        raise TableError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    df.columns = [str(c).strip() for c in df.columns]
    for c, col in TABLES[name].items():
        if c in df and col.dtype is str:
            df[c] = df[c].astype(object).where(df[c].notna(), col.default if not col.required
                                               else None)
    return validate(name, df, path)


def describe(name: str) -> pd.DataFrame:
    """Return a table's columns with type, whether required, default and description."""
    return pd.DataFrame(
        [(c, col.dtype.__name__, "yes" if col.required else "no",
          "" if col.required else repr(col.default), col.description)
         for c, col in TABLES[name].items()],
        columns=["column", "dtype", "required", "default", "description"],
    )


def markdown(name: str) -> str:
    """A table's columns as a Markdown table (``data/CITY-FOLDER.md`` holds these)."""
    rows = ["| column | type | required | default | description |",
            "|---|---|---|---|---|"]
    for r in describe(name).itertuples():
        default = r.default.replace("|", "\\|")
        rows.append(f"| `{r.column}` | {r.dtype} | {r.required} | {default} | "
                    f"{r.description} |")
    return "\n".join(rows)
