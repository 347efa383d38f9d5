"""Stored readings onto a regular time grid, for the analyses that ask for one.

The store keeps every series at its own step (SCADA at 1, 5 or 15 min, meters at 15 min or
1 h). An analysis that needs one grid (hourly water balance, a leak detector's 15-min
window) calls :func:`to_grid` on what it read: the store itself never resamples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.ingest import schema

#: How values are put on the grid: ``instant`` interpolates an instantaneous value (pressure,
#: level, flow rate) at each grid time; ``mean`` averages the readings of each grid interval
#: ``[t, t + step)``; ``sum`` adds them (interval energy or volume).
HOW = ("instant", "mean", "sum")


def to_grid(readings: pd.DataFrame, times: pd.DatetimeIndex, *, how: str = "instant",
            max_gap: pd.Timedelta | str | None = "1h",
            series: list[str] | None = None) -> pd.DataFrame:
    """Put long readings of one or more series on the grid ``times``.

    Parameters
    ----------
    readings : DataFrame
        Long measurement rows (``series_id, time_utc, value, quality_flag``), as
        :meth:`twin.ingest.store.MeasurementStore.read` returns them; ``failed`` readings are
        left out.
    times : DatetimeIndex
        The grid, UTC, regular (its step is the interval of ``mean`` and ``sum``).
    how : str
        One of :data:`HOW`.
    max_gap : Timedelta or str, optional
        ``instant``: no interpolation between readings further apart than this (NaN there);
        None interpolates across any gap. Grid times outside a series' readings are NaN.
    series : list of str, optional
        Columns of the result, in order (series with no reading are all NaN); default the
        series present, sorted.

    Returns
    -------
    DataFrame
        ``times`` x series, values in the series' units; ``mean`` and ``sum`` give NaN for a
        grid interval with no reading.
    """
    if how not in HOW:
        raise ValueError(f"how={how!r}; one of {', '.join(HOW)}")
    times = pd.DatetimeIndex(times)
    if times.tz is None:
        times = times.tz_localize("UTC")
    ok = readings[readings["quality_flag"].astype(str) != "failed"]
    ok = ok[ok["value"].notna()]
    sid = ok["series_id"].astype(str).to_numpy()
    names = series if series is not None else sorted(set(sid))
    grid = times.asi8
    out = np.full((len(grid), len(names)), np.nan)
    t_all = schema.time_ns(ok["time_utc"])
    v_all = ok["value"].to_numpy(dtype=float)
    order = np.lexsort((t_all, sid))
    sid, t_all, v_all = sid[order], t_all[order], v_all[order]
    bounds = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1], True]) if len(sid) else [0]
    where = {sid[a]: (a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)} if len(sid) else {}
    step = int(np.median(np.diff(grid))) if len(grid) > 1 else 0
    gap = None if max_gap is None else pd.Timedelta(max_gap).value
    for j, name in enumerate(names):  # a loop over series, vectorised over time
        if name not in where:
            continue
        a, b = where[name]
        t, v = t_all[a:b], v_all[a:b]
        if how == "instant":
            out[:, j] = _instant(t, v, grid, gap)
        else:
            k = np.searchsorted(grid, t, side="right") - 1
            inside = (k >= 0) & (t < grid[np.maximum(k, 0)] + step)
            sums = np.bincount(k[inside], v[inside], minlength=len(grid))
            counts = np.bincount(k[inside], minlength=len(grid))
            with np.errstate(invalid="ignore", divide="ignore"):
                col = sums / counts if how == "mean" else sums
            out[:, j] = np.where(counts > 0, col, np.nan)
    return pd.DataFrame(out, index=times, columns=list(names))


def _instant(t: np.ndarray, v: np.ndarray, grid: np.ndarray, gap: int | None) -> np.ndarray:
    """Linear interpolation of readings (t, v) at the grid times; NaN outside and in gaps."""
    if len(t) == 0:
        return np.full(len(grid), np.nan)
    t, first = np.unique(t, return_index=True)
    v = v[first]
    res = np.interp(grid, t, v, left=np.nan, right=np.nan)
    if gap is not None and len(t) > 1:
        k = np.clip(np.searchsorted(t, grid, side="right"), 1, len(t) - 1)
        exact = t[k - 1] == grid
        wide = (t[k] - t[k - 1]) > gap
        res = np.where(wide & ~exact, np.nan, res)
    return res
