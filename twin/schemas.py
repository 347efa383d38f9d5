"""Table schemas of the city, declared once with units; used to validate and to document.

Each column is declared with its type, its unit in brackets in the description, and what
values it may take. ``validate(name, df)`` checks a table and names the bad column and rows.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

CUSTOMER_CLASSES = ["residential", "commercial", "industrial", "critical"]
ASSET_CLASSES = [
    "hv_mv_transformer", "distribution_transformer", "cable", "switch",
    "pipe", "pump", "tank", "valve", "flow_meter",
]
ELEMENT_TABLES = ["trafo", "load", "line", "switch", "pipe", "pump", "tank", "valve"]


def _col(dtype, description: str, **checks) -> pa.Column:
    checks_list = [getattr(pa.Check, k)(*v) if isinstance(v, tuple) else getattr(pa.Check, k)(v)
                   for k, v in checks.items()]
    return pa.Column(dtype, checks=checks_list, description=description, nullable=False)


CUSTOMERS = pa.DataFrameSchema(
    {
        "customer_id": _col(str, "customer account"),
        "customer_class": _col(str, "tariff class", isin=CUSTOMER_CLASSES),
        "segment": _col(str, "what the connection serves, e.g. 'multi-family building'"),
        "electric_meter_id": _col(str, "electricity meter id"),
        "water_meter_id": _col(str, "water meter id"),
        "load": _col(int, "index in net.load the connection draws from"),
        "bus": _col(int, "index in net.bus of that load"),
        "feeder": _col(str, "MV feeder supplying the bus"),
        "load_share": _col(float, "mean share of the load's energy [-]", in_range=(0.0, 1.0)),
        "junction": _col(str, "water junction the connection draws from"),
        "water_share": _col(float, "share of the junction's demand [-]", in_range=(0.0, 1.0)),
        "dma": _col(str, "district metered area of the junction"),
        "pv_kwp": _col(float, "rooftop PV peak power [kWp]", ge=0.0),
        "sgen": _col(int, "index in net.sgen of the PV the roof belongs to, -1 for none"),
        "pv_tilt_deg": _col(float, "roof tilt from horizontal [deg]", in_range=(0.0, 90.0)),
        "pv_azimuth_deg": _col(float, "roof azimuth clockwise from north [deg]",
                               in_range=(0.0, 360.0)),
        "x_m": _col(float, "easting in the city frame [m]"),
        "y_m": _col(float, "northing in the city frame [m]"),
    },
    strict=True,
    unique=["customer_id"],
)

ASSETS = pa.DataFrameSchema(
    {
        "asset_id": _col(str, "asset register id"),
        "asset_class": _col(str, "kind of asset", isin=ASSET_CLASSES),
        "network": _col(str, "'electric' or 'water'", isin=["electric", "water"]),
        "element_table": _col(str, "net table or WNTR element type it maps to",
                              isin=ELEMENT_TABLES),
        "element": _col(str, "element index (electric) or name (water)"),
        "install_year": _col(int, "year of installation [a]", in_range=(1880, 2030)),
        "type_material": _col(str, "type, standard type or pipe material"),
        "rating": _col(float, "rated value, in rating_unit", ge=0.0),
        "rating_unit": _col(str, "unit of rating", isin=["MVA", "kVA", "kA", "A", "mm", "kW",
                                                         "m3"]),
        "length_m": _col(float, "length [m], 0 for point assets", ge=0.0),
        "criticality": _col(int, "consequence of failure, 1 (low) to 5 (high)", in_range=(1, 5)),
    },
    strict=True,
    unique=["asset_id"],
)

SCHEMAS = {"customers": CUSTOMERS, "assets": ASSETS}


def validate(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Validate a city table against its schema; raise ``ValueError`` naming the bad rows."""
    try:
        return SCHEMAS[name].validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases[["column", "check", "index", "failure_case"]].head(10)
        raise ValueError(f"table {name!r} breaks its schema:\n{cases.to_string()}") from None


def describe(name: str) -> pd.DataFrame:
    """Return a table's columns with their type and description (units in brackets)."""
    schema = SCHEMAS[name]
    return pd.DataFrame(
        [(c, str(col.dtype), col.description) for c, col in schema.columns.items()],
        columns=["column", "dtype", "description"],
    )
