"""Planner script: if a feeder that feeds a pump trips, which DMAs lose pressure?

For every feeder with a pump on it, one scenario takes the feeder out for some hours; the
pumps on it stop with it (the coupling does that by itself). The script prints, per feeder,
customers interrupted, energy not supplied and the junction-hours below service pressure in
each DMA, against the same days without the outage. Run it as:

    python scenarios/planner_feeder_outages.py --at "2016-07-14 21:00" --hours 8
"""

from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd

from twin.city import load_city
from twin.scenario import Base, Scenario, run_scenario
from twin.scenario.changes import Outage


def dma_low_pressure_hours(result) -> pd.Series:
    """Demand-junction-hours below the service pressure per DMA [h]."""
    ds = result.dataset.isel(scenario=0)
    limit = result.scenario.base.min_pressure_m
    step_h = result.scenario.base.water_step_min / 60.0
    low = (ds.pressure_m < limit).sum("water_time").to_series() * step_h
    dma = ds.node_dma.to_series()
    keep = dma.str.startswith("DMA") & (ds.node_kind.to_series() == "demand junction")
    return low[keep].groupby(dma[keep]).sum()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", default=None, help="city folder (default: the sample city)")
    parser.add_argument("--at", default="2016-07-14 21:00", help="local time the feeder trips")
    parser.add_argument("--hours", type=float, default=8.0, help="hours without supply")
    args = parser.parse_args()
    city = load_city(args.city)
    at = dt.datetime.fromisoformat(args.at)
    base = Base(start=at.date() - dt.timedelta(days=1), days=3, hosting_capacity=False)
    feeders = sorted({str(city.net.bus.feeder[int(b)]) for b in city.pumps.bus})
    runs = {"no outage": run_scenario(city, Scenario(name="no outage", base=base))}
    for feeder in feeders:
        s = Scenario(name=f"{feeder} out", base=base, changes=[
            Outage(kind="feeder", element=feeder, start=at, hours=args.hours)])
        runs[s.name] = run_scenario(city, s)
    rows = {}
    for name, r in runs.items():
        v = r.metrics.value
        rows[name] = {"customers interrupted": v["customers_interrupted"],
                      "energy not supplied MWh": v["energy_not_supplied_mwh"],
                      "tank min %": v["tank_min_percent"],
                      **{f"{d} low-pressure h": h for d, h in dma_low_pressure_hours(r).items()}}
        if r.notes:
            print(f"{name}: " + "; ".join(r.notes))
    print(pd.DataFrame(rows).round(2).to_string())


if __name__ == "__main__":
    main()
