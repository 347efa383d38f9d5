"""Scoring leak detection against known leaks, as the BattLeDIM 2020 competition did.

A detection is a true positive when it is raised inside a leak's time window (start ≤ alarm
≤ end) and its located junction lies within ``radius_m`` (300 m) of the leak; every other
detection is a false alarm. The delay is alarm time minus leak start [h]; the location error
is the distance from the located junction to the leak [m].

Only scoring reads the ground truth (the generator's ``truth/faults.csv``); the detector never
sees it.

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

#: A detection counts when it is within this distance of the leak [m].
HIT_RADIUS_M = 300.0


def read_leak_truth(path: str | Path) -> pd.DataFrame:
    """Read the leaks of a ground-truth file (``truth/faults.csv``, rows of kind ``leak``).

    Returns
    -------
    DataFrame
        ``leak_id``, ``junction``, ``dma``, ``start_utc``, ``end_utc`` (UTC),
        ``mean_flow_l_s`` [L/s].
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no ground-truth file")
    faults = pd.read_csv(path, dtype={"series_id": str})
    leaks = faults[faults.kind == "leak"]
    details = [json.loads(d) for d in leaks.details]
    return pd.DataFrame({
        "leak_id": leaks.fault_id.to_numpy(),
        "junction": leaks.series_id.to_numpy(),
        "dma": [d.get("dma") for d in details],
        "start_utc": pd.to_datetime(leaks.start_utc, utc=True).to_numpy(),
        "end_utc": pd.to_datetime(leaks.end_utc, utc=True).to_numpy(),
        "mean_flow_l_s": [d.get("mean_flow_l_s", np.nan) for d in details],
    }).assign(start_utc=lambda d: pd.to_datetime(d.start_utc, utc=True),
              end_utc=lambda d: pd.to_datetime(d.end_utc, utc=True))


def match_detections(
    detections: pd.DataFrame, leaks: pd.DataFrame, node_xy: pd.DataFrame,
    radius_m: float = HIT_RADIUS_M,
) -> pd.DataFrame:
    """Match each detection to at most one leak, and each leak to at most one detection.

    Parameters
    ----------
    detections : DataFrame
        ``alarm_utc``, ``dma``, ``junction`` (the located junction, best candidate).
    leaks : DataFrame
        As :func:`read_leak_truth`.
    node_xy : DataFrame
        Node coordinates ``x_m``, ``y_m`` [m].

    Returns
    -------
    DataFrame
        One row per detection: its columns plus ``leak_id`` (matched leak in time and DMA, or
        empty), ``delay_h``, ``location_error_m`` and ``true_positive`` (in the window and
        within ``radius_m``). Detections are taken in time order; each goes to the open
        leak of its DMA that started first.
    """
    out = detections.sort_values("alarm_utc").reset_index(drop=True).copy()
    out["leak_id"], out["delay_h"], out["location_error_m"] = "", np.nan, np.nan
    out["true_positive"] = False
    taken: set[str] = set()
    for i, d in out.iterrows():
        open_ = leaks[(leaks.start_utc <= d.alarm_utc) & (d.alarm_utc <= leaks.end_utc)
                      & (leaks.dma == d.dma) & ~leaks.leak_id.isin(taken)]
        if open_.empty:
            continue
        leak = open_.sort_values("start_utc").iloc[0]
        taken.add(leak.leak_id)
        err = float(np.hypot(*(node_xy.loc[str(d.junction), ["x_m", "y_m"]].to_numpy(float)
                               - node_xy.loc[leak.junction, ["x_m", "y_m"]].to_numpy(float))))
        out.loc[i, ["leak_id", "delay_h", "location_error_m", "true_positive"]] = [
            leak.leak_id, (d.alarm_utc - leak.start_utc).total_seconds() / 3600, err,
            err <= radius_m]
    return out


def detection_score(matched: pd.DataFrame, leaks: pd.DataFrame) -> dict[str, float]:
    """Summary figures of :func:`match_detections` (units in the keys).

    ``leaks``, ``detected`` (leaks found in their window and DMA), ``true_positives``
    (also within the hit radius), ``false_alarms`` (detections matching no leak's window and
    DMA), ``battledim_false_alarms`` (detections that are not true positives),
    ``mean_delay_h`` and ``median_location_error_m`` over the detected leaks.
    """
    found = matched[matched.leak_id != ""]
    return {
        "leaks": int(len(leaks)),
        "detected": int(len(found)),
        "true_positives": int(matched.true_positive.sum()),
        "false_alarms": int((matched.leak_id == "").sum()),
        "battledim_false_alarms": int((~matched.true_positive.astype(bool)).sum()),
        "mean_delay_h": float(found.delay_h.mean()) if len(found) else float("nan"),
        "median_location_error_m": (float(found.location_error_m.median()) if len(found)
                                    else float("nan")),
    }
