"""The second, sensitive detector's rises and the loggers' pressure that confirms them:
the two-window change and the matched filter by hand, the evidence of a leak placed in the
sample city's network at a known junction, and which rises are raised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.water import leak_detection as det
from twin.water import leak_location as loc
from twin.water.leaks import LeakNetwork, confirmed_rises, pressure_evidence, with_confirmed

T0 = pd.Timestamp("2026-03-01", tz="UTC")


def test_two_window_change_of_a_step_is_the_step_at_its_row():
    x = pd.DataFrame({"a": np.r_[np.zeros(50), np.full(50, 2.0)], "b": np.arange(100.0)})
    d = det.two_window_change(x, 10)
    assert d.a.iloc[50] == pytest.approx(2.0)  # 10 rows of 2 after, 10 of 0 before
    assert d.a.iloc[45] == pytest.approx(1.0)  # half the after-window past the step
    assert d.a.iloc[30] == pytest.approx(0.0)
    assert d.b.iloc[40] == pytest.approx(10.0)  # a ramp: the windows' means 10 rows apart
    assert d.a.iloc[:10].isna().all() and d.a.iloc[91:].isna().all()  # windows cut off
    assert d.a.iloc[90] == pytest.approx(0.0)


def test_matched_filter_energy_is_the_largest_projection_along_a_signature_one_sided():
    s = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 2.0]])
    u = np.array([[2.0, -2.0, 1.0],     # along the first: 4²/2 = 8; the second: 2²/4 = 1
                  [-2.0, 2.0, 0.0],     # against the first, none along the second
                  [0.0, 0.0, 3.0]])     # along the second: 6²/4 = 9
    np.testing.assert_allclose(det.matched_filter_energy(u, s), [8.0, 0.0, 9.0])
    assert det.matched_filter_energy(u, np.zeros((0, 3))).tolist() == [0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def dma1(city):
    """Six loggers of the sample city's DMA-1 and their sensitivities."""
    net = LeakNetwork.from_city(city)
    cand = loc.candidate_junctions(city.wn, city.dmas, city.dma_meters, "DMA-1")
    own = [j for j in city.wn.junction_name_list if city.dmas.get(j) == "DMA-1"]
    loggers = own[::6][:6]
    sens = loc.leak_sensitivity(city.wn, loggers, city.dma_meters, city.dmas, cand,
                                cache_dir=None)
    return net, loggers, sens


def test_pressure_evidence_sees_a_leak_where_it_is_and_not_a_pump_that_moves_every_logger(
        dma1):
    net, loggers, sens = dma1
    rng = np.random.default_rng(4)
    t = pd.date_range(T0, periods=30 * 24, freq="h")
    noise = 0.01  # [m]
    p = pd.DataFrame(rng.normal(0.0, noise, (len(t), len(loggers))), index=t, columns=loggers)
    flows = sens["standard_leak_l_s"].to_series()
    leak_at = str(flows[flows > 0].index[len(flows) // 2])
    per_l_s = sens["sensitivity"].sel(junction=leak_at,
                                      sensor=[f"P {lg}" for lg in loggers]).to_numpy()
    p.iloc[500:] += 10.0 * per_l_s  # a 10 L/s leak from hour 500 (Net3's mains are wide) [m]
    p.iloc[300:] -= 0.5  # from hour 300 a pump lowers every logger alike [m]
    mask = np.asarray(t < T0 + pd.Timedelta(days=10))
    ev = pressure_evidence(p, net, sens, mask, 48, 0.95)
    assert list(ev) == ["DMA-1"]  # the other DMAs have no logger
    u, S, threshold = ev["DMA-1"]
    assert S.shape == (len(flows[flows > 0]), len(loggers))
    energy = pd.DataFrame(np.column_stack([det.matched_filter_energy(u.to_numpy(),
                                                                     S.loc[[j]].to_numpy())
                                           for j in S.index]), index=t, columns=S.index)
    # at the leak's start the loggers' change is the leak's, far beyond the leak-free hours
    assert energy[leak_at].iloc[500] > 10 * threshold
    # and it points there: as well as any junction does, better than most
    assert energy[leak_at].iloc[500] >= 0.9 * energy.iloc[500].max()
    assert energy.iloc[500].median() < 0.5 * energy[leak_at].iloc[500]
    # the pump's step, shared by every logger, is no evidence anywhere; nor is the noise
    assert energy.iloc[300].max() < 2 * threshold
    assert (energy.iloc[260:340].max(axis=1) < 2 * threshold).all()


def _alarm(i, dma, change_h, x, kind="new"):
    change = T0 + pd.Timedelta(hours=change_h)
    return dict(alarm=i, dma=dma, alarm_utc=change + pd.Timedelta(hours=3), change_utc=change,
                x_m=x, y_m=0.0, located_utc=change + pd.Timedelta(hours=60), flag="",
                kind=kind, leak_m3h=4.0)


def test_a_sensitive_rise_is_raised_only_where_the_loggers_confirm_it_at_its_position():
    t = pd.date_range(T0, periods=400, freq="h")
    S = pd.DataFrame([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]], index=["J1", "J2"],
                     columns=["a", "b", "c"])
    u = pd.DataFrame(0.0, index=t, columns=S.columns)
    u.iloc[100] = [3.0, 0.0, -3.0]  # a change that a leak at J1 makes: energy 18 there
    u.iloc[200] = [3.0, 0.0, -3.0]
    u.iloc[300] = [3.0, 0.0, -3.0]
    xy = pd.DataFrame({"x_m": [0.0, 1000.0], "y_m": [0.0, 0.0]}, index=["J1", "J2"])
    first = pd.DataFrame([_alarm(0, "D", 190, 500.0)])
    sensitive = pd.DataFrame([
        _alarm(0, "D", 100, 20.0),    # placed at J1, the loggers saw J1's change: raised
        _alarm(1, "D", 100, 980.0),   # the same change, placed at J2 (energy 4.5): not
        _alarm(2, "D", 200, 20.0),    # within 48 h of the first detector's alarm: not
        _alarm(3, "D", 300, 20.0, kind="growth"),  # the growth of an earlier leak: not
        _alarm(4, "D", 150, 20.0),    # no change of the loggers at its start: not
        _alarm(5, "E", 100, 20.0),    # a DMA without loggers' evidence: not
    ])
    out = confirmed_rises(first, sensitive, {"D": (u, S, 10.0)}, xy, 48, 2.0)
    assert out.alarm.tolist() == [0]
    r = out.iloc[0]
    assert r.alarm_utc == T0 + pd.Timedelta(hours=148)  # once 48 h after its start are read
    assert r.located_utc == T0 + pd.Timedelta(hours=160)
    assert "at J1 (18.0 over 10.0)" in r.flag
    # a lower threshold lets J2's weaker fit through too
    assert confirmed_rises(first, sensitive, {"D": (u, S, 4.0)}, xy, 48, 2.0).alarm.tolist() \
        == [0, 1]


def test_confirmed_alarms_are_numbered_on_with_their_own_candidates():
    alarms = pd.DataFrame([_alarm(i, "D", 10 * i, 0.0) for i in range(3)])
    extra = pd.DataFrame([_alarm(5, "D", 100, 0.0), _alarm(7, "E", 120, 0.0)])
    cands = pd.DataFrame({"alarm": [0, 1, 2], "rank": 1, "element": ["A", "B", "C"]})
    extra_cands = pd.DataFrame({"alarm": [4, 5, 5, 7], "rank": [1, 1, 2, 1],
                                "element": ["X", "J1", "J2", "J3"]})
    out, c = with_confirmed(alarms, cands, extra, extra_cands)
    assert out.alarm.tolist() == [0, 1, 2, 3, 4] and out.dma.tolist() == ["D"] * 4 + ["E"]
    # the sensitive detector's alarm 4 was not confirmed: its candidates stay out
    assert c.alarm.tolist() == [0, 1, 2, 3, 3, 4]
    assert c.element.tolist() == ["A", "B", "C", "J1", "J2", "J3"]
    assert with_confirmed(alarms, cands, extra.iloc[:0], extra_cands)[0] is alarms
