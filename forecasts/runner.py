"""Forecast thousands of series on a Dask cluster, in batches, and keep every one.

:func:`run_forecasts` cuts the series into batches (tens to hundreds per task), fits each
batch in a worker (:func:`fit_batch`, a plain function: the same runs in the serial loop
:func:`run_serial`), and assembles the answers **by series id and issue time** into an
``xarray.Dataset`` (``series × issue_time × horizon × quantile``):

* one bad series never fails its batch: a model error (``ForecastError``: too short, constant,
  all-NaN, too many gaps …) or any other exception falls back to the weekly, then the daily
  seasonal naive baseline, and the series' ``model_used`` and ``fallback_reason`` say so;
  a series no model can forecast is NaN with its reason;
* a worker that dies mid-run loses nothing and duplicates nothing: answers are keyed by
  (series, issue time), a second answer for a key is ignored, a batch whose task errs
  (``KilledWorker``) is resubmitted, and after the run every expected key is checked; the
  batches still missing are resubmitted (``max_rounds`` times) before an error is raised.

Clients come from :func:`twin.parallel.dask_client` only; a running client can be passed in.
Results are written next to the store with :func:`save_forecasts` (NetCDF through fsspec,
so ``s3://…`` stores work too).
"""

from __future__ import annotations

import posixpath
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import xarray as xr

from forecasts import models
from forecasts.calibration import (
    MIN_CALIBRATION_ORIGINS,
    RollingCalibration,
    scale_intervals,
)
from forecasts.place import Place
from forecasts.weather import split_exog
from twin.parallel import batches, dask_client

#: Baselines tried, in order, when the asked model cannot forecast a series.
FALLBACKS = ("seasonal_naive_weekly", "seasonal_naive_daily")
#: Default series per Dask task.
BATCH_SIZE = 50
#: Folder of the forecasts under the store's root.
FORECASTS_FOLDER = "forecasts"


class ForecastRunError(RuntimeError):
    """A run that could not complete; the message names the batches or series and why."""


# --------------------------------------------------------------------------------------------
# One series, one batch (run inside the workers)


def forecast_one(y: pd.Series, issue_time: pd.Timestamp, horizon: int, step: pd.Timedelta,
                 model: str, quantiles: Sequence[float],
                 fallbacks: Sequence[str] = FALLBACKS,
                 exog: pd.DataFrame | None = None, place: Place | str | None = None,
                 calibration_days: int = 0) -> tuple[np.ndarray, str, str]:
    """Forecast the ``horizon`` steps from ``issue_time`` of one series, falling back if needed.

    Parameters
    ----------
    y : Series
        History (UTC index); only the times before ``issue_time`` are used.
    issue_time : Timestamp
        Issue time (UTC); the first forecast step starts there.
    exog : DataFrame, optional
        Weather by time over history and horizon (``temp_air`` [°C], ``ghi`` [W/m²]; values
        over the horizon are forecasts), for models that take it.
    place : Place or str
        Clock, location and holidays of the series (required by every model).
    calibration_days : int
        When > 0, the intervals are scaled by the conformal factor of this many earlier
        issues of the same model, one a day (:func:`calibration_factor`).

    Returns
    -------
    ndarray
        horizon × (1 + len(quantiles)): mean, then the quantiles [unit of ``y``]; NaN when no
        model could forecast the series.
    str
        The model used (``"none"`` if none).
    str
        Why the asked model was not used (``""`` when it was).
    """
    history = y[y.index < issue_time]
    target = pd.date_range(issue_time, periods=horizon, freq=step)
    reasons = []
    for name in (model, *[f for f in fallbacks if f != model]):
        try:
            last = history.last_valid_index()
            if last is None:
                raise models.ForecastError(f"series {y.name!r} has no values before {issue_time}")
            gap = int(round((issue_time - step - last) / step))  # steps missing at the end
            out = models.forecast(history.loc[:last], horizon + gap, name, quantiles,
                                  *split_exog(exog), place)
            if calibration_days > 0 and len(quantiles) >= 2:
                factor = calibration_factor(y, issue_time, horizon, step, name, quantiles,
                                            exog, place, calibration_days)
                out = scale_intervals(out, factor)
            values = out.reindex(target).to_numpy(float)
            if not np.isfinite(values).all():
                raise models.ForecastError(f"{name} gave no value for some target times")
            return values, name, "; ".join(reasons)
        except Exception as exc:  # one bad series must never fail the batch
            kind = "" if isinstance(exc, models.ForecastError) else f"{type(exc).__name__}: "
            reasons.append(f"{name}: {kind}{exc}")
    return np.full((horizon, 1 + len(quantiles)), np.nan), "none", "; ".join(reasons)


def calibration_factor(y: pd.Series, issue_time: pd.Timestamp, horizon: int,
                       step: pd.Timedelta, model: str, quantiles: Sequence[float],
                       exog, place, days: int) -> float:
    """Conformal interval factor of ``model`` on ``y`` from ``days`` earlier issues [-].

    The earlier issues are one, two, … days before the first issue whose whole horizon
    was known at ``issue_time``; each is fitted on the history before it and compared with
    what happened (:class:`forecasts.calibration.RollingCalibration`). NaN when too few of
    them could be made.
    """
    levels = sorted(quantiles)
    calib = RollingCalibration(origins=days, min_origins=min(MIN_CALIBRATION_ORIGINS, days))
    lag_days = int(np.ceil(horizon * step / pd.Timedelta("1D")))
    for k in range(lag_days + days - 1, lag_days - 1, -1):
        origin = issue_time - pd.Timedelta(days=k)
        hist = y[y.index < origin].dropna()
        window = y[(y.index >= origin) & (y.index < origin + horizon * step)]
        if hist.empty or window.isna().any() or len(window) < horizon:
            continue
        try:
            gap = int(round((origin - step - hist.index[-1]) / step))
            fc = models.forecast(hist, horizon + gap, model, levels, *split_exog(exog), place)
        except Exception:  # noqa: BLE001 - a past issue that cannot be made is left out
            continue
        fc = fc.reindex(window.index)
        used = calib.factor(origin, levels[-1] - levels[0])  # as it would have been issued
        calib.add(origin + horizon * step, window, fc["mean"], fc[levels[0]], fc[levels[-1]],
                  used)
    return calib.factor(issue_time, levels[-1] - levels[0])


def fit_batch(history: pd.DataFrame, issue_times: Sequence[pd.Timestamp], horizon: int,
              step: pd.Timedelta, model: str, quantiles: Sequence[float],
              exog: pd.DataFrame | dict | None = None, place: Place | str | None = None,
              calibration_days: int = 0) -> list[tuple]:
    """Forecast every series (column) of a batch at every issue time (``exog``: weather for
    all of them, or a dict of it by series id; see :func:`forecast_one`).

    Returns
    -------
    list of tuple
        ``(series_id, issue_time, values, model_used, fallback_reason)`` per series and issue.
    """
    out = []
    for sid in history.columns:
        y = history[sid]
        for issue in issue_times:
            x = exog.get(str(sid)) if isinstance(exog, dict) else exog
            values, used, reason = forecast_one(y, issue, horizon, step, model, quantiles,
                                                exog=x, place=place,
                                                calibration_days=calibration_days)
            out.append((str(sid), pd.Timestamp(issue), values, used, reason))
    return out


# --------------------------------------------------------------------------------------------
# Assembly


def _check_input(values: pd.DataFrame, issue_times, horizon: int, quantiles, place):
    if not isinstance(values.index, pd.DatetimeIndex) or values.index.tz is None:
        raise ForecastRunError("the series must be a DataFrame on a time-zone aware "
                               "DatetimeIndex (time × series)")
    if place is None:
        raise ForecastRunError("forecasts need the place of the series (time zone at least): "
                               "pass place=Place(timezone, …)")
    if values.columns.duplicated().any():
        dup = values.columns[values.columns.duplicated()].unique()
        raise ForecastRunError(f"series ids appear twice: {list(dup[:10])}")
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ForecastRunError(f"horizon must be a positive number of steps, got {horizon!r}")
    step = models.infer_step(values.index)
    issues = pd.DatetimeIndex([pd.Timestamp(t) for t in issue_times])
    if issues.tz is None:
        raise ForecastRunError("issue times must be time-zone aware (UTC)")
    issues = issues.tz_convert("UTC")
    levels = models.check_quantiles(quantiles)
    return step, issues, levels


def assemble(records: dict, series: Sequence[str], issues: pd.DatetimeIndex, horizon: int,
             step: pd.Timedelta, quantiles: Sequence[float], unit: str, model: str) -> xr.Dataset:
    """Dataset of the answers keyed by (series id, issue time); raise when one is missing."""
    missing = [(s, t) for s in series for t in issues if (s, t) not in records]
    if missing:
        raise ForecastRunError(f"{len(missing)} forecasts missing, e.g. {missing[:3]}")
    n_s, n_i, n_q = len(series), len(issues), len(quantiles)
    values = np.full((n_s, n_i, horizon, 1 + n_q), np.nan)
    used = np.empty((n_s, n_i), dtype=object)
    reason = np.empty((n_s, n_i), dtype=object)
    for i, s in enumerate(series):
        for j, t in enumerate(issues):
            values[i, j], used[i, j], reason[i, j] = records[(s, t)]
    issue_naive = issues.tz_localize(None).to_numpy()
    leads = np.arange(1, horizon + 1)
    valid = issue_naive[:, None] + (leads - 1)[None, :] * step.to_timedelta64()
    ds = xr.Dataset(
        {
            "mean": (("series", "issue_time", "horizon"), values[..., 0],
                     {"units": unit, "long_name": "point forecast (mean)"}),
            "forecast": (("series", "issue_time", "horizon", "quantile"), values[..., 1:],
                         {"units": unit, "long_name": "forecast quantiles"}),
            "model_used": (("series", "issue_time"), used.astype(str),
                           {"units": "1", "long_name": "model that made the forecast"}),
            "fallback_reason": (("series", "issue_time"), reason.astype(str),
                                {"units": "1",
                                 "long_name": "why the asked model was not used ('' if used)"}),
        },
        coords={
            "series": np.asarray(series, dtype=str),
            "issue_time": ("issue_time", issue_naive, {"timezone": "UTC"}),
            "horizon": ("horizon", leads, {"units": f"steps of {step}",
                                           "long_name": "lead: step k covers issue+(k-1)·step"}),
            "quantile": ("quantile", np.asarray(quantiles, float), {"units": "1"}),
            "valid_time": (("issue_time", "horizon"), valid,
                           {"timezone": "UTC", "long_name": "start of the forecast step"}),
        },
        attrs={"model": model, "step": str(step), "units": unit,
               "fallbacks": ", ".join(FALLBACKS)},
    )
    return ds


# --------------------------------------------------------------------------------------------
# Running


def run_serial(values: pd.DataFrame, issue_times, horizon: int,
               model: str = models.DEFAULT_MODEL,
               quantiles: Sequence[float] = models.DEFAULT_QUANTILES, unit: str = "",
               progress: Callable[[int, int], None] | None = None,
               exog: pd.DataFrame | dict | None = None, place: Place | str | None = None,
               calibration_days: int = 0) -> xr.Dataset:
    """The same work as :func:`run_forecasts` in a loop in this process (the anchor)."""
    step, issues, levels = _check_input(values, issue_times, horizon, quantiles, place)
    records = {}
    series = [str(c) for c in values.columns]
    for k, sid in enumerate(values.columns):
        for r in fit_batch(values[[sid]], issues, horizon, step, model, levels, exog, place,
                           calibration_days):
            records[(r[0], r[1])] = r[2:]
        if progress:
            progress(k + 1, len(series))
    return _with_place(assemble(records, series, issues, horizon, step, levels, unit, model),
                       place, calibration_days)


def _with_place(ds: xr.Dataset, place, calibration_days: int) -> xr.Dataset:
    """Record the place and the interval calibration in the dataset's attributes."""
    from forecasts.place import as_place

    ds.attrs["place"] = as_place(place).describe()
    need = min(MIN_CALIBRATION_ORIGINS, calibration_days)
    ds.attrs["interval_calibration"] = (
        f"conformal scaling on up to {calibration_days} earlier daily issues (a series with "
        f"fewer than {need} that could be made keeps the model's own intervals)"
        if calibration_days else "none")
    return ds


def run_forecasts(
    values: pd.DataFrame,
    issue_times,
    horizon: int,
    model: str = models.DEFAULT_MODEL,
    quantiles: Sequence[float] = models.DEFAULT_QUANTILES,
    unit: str = "",
    batch_size: int = BATCH_SIZE,
    scheduler: str | None = None,
    n_workers: int | None = None,
    client=None,
    progress: Callable[[int, int], None] | None = None,
    max_rounds: int = 3,
    on_running: Callable[[], None] | None = None,
    exog: pd.DataFrame | dict | None = None,
    place: Place | str | None = None,
    calibration_days: int = 0,
) -> xr.Dataset:
    """Forecast every series (column) of ``values`` at every issue time, on Dask.

    Parameters
    ----------
    values : DataFrame
        time (UTC, regular) × series id: the history [``unit`` per step]; NaN where missing.
    issue_times : sequence of Timestamp
        UTC issue times; each forecast uses the history before it.
    horizon : int
        Steps to forecast from each issue time [-].
    model : str
        A key of :data:`forecasts.models.MODELS`.
    quantiles : sequence of float
        Quantile levels [-].
    unit : str
        Unit of the values, kept as the ``units`` attribute.
    batch_size : int
        Series per Dask task.
    scheduler, n_workers :
        Passed to :func:`twin.parallel.dask_client` when no ``client`` is given.
    client : distributed.Client, optional
        A running client to use.
    progress : callable, optional
        ``progress(series_done, series_total)`` after every batch.
    max_rounds : int
        Times a batch is resubmitted when its task fails or its answers are missing.
    on_running : callable, optional
        Called once, when the first batch is done (tests use it to kill a worker).
    exog : DataFrame, optional
        Weather by time (UTC) over history and horizon, the same for every series
        or a dict of it by series id (each series its own station's); models that do not use
        it ignore it.
    place : Place or str
        Clock, location and holidays of the series (required).
    calibration_days : int
        Earlier daily issues whose errors calibrate each series' intervals (0: none; each
        costs one more fit per series).

    Returns
    -------
    Dataset
        See :func:`assemble`; ``attrs`` also count ``batches``, ``resubmitted`` and
        ``duplicates_ignored``.
    """
    step, issues, levels = _check_input(values, issue_times, horizon, quantiles, place)
    if model not in models.MODELS:
        raise ForecastRunError(f"unknown model {model!r}; choose one of {sorted(models.MODELS)}")
    if client is None:
        with dask_client(scheduler, n_workers) as c:
            return run_forecasts(values, issues, horizon, model, levels, unit, batch_size,
                                 client=c, progress=progress, max_rounds=max_rounds,
                                 on_running=on_running, exog=exog, place=place,
                                 calibration_days=calibration_days)
    from distributed import as_completed

    series = [str(c) for c in values.columns]
    frame = values.set_axis(series, axis=1)
    groups = batches(series, batch_size)
    expected = {i: {(s, t) for s in g for t in issues} for i, g in enumerate(groups)}
    records: dict = {}
    counts = {"resubmitted": 0, "duplicates_ignored": 0}
    tries = dict.fromkeys(range(len(groups)), 0)
    run_id = uuid.uuid4().hex[:8]
    weather = client.scatter(exog, broadcast=True) if exog is not None else None

    def submit(i: int):
        tries[i] += 1
        return client.submit(fit_batch, frame[groups[i]], list(issues), int(horizon), step,
                             model, levels, weather, place, calibration_days,
                             key=f"forecast-{run_id}-{i}-try{tries[i]}", pure=False)

    futures = {submit(i): i for i in range(len(groups))}
    done_series = 0
    running_called = False
    queue = as_completed(list(futures))
    for fut in queue:
        i = futures.pop(fut)
        if fut.status != "finished":
            err = fut.exception()
            if tries[i] > max_rounds:
                raise ForecastRunError(f"batch {i} ({groups[i][0]} …, {len(groups[i])} series) "
                                       f"failed {tries[i]} times; last: {err!r}")
            counts["resubmitted"] += 1
            new = submit(i)
            futures[new] = i
            queue.add(new)
            continue
        fresh = 0
        for sid, issue, vals, used, reason in fut.result():
            key = (sid, issue)
            if key in records or key not in expected[i]:
                counts["duplicates_ignored"] += 1
                continue
            records[key] = (vals, used, reason)
            fresh += 1
        fut.release()
        done_series += fresh // max(len(issues), 1)
        if progress:
            progress(done_series, len(series))
        if on_running and not running_called:
            running_called = True
            on_running()
        if not futures:  # everything back: check completeness, resubmit what is missing
            for j, keys in expected.items():
                if not keys <= records.keys():
                    if tries[j] > max_rounds:
                        raise ForecastRunError(f"batch {j} still incomplete after {tries[j]} "
                                               "tries")
                    counts["resubmitted"] += 1
                    new = submit(j)
                    futures[new] = j
                    queue.add(new)
    ds = assemble(records, series, issues, horizon, step, levels, unit, model)
    ds.attrs.update(batches=len(groups), batch_size=int(batch_size), **counts)
    return _with_place(ds, place, calibration_days)


def summary_table(ds: xr.Dataset) -> pd.DataFrame:
    """Series per model used, with the most common fallback reason of each."""
    used = ds["model_used"].to_series()
    reason = ds["fallback_reason"].to_series()
    rows = []
    for name, group in used.groupby(used):
        reasons = reason[group.index]
        reasons = reasons[reasons != ""]
        rows.append({"model_used": name, "forecasts": len(group),
                     "example_reason": reasons.iloc[0] if len(reasons) else ""})
    return pd.DataFrame(rows).sort_values("forecasts", ascending=False, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Saving next to the store


def forecasts_url(store_url: str, name: str) -> str:
    """``<store root>/forecasts/<name>.nc`` for a store URL or folder."""
    return posixpath.join(str(store_url).rstrip("/"), FORECASTS_FOLDER, f"{name}.nc")


def save_forecasts(ds: xr.Dataset, store_url: str, name: str,
                   storage_options: dict | None = None) -> str:
    """Write a forecast dataset as NetCDF under the store's ``forecasts/``; return its URL.

    Written to a local temporary file by netCDF4, then copied through fsspec to the URL and
    moved into place, so a reader never sees half a file, on any filesystem fsspec knows.
    """
    url = forecasts_url(store_url, name)
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="twin-forecast-") as tmp:
        local = Path(tmp) / "forecast.nc"
        ds.to_netcdf(local, engine="netcdf4")
        staging = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
        fs.put_file(str(local), staging)
        fs.mv(staging, path)
    return url


def open_forecasts(url: str, storage_options: dict | None = None) -> xr.Dataset:
    """Read a dataset written by :func:`save_forecasts` (into memory)."""
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if not fs.exists(path):
        raise ForecastRunError(f"{url}: no forecast saved here; run `twin forecast run` first")
    with tempfile.TemporaryDirectory(prefix="twin-forecast-") as tmp:
        local = Path(tmp) / "forecast.nc"
        fs.get_file(path, str(local))
        with xr.open_dataset(local, engine="netcdf4") as ds:
            return ds.load()
