"""The leak run reads the store in chunks and gets what reading it whole gives.

On the shared sample store (21 days, 400 customers): read a few thousand stored rows at a
time, the SCADA tables are the whole read's, and the demand ratio from the reduced AMR reads
(:class:`twin.water.leak_expectation.MeteredUse`) is the one computed here by hand from the
whole read: Σ use over Σ share × the junction's model demand (every category, the EPANET
pattern clock, :func:`twin.water.hydraulics.junction_demand_m3s`).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from twin.ingest.tag_map import series_elements
from twin.water import leak_expectation as exp
from twin.water.hydraulics import junction_demand_m3s
from twin.water.leaks import read_observations

#: Stored rows per chunk: the sample's AMR reads come in dozens of chunks.
SMALL_CHUNK = 5_000


@pytest.fixture(scope="module")
def period(sample_raw):
    manifest = json.loads((sample_raw / "manifest.json").read_text())
    start = pd.Timestamp(manifest["period_start_utc"])
    return start, start + pd.Timedelta(days=6)


@pytest.fixture(scope="module")
def streamed(city, sample_store, period):
    return read_observations(sample_store, *period, city.dma_meters, city.wn, city.customers,
                             chunk_rows=SMALL_CHUNK)


def test_reads_come_in_many_chunks(sample_store, period):
    n = sum(1 for _ in sample_store.iter_read("water_read", ["value"], start=period[0],
                                              end=period[1], chunk_rows=SMALL_CHUNK))
    assert n >= 10


def test_scada_in_chunks_is_the_whole_read(city, sample_store, period, streamed):
    whole = read_observations(sample_store, *period, city.dma_meters, chunk_rows=None)
    for name in ("flow_l_s", "pressure_m", "tank_level_m", "pump_power_kw", "pump_status"):
        a, b = getattr(streamed, name), getattr(whole, name)
        pd.testing.assert_frame_equal(a, b, check_freq=False)
    assert streamed.pressure_m.notna().mean().mean() > 0.9
    # and a logger's values are its stored readings themselves
    raw = sample_store.read("scada", start=period[0], end=period[1])
    what = series_elements(raw.series_id.astype(str).unique(), sample_store.scada_tags())
    tag, logger = what[what.quantity == "pressure"].iloc[0][["tag", "element"]]
    one = raw[raw.series_id.astype(str) == tag].set_index("time_utc")["value"]
    common = one.index.intersection(streamed.times)
    assert len(common) > 100
    assert np.allclose(streamed.pressure_m.loc[common, logger].to_numpy(),
                       one[common].to_numpy(), equal_nan=True)


def test_demand_ratio_from_chunks_is_the_hand_computed_one(city, sample_store, period,
                                                          streamed):
    assert streamed.metered is not None and streamed.use_m3.shape[1] == 0
    hours = streamed.metered.hours
    origin = (hours[0].tz_localize(None) + pd.Timestamp("2001-01-15", tz=city.timezone)
              .utcoffset()).normalize()
    seconds = exp.pattern_seconds(hours, city.timezone, origin)
    ratio = exp.demand_ratio(city.wn, streamed.metered, seconds)
    # by hand, from the whole read
    reads = sample_store.read("water_read", start=period[0], end=period[1])
    reads = reads[reads.quality_flag.astype(str) != "failed"]
    use = reads.pivot_table(index="time_utc", columns=reads.series_id.astype(str),
                            values="value", aggfunc="mean").reindex(hours)
    reg = city.customers.assign(water_meter_id=city.customers.water_meter_id.astype(str))
    reg = reg.drop_duplicates("water_meter_id").set_index("water_meter_id")
    meters = [m for m in use.columns if m in reg.index]
    share = reg.water_share[meters] if "water_share" in reg else pd.Series(1.0, index=meters)
    demand = junction_demand_m3s(city.wn, seconds + 1800.0,
                                 reg.junction[meters].astype(str).to_numpy())
    model = demand.to_numpy() * share.to_numpy(float) * 3600.0
    seen = use[meters].notna().to_numpy()
    num = use[meters].fillna(0.0).sum(axis=1).to_numpy()
    den = np.where(seen, model, 0.0).sum(axis=1)
    ok = den > 0
    expected = np.divide(num, den, out=np.full(len(den), np.nan), where=ok)
    assert ok.mean() > 0.9
    assert np.allclose(ratio.to_numpy()[ok], expected[ok], rtol=1e-9)
    assert 0.5 < float(ratio.median()) < 2.0
    # the same reads held whole give the same ratio
    whole, _ = exp.metered_demand_ratio(city.wn, city.customers, use, seconds)
    assert np.allclose(whole.to_numpy(), ratio.to_numpy(), rtol=1e-12)


def test_progress_once_per_chunk_with_a_growing_count(city, sample_store, period):
    """From ten days before the data (a month with none) to the period's end: one call per
    chunk read (counted here from the store), ``done`` 1, 2, …, the total never below it,
    counting the months not yet read, and equal to the chunks read at the end."""
    start = period[0] - pd.Timedelta(days=10)
    assert start.month != period[0].month
    calls = []
    obs = read_observations(sample_store, start, period[1], city.dma_meters,
                            chunk_rows=SMALL_CHUNK,
                            progress=lambda done, total: calls.append((done, total)))
    n = sum(1 for kind in ("scada", "water_read")
            for _ in sample_store.iter_read(kind, ["value"], start=start, end=period[1],
                                            chunk_rows=SMALL_CHUNK))
    assert n >= 10 and [d for d, _ in calls] == list(range(1, n + 1))
    totals = [t for _, t in calls]
    assert all(t >= d for d, t in calls) and totals[-1] == n
    # scada: June empty, July read first (done 1, July's water reads and June's ahead: 3);
    # a further July chunk adds one; June's water reads turn out empty: one less
    assert totals[:2] == [3, 4]
    assert [a - b for a, b in zip(totals, totals[1:], strict=False) if b < a] == [1]
    assert obs.pressure_m.notna().any().all()
