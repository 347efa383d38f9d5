"""Year-long load and generation profiles of the electric net.

Three sources, chosen by the city's manifest (``profile_source``):

* ``simbench``: a SimBench grid's own year of 15-min profiles (35,136 steps, 2016), shipped
  inside its wheel, turned into absolute values per element once and cached as Parquet;
* ``standard``: a declared standard load profile type (SimBench's BDEW-style ``H0-A``
  household, ``G0-A`` commercial, ``L0-A`` farm …, from SimBench's complete data set) for
  every load, scaled by its ``p_mw``/``q_mvar``; generators by their kind (PV, wind …);
* ``store``: the utility's own interval reads from the measurement store, summed through the
  customer map onto their loads; loads without a read meter take the standard profile, and
  are reported.

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
#: Energy of one step at 1 MW [kWh].
KWH_PER_MW_INTERVAL = 1000.0 * STEP / pd.Timedelta("1h")
#: SimBench's complete data set: its LoadProfile.csv and RESProfile.csv hold every standard
#: profile type (relative to an element's rated power, 35,136 steps of 2016).
STANDARD_PROFILE_SET = "1-complete_data-mixed-all-0-sw"
#: Standard generator profile type (SimBench RESProfile) by a word in ``net.sgen.type``;
#: a generator of no listed kind runs flat at its ``p_mw``.
STANDARD_SGEN_PROFILES = {"pv": "PV3", "wind": "WP4", "wp": "WP4", "bio": "BM1",
                          "hydro": "Hydro1"}


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


def standard_profile_types(names: list[str], table: str = "LoadProfile") -> pd.DataFrame:
    """Relative standard profiles of SimBench's complete data set, by type name [-].

    Parameters
    ----------
    names : list of str
        Columns of ``<table>.csv``, e.g. ``["H0-A_pload", "H0-A_qload"]`` or ``["PV3"]``.
    table : str
        ``LoadProfile`` or ``RESProfile``.

    Returns
    -------
    DataFrame
        35,136 steps (SimBench's 2016, positional) × name; cached as Parquet.

    Raises
    ------
    ValueError
        Naming the unknown type and the known ones.
    """
    folder = profiles_dir() / "standard" / table
    paths = {n: folder / f"{n}.parquet" for n in names}
    missing = [n for n, p in paths.items() if not p.exists()]
    if missing:
        import simbench

        csv = Path(simbench.__file__).parent / "networks" / STANDARD_PROFILE_SET / f"{table}.csv"
        header = pd.read_csv(csv, sep=";", nrows=0).columns
        unknown = [n for n in missing if n not in header]
        if unknown:
            known = sorted({c.removesuffix("_pload").removesuffix("_qload") for c in header
                            if c != "time"})
            raise ValueError(f"no standard profile {unknown} in SimBench's {table}; known "
                             f"types: {', '.join(known)}")
        df = pd.read_csv(csv, sep=";", usecols=missing, dtype="float64")
        folder.mkdir(parents=True, exist_ok=True)
        for n in missing:
            tmp = paths[n].with_suffix(".tmp")
            df[[n]].to_parquet(tmp)
            tmp.replace(paths[n])
    return pd.concat([pd.read_parquet(paths[n]) for n in names], axis=1)


def _sgen_profile_type(kind: str) -> str | None:
    kind = str(kind).lower()
    return next((t for word, t in STANDARD_SGEN_PROFILES.items() if word in kind), None)


def standard_profiles(net, load_type: str, year: int, timezone: str) -> dict:
    """Profiles of every load from one standard load profile type, and of every generator
    from the standard profile of its kind (:data:`STANDARD_SGEN_PROFILES`). Pump loads have
    none: their power comes from the water model.

    A load's P is ``p_mw`` × the type's relative P, its Q ``q_mvar`` × the relative Q; a
    generator's P is ``p_mw`` × its kind's relative profile (flat where no kind matches).

    Returns
    -------
    dict of DataFrame
        ``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw``: time (UTC) × element [MW], [Mvar].
    """
    rel = standard_profile_types([f"{load_type}_pload", f"{load_type}_qload"])
    index = profile_index(year, timezone, len(rel))
    rp = rel[f"{load_type}_pload"].to_numpy()[:, None]
    rq = rel[f"{load_type}_qload"].to_numpy()[:, None]
    loads = net.load[net.load.get("profile", pd.Series("", index=net.load.index)).astype(str)
                     != "pump"]  # pumps follow the water model (twin.coupling)
    out = {"load_p_mw": pd.DataFrame(rp * loads.p_mw.to_numpy(), index=index,
                                     columns=loads.index),
           "load_q_mvar": pd.DataFrame(rq * loads.q_mvar.to_numpy(), index=index,
                                       columns=loads.index)}
    kinds = net.sgen.get("type", pd.Series("", index=net.sgen.index)).map(_sgen_profile_type)
    types = sorted(kinds.dropna().unique())
    res = standard_profile_types(types, "RESProfile") if types else pd.DataFrame()
    sgen = np.ones((len(index), len(net.sgen)))
    for k, t in enumerate(kinds):
        if t is not None:
            sgen[:, k] = res[t].to_numpy()
    out["sgen_p_mw"] = pd.DataFrame(sgen * net.sgen.p_mw.to_numpy(), index=index,
                                    columns=net.sgen.index)
    for df in out.values():
        df.index.name = "time"
        df.attrs["source"] = f"standard profile {load_type}"
    return out


def store_load_profiles(net, customers: pd.DataFrame, store, fallback: dict) -> dict:
    """Load profiles from the utility's interval reads, summed through the customer map.

    At each step a load's energy is the sum of its customers' read meters divided by the
    share of the load those meters stand for (``load_share``), so a load with a meter missing
    at a step is scaled up from the others; a load none of whose meters is read at a step,
    or that has no meter at all, takes ``fallback`` there. Q follows P at the load's rated
    power factor.

    Parameters
    ----------
    net : pandapowerNet
    customers : DataFrame
        ``electric_meter_id``, ``load``, ``load_share`` per customer.
    store : MeasurementStore
        Holds ``electric_interval`` [kWh per interval].
    fallback : dict
        Profiles on the time axis wanted (e.g. :func:`standard_profiles`).

    Returns
    -------
    dict of DataFrame
        Like ``fallback``; ``load_p_mw.attrs`` holds ``loads_without_meter`` (list),
        ``load_steps_from_fallback`` (count) and ``meters_read`` (count).
    """
    from twin.electric.meter_anomaly import read_meters

    index = fallback["load_p_mw"].index
    metered = customers[(customers.electric_meter_id != "") & (customers["load"] >= 0)]
    p = fallback["load_p_mw"].copy()
    q = fallback["load_q_mvar"].copy()
    no_meter = sorted(set(net.load.index[net.load.profile.astype(str) != "pump"])
                      - set(metered["load"]))
    report = {"loads_without_meter": no_meter, "load_steps_from_fallback": 0, "meters_read": 0}
    if len(metered):
        try:
            m = read_meters(store, metered, index.tz_convert("UTC").tz_localize(None))
        except ValueError:  # LossesError: the store holds no read of any meter
            m = None
        if m is not None:
            share = metered.drop_duplicates("electric_meter_id").set_index(
                "electric_meter_id").loc[m.meter_ids, "load_share"].to_numpy(dtype=float)
            loads = m.meter_load.to_numpy()
            kwh = np.nan_to_num(m.kwh.astype(float))
            seen = (~np.isnan(m.kwh)).astype(float)
            frame = pd.DataFrame(kwh).T.groupby(loads).sum().T
            covered = pd.DataFrame(seen * share).T.groupby(loads).sum().T
            with np.errstate(divide="ignore", invalid="ignore"):
                mw = frame.to_numpy() / covered.to_numpy() / KWH_PER_MW_INTERVAL
            cols = frame.columns
            ok = covered.to_numpy() > 0
            base_p = p[cols].to_numpy()
            new_p = np.where(ok, mw, base_p)
            pf = (net.load.q_mvar / net.load.p_mw).reindex(cols).replace(
                [np.inf, -np.inf], np.nan).fillna(0.0).to_numpy()
            p.loc[:, cols] = new_p
            q.loc[:, cols] = np.where(ok, new_p * pf, q[cols].to_numpy())
            report["load_steps_from_fallback"] = int((~ok).sum())
            report["meters_read"] = len(m.meter_ids)
            never = cols[~ok.any(axis=0)]
            report["loads_without_meter"] = sorted(set(no_meter) | set(never))
    p.attrs = {"source": "measurement store", **report}
    return {**fallback, "load_p_mw": p, "load_q_mvar": q}


def city_profiles(city, refresh: bool = False, store=None) -> dict:
    """The city's year of profiles, from the source its manifest declares.

    ``simbench``: SimBench loads, rooftop PV modelled with pvlib (each SimBench low-voltage
    renewable unit ``lv_RES`` stands for the rooftops of its customers: its profile is the
    sum of their pvlib output; other generators keep their SimBench profile), cached as
    Parquet under ``<city's data dir>/profiles/<grid code>/city/``. ``standard``: :func:`standard_profiles`.
    ``store``: :func:`store_load_profiles` from ``store`` (default the city's
    ``<data dir>/store``) over the city's year, the standard profile where nothing is read.

    Returns
    -------
    dict of DataFrame
        ``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw`` (time UTC × element index) [MW], [Mvar].
    """
    r = city.recipe
    city.require("electric", what="load profiles")
    if r.profiles == "standard":
        return standard_profiles(city.net, r.standard_profile, r.year, r.timezone)
    if r.profiles == "store":
        from twin.ingest.store import MeasurementStore

        base = standard_profiles(city.net, r.standard_profile, r.year, r.timezone)
        root = store or str(city.data_dir / "store")
        return store_load_profiles(city.net, city.customers, MeasurementStore(root), base)
    base = simbench_profiles(r.electric_grid, r.year, r.timezone, refresh)
    # the rooftops are the city's own: cached in its data directory, not by grid code alone
    path = city.data_dir / "profiles" / r.electric_grid / "city" / "sgen_p_mw.parquet"
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
