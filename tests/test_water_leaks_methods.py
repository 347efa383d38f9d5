"""Leak detection's parts on small reference cases with known answers: the two-sided CUSUM,
its calibration, the change estimate, location and scoring by hand, checks of bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.water import leak_detection as det
from twin.water import leak_quality as qa
from twin.water import leak_scoring as sc


def test_siegmund_threshold_gives_the_false_alarm_rate_it_promises():
    """h from the target run length, checked against a Monte Carlo run of N(0,1) values:
    400,000 steps at ARL 2,000 should give about 200 alarms (measured 150-230 over seeds)."""
    k = 0.5
    h = det.threshold_for_arl(k, 2000)
    assert det.siegmund_arl(k, h) == pytest.approx(4000, rel=1e-6)  # each side twice
    z = np.random.default_rng(3).standard_normal(400_000)
    n = len(det.cusum_two_sided(z, k, h, clip=10, rebase=0))
    assert 100 <= n <= 400, n


def test_two_sided_cusum_catches_a_fall_under_a_negative_bias():
    """A model bias of -1 σ from the start: the reference level is 0 so the lower sum
    alarms soon after the start; after it rebases, a leak of +1.5 σ on top is still found."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal(600) * 0.5 - 1.0
    z[300:] += 1.5
    ev = det.cusum_two_sided(z, k=0.25, h=8, clip=4, rebase=6)
    assert ev[0]["direction"] == -1 and ev[0]["alarm"] < 40
    assert ev[0]["level_after"] == pytest.approx(-1.0, abs=0.3)
    ups = [e for e in ev if e["direction"] == 1]
    assert ups and 295 <= ups[0]["change"] <= 305 and ups[0]["alarm"] < 320
    assert ups[0]["level_after"] - ups[0]["level_before"] == pytest.approx(1.5, abs=0.4)


def test_cusum_restarts_and_catches_a_second_unrepaired_leak():
    """Two steps, the first never repaired: two up alarms, each dated at its own change,
    each step measured against the level before it (the old CUSUM raised one)."""
    rng = np.random.default_rng(7)
    z = rng.standard_normal(900)
    z[300:] += 3.0
    z[600:] += 2.0
    h = det.threshold_for_arl(0.5, 5000)
    ev = det.cusum_two_sided(z, k=0.5, h=h, clip=h / 2, rebase=12)
    ups = [e for e in ev if e["direction"] == 1]
    assert len(ev) == 2 and len(ups) == 2, ev
    assert abs(ups[0]["change"] - 300) <= 3 and abs(ups[1]["change"] - 600) <= 3
    assert ups[1]["level_after"] - ups[1]["level_before"] == pytest.approx(2.0, abs=0.5)
    assert det.robust_sigma(z) == pytest.approx(1.0, rel=0.2)


def test_cusum_quiet_on_noise_and_an_outlier():
    z = np.random.default_rng(11).standard_normal(2000)
    z[1000] = 50.0  # one bad reading: clipped, no alarm
    h = det.threshold_for_arl(0.5, 24 * 365)
    assert det.cusum_two_sided(z, 0.5, h, clip=h / 2) == []


def test_calibration_from_noise_and_smallest_leak():
    s = det.calibrate(sigma=1.0, rho=0.6, min_leak=1.0, target_arl=2000)
    assert s.sigma == pytest.approx(2.0)  # sqrt(1.6/0.4)
    assert s.k == pytest.approx(0.25)  # 0.5 * 1 / 2, within K_RANGE
    assert det.siegmund_arl(s.k, s.h) == pytest.approx(4000, rel=1e-3)


def test_refined_change_finds_the_step():
    t = pd.date_range("2020-01-01", periods=200, freq="h", tz="UTC")
    x = pd.Series(np.random.default_rng(2).standard_normal(200) * 0.3, index=t)
    x.iloc[120:] += 2.0
    got = det.refine_change(x, t[80], t[130])
    assert got == t[120]


def test_stuck_sensor_and_tank_in_centimetres(city):
    t = pd.date_range("2020-01-01", periods=48 * 4, freq="15min", tz="UTC")
    rng = np.random.default_rng(0)
    p = pd.DataFrame({"a": 50 + rng.standard_normal(len(t)), "b": 40 + rng.standard_normal(
        len(t))}, index=t)
    p.iloc[20:60, 1] = 41.234  # ten hours stuck
    masked, flags = qa.mask_stuck(p)
    assert masked["b"].isna().sum() == 40 and masked["a"].isna().sum() == 0
    assert flags[0]["sensor"] == "b" and flags[0]["problem"] == "stuck"
    tank = city.wn.tank_name_list[0]
    tk = city.wn.get_node(tank)
    mid = (tk.min_level + tk.max_level) / 2
    lv = pd.DataFrame({tank: np.full(len(t), mid * 100)}, index=t)  # in cm
    fixed, flags = qa.tank_level_units(lv, city.wn)
    assert fixed[tank].iloc[0] == pytest.approx(mid) and "cm" in flags[0]["detail"]
    lv2 = pd.DataFrame({tank: np.full(len(t), 1e7)}, index=t)
    fixed2, flags2 = qa.tank_level_units(lv2, city.wn)
    assert tank not in fixed2 and "left out" in flags2[0]["detail"]


def test_scoring_by_hand():
    """Hand-computed: a pipe from (0,0) to (100,0); alarms at 50 m and 400 m off it."""
    node_xy = pd.DataFrame({"x_m": [0.0, 100.0, 5000.0], "y_m": [0.0, 0.0, 0.0]},
                           index=["A", "B", "C"])
    pipes = pd.DataFrame({"start": ["A"], "end": ["B"]}, index=pd.Index(["P1"], name="pipe"))
    t = pd.Timestamp("2020-01-10", tz="UTC")
    truth = pd.DataFrame({"leak_id": ["L1", "L2"], "pipe": ["P1", ""], "junction": ["", "C"],
                          "start": [t, t], "end": [t + pd.Timedelta(days=5)] * 2,
                          "flow": [5.0, 60.0]})
    seg = sc.leak_segments(truth, node_xy, pipes)
    alarms = pd.DataFrame({
        "alarm_utc": [t + pd.Timedelta(hours=2), t + pd.Timedelta(hours=3),
                      t - pd.Timedelta(hours=1)],
        "x_m": [50.0, 5400.0, 0.0], "y_m": [40.0, 0.0, 0.0]})
    m = sc.match_alarms(alarms, truth, seg)
    assert m.true_positive.tolist() == [False, True, False]
    assert m.location_error_m.iloc[1] == pytest.approx(40.0)  # 40 m off the pipe's middle
    assert m.location_error_m.iloc[2] == pytest.approx(400.0)  # nearest open leak: C
    s = sc.score(m, truth, months=1.0, n_dmas=2, kinds=pd.Series({"L1": "abrupt"}))
    assert s["found"] == 1 and s["found_3-10_m3h"] == (1, 1) and s["found_50-inf_m3h"] == (0, 1)
    assert s["false_alarms"] == 2 and s["false_alarms_per_dma_month"] == pytest.approx(1.0)
    assert s["median_delay_h"] == pytest.approx(2.0)
    assert s["repeats"] == 0 and not m.repeat.any()
    # later: 100 m from C (L2 found), 50 m from C again (a repeat: a false alarm here, not
    # in BattLeDIM's count), 500 m off P1 (near no leak: false either way), 100 m off P1 (L1
    # found at 2 h: a repeat)
    later = pd.DataFrame({"alarm_utc": [t + pd.Timedelta(hours=h) for h in (5, 6, 7, 8)],
                          "x_m": [5100.0, 5050.0, 50.0, 60.0], "y_m": [0.0, 0.0, 500.0, 100.0]})
    m = sc.match_alarms(pd.concat([alarms, later], ignore_index=True), truth, seg)
    assert m.true_positive.tolist() == [False, True, False, True, False, False, False]
    assert m.repeat.tolist() == [False, False, False, False, True, False, True]
    s = sc.score(m, truth, months=1.0, n_dmas=2)
    assert s["false_alarms"] == 5 and s["repeats"] == 2
    assert s["false_alarms_battledim_per_dma_month"] == pytest.approx(1.5)  # (5 - 2) / 2


def test_truth_file_errors_name_row_and_column(tmp_path):
    f = tmp_path / "truth.csv"
    f.write_text("leak_id,pipe,start,end,flow\nL1,P1,2020-01-01,2020-01-05,4\n"
                 "L2,P1,2020-01-02,2020-01-06,lots\n")
    pipes = pd.DataFrame({"start": ["A"], "end": ["B"]}, index=pd.Index(["P1"], name="pipe"))
    with pytest.raises(sc.TruthFileError, match="row 3, column flow"):
        sc.read_truth(f, pipes)
    f.write_text("leak_id,pipe,start,end,flow\nL1,P9,2020-01-01,2020-01-05,4\n")
    with pytest.raises(sc.TruthFileError, match="row 2, column pipe: 'P9'"):
        sc.read_truth(f, pipes)
    f.write_text("leak_id,start,end\n")
    with pytest.raises(sc.TruthFileError, match="missing column"):
        sc.read_truth(f, pipes)


def test_false_alarms_do_not_breed_with_the_rebase():
    """With the 12-step rebase the run length on noise stays within a factor 2 of the target
    (the reference after a false alarm is the old level again)."""
    k = 0.5
    h = det.threshold_for_arl(k, 2000)
    z = np.random.default_rng(5).standard_normal(400_000)
    n = len(det.cusum_two_sided(z, k, h, clip=h / 2, rebase=12))
    assert 100 <= n <= 400, n


def test_drifting_logger_flagged_but_not_a_leak_that_moves_its_neighbours():
    t = pd.date_range("2020-01-01", periods=24 * 30, freq="h", tz="UTC")
    rng = np.random.default_rng(4)
    r = pd.DataFrame(rng.standard_normal((len(t), 8)) * 0.02, index=t,
                     columns=list("abcdefgh"))
    r["a"] += np.linspace(0, 2.0, len(t))  # a logger drifting 2 m over a month
    sigma = pd.Series(0.02, index=r.columns)
    dma_of = pd.Series(dict(zip("abcdefgh", ["D1"] * 5 + ["D2"] * 3, strict=True)))
    assert qa.drifting_loggers(r, sigma, t[24 * 7], dma_of) == ["a"]
    leak = r.copy()
    leak["a"] -= np.linspace(0, 2.0, len(t))
    leak.loc[t[24 * 15]:, ["a", "b"]] -= 1.0  # a leak: two loggers of D1 drop together
    assert qa.drifting_loggers(leak, sigma, t[24 * 7], dma_of) == []


def test_a_logger_that_falls_alone_while_its_dma_draws_more_is_kept_as_a_leak_witness():
    t = pd.date_range("2020-01-01", periods=24 * 30, freq="h", tz="UTC")
    rng = np.random.default_rng(6)
    r = pd.DataFrame(rng.standard_normal((len(t), 8)) * 0.02, index=t,
                     columns=list("abcdefgh"))
    r.loc[t[24 * 15]:, "a"] -= 1.0  # a leak on a small pipe beside logger a: a alone falls
    sigma = pd.Series(0.02, index=r.columns)
    dma_of = pd.Series(dict(zip("abcdefgh", ["D1"] * 5 + ["D2"] * 3, strict=True)))
    first = t[24 * 7]
    moved = qa.drifting_loggers(r, sigma, first, dma_of)
    assert moved == ["a"]  # alone, its fall looks like a drift
    q = pd.DataFrame(rng.standard_normal((len(t), 2)) * 0.3, index=t, columns=["D1", "D2"])
    q.loc[t[24 * 15]:, "D1"] += 3.0  # its DMA draws 3 L/s more from the same hour
    kept = qa.fell_with_consumption(r, moved, first, dma_of, q, min_rise_l_s=1.0)
    assert list(kept) == ["a"] and kept["a"] == pytest.approx(3.0, abs=0.2)
    # the other DMA drew more, not its own: a drift
    other = q.rename(columns={"D1": "D2", "D2": "D1"})
    assert qa.fell_with_consumption(r, moved, first, dma_of, other, min_rise_l_s=1.0) == {}
    # a rise under the smallest leak is no leak
    assert qa.fell_with_consumption(r, moved, first, dma_of, q, min_rise_l_s=4.0) == {}
    # a logger that rose alone: a leak lowers the pressure, so a drift
    up = r.copy()
    up.loc[t[24 * 15]:, "a"] += 2.0
    assert qa.drifting_loggers(up, sigma, first, dma_of) == ["a"]
    assert qa.fell_with_consumption(up, ["a"], first, dma_of, q, min_rise_l_s=1.0) == {}


def test_gaps_of_days_are_flagged():
    t = pd.date_range("2020-01-01", periods=24 * 10, freq="h", tz="UTC")
    df = pd.DataFrame({"p1": 1.0, "p2": 1.0, "p3": np.nan}, index=t)
    df.iloc[24:24 * 4, 0] = np.nan
    flags = {f["sensor"]: f for f in qa.gap_flags(df, "pressure logger")}
    assert flags["p1"]["problem"] == "gap" and "3.0 days" in flags["p1"]["detail"]
    assert "p2" not in flags and flags["p3"]["problem"] == "missing"


def test_expectation_runs_the_pumps_as_scada_measured(pump_tank_network):
    """The model's level controls would run the pump otherwise; with a measured status the
    simulation must follow it step by step (EPANET's reported pump status), and the tank must
    fill and empty by the mass balance of the pumped flow and the demand."""
    from twin.water import leak_expectation as exp

    wn = pump_tank_network([1.0], switch_m=(1.0, 5.0))
    times = pd.date_range("2020-01-06", periods=24 * 4, freq="900s", tz="UTC")
    on = np.zeros(len(times), dtype=int)
    on[4:20] = 1   # 01:00-05:00
    on[40:44] = 1  # 10:00-11:00
    obs = exp.Observations(
        times=times, flow_l_s=pd.DataFrame(index=times), pressure_m=pd.DataFrame(index=times),
        tank_level_m=pd.DataFrame({"T": 3.0}, index=times),
        pump_power_kw=pd.DataFrame({"P": 50.0}, index=times),  # says on all day: status wins
        use_m3=pd.DataFrame(index=times.floor("h").unique()),
        pump_status=pd.DataFrame({"P": on}, index=times))
    status = exp.measured_pump_status(obs)
    assert (status["P"].to_numpy() == on).all()
    seconds = np.arange(len(times)) * 900.0
    p, same, q, _ = exp.expected_hydraulics(wn, obs, np.ones(len(times)), seconds, ["T"],
                                         segment_h=24, links=["P"])
    assert same.all()
    flow = q["P"].to_numpy()
    assert (flow[on == 0] < 1e-6).all() and (flow[on == 1] > 1.0).all()
    # the tank's level by mass balance: pump flow in, demand out, over each 15-min step
    area = np.pi * 4.0**2
    level = 3.0 + np.cumsum((flow - 4.0) / 1000.0 * 900.0) / area
    assert np.allclose(p["T"].to_numpy()[1:], level[:-1], atol=0.02)
    # the model left to its controls would not have run it this way
    free = exp.expected_network(wn, np.ones(len(times)), seconds, 900.0,
                                pump_on=status["P"].iloc[:1])
    from twin.water.hydraulics import simulate
    ds = simulate(free, (len(times) - 1) * 900, 900)
    assert ((ds["status"].sel(link="P").to_numpy() > 0) != (on > 0)).sum() > 10


def test_reference_logger_residuals_see_a_local_drop_only():
    """LILA's residuals on loggers that follow a reference linearly (a, b known): zero on
    the leak-free rows, the leak's 0.4 m drop at the logger it lowers, nothing elsewhere."""
    from twin.water import leak_residuals as rs

    rng = np.random.default_rng(3)
    t = pd.date_range("2020-01-01", periods=24 * 20, freq="h", tz="UTC")
    ref = 60 + 5 * np.sin(np.arange(len(t)) * 2 * np.pi / 24)
    p = pd.DataFrame({"R": ref, "A": 2.0 + 0.8 * ref, "B": -5.0 + 0.6 * ref}, index=t)
    p += rng.normal(0, 0.005, p.shape)
    p.loc[t >= t[24 * 12], "A"] -= 0.4
    mask = np.asarray(t < t[24 * 10])
    res, reference = rs.reference_logger_residuals(p, mask)
    assert reference == "R" and list(res.columns) == ["A", "B"]
    assert abs(res["A"][mask].mean()) < 0.002 and res["A"][mask].std() < 0.02
    assert abs(res["A"][t >= t[24 * 12]].mean() + 0.4) < 0.01
    assert abs(res["B"][~mask].mean()) < 0.01
