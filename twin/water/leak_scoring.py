"""Scoring leak alarms against known leaks, as the BattLeDIM 2020 competition did.

An alarm is a true positive when it is raised inside a leak's time window (start ≤ alarm ≤
end) and its located position lies within ``radius_m`` (300 m) of the leak; each leak counts
once; every other alarm of a new leak is a false alarm. BattLeDIM's own scoring did not
count as false an alarm that only repeats a leak already found (within reach of an open leak
an earlier alarm took, and of no other): such a *repeat* is counted apart and the rate
without the repeats is given beside the stricter one. The delay is alarm time minus leak
start [h]; the location error is the distance from the located position to the leaking pipe
(the segment between its end nodes) or junction [m].

A truth file is a CSV with columns ``leak_id``, ``pipe`` (or ``junction``), ``start``,
``end`` (times; UTC unless they carry an offset), ``flow`` [m³/h] (the largest flow of the
leak). Only scoring reads the truth; the detector never sees it.

References
----------
Vrachimis, S. G. et al. (2022). Battle of the Leakage Detection and Isolation Methods.
J. Water Resour. Plann. Manage. 148(12).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: An alarm counts when it is within this distance of the leak [m].
HIT_RADIUS_M = 300.0
#: Leak size classes of the score table [m³/h].
SIZE_CLASSES_M3H = ((3.0, 10.0), (10.0, 50.0), (50.0, np.inf))
#: Days in a month, for false alarms per month [day].
MONTH_DAYS = 30.44


class TruthFileError(ValueError):
    """A truth file that cannot be scored against; the message names file, row and column."""


def read_truth(path: str | Path, pipes: pd.DataFrame | None = None,
               junctions: set[str] | None = None) -> pd.DataFrame:
    """Read a leak truth file (``leak_id``, ``pipe`` or ``junction``, ``start``, ``end``,
    ``flow`` [m³/h]).

    Parameters
    ----------
    pipes : DataFrame, optional
        :func:`twin.water.leak_location.pipe_table` of the network, to check pipe names.
    junctions : set of str, optional
        Junction names of the network, to check junction names.

    Returns
    -------
    DataFrame
        ``leak_id``, ``pipe``, ``junction``, ``start``, ``end`` (UTC), ``flow`` [m³/h].

    Raises
    ------
    TruthFileError
        Missing file or column, or a row whose time, flow or element is not valid.
    """
    path = Path(path)
    if not path.exists():
        raise TruthFileError(f"{path}: no such truth file")
    try:
        df = pd.read_csv(path, dtype=str)
    except Exception as exc:
        raise TruthFileError(f"{path}: cannot read as CSV: {exc}") from None
    need = ["leak_id", "start", "end", "flow"]
    missing = [c for c in need if c not in df.columns]
    if "pipe" not in df.columns and "junction" not in df.columns:
        missing.append("pipe")
    if missing:
        raise TruthFileError(f"{path}: missing column(s) {missing}; a truth file has "
                             "leak_id, pipe (or junction), start, end, flow [m³/h]")
    out = []
    for i, r in df.iterrows():
        row = i + 2  # 1-based, after the header
        try:
            start = _utc(r["start"])
            end = _utc(r["end"])
        except (ValueError, TypeError):
            raise TruthFileError(f"{path}, row {row}: start {r['start']!r} or end {r['end']!r} "
                                 "is not a time") from None
        try:
            flow = float(r["flow"])
        except (ValueError, TypeError):
            raise TruthFileError(f"{path}, row {row}, column flow: {r['flow']!r} is not a "
                                 "number [m³/h]") from None
        pipe = r.get("pipe")
        where = "pipe" if isinstance(pipe, str) and pipe.strip() else "junction"
        elem = str(r.get(where, "")).strip()
        if where == "pipe" and pipes is not None and elem not in pipes.index:
            raise TruthFileError(f"{path}, row {row}, column pipe: {elem!r} is not a pipe of "
                                 "the network")
        if where == "junction" and junctions is not None and elem not in junctions:
            raise TruthFileError(f"{path}, row {row}, column junction: {elem!r} is not a "
                                 "junction of the network")
        out.append({"leak_id": str(r["leak_id"]), "pipe": elem if where == "pipe" else "",
                    "junction": elem if where == "junction" else "", "start": start,
                    "end": end, "flow": flow})
    return pd.DataFrame(out, columns=["leak_id", "pipe", "junction", "start", "end", "flow"])


def _utc(text) -> pd.Timestamp:
    t = pd.Timestamp(text)
    if pd.isna(t):
        raise ValueError(text)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def truth_from_faults(path: str | Path) -> pd.DataFrame:
    """The leaks of the sample city's generator truth (``truth/faults.csv``, kind ``leak``),
    in the :func:`read_truth` layout (``junction`` leaks; ``flow`` [m³/h] from the mean)."""
    faults = pd.read_csv(path, dtype={"series_id": str})
    leaks = faults[faults.kind == "leak"]
    details = [json.loads(d) for d in leaks.details]
    return pd.DataFrame({
        "leak_id": leaks.fault_id.astype(str).to_numpy(), "pipe": "",
        "junction": leaks.series_id.astype(str).to_numpy(),
        "start": pd.to_datetime(leaks.start_utc, utc=True).to_numpy(),
        "end": pd.to_datetime(leaks.end_utc, utc=True).to_numpy(),
        "flow": [d.get("mean_flow_l_s", np.nan) * 3.6 for d in details],
    }).assign(start=lambda d: pd.to_datetime(d.start, utc=True),
              end=lambda d: pd.to_datetime(d.end, utc=True))


def leak_segments(truth: pd.DataFrame, node_xy: pd.DataFrame,
                  pipes: pd.DataFrame) -> np.ndarray:
    """Each leak's place as a segment (x0, y0, x1, y1) [m]: its pipe's ends, or its junction
    twice."""
    seg = np.zeros((len(truth), 4))
    for k, r in enumerate(truth.itertuples()):
        if r.pipe:
            a, b = pipes.loc[r.pipe, ["start", "end"]]
        else:
            a = b = r.junction
        seg[k] = [*node_xy.loc[a, ["x_m", "y_m"]], *node_xy.loc[b, ["x_m", "y_m"]]]
    return seg


def distance_to_segment(x: float, y: float, seg: np.ndarray) -> float:
    """Distance from a point to a segment (x0, y0, x1, y1) [m]."""
    x0, y0, x1, y1 = seg
    dx, dy = x1 - x0, y1 - y0
    L2 = dx * dx + dy * dy
    u = 0.0 if L2 == 0 else float(np.clip(((x - x0) * dx + (y - y0) * dy) / L2, 0, 1))
    return float(np.hypot(x - (x0 + u * dx), y - (y0 + u * dy)))


def match_alarms(alarms: pd.DataFrame, truth: pd.DataFrame, segments: np.ndarray,
                 radius_m: float = HIT_RADIUS_M) -> pd.DataFrame:
    """Match alarms to leaks, BattLeDIM's way.

    Alarms (``alarm_utc``, ``x_m``, ``y_m``) are taken in time order; each goes to the
    nearest leak open at its time (start ≤ alarm ≤ end) that no earlier alarm took.

    Returns
    -------
    DataFrame
        The alarms with ``leak_id`` (the open leak matched, empty if none), ``delay_h``,
        ``location_error_m``, ``true_positive`` (matched within ``radius_m``) and ``repeat``
        (not matched, but within ``radius_m`` of an open leak an earlier alarm took: a
        repeated detection, which BattLeDIM did not count as a false one).
    """
    out = alarms.sort_values("alarm_utc").reset_index(drop=True).copy()
    out["leak_id"], out["delay_h"], out["location_error_m"] = "", np.nan, np.nan
    out["true_positive"] = out["repeat"] = False
    taken: set[str] = set()
    for i, a in out.iterrows():
        # every leak open at the alarm, with its distance from the alarm's position
        dist = {k: distance_to_segment(a.x_m, a.y_m, segments[k]) if np.isfinite(a.x_m)
                else np.inf for k, r in enumerate(truth.itertuples())
                if r.start <= a.alarm_utc <= r.end}
        within = [k for k, d in dist.items() if d <= radius_m]
        out.loc[i, "repeat"] = bool(within) and all(truth.leak_id.iloc[k] in taken
                                                    for k in within)
        open_ = [k for k in dist if truth.leak_id.iloc[k] not in taken]
        if not open_:
            continue
        d = [dist[k] for k in open_]
        k = open_[int(np.argmin(d))]
        err = float(np.min(d))
        if not np.isfinite(err):
            continue
        leak = truth.iloc[k]
        if err <= radius_m:
            taken.add(leak.leak_id)
        out.loc[i, ["leak_id", "delay_h", "location_error_m", "true_positive"]] = [
            leak.leak_id, (a.alarm_utc - leak.start).total_seconds() / 3600, err,
            err <= radius_m]
    return out


def score(matched: pd.DataFrame, truth: pd.DataFrame, months: float, n_dmas: int,
          kinds: pd.Series | None = None) -> dict:
    """BattLeDIM-style summary of :func:`match_alarms` (units in the keys).

    ``leaks``, ``found`` (true positives), per size class ``found_<lo>-<hi>_m3h`` as
    ``(found, total)``, ``false_alarms``, ``false_alarms_per_dma_month``, ``repeats``
    (false alarms that repeat a found leak), ``false_alarms_battledim_per_dma_month``
    (without them, as BattLeDIM counted),
    ``median_delay_h`` (true positives), ``median_delay_abrupt_h`` (with ``kinds``: leak id →
    ``abrupt``/``incipient``), ``median_location_error_m`` (nearest open leak of each alarm
    in its window, hit or not).
    """
    tp = matched[matched.true_positive.astype(bool)]
    out = {"leaks": int(len(truth)), "found": int(len(tp))}
    for lo, hi in SIZE_CLASSES_M3H:
        ids = truth.leak_id[(truth.flow >= lo) & (truth.flow < hi)]
        out[f"found_{lo:g}-{hi:g}_m3h"] = (int(tp.leak_id.isin(ids).sum()), int(len(ids)))
    fa = int((~matched.true_positive.astype(bool)).sum())
    out["false_alarms"] = fa
    out["false_alarms_per_dma_month"] = fa / max(n_dmas * months, 1e-9)
    rep = int(matched["repeat"].astype(bool).sum()) if "repeat" in matched else 0
    out["repeats"] = rep
    out["false_alarms_battledim_per_dma_month"] = (fa - rep) / max(n_dmas * months, 1e-9)
    out["median_delay_h"] = float(tp.delay_h.median()) if len(tp) else float("nan")
    if kinds is not None and len(tp):
        ab = tp[tp.leak_id.map(kinds) == "abrupt"]
        out["median_delay_abrupt_h"] = float(ab.delay_h.median()) if len(ab) else float("nan")
    first = matched[matched.leak_id != ""].drop_duplicates("leak_id")
    out["median_location_error_m"] = (float(first.location_error_m.median()) if len(first)
                                      else float("nan"))
    return out
