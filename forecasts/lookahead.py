"""Look-ahead inputs: the next 48 hours of every load, rooftop PV unit and DMA, forecast.

:func:`lookahead_forecasts` forecasts, from an issue time, every load point (metered loads as
the sum of their meters, the others from their profile), every rooftop PV unit and every DMA's
metered water use, with the Dask runner. :func:`electric_profiles` turns them into the
``profiles`` dict the QSTS engine reads (``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw``: time ×
element [MW], [Mvar]); :func:`dma_demand_factors` into the factor by which each DMA's demand
differs from what the water model assumes. The orchestration that runs both networks on them
is :func:`twin.scenario.lookahead` (electricity and water meet only there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from forecasts import data, runner
from forecasts.place import place_of_city

#: Hours a look-ahead covers [h].
LOOKAHEAD_HOURS = 48
#: Models of the look-ahead by hierarchy (PV on the clear-sky index).
DEFAULT_MODELS = {"electric": "mstl_ets", "pv": "pv_csi_statsmodels", "water": "mstl_ets"}
STEP = pd.Timedelta("1h")


class LookaheadError(ValueError):
    """A look-ahead that cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class LookaheadForecasts:
    """Forecasts of one look-ahead.

    Attributes
    ----------
    issue_time : Timestamp
        UTC issue time; the look-ahead covers ``hours`` steps from it.
    loads, pv, water : Dataset
        Runner datasets of the load, rooftop-unit and DMA nodes.
    electric, pv_series, water_series : HierarchicalSeries
        The histories they were made from.
    """

    issue_time: pd.Timestamp
    hours: int
    loads: xr.Dataset
    pv: xr.Dataset
    water: xr.Dataset
    electric: data.HierarchicalSeries
    pv_series: data.HierarchicalSeries
    water_series: data.HierarchicalSeries

    @property
    def times(self) -> pd.DatetimeIndex:
        """UTC start of every look-ahead hour."""
        return pd.date_range(self.issue_time, periods=self.hours, freq=STEP, name="time")


def default_issue_time(store) -> pd.Timestamp:
    """The hour after the store's last electricity reading (UTC)."""
    last = store.last_time(data.STORE_KIND["electric"])
    if last is None:
        raise LookaheadError("the store holds no electricity readings; ingest meter data first")
    return (last + pd.Timedelta("15min")).ceil(STEP)


def element_ids(nodes, level: str) -> list[int]:
    """Element indices of ``<level>:<index>`` nodes (``load:12`` → 12)."""
    return [int(str(n).split(":", 1)[1]) for n in nodes if str(n).startswith(level + ":")]


def lookahead_forecasts(store, city, profiles: dict, issue_time=None,
                        hours: int = LOOKAHEAD_HOURS, models: dict | None = None,
                        history_days: int = 28, client=None, scheduler=None,
                        progress=None, weather: str = "auto",
                        weather_forecast: str | None = None) -> LookaheadForecasts:
    """Forecast every load point, rooftop PV unit and DMA for ``hours`` from ``issue_time``.

    Parameters
    ----------
    store : MeasurementStore
    city : City
    profiles : dict
        The city's profiles (``twin.scenario.profiles_of(city)``).
    issue_time : time-like, optional
        UTC issue time; default :func:`default_issue_time`.
    hours : int
        Look-ahead length [h].
    models : dict, optional
        Model per hierarchy (``electric``, ``pv``, ``water``); default :data:`DEFAULT_MODELS`.
    history_days : int
        History used [d].
    client, scheduler :
        A running Dask client, or the scheduler for :func:`twin.parallel.dask_client`.
    progress : callable, optional
        ``progress(what, done, total)``.
    weather : str
        Weather of the load models, as in ``twin forecast run``
        (:func:`forecasts.stored.choose_weather`): a station the store holds, ``auto`` (the
        store's only station; else the TMY3 emulated forecast for a city at that station;
        else none), ``forecast``, ``measured`` or ``none``.
    weather_forecast : str, optional
        Store station whose series are forecasts issued before the target day, used over
        the look-ahead hours (default: the measured record stands in, ex post).

    Returns
    -------
    LookaheadForecasts
        ``loads.attrs["weather"]`` says which weather the loads were forecast with.
    """
    issue = pd.Timestamp(issue_time) if issue_time is not None else default_issue_time(store)
    issue = (issue.tz_localize("UTC") if issue.tzinfo is None else issue.tz_convert("UTC"))
    if issue != issue.floor(STEP):
        raise LookaheadError(f"issue time {issue} is not on a whole hour")
    if not 1 <= hours <= 24 * 7:
        raise LookaheadError(f"a look-ahead covers 1 to 168 hours, not {hours}")
    chosen = {**DEFAULT_MODELS, **(models or {})}
    start = issue - pd.Timedelta(days=history_days)
    series = {
        "electric": data.electric_series(store, city, profiles, STEP, start, issue),
        "pv": data.pv_series(store, city, profiles, STEP, start, issue),
        "water": data.water_series(store, city, STEP, start, issue),
    }
    level = {"electric": "load", "pv": "sgen", "water": "dma"}
    place = place_of_city(city)
    # loads net of rooftop PV follow temperature and irradiance: the store's station when it
    # holds weather (as forecasts do), else the TMY3 emulation for a city there, else none
    exog, weather_note = lookahead_weather(store, place, weather, start,
                                           issue + pd.Timedelta(hours=hours), weather_forecast)

    def run(name, c):
        values = series[name].level(level[name])
        tick = (lambda d, t: progress(name, d, t)) if progress else None
        ds = runner.run_forecasts(values, [issue], hours, chosen[name],
                                  unit=series[name].units_label, client=c, progress=tick,
                                  exog=exog if name == "electric" else None, place=place)
        ds.attrs["weather"] = weather_note if name == "electric" else "none"
        return ds

    if client is None:
        from twin.parallel import dask_client

        with dask_client(scheduler) as c:
            out = {name: run(name, c) for name in series}
    else:
        out = {name: run(name, client) for name in series}
    return LookaheadForecasts(issue, hours, out["electric"], out["pv"], out["water"],
                              series["electric"], series["pv"], series["water"])


def lookahead_weather(store, place, weather: str, start, end,
                      weather_forecast: str | None = None):
    """Weather of the look-ahead's load models from ``start`` to ``end`` and a line saying
    what it is: ``(WeatherInputs or None, note)``.

    Raises
    ------
    forecasts.data.ForecastDataError
        A station the store does not hold, or weather with gaps it cannot fill (named).
    """
    from forecasts.stored import choose_weather, weather_for

    setup, station = choose_weather(store, weather, place)
    if setup == "none":
        return None, ("none (the store holds no weather and the city is not at the TMY3 "
                      "station)" if weather == "auto" else "none")
    exog = weather_for(store, station if setup == "store" else setup, start, end, STEP,
                       weather_forecast if setup == "store" else None, place)
    return exog, exog.describe()


def _mean_frame(ds: xr.Dataset, times: pd.DatetimeIndex) -> pd.DataFrame:
    """time × series point forecasts of the first issue time."""
    mean = ds["mean"].isel(issue_time=0).transpose("horizon", "series").values
    return pd.DataFrame(mean, index=times, columns=ds.series.values.astype(str))


def electric_profiles(fc: LookaheadForecasts, city, profiles: dict) -> dict:
    """QSTS profiles of the look-ahead hours from the forecasts.

    ``load_p_mw`` [MW] is the forecast energy per hour [kWh] / 1000; ``load_q_mvar`` [Mvar]
    follows each load's mean Q/P ratio of the history window in the profiles; ``sgen_p_mw``
    [MW] is the forecast of every rooftop unit, scaled from its metered roofs to its installed
    roofs (kWp ratio of the customer register) where only some are metered. Other generators
    keep their profile values.

    Raises
    ------
    LookaheadError
        When a load or unit has no forecast (its ``fallback_reason`` is named).
    """
    times = fc.times
    loads = _mean_frame(fc.loads, times)
    _require_finite(loads, fc.loads)
    p_load = loads.set_axis(element_ids(loads.columns, "load"), axis=1) / 1000.0
    hist = slice(fc.issue_time - pd.Timedelta(days=7), fc.issue_time - pd.Timedelta("1ns"))
    p_hist = profiles["load_p_mw"].loc[hist, p_load.columns].mean()
    q_hist = profiles["load_q_mvar"].loc[hist, p_load.columns].mean()
    ratio = (q_hist / p_hist.where(p_hist != 0)).fillna(0.0)
    q_load = p_load * ratio

    pv = _mean_frame(fc.pv, times)
    _require_finite(pv, fc.pv)
    p_pv = pv.set_axis(element_ids(pv.columns, "sgen"), axis=1) / 1000.0
    metered = fc.pv_series.source[fc.pv_series.source == "store:pv"].index
    metered_sgen = fc.pv_series.hierarchy.parents.loc[metered, "sgen"]
    cust = city.customers.assign(inverter="inverter:" + data.INVERTER_PREFIX
                                 + city.customers.customer_id.astype(str))
    kwp = cust.set_index("inverter").pv_kwp
    metered_kwp = kwp.reindex(metered).groupby(metered_sgen.to_numpy()).sum()
    installed = cust[cust.pv_kwp > 0].groupby("sgen").pv_kwp.sum()
    for node, kw in metered_kwp.items():
        i = int(node.split(":")[1])
        if kw > 0 and i in installed.index:
            p_pv[i] *= installed[i] / kw
    sgen = profiles["sgen_p_mw"].reindex(columns=city.net.sgen.index)
    others = city.net.sgen.index.difference(p_pv.columns)
    base = sgen[others].reindex(times, method="nearest") if len(others) else None
    p_sgen = pd.concat([p_pv, base], axis=1) if base is not None else p_pv
    return {"load_p_mw": p_load.rename_axis("time"), "load_q_mvar": q_load.rename_axis("time"),
            "sgen_p_mw": p_sgen.rename_axis("time")}


def _require_finite(frame: pd.DataFrame, ds: xr.Dataset) -> None:
    bad = frame.columns[~np.isfinite(frame.to_numpy()).all(axis=0)]
    if len(bad):
        reason = ds["fallback_reason"].sel(series=bad[0]).values.ravel()[0]
        raise LookaheadError(f"{len(bad)} element(s) have no forecast, e.g. {bad[0]}: {reason}")


def dma_demand_factors(fc: LookaheadForecasts, modelled_m3h: pd.DataFrame) -> pd.DataFrame:
    """Factor by which each DMA's forecast metered use differs from the water model's [-].

    Parameters
    ----------
    fc : LookaheadForecasts
    modelled_m3h : DataFrame
        time × ``dma:<name>`` node: the metered customers' use the water model assumes over
        the look-ahead hours [m3/h] (``water_share`` × junction demand).

    Returns
    -------
    DataFrame
        time × DMA name; 1 where the model assumes no metered use.
    """
    fcst = _mean_frame(fc.water, fc.times)
    _require_finite(fcst, fc.water)
    model = modelled_m3h.reindex(index=fcst.index, columns=fcst.columns)
    factor = (fcst / model.where(model > 0)).fillna(1.0).clip(lower=0.0)
    factor.columns = [c.split(":", 1)[1] for c in factor.columns]
    return factor
