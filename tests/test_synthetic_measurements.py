"""The sample city's synthetic measurements: reproducible, exact where they must be, faulty
where the ground truth says so."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from twin.city import load_city
from twin.electric.profiles import city_profiles
from twin.synthetic import raw_formats as raw
from twin.synthetic.measurements import (
    KWH_PER_MW_INTERVAL,
    build_measurements,
    customer_energy,
    dma_inflow_l_s,
    simulate_water,
    study_period,
)

SMALL = {"days": 7, "customers": 60}
REQUIRED_KINDS = {"leak", "theft", "stuck", "drift", "zeros", "gap", "spike", "duplicate",
                  "wrong_unit", "dst_spring_96", "dst_autumn_summed"}


@pytest.fixture(scope="module")
def city():
    return load_city()


@pytest.fixture(scope="module")
def builds(city, tmp_path_factory):
    """Small builds: two with the recipe seed, one with another seed, two around DST."""
    out = {}
    for name, kwargs in {"a": SMALL, "a2": SMALL, "other_seed": {**SMALL, "seed": 7},
                         "spring": {"start": "2016-03-12", "days": 3, "customers": 60},
                         "autumn": {"start": "2016-11-05", "days": 3, "customers": 60}}.items():
        folder = tmp_path_factory.mktemp(name)
        summary = build_measurements(city, folder, **kwargs)
        out[name] = (folder, summary)
    return out


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def truth(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "truth" / "faults.csv", dtype={"series_id": str},
                       keep_default_na=False)


def read_wide(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"meter_id": str, "read_date": str})


def interval_reads(folder, city, tz) -> pd.DataFrame:
    """All electricity reads of a build as meter × interval start (UTC) [kWh], last wins."""
    frames = []
    for path in sorted((folder / "mdm").glob("interval_wide_*.csv")):
        df = read_wide(path)
        for row in df.itertuples(index=False):
            day = pd.Timestamp(row.read_date).tz_localize(tz).tz_convert("UTC")
            values = np.array(row[5:5 + row.interval_count], dtype=float)
            times = day + pd.to_timedelta(np.arange(row.interval_count) * 15, "min")
            frames.append(pd.DataFrame({"meter_id": row.meter_id, "time": times,
                                        "value": values, "file": path.name}))
    for path in sorted((folder / "mdm").glob("interval_long_*.csv")):
        df = pd.read_csv(path)
        frames.append(pd.DataFrame({"meter_id": df.meter_id,
                                    "time": pd.to_datetime(df.interval_start, utc=True),
                                    "value": df.value, "file": path.name}))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------- (a) determinism

def test_same_seed_gives_identical_files(builds):
    a, a2 = manifest(builds["a"][0]), manifest(builds["a2"][0])
    assert a == a2
    assert a["seed"] == load_city().recipe.seed
    assert len(a["files"]) >= 10


def test_other_seed_gives_other_data(builds):
    a = {f["file"]: f["sha256"] for f in manifest(builds["a"][0])["files"]}
    b = {f["file"]: f["sha256"] for f in manifest(builds["other_seed"][0])["files"]}
    mdm = [k for k in a if k.startswith("mdm/")]
    assert mdm and all(a[k] != b.get(k) for k in mdm)


def test_manifest_hashes_match_files(builds):
    folder = builds["a"][0]
    for f in manifest(folder)["files"]:
        assert raw.sha256_of(folder / f["file"]) == f["sha256"]


# --------------------------------------------------- (b) customers add up to their load

def test_customer_energy_adds_up_to_load():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.1, 0.5, (2, 10))  # 2 loads, 10 intervals [MW]
    share = np.array([0.5, 0.3, 0.2, 1.0])
    kwh = customer_energy(p, share, np.array([0, 3]), rng.normal(0, 0.4, (4, 10)))
    np.testing.assert_allclose(kwh[:3].sum(axis=0), p[0] * 250.0, rtol=1e-12)
    np.testing.assert_allclose(kwh[3], p[1] * 250.0, rtol=1e-12)
    assert (kwh > 0).all()


def test_unfaulted_reads_add_up_to_simbench_profile(builds, city):
    folder = builds["a"][0]
    tz = city.timezone
    faults = truth(folder)
    bad_meters = set(faults.loc[faults.system == "electricity", "series_id"])
    wrong_unit = {f.split("/")[-1] for f in faults.loc[faults.kind == "wrong_unit", "file"]}
    reads = interval_reads(folder, city, tz).drop_duplicates(["meter_id", "time"])
    reads.loc[reads.file.isin(wrong_unit), "value"] /= 1000.0  # written in Wh
    cust = city.customers.sort_values("customer_id").head(SMALL["customers"])
    clean = cust.groupby("load").filter(lambda g: not g.electric_meter_id.isin(bad_meters).any())
    assert clean["load"].nunique() >= 1
    profiles = city_profiles(city)["load_p_mw"]
    period = study_period(2016, tz, None, SMALL["days"])
    checked = 0
    for load, members in clean.groupby("load"):
        # the build renormalises over the customers it keeps: those of this load here
        table = reads[reads.meter_id.isin(members.electric_meter_id)].pivot(
            index="time", columns="meter_id", values="value")
        assert table.shape == (len(period.times), len(members))
        expected = profiles.loc[period.times, load].to_numpy() * KWH_PER_MW_INTERVAL
        np.testing.assert_allclose(table.sum(axis=1).to_numpy(), expected,
                                   atol=0.0005 * len(members) + 1e-9)
        checked += 1
    assert checked >= 1


# --------------------------------------------------------------------- (c) ground truth

def test_ground_truth_lists_every_fault_kind(builds):
    kinds = set()
    for name in ("a", "spring", "autumn"):
        kinds |= set(truth(builds[name][0]).kind)
    assert REQUIRED_KINDS <= kinds
    t = truth(builds["a"][0])
    assert t.fault_id.is_unique
    assert (pd.to_datetime(t.start_utc) < pd.to_datetime(t.end_utc)).all()
    leaks = t[t.kind == "leak"]
    assert 3 <= len(leaks) <= 5 and leaks["size"].nunique() == len(leaks)


def test_wrong_unit_file_is_a_thousand_times_larger(builds):
    folder = builds["a"][0]
    t = truth(folder)
    bad = t[t.kind == "wrong_unit"].iloc[0]
    slots = [f"i{k:03d}" for k in range(1, 97)]
    wrong = read_wide(folder / bad.file)[slots].stack().median()
    right = pd.concat(read_wide(p)[slots] for p in (folder / "mdm").glob("interval_wide_*")
                      if p.name != bad.file.split("/")[-1]).stack().median()
    assert 200 < wrong / right < 5000
    assert (read_wide(folder / bad.file).uom == "kWh").all()


# ----------------------------------------------------------------------- (d) DST days

@pytest.mark.parametrize("name, date, intervals", [("spring", "2016-03-13", 92),
                                                   ("autumn", "2016-11-06", 100)])
def test_dst_days_have_92_and_100_intervals(builds, name, date, intervals):
    folder = builds[name][0]
    t = truth(folder)
    faulty = {f.split("/")[-1] for f in t.file if f}
    dst = {f.split("/")[-1] for f in t.loc[t.kind.str.startswith("dst_"), "file"]}
    gaps = t[t.kind.isin(["gap"])]
    files = sorted((folder / "mdm").glob(f"interval_wide_{date[:7]}_part*.csv"))
    clean = [p for p in files if p.name not in faulty]
    assert clean and len(clean) < len(files)  # one part carries the DST fault
    slots = [f"i{k:03d}" for k in range(1, 101)]
    for path in clean:
        day = read_wide(path).query("read_date == @date")
        assert len(day) and (day.interval_count == intervals).all()
        full = day[~day.meter_id.isin(gaps.series_id)]
        assert full[slots[:intervals]].notna().all().all()
        assert full[slots[intervals:]].isna().all().all()
    assert len(dst) == 1
    bad = [p for p in files if p.name in dst][0]
    day = read_wide(bad).query("read_date == @date")
    assert (day.interval_count == 96).all()
    assert day[slots[96:]].isna().all().all()


def test_dst_fault_formats_by_hand():
    spring = np.r_[np.arange(92.0), np.full(8, np.nan)]
    out = raw.dst_spring_as_96(spring)
    assert np.array_equal(out[:8], np.arange(8.0)) and (out[8:12] == 0).all()
    assert np.array_equal(out[12:96], np.arange(8.0, 92.0)) and np.isnan(out[96:]).all()
    autumn = np.arange(100.0)
    out = raw.dst_autumn_summed(autumn)
    assert np.array_equal(out[4:8], autumn[4:8] + autumn[8:12])
    assert np.array_equal(out[8:96], autumn[12:100])
    assert out[:96].sum() == autumn.sum()


def test_long_layout_repeats_the_autumn_hour_with_its_offset(builds):
    folder = builds["autumn"][0]
    df = pd.read_csv(folder / "mdm" / "interval_long_2016-11.csv")
    one = df[df.meter_id == df.meter_id.iloc[0]]
    day = one[one.interval_start.str.startswith("2016-11-06T01")].drop_duplicates(
        "interval_start")
    assert len(day) == 8
    assert day.interval_start.str.endswith("-04:00").sum() == 4


# ---------------------------------------------------------------- (e) leaks in SCADA

def test_leak_raises_dma_inflow_by_emitter_flow(builds, city):
    folder = builds["a"][0]
    t = truth(folder)
    # a DMA without a tank: its net inflow is its consumption plus its leak, hour by hour
    tank_dmas = {city.dmas[k] for k in city.wn.tank_name_list}
    leak = next(f for f in t[t.kind == "leak"].itertuples()
                if json.loads(f.details)["dma"] not in tank_dmas)
    dma = json.loads(leak.details)["dma"]

    scada = pd.read_csv(folder / "scada" / "historian_2016-01.csv")
    flows = scada[scada.tag.str.endswith(".FLOW")]
    wide = flows.pivot(index="timestamp_utc", columns="tag", values="value")
    wide.index = pd.to_datetime(wide.index, utc=True)
    link_of = dict(zip(city.dma_meters.meter_id, city.dma_meters.link, strict=True))
    wide.columns = [link_of[c.split(".")[1]] for c in wide.columns]
    measured = dma_inflow_l_s(city, wide / 1000.0)[dma]

    period = study_period(2016, city.timezone, None, SMALL["days"])
    base = simulate_water(city, t.iloc[:0], period)
    without = dma_inflow_l_s(city, base["flow_m3s"])[dma].to_numpy()
    on = (period.hours >= pd.Timestamp(leak.start_utc)) & (
        period.hours < pd.Timestamp(leak.end_utc))
    rise = (measured.to_numpy() - without)[on]
    rise = rise[~np.isnan(rise)]
    # hand formula: Q = C·sqrt(p) at the junction's pressure (without the leak) [L/s]
    p = base["pressure_m"][leak.series_id].to_numpy()[on]
    expected = leak.size * np.sqrt(p).mean() * 1000.0
    assert expected > 0.5
    assert rise.mean() == pytest.approx(expected, rel=0.1)
    before = (measured.to_numpy() - without)[period.hours < pd.Timestamp(leak.start_utc)]
    assert abs(np.nanmean(before)) < 0.1 * expected


def test_seasonal_network_keeps_every_category_and_its_5_minute_weekly_pattern(tmp_path):
    """The generator's year-long demands: every demand category plays its own pattern on the
    network's clock (5-minute weekly patterns started 30 h 10 min in), times the seasonal
    swing; checked on EPANET's reported demands against the patterns computed by hand."""
    from test_water_hydraulics_fidelity import _hand_demand_l_s, _inp_text, _patterns

    from twin.synthetic.measurements import WATER_SEASONAL_AMPLITUDE, seasonal_water_network
    from twin.water.hydraulics import simulate
    from twin.water.network import read_inp

    patterns = _patterns()
    path = tmp_path / "weekly.inp"
    path.write_text(_inp_text(patterns))
    hours = 9 * 24  # beyond the week: the weekly patterns wrap
    wn = seasonal_water_network(read_inp(path), 2016, hours)
    assert len(wn.get_node("J1").demand_timeseries_list) == 2
    ds = simulate(wn, hours * 3600, 3600)
    t = ds.time.values[:-1]
    season = 1 + WATER_SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (t // 86400 - 196) / 366)
    for j, q in _hand_demand_l_s(patterns, t).items():
        np.testing.assert_allclose(ds.demand_m3s.sel(node=j).values[:-1] * 1000, q * season,
                                   rtol=2e-6)
