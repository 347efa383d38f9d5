"""Leak detection and location on the sample city's three weeks, scored against the
generator's truth; sensitivities against EPANET; the CLI."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.ingest.store import MeasurementStore
from twin.parallel import dask_client
from twin.water import leak_location as loc
from twin.water import leak_scoring as sc
from twin.water.hydraulics import results_dataset, run_epanet
from twin.water.leaks import LeakDetectionError, LeakSettings, find_leaks, read_observations

#: The sample build's first leak starts on its fifth day: a 3-day leak-free baseline.
SAMPLE_SETTINGS = LeakSettings(baseline_days=3)


def _period(sample_raw):
    manifest = json.loads((sample_raw / "manifest.json").read_text())
    return pd.Timestamp(manifest["period_start_utc"]), pd.Timestamp(manifest["period_end_utc"])


@pytest.fixture(scope="module")
def report(city, sample_raw, sample_store, tmp_path_factory):
    start, end = _period(sample_raw)
    return find_leaks(city, sample_store, start, end, SAMPLE_SETTINGS,
                      cache_dir=tmp_path_factory.mktemp("sens-cache"))


def test_sample_leaks_alarm_in_their_dma_and_window(city, sample_raw, report):
    """Each of the sample build's four leaks (4-25 m³/h) raises a new-leak alarm in its own
    DMA inside its window; measured: 4 of 4, delays 1-69 h. Location on the sample city
    (5 loggers over 92 junctions) is coarse: only the DMA is asserted."""
    truth = sc.truth_from_faults(sample_raw / "truth" / "faults.csv")
    new = report.alarms[report.alarms.kind == "new"]
    found = 0
    for lk in truth.itertuples():
        dma = city.dmas[lk.junction]
        hit = new[(new.dma == dma) & (new.alarm_utc >= lk.start) & (new.alarm_utc <= lk.end)]
        found += len(hit) > 0
    assert found >= 3, (found, new)
    assert len(new) <= 10  # 21 days, 4 DMAs
    assert not report.calibration.attrs["robust"]


def test_each_position_is_known_after_its_alarm_and_growth_takes_its_episodes(report):
    """A position is measured on hours after the alarm's change: it is given no earlier than
    the alarm, and a growth alarm carries the position of the alarm it grows from."""
    a = report.alarms
    assert (a.located_utc >= a.alarm_utc).all()
    assert (a.located_utc > a.change_utc).all()
    by_no = a.set_index("alarm")
    for g in a[a.flag.str.startswith("growth of alarm")].itertuples():
        head = by_no.loc[int(g.flag.split(":")[0].split()[-1])]
        assert g.kind == "growth"
        assert (g.element, g.x_m, g.located_utc) == (head.element, head.x_m,
                                                      max(head.located_utc, g.alarm_utc))


def test_calibration_reported_and_consistent(report):
    cal = report.calibration
    c = cal[cal.kind == "consumption"]
    assert len(c) == report.residuals.sizes["dma"]
    assert (c.sigma > 0).all() and (c.h > 0).all() and (c.k > 0).all()
    p = cal[cal.kind == "pressure"]
    assert (p.sigma < 0.1).all()  # loggers' noise is 0.01 m; the baseline takes the bias out


def test_candidates_have_distances_from_the_best(report):
    c = report.candidates
    for _, g in c.groupby("alarm"):
        assert g["rank"].tolist() == list(range(1, len(g) + 1))
        np.testing.assert_allclose(
            g.distance_m, np.hypot(g.x_m - g.x_m.iloc[0], g.y_m - g.y_m.iloc[0]))
        # best first: the most posterior probability within the search radius
        assert g.probability_within.is_monotonic_decreasing
        assert (g.probability_within >= g.probability - 1e-12).all()


def test_sensitivity_matches_an_epanet_run_with_an_emitter(city):
    """The toolkit snapshot against a full EPANET run (WNTR EpanetSimulator) with the emitter,
    the network in its own units (GPM), the sensitivity in m and L/s."""
    wn = city.wn
    loggers, links, j = ["15", "115", "203"], ["60", "116"], "121"
    texts = loc.snapshot_inp_texts(wn, [9])
    dp, dq, leak = loc.sensitivity_batch(texts, [j], loggers, links)

    def snapshot(emitter_m3s):
        w = copy.deepcopy(wn)
        w.options.time.pattern_start = 9 * 3600
        w.options.time.start_clocktime = 9 * 3600
        w.get_node(j).emitter_coefficient = emitter_m3s
        return results_dataset(run_epanet(w, 0))

    base, leaky = snapshot(0.0), snapshot(loc.STANDARD_EMITTER_LPS / 1000.0)
    q_leak = loc.STANDARD_EMITTER_LPS * np.sqrt(float(leaky.pressure_m.sel(node=j)[0]))
    assert leak[0] == pytest.approx(q_leak, rel=1e-3)
    ref_dp = (leaky.pressure_m - base.pressure_m).sel(node=loggers)[0].to_numpy() / q_leak
    ref_dq = (leaky.flow_m3s - base.flow_m3s).sel(link=links)[0].to_numpy() * 1000 / q_leak
    np.testing.assert_allclose(dp[0], ref_dp, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(dq[0], ref_dq, rtol=2e-3, atol=1e-5)
    assert dp[0].min() < 0  # a leak lowers pressures


def test_sensitivity_over_dask_equals_one_process_and_is_cached(city, tmp_path):
    junctions = city.wn.junction_name_list[:30]
    args = (city.wn, ["15", "115"], city.dma_meters, city.dmas, junctions)
    serial = loc.leak_sensitivity(*args, cache_dir=None)
    with dask_client(n_workers=2) as client:
        spread = loc.leak_sensitivity(*args, client=client, batch_size=8, cache_dir=tmp_path)
    np.testing.assert_allclose(spread.sensitivity, serial.sensitivity, rtol=1e-9, atol=1e-12)
    assert len(list(tmp_path.glob("*.nc"))) == 1
    cached = loc.leak_sensitivity(*args, cache_dir=tmp_path)
    np.testing.assert_allclose(cached.sensitivity, serial.sensitivity)
    wn2 = copy.deepcopy(city.wn)
    wn2.get_link(wn2.pipe_name_list[0]).diameter *= 1.5
    loc.leak_sensitivity(wn2, *args[1:], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.nc"))) == 2


def test_short_period_runs_robustly_and_is_flagged(city, sample_raw, sample_store, tmp_path):
    """Three days, less than the 7-day baseline asked: the run goes on, learned robustly on
    the whole period, flagged and explained."""
    start, _ = _period(sample_raw)
    rep = find_leaks(city, sample_store, start, start + pd.Timedelta(days=3), LeakSettings(),
                     cache_dir=tmp_path)
    assert rep.calibration.attrs["robust"]
    assert (rep.flags.problem == "short").any()
    assert any("too short" in n for n in rep.notes)


def test_bad_input_is_named(city, tmp_path):
    empty = MeasurementStore(str(tmp_path / "empty"))
    with pytest.raises(LeakDetectionError, match="ingest"):
        read_observations(empty, "2016-07-04", "2016-07-05")
    with pytest.raises(loc.LeakLocationError, match="XX"):
        loc.leak_sensitivity(city.wn, ["XX"], city.dma_meters, city.dmas, cache_dir=None)
    r = CliRunner().invoke(app, ["water", "leaks", "--start", "2016-07-04", "--days", "3",
                                 "--store", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "error:" in r.output and "Traceback" not in r.output


@pytest.mark.slow
def test_cli_runs_and_scores_against_a_truth_file(sample_raw, sample_store, tmp_path):
    truth = sc.truth_from_faults(sample_raw / "truth" / "faults.csv")
    path = tmp_path / "truth.csv"
    truth.to_csv(path, index=False)
    r = CliRunner().invoke(app, ["water", "leaks", "--start", "2016-07-04", "--days", "21",
                                 "--baseline-days", "3", "--store", str(sample_store.root),
                                 "--truth", str(path)])
    assert r.exit_code == 0, r.output
    assert "Calibration on the baseline" in r.output and "Leak alarms" in r.output
    assert "read store chunks" in r.output  # the read's bar, counted in chunks
    assert "found_3-10_m3h" in r.output and "false_alarms_per_dma_month" in r.output
