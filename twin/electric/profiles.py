"""Year-long load and generation profiles of the electric net, from SimBench.

SimBench ships one year of 15-min profiles (35,136 steps, 2016) inside its wheel. They are
turned into absolute values per element once and cached as Parquet in the data directory.
Times are UTC: SimBench's clock is read as the city's local standard time.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from twin import config

#: Profile tables and their units, one place.
PROFILE_TABLES = {"load_p_mw": "MW", "load_q_mvar": "Mvar", "sgen_p_mw": "MW"}
STEP = pd.Timedelta("15min")


def standard_utc_offset(timezone: str, year: int) -> pd.Timedelta:
    """Return the zone's standard-time offset from UTC in ``year`` (its January offset)."""
    return pd.Timestamp(f"{year}-01-15", tz=timezone).utcoffset()


def profile_index(year: int, timezone: str, steps: int) -> pd.DatetimeIndex:
    """UTC times of ``steps`` 15-min steps starting at local standard midnight, 1 January."""
    start = pd.Timestamp(f"{year}-01-01") - standard_utc_offset(timezone, year)
    return pd.date_range(start.tz_localize("UTC"), periods=steps, freq=STEP, name="time")


def profiles_dir() -> Path:
    return config.data_dir() / "profiles"


def simbench_profiles(code: str, year: int, timezone: str, refresh: bool = False) -> dict:
    """Return absolute SimBench profiles per element, cached as Parquet.

    Parameters
    ----------
    code : str
        SimBench grid code.
    year : int
        Year the profiles are placed in (SimBench's is 2016).
    timezone : str
        City time zone; SimBench's clock is taken as its local standard time.

    Returns
    -------
    dict of DataFrame
        ``load_p_mw``, ``load_q_mvar`` and ``sgen_p_mw``: time (UTC) × element index,
        in [MW] or [Mvar].
    """
    folder = profiles_dir() / code
    paths = {name: folder / f"{name}.parquet" for name in PROFILE_TABLES}
    if not refresh and all(p.exists() for p in paths.values()):
        return {name: _read(path) for name, path in paths.items()}
    import simbench

    from twin.electric.network import simbench_grid

    net = simbench_grid(code)
    absolute = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    tables = {
        "load_p_mw": absolute[("load", "p_mw")],
        "load_q_mvar": absolute[("load", "q_mvar")],
        "sgen_p_mw": absolute[("sgen", "p_mw")],
    }
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, df in tables.items():
        df = df.copy()
        df.index = profile_index(year, timezone, len(df))
        df.columns = df.columns.astype(str)
        tmp = paths[name].with_suffix(".tmp")
        df.to_parquet(tmp)
        tmp.replace(paths[name])
        out[name] = _read(paths[name])
    return out


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_parquet(path)
    df.columns = df.columns.astype(int)
    return df


def rooftop_pv_profiles(customers: pd.DataFrame, year: int, timezone: str) -> pd.DataFrame:
    """AC output of every customer's rooftop PV over the year, 15-min, UTC [kW].

    Returns
    -------
    DataFrame
        time (UTC) × ``customer_id`` of the customers with PV.
    """
    from twin.electric import pv

    hourly, location = pv.reference_weather(year)
    steps = 366 * 96 if pd.Timestamp(year=year, month=1, day=1).is_leap_year else 365 * 96
    weather = pv.weather_at(hourly, location, profile_index(year, timezone, steps))
    roofs = customers[customers.pv_kwp > 0].set_index("customer_id")
    return pv.rooftop_pv_kw(weather, roofs.pv_kwp, roofs.pv_tilt_deg, roofs.pv_azimuth_deg)


def city_profiles(city, refresh: bool = False) -> dict:
    """The city's year of profiles: SimBench loads, rooftop PV modelled with pvlib.

    Each SimBench low-voltage renewable unit (``lv_RES``) stands for the rooftops of its
    customers: its profile is the sum of their pvlib output. Other generators keep their
    SimBench profile. Cached as Parquet under ``profiles/<grid code>/city/``.

    Returns
    -------
    dict of DataFrame
        ``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw`` (time UTC × element index) [MW], [Mvar].
    """
    r = city.recipe
    base = simbench_profiles(r.electric_grid, r.year, r.timezone, refresh)
    path = profiles_dir() / r.electric_grid / "city" / "sgen_p_mw.parquet"
    if path.exists() and not refresh:
        return {**base, "sgen_p_mw": _read(path)}
    roofs = rooftop_pv_profiles(_roofs_of(city), r.year, r.timezone)
    owners = _roofs_of(city).set_index("customer_id").loc[roofs.columns, "sgen"]
    sgen_kw = roofs.T.groupby(owners.to_numpy()).sum().T
    sgen = base["sgen_p_mw"].copy()
    sgen.loc[:, sgen_kw.columns] = sgen_kw.to_numpy()[: len(sgen)] / 1000.0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    out = sgen.copy()
    out.columns = out.columns.astype(str)
    out.to_parquet(tmp)
    tmp.replace(path)
    return {**base, "sgen_p_mw": sgen}


def _roofs_of(city) -> pd.DataFrame:
    """Customers' roofs, plus one south-facing roof for each rooftop unit without customers."""
    net, customers = city.net, city.customers
    rooftop = net.sgen.index[net.sgen.type.str.startswith("lv_")]
    orphan = rooftop.difference(customers.sgen.unique())
    extra = pd.DataFrame({"customer_id": [f"sgen {i}" for i in orphan],
                          "pv_kwp": net.sgen.loc[orphan, "p_mw"].to_numpy() * 1000.0,
                          "sgen": orphan, "pv_tilt_deg": 25.0, "pv_azimuth_deg": 180.0})
    cols = list(extra.columns)
    return pd.concat([customers.loc[customers.pv_kwp > 0, cols], extra], ignore_index=True)
