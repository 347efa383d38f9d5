"""Planner script: how far can EV charging and rooftop PV grow together on our feeders?

Builds the scenarios in code (no YAML), runs them on the city, prints the comparison table
and draws the comparison figures. Run it as:

    python scenarios/planner_ev_pv.py --start 2016-07-04 --days 14 --out /tmp/ev-pv

(``--city`` names another city folder; the default is the sample city.)
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from twin.city import load_city
from twin.scenario import Base, Scenario, compare, comparison_figures, run_scenario
from twin.scenario.changes import EvAdoption, RooftopPV


def studies(start: dt.date, days: int) -> list[Scenario]:
    """The base and three futures over the same period."""
    base = Base(start=start, days=days, hosting_capacity=False)
    return [
        Scenario(name="today", base=base),
        Scenario(name="ev-30", base=base, changes=[EvAdoption(share=0.3)]),
        Scenario(name="pv-60", base=base, changes=[RooftopPV(share=0.6)]),
        Scenario(name="ev-30+pv-60", base=base,
                 changes=[EvAdoption(share=0.3), RooftopPV(share=0.6)]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", default=None, help="city folder (default: the sample city)")
    parser.add_argument("--start", default="2016-07-04", help="first local day")
    parser.add_argument("--days", type=int, default=14, help="days in the study")
    parser.add_argument("--out", type=Path, default=Path("ev-pv-study"), help="output folder")
    args = parser.parse_args()
    city = load_city(args.city)
    results = []
    for scenario in studies(dt.date.fromisoformat(args.start), args.days):
        result = run_scenario(city, scenario)
        print(f"{scenario.name}: {result.dataset.attrs['run_seconds']:.1f} s; "
              + "; ".join(result.notes))
        result.save(args.out)
        results.append(result)
    table = compare(results)
    keep = ["peak_import_mw", "min_import_mw", "line_loading_max_percent",
            "trafo_loading_max_percent", "voltage_min_pu", "voltage_max_pu", "losses_mwh",
            "losses_percent", "voltage_violations", "thermal_violations"]
    print(table.loc[keep].round(3).to_string())
    for name, path in comparison_figures(results, args.out / "figures").items():
        print(f"figure {name}: {path}")


if __name__ == "__main__":
    main()
