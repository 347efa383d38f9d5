"""Leak detection and location for a period of measurements: the twin's ``leaks`` workflow.

:func:`find_leaks` reads the period's SCADA and AMR reads from the measurement store,
simulates what the twin expects (:mod:`twin.water.leak_detection`), raises alarms from the
DMA consumption residuals and ranks candidate junctions for each alarm
(:mod:`twin.water.leak_location`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xarray as xr

from twin.water import leak_detection as det
from twin.water import leak_location as loc


@dataclass(frozen=True)
class LeakReport:
    """What :func:`find_leaks` found.

    Attributes
    ----------
    alarms : DataFrame
        One row per alarm: ``dma``, ``alarm_utc``, ``change_utc``, ``step_l_s`` [L/s],
        ``sigma_l_s`` [L/s], and the best candidate ``junction`` with its fitted
        ``leak_l_s`` [L/s].
    candidates : DataFrame
        Top candidates per alarm (:func:`twin.water.leak_location.locate_leaks`), with
        ``distance_m`` from the alarm's best candidate [m].
    residuals : Dataset
        Measured minus expected (:func:`twin.water.leak_detection.residuals`).
    notes : list of str
        Measurements left out and why (AMR meters not in the customer register, hours where
        the model's pumps did not run as measured).
    """

    alarms: pd.DataFrame
    candidates: pd.DataFrame
    residuals: xr.Dataset
    notes: list[str] = field(default_factory=list)


def find_leaks(
    city,
    store,
    start,
    end,
    client=None,
    top: int = 5,
    cache_dir: str | Path | None = loc.CACHE_DIR,
    progress: Callable[[str, int, int], None] | None = None,
) -> LeakReport:
    """Detect and locate leaks in ``[start, end)`` from the store's measurements.

    Parameters
    ----------
    city : twin.city.City
    store : twin.ingest.store.MeasurementStore
    start, end : time-like
        UTC bounds of the period (whole hours; a few days at least, so the residuals' noise
        can be told from a leak).
    client : distributed.Client, optional
        Spread the sensitivity runs over its workers (only when not cached).
    top : int
        Candidates listed per alarm.
    progress : callable, optional
        ``progress(step, done, total)`` with steps ``read``, ``simulate``, ``sensitivity``,
        ``locate``.
    """
    tick = progress or (lambda *_: None)
    tick("read", 0, 1)
    obs = det.read_observations(store, start, end)
    if len(obs.times) < 48:
        raise det.LeakDetectionError(
            f"the period {start} to {end} has {len(obs.times)} hours; give at least 48")
    tick("read", 1, 1)
    tick("simulate", 0, 1)
    expected = det.expected_hydraulics(city.wn, city.customers, obs, city.timezone)
    res = det.residuals(expected, obs, city.dma_meters, city.wn, city.dmas)
    alarms = det.detect_leaks(res)
    tick("simulate", 1, 1)
    sens = loc.leak_sensitivity(
        city.wn, list(res.logger.values), city.dma_meters, city.dmas, client=client,
        cache_dir=cache_dir, progress=lambda d, n: tick("sensitivity", d, n))
    tick("locate", 0, len(alarms))
    candidates = loc.locate_leaks(alarms, res, sens, city.node_xy, top)
    tick("locate", len(alarms), len(alarms))
    best = candidates[candidates["rank"] == 1].set_index("alarm")
    alarms = alarms.assign(junction=best.junction.reindex(range(len(alarms))).to_numpy(),
                           leak_l_s=best.leak_l_s.reindex(range(len(alarms))).to_numpy())
    notes = []
    unregistered = sorted(set(obs.use_m3.columns.astype(str))
                          - set(city.customers.water_meter_id.astype(str)))
    if unregistered:
        notes.append(f"{len(unregistered)} AMR meter(s) not in the customer register left out "
                     f"of the demands (e.g. {', '.join(unregistered[:3])})")
    off = int((res["operations_match"].to_numpy() == 0).sum())
    if off:
        notes.append(f"{off} of {res.sizes['time']} hours left out of change detection: the "
                     "model's pumps did not run as SCADA measured")
    return LeakReport(alarms, candidates, res, notes)
