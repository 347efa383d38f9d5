"""Year-long load and generation profiles of the electric net, from SimBench.

SimBench ships one year of 15-min profiles (35,136 steps, 2016) inside its wheel. They are
turned into absolute values per element once and cached as Parquet in the data directory.
Times are UTC: SimBench's clock is read as the city's local standard time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


class SimbenchProfileSource:
    """A SimBench grid's year of profiles, built chunk by chunk from its profile types.

    SimBench stores relative profiles per profile type (a few dozen columns) and each element's
    peak value; the absolute table of a city-scale grid (11,542 loads × 35,136 steps, about
    6.7 GB in float64) is never built: :meth:`chunk` multiplies the rows asked for by the
    elements' peaks (as ``simbench.get_absolute_values`` does, a missing profile counting as 1).

    Parameters
    ----------
    net : pandapowerNet
        A SimBench grid with ``net.profiles`` (from :func:`twin.electric.network.simbench_grid`).
    year : int
        Year the profiles are placed in (SimBench's is 2016).
    timezone : str
        SimBench's clock is read as this zone's local standard time; times are UTC.
    dtype : numpy dtype
        Float type of the profile types held in memory (``np.float32`` halves them).

    Raises
    ------
    ValueError
        Naming the table and profile type for a type the elements use but ``net.profiles``
        lacks, or a type with NaN values.
    """

    #: Profile table -> (element table, peak column, net.profiles table, type suffix)
    SPEC = {
        "load_p_mw": ("load", "p_mw", ("load",), "_pload"),
        "load_q_mvar": ("load", "q_mvar", ("load",), "_qload"),
        "sgen_p_mw": ("sgen", "p_mw", ("powerplants", "renewables"), ""),
    }

    def __init__(self, net, year: int = 2016, timezone: str = "UTC", dtype=np.float64):
        self.names = tuple(name for name, (table, *_) in self.SPEC.items() if len(net[table]))
        self._types, self._column, self._peak, self._elements = {}, {}, {}, {}
        steps = None
        for name in self.names:
            table, column, sources, suffix = self.SPEC[name]
            elements = net[table]
            frames = [net.profiles[s] for s in sources if s in net.profiles]
            relative = pd.concat([f.drop(columns="time", errors="ignore") for f in frames],
                                 axis=1) if frames else pd.DataFrame()
            wanted = elements["profile"] + suffix if "profile" in elements else \
                pd.Series(np.nan, index=elements.index)
            used = pd.Index(wanted.dropna().unique())
            missing = used.difference(relative.columns)
            if len(missing):
                raise ValueError(f"{table} profile types {list(missing[:5])} are not in "
                                 f"net.profiles {list(sources)}; use the grid's own profiles")
            types = relative[used].to_numpy(dtype=dtype)
            if not np.isfinite(types).all():
                col = used[int(np.argmax(~np.isfinite(types).all(axis=0)))]
                raise ValueError(f"{table} profile type {col} has NaN values; fill them")
            # column per element; the extra last column of ones stands for "no profile"
            self._types[name] = np.hstack([types, np.ones((len(types), 1), dtype=dtype)])
            self._column[name] = np.where(wanted.isna(), len(used),
                                          used.get_indexer(wanted.fillna(""))).astype(np.int64)
            self._peak[name] = elements[column].to_numpy(dtype=dtype)
            self._elements[name] = pd.Index(elements.index)
            steps = len(types) if steps is None else steps
        self.index = profile_index(year, timezone, steps or 0)

    def elements(self, name: str) -> pd.Index:
        """Element index of the profile table ``name``."""
        return self._elements[name]

    def chunk(self, name: str, positions: np.ndarray) -> np.ndarray:
        """Absolute values [MW] or [Mvar], ``len(positions)`` steps × elements."""
        return self._types[name][positions][:, self._column[name]] * self._peak[name]

    def table(self, name: str, positions: np.ndarray | slice = slice(None)) -> pd.DataFrame:
        """The same as a DataFrame (time × element) for a few steps."""
        positions = np.arange(len(self.index))[positions]
        return pd.DataFrame(self.chunk(name, positions), index=self.index[positions],
                            columns=self._elements[name])


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
