"""Profiles from the utility's own data (issue 11 item 4): the store's interval reads summed
through the customer map, or a declared standard profile; and no module reads the sample
recipe outside ``twin.city``.

The reference for the store source is computed here from the store's rows directly: a load's
power at a step is the sum of its read meters' kWh divided by the share of the load they
stand for, over the 0.25 h step.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.electric.profiles import (
    KWH_PER_MW_INTERVAL,
    standard_profile_types,
    standard_profiles,
    store_load_profiles,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def window(city, sample_store):
    """Standard profiles of the sample city's grid, cut to the shared store's 21 days."""
    base = standard_profiles(city.net, "H0-A", city.recipe.year, city.timezone)
    start = pd.Timestamp("2016-07-04", tz=city.timezone).tz_convert("UTC")
    end = start + pd.Timedelta(days=21)
    return {k: v.loc[(v.index >= start) & (v.index < end)] for k, v in base.items()}


def test_store_profiles_sum_the_read_meters_of_each_load(city, sample_store, window):
    prof = store_load_profiles(city.net, city.customers, sample_store, window)
    p = prof["load_p_mw"]
    report = p.attrs
    assert report["source"] == "measurement store" and report["meters_read"] > 300
    # independent: one load's meters straight from the store at one step
    step = window["load_p_mw"].index[500]
    reads = sample_store.read("electric_interval", start=step.tz_localize(None),
                              end=(step + pd.Timedelta("15min")).tz_localize(None))
    reads = reads[reads.time_utc == step]
    cust = city.customers.set_index("electric_meter_id")
    reads = reads[reads.series_id.astype(str).isin(cust.index)]
    load = int(cust.loc[reads.series_id.astype(str).iloc[0], "load"])
    mine = reads[cust.loc[reads.series_id.astype(str), "load"].to_numpy() == load]
    share = city.customers[city.customers["load"] == load]
    share = share.load_share / share.load_share.sum()
    shares = share.set_axis(city.customers.loc[share.index, "electric_meter_id"])
    expected = mine.value.sum() / shares.loc[mine.series_id.astype(str)].sum() \
        / KWH_PER_MW_INTERVAL
    assert p.at[step, load] == pytest.approx(expected, rel=1e-6)
    # Q at the load's rated power factor
    pf = city.net.load.at[load, "q_mvar"] / city.net.load.at[load, "p_mw"]
    assert prof["load_q_mvar"].at[step, load] == pytest.approx(expected * pf, rel=1e-6)
    # loads none of the store's 400 customers draw from keep the declared standard profile
    without = report["loads_without_meter"]
    assert len(without) > 0
    np.testing.assert_array_equal(p[without].to_numpy(),
                                  window["load_p_mw"][without].to_numpy())
    assert city.net.load.index[city.net.load.profile == "pump"].isin(without).sum() == 0


def test_standard_profile_is_simbenchs_type_scaled_by_each_load(city):
    prof = standard_profiles(city.net, "G0-A", 2016, city.timezone)
    rel = standard_profile_types(["G0-A_pload"])["G0-A_pload"].to_numpy()
    load = city.net.load.index[0]
    np.testing.assert_allclose(prof["load_p_mw"][load].to_numpy(),
                               rel * city.net.load.at[load, "p_mw"])
    # SimBench's 1 January 00:00 is local standard time: 05:00 UTC in New York
    assert prof["load_p_mw"].index[0] == pd.Timestamp("2016-01-01 05:00", tz="UTC")
    with pytest.raises(ValueError, match=r"no standard profile \['XX-9_pload'\].*H0-A"):
        standard_profile_types(["XX-9_pload"])


#: Ways of reading the sample recipe: its file name, the old config helper, a recipe read
#: without a path, the sample recipe's one accessor.
SAMPLE_RECIPE_READS = re.compile(r"city\.yaml|recipe_path\(|read_recipe\(\)|sample_recipe_path")
#: Files other branches own that still read it, and the branch that removes the read (issue
#: 11): each must still need its place here, so the list shrinks as they land.
OWNED_ELSEWHERE: dict[str, str] = {}


def test_no_module_reads_the_sample_recipe_outside_twin_city():
    offenders = {}
    for folder in ("twin", "forecasts", "apps"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "twin/city.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if SAMPLE_RECIPE_READS.search(code) and '"""' not in code and \
                        not code.strip().startswith(("``", "*")):
                    offenders.setdefault(rel, []).append(f"{n}: {line.strip()}")
    # the only allowed use: `twin city build`'s default generator recipe (and its help text)
    cli = offenders.pop("twin/cli/__init__.py", [])
    assert all("sample_recipe_path" in x or "help=" in x for x in cli), cli
    unexpected = {k: v for k, v in offenders.items() if k not in OWNED_ELSEWHERE}
    assert not unexpected, unexpected
    stale = [k for k in OWNED_ELSEWHERE if k not in offenders]
    assert not stale, f"{stale} no longer read the sample recipe: drop them from the list"
