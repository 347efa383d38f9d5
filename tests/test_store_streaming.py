"""Streamed reads of the store give what one-shot reads give (issue 16, memory ceilings).

``data audit`` and ``electric losses`` read the store a month and a group of series at a time
(:meth:`MeasurementStore.iter_read`). On the shared sample store (21 days of 400 customers,
with Green Button copies of MDM meters, so overlaps are resolved in the chunks), chunks of a
few thousand rows give the same readings, audit and meter arrays as reading each month whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.electric.meter_anomaly import read_meters
from twin.ingest.audit import audit_build
from twin.ingest.store import _series_groups

SMALL = 40_000  # stored rows per chunk: ~20 chunks a month on the sample store


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    sid = df["series_id"].astype("category")
    df = df.assign(series_id=sid.cat.set_categories(sorted(sid.cat.categories)))
    return df.sort_values(["series_id", "time_utc"], kind="stable").reset_index(drop=True)


def test_chunks_hold_what_read_returns(sample_store):
    a, b = pd.Timestamp("2016-07-08", tz="UTC"), pd.Timestamp("2016-07-13", tz="UTC")
    whole = sample_store.read("electric_interval", start=a, end=b)
    assert len(whole) > 150_000
    chunks = list(sample_store.iter_read("electric_interval", start=a, end=b,
                                         chunk_rows=SMALL))
    assert len(chunks) >= 4
    assert max(len(c) for c in chunks) <= SMALL
    streamed = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(_sorted(streamed), _sorted(whole), check_categorical=False)
    # each chunk is sorted by series and time, and no reading is in two chunks
    for c in chunks:
        assert c["series_id"].cat.categories.is_monotonic_increasing
        dc = np.diff(c["series_id"].cat.codes.to_numpy())
        dt = np.diff(c["time_utc"].array.asi8)
        assert ((dc > 0) | ((dc == 0) & (dt > 0))).all()
    # overlaps were there to resolve: the stored rows outnumber the readings
    stored = sum(len(p) for p in sample_store.iter_columns("electric_interval", ["series_id"],
                                                           start=a, end=b))
    assert stored > len(whole)


def test_columns_and_window_are_read_alone(sample_store):
    a, b = pd.Timestamp("2016-07-10", tz="UTC"), pd.Timestamp("2016-07-12", tz="UTC")
    cols = ["series_id", "time_utc", "value"]
    streamed = pd.concat(sample_store.iter_read("electric_interval", cols, start=a, end=b,
                                                chunk_rows=5_000), ignore_index=True)
    assert list(streamed.columns) == cols
    whole = sample_store.read("electric_interval", start=a, end=b)[cols]
    assert streamed["time_utc"].min() >= a and streamed["time_utc"].max() < b
    pd.testing.assert_frame_equal(_sorted(streamed), _sorted(whole), check_categorical=False)


def test_series_groups_split_by_rows(sample_store):
    files = [f for fs in sample_store._files_by_month("electric_interval").values()
             for f in fs]
    dataset = sample_store._dataset(files)
    groups = _series_groups(dataset, None, 10_000)
    names = [s for g in groups for s in g]
    assert names == sorted(names) and len(names) == len(set(names))
    assert len(groups) > 50
    assert _series_groups(dataset, None, None) == [None]
    assert _series_groups(dataset, None, 10**9) == [None]


def test_streamed_audit_equals_one_shot(sample_raw, sample_store, city):
    one_shot = audit_build(sample_raw, sample_store, city.timezone, chunk_rows=None)
    streamed = audit_build(sample_raw, sample_store, city.timezone, chunk_rows=SMALL)
    pd.testing.assert_frame_equal(streamed.by_fault, one_shot.by_fault)
    pd.testing.assert_frame_equal(streamed.by_kind, one_shot.by_kind)
    pd.testing.assert_frame_equal(streamed.false_flags.drop(columns="rules"),
                                  one_shot.false_flags.drop(columns="rules"))
    assert list(streamed.false_flags["rules"]) == list(one_shot.false_flags["rules"])
    assert one_shot.by_fault["found"].sum() > 0  # a real audit, not an empty one


def test_streamed_meter_reads_equal_one_shot(sample_store, city):
    times = pd.date_range("2016-07-05", "2016-07-20", freq="15min", inclusive="left")
    one_shot = read_meters(sample_store, city.customers, times, chunk_rows=None)
    streamed = read_meters(sample_store, city.customers, times, chunk_rows=SMALL)
    np.testing.assert_array_equal(streamed.meter_ids, one_shot.meter_ids)
    np.testing.assert_array_equal(streamed.kwh, one_shot.kwh)
    np.testing.assert_array_equal(streamed.flat_per_day, one_shot.flat_per_day)
    np.testing.assert_array_equal(streamed.zero_per_day, one_shot.zero_per_day)
    pd.testing.assert_series_equal(streamed.unmapped.sort_index(),
                                   one_shot.unmapped.sort_index())
    assert streamed.not_read == one_shot.not_read
    assert np.isfinite(one_shot.kwh).sum() > 300_000
    assert one_shot.zero_per_day.sum() > 0 or one_shot.flat_per_day.sum() > 0


@pytest.mark.parametrize("chunk_rows", [None, SMALL])
def test_read_meters_matches_the_store_by_hand(sample_store, city, chunk_rows):
    """One meter's energy in the arrays is its stored readings, independent of chunking."""
    times = pd.date_range("2016-07-05", "2016-07-06", freq="15min", inclusive="left")
    m = read_meters(sample_store, city.customers, times, chunk_rows=chunk_rows)
    meter = m.meter_ids[7]
    ref = sample_store.read("electric_interval", series=[meter], start=times[0].tz_localize(
        "UTC"), end=times[-1].tz_localize("UTC") + pd.Timedelta("15min"))
    got = m.kwh[:, 7]
    want = pd.Series(ref["value"].to_numpy(), index=ref["time_utc"].dt.tz_localize(None))
    np.testing.assert_allclose(got, want.reindex(times).to_numpy(dtype=np.float32))


def test_balance_qsts_keeps_only_what_the_balance_reads(city, sample_store):
    """The two QSTS passes of the NTL balance keep line losses and flows alone; they are the
    values a run keeping every variable gives (same allocation, same solver)."""
    from twin.electric import losses
    from twin.electric.qsts import run_qsts
    from twin.scenario import profiles_of

    profiles = profiles_of(city)
    times = pd.date_range("2016-07-06", periods=96, freq="15min")
    feeders = sorted(f for f in city.net.bus.feeder.unique() if f.startswith("F"))
    heads = losses.read_feeder_heads(sample_store, feeders, times[0], times[-1]
                                     + pd.Timedelta("15min")).reindex(index=times,
                                                                      columns=feeders)
    pumps = pd.DataFrame(index=times)
    ds, _ = losses.qsts_on_measurements(city.net, profiles, heads, pumps)
    assert set(ds.data_vars) <= {*losses.BALANCE_VARIABLES, "converged", "bus_supplied"}
    assert "vm_pu" not in ds and "line_loading_percent" not in ds
    # the second pass by hand, keeping every variable
    first, _ = losses.allocate_loads(city.net, profiles, heads.iloc[:, :0], pumps,
                                     pd.DataFrame())
    full0 = run_qsts(city.net, first)
    filled = heads.fillna(losses.feeder_head_p_mw(full0, city.net).reindex(columns=feeders))
    second, _ = losses.allocate_loads(city.net, profiles, filled, pumps,
                                      losses.feeder_line_losses_mw(full0, city.net))
    full = run_qsts(city.net, second)
    assert "vm_pu" in full
    for v in losses.BALANCE_VARIABLES:
        np.testing.assert_allclose(ds[v].values, full[v].values, rtol=1e-12, atol=1e-12)
    assert float(ds.line_pl_mw.sum()) > 0


def test_water_balance_and_night_flow_reads_stream_to_the_one_shot_figures(sample_store, city):
    """The balance's per-meter volumes and the night flow's night reads, summed and cut a
    chunk at a time, equal the one-shot read of the same window summed and cut by hand."""
    from twin.water.balance import metered_volumes_m3, read_time_span
    from twin.water.night_flow import NIGHT_HOURS, night_reads

    a, b = pd.Timestamp("2016-07-05", tz="UTC"), pd.Timestamp("2016-07-19", tz="UTC")
    whole = sample_store.read("water_read", start=a, end=b)
    assert len(whole) > 10_000
    volumes, count = metered_volumes_m3(sample_store, a, b)
    assert count == len(whole)
    by_hand = whole.groupby(whole.series_id.astype(str))["value"].sum()
    got = volumes.set_index("series_id")["value"]
    pd.testing.assert_series_equal(got.sort_index(), by_hand.sort_index(), check_names=False,
                                   rtol=1e-12)
    assert read_time_span(sample_store, "water_read", a, b) == (whole.time_utc.min(),
                                                                whole.time_utc.max())
    hour = pd.DatetimeIndex(whole.time_utc).tz_convert(city.timezone).hour
    night = whole[(hour >= NIGHT_HOURS[0]) & (hour < NIGHT_HOURS[1])]
    streamed = night_reads(sample_store, a, b, city.timezone)
    assert len(streamed) == len(night) > 0
    assert streamed.value.sum() == pytest.approx(night.value.sum(), rel=1e-12)
