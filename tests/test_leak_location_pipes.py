"""Location on a hand-built looped network against independent WNTR runs of a leak at a pipe's
midpoint, and the episode rules: growth by position, repairs by the size of the fall, the
loggers a DMA's leak is located on."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import wntr

from twin.water import leak_location as loc
from twin.water.leaks import (
    FLAT_EDGE_H,
    FLAT_Z,
    GROWTH_STEP_RATIO,
    REPAIR_SHARE,
    SHAPE_KNOWN_H,
    _growth,
    clear_window,
    location_loggers,
    other_changes,
    slope_spread,
    stayed_flat,
)

#: Grid of the test network: junctions ``J<r><c>`` 220 m apart.
ROWS, COLS, SPACING_M = 4, 5, 220.0


def _grid_network() -> wntr.network.WaterNetworkModel:
    """A looped 4 × 5 grid fed from a reservoir at one corner; pipe diameters vary along the
    rows (no two positions see the loggers alike by symmetry)."""
    wn = wntr.network.WaterNetworkModel()
    wn.options.hydraulic.inpfile_units = "LPS"
    wn.add_reservoir("R", base_head=75.0, coordinates=(-SPACING_M, 0.0))
    for r in range(ROWS):
        for c in range(COLS):
            wn.add_junction(f"J{r}{c}", base_demand=0.4e-3 * (1 + (r + 2 * c) % 3),
                            elevation=10.0 + 2.0 * r, coordinates=(c * SPACING_M, r * SPACING_M))
    wn.add_pipe("PR", "R", "J00", length=SPACING_M, diameter=0.30, roughness=110)
    for r in range(ROWS):
        for c in range(COLS):
            d = 0.10 + 0.025 * ((r * 3 + c) % 4)
            if c + 1 < COLS:
                wn.add_pipe(f"H{r}{c}", f"J{r}{c}", f"J{r}{c + 1}", length=SPACING_M,
                            diameter=d, roughness=100)
            if r + 1 < ROWS:
                wn.add_pipe(f"V{r}{c}", f"J{r}{c}", f"J{r + 1}{c}", length=SPACING_M,
                            diameter=d, roughness=100)
    wn.options.time.duration = 0
    return wn


def _pressures(wn, nodes, tmp_path, name) -> pd.Series:
    sim = wntr.sim.EpanetSimulator(wn)
    res = sim.run_sim(file_prefix=str(tmp_path / name))
    return res.node["pressure"].iloc[0][list(nodes)]


def _leak_change(wn, pipe: str, leak_l_s: float, loggers, tmp_path) -> pd.Series:
    """The loggers' pressure change [m] when a leak of ``leak_l_s`` draws from the midpoint
    of ``pipe``: two EPANET runs of WNTR, the leak a demand at a node that splits the pipe
    (not the sensitivity's emitters at junctions)."""
    base = _pressures(wn, loggers, tmp_path, "base")
    leaky = copy.deepcopy(wn)
    wntr.morph.split_pipe(leaky, pipe, f"{pipe}-B", "LEAK", split_at_point=0.5,
                          return_copy=False)
    leaky.get_node("LEAK").demand_timeseries_list[0].base_value = leak_l_s / 1000.0
    return _pressures(leaky, loggers, tmp_path, "leak") - base


@pytest.fixture(scope="module")
def grid():
    wn = _grid_network()
    loggers = ["J02", "J04", "J11", "J13", "J20", "J22", "J24", "J31", "J33"]
    dmas = pd.Series("DMA-1", index=wn.node_name_list)
    meters = pd.DataFrame(columns=["meter_id", "link", "from_zone", "to_zone"])
    sens = loc.leak_sensitivity(wn, loggers, meters, dmas, cache_dir=None)
    xy = pd.DataFrame({n: wn.get_node(n).coordinates for n in wn.node_name_list},
                      index=["x_m", "y_m"]).T
    return wn, loggers, sens, xy, loc.pipe_table(wn)


@pytest.mark.parametrize("pipe", ["H12", "V21", "H30"])
def test_a_leak_at_a_pipes_midpoint_is_placed_on_that_pipe(grid, pipe, tmp_path):
    """The change of a 4 L/s leak at the pipe's midpoint (WNTR, the leak a demand on a split
    pipe), located by its angle to each position's sensitivity over every junction and
    the points along the pipes: the true pipe comes first, at a point within a quarter of
    its length of the leak, whatever size the change is scaled to."""
    wn, loggers, sens, xy, pipes = grid
    dp = _leak_change(wn, pipe, 4.0, loggers, tmp_path)
    sigma = pd.Series(0.01, index=loggers)
    cand = list(wn.junction_name_list)
    ranked = loc.rank_locations(dp, sigma, 4.0, sens, cand, xy, pipes, top=5,
                                metric="correlation")
    best = ranked.iloc[0]
    a, b = pipes.loc[pipe, ["start", "end"]]
    mid = 0.5 * (xy.loc[a].to_numpy() + xy.loc[b].to_numpy())
    assert np.hypot(best.x_m - mid[0], best.y_m - mid[1]) <= 0.25 * SPACING_M + 1e-6, ranked
    for scale in (0.1, 10.0):  # the angle is blind to the leak's size
        again = loc.rank_locations(dp * scale, sigma, 4.0, sens, cand, xy, pipes, top=5,
                                   metric="correlation")
        assert (again.element.iloc[0], again["at"].iloc[0]) == (best.element, best["at"])


def test_sized_reranking_by_angle_keeps_the_true_pipe(grid, tmp_path):
    """A 12 L/s leak (head losses no longer linear in the flow): the best junctions re-ranked
    with a leak of the fitted size, by angle, still put the leak on its pipe."""
    wn, loggers, sens, xy, pipes = grid
    pipe = "V12"
    dp = _leak_change(wn, pipe, 12.0, loggers, tmp_path)
    sigma = pd.Series(0.01, index=loggers)
    first = loc.rank_locations(dp, sigma, 12.0, sens, list(wn.junction_name_list), xy, None,
                               top=6, metric="correlation")
    texts = loc.snapshot_inp_texts(wn, [0])
    ranked = loc.refine_with_size(first, dp, sigma, 12.0, texts, xy, pipes, top=3,
                                  metric="correlation")
    best = ranked.iloc[0]
    a, b = pipes.loc[pipe, ["start", "end"]]
    assert best.element == pipe or best.element in (a, b), ranked


def test_an_unknown_metric_is_refused(grid):
    wn, loggers, sens, xy, pipes = grid
    with pytest.raises(loc.LeakLocationError, match="metric"):
        loc.rank_locations(pd.Series(-0.1, index=loggers), pd.Series(0.01, index=loggers), 1.0,
                           sens, ["J12"], xy, metric="angle")


def _alarm(i, t, x, step=2.0, rising=False, dma="DMA-1"):
    t = pd.Timestamp(t, tz="UTC")
    return {"alarm": i, "dma": dma, "alarm_utc": t, "change_utc": t - pd.Timedelta(hours=3),
            "step_l_s": step, "x_m": x, "y_m": 0.0, "rising": rising}


def _fall(t, step, dma="DMA-1", explained_by=-1):
    return {"series": dma, "direction": "down", "alarm_utc": pd.Timestamp(t, tz="UTC"),
            "change_utc": pd.Timestamp(t, tz="UTC"), "step": step,
            "explained_by": explained_by}


NO_CHANGES = pd.DataFrame(columns=["series", "direction", "alarm_utc", "change_utc", "step",
                                   "explained_by"])


def test_growth_is_by_position_not_by_a_rising_leak_in_the_dma():
    """A rising leak at x = 0; two days later an alarm located 1 km away is a new leak, one
    located 100 m away its growth; an alarm that could not be located is the rising leak's
    growth."""
    alarms = pd.DataFrame([_alarm(0, "2019-02-01 06:00", 0.0, rising=True),
                           _alarm(1, "2019-02-03 06:00", 1000.0),
                           _alarm(2, "2019-02-04 06:00", 100.0),
                           _alarm(3, "2019-02-05 06:00", np.nan)])
    out = _growth(alarms, NO_CHANGES, 300.0)
    assert out.kind.tolist() == ["new", "new", "growth", "growth"]
    assert out.growth_of.tolist() == [-1, -1, 0, 0]


def test_only_a_fall_the_size_of_a_repair_ends_a_leak():
    """Between a 4 L/s leak's alarm and a later alarm at the same place: a fall of a quarter
    of its step (noise, demand) leaves the later alarm its growth; a fall of its whole step
    (its repair) makes the later one a new leak; a fall another DMA's change explains is
    not a repair either."""
    alarms = pd.DataFrame([_alarm(0, "2019-02-01 06:00", 0.0, step=4.0),
                           _alarm(1, "2019-02-03 00:00", 50.0, step=4.0)])
    # before the first leak's shape (flat) is told: it may be growing
    assert alarms.change_utc[1] - alarms.change_utc[0] < pd.Timedelta(hours=SHAPE_KNOWN_H)
    small = pd.DataFrame([_fall("2019-02-02 06:00", -0.25 * 4.0)])
    repair = pd.DataFrame([_fall("2019-02-02 06:00", -4.0)])
    explained = pd.DataFrame([_fall("2019-02-02 06:00", -4.0, explained_by=7)])
    assert REPAIR_SHARE * 4.0 > 1.0  # the small fall is below the repair's share
    assert _growth(alarms, small, 300.0).kind.tolist() == ["new", "growth"]
    assert _growth(alarms, repair, 300.0).kind.tolist() == ["new", "new"]
    assert _growth(alarms, explained, 300.0).kind.tolist() == ["new", "growth"]


def test_a_steady_leak_does_not_grow_a_rise_placed_at_it_days_later_is_a_new_leak():
    """An abrupt, steady leak at x = 0: an alarm placed 50 m from it 10 days later is a leak
    of its own; the same alarm is the leak's growth when the leak was rising, when it is its
    episode's, or when it came before the leak's flat course could be told (within
    ``SHAPE_KNOWN_H``, 48 h, of its change), not 60 h on. A leak that grew and then stopped
    does not grow again 8 days after its growth; one whose growth kept rising does."""
    steady = [_alarm(0, "2019-02-01 06:00", 0.0), _alarm(1, "2019-02-11 06:00", 50.0)]
    out = _growth(pd.DataFrame(steady), NO_CHANGES, 300.0)
    assert out.kind.tolist() == ["new", "new"]
    rising = [_alarm(0, "2019-02-01 06:00", 0.0, rising=True), steady[1]]
    assert _growth(pd.DataFrame(rising), NO_CHANGES, 300.0).kind.tolist() == ["new", "growth"]
    episode = _growth(pd.DataFrame(steady), NO_CHANGES, 300.0, episode_of=[0, 0])
    assert episode.kind.tolist() == ["new", "growth"]
    soon = [steady[0], _alarm(1, "2019-02-03 06:00", 50.0)]
    assert _growth(pd.DataFrame(soon), NO_CHANGES, 300.0).kind.tolist() == ["new", "growth"]
    # 60 h on, past SHAPE_KNOWN_H (48 h): the leak's flat course is known, it does not grow
    told = [steady[0], _alarm(1, "2019-02-03 18:00", 50.0)]
    assert SHAPE_KNOWN_H < 60
    assert _growth(pd.DataFrame(told), NO_CHANGES, 300.0).kind.tolist() == ["new", "new"]
    later = _alarm(2, "2019-02-11 06:00", 50.0)
    stopped = _growth(pd.DataFrame([*soon, later]), NO_CHANGES, 300.0)
    assert stopped.kind.tolist() == ["new", "growth", "new"]
    assert stopped.growth_of.tolist() == [-1, 0, -1]
    still = [steady[0], _alarm(1, "2019-02-03 06:00", 50.0, rising=True), later]
    grown = _growth(pd.DataFrame(still), NO_CHANGES, 300.0)
    assert grown.kind.tolist() == ["new", "growth", "growth"]
    assert grown.growth_of.tolist() == [-1, 0, 0]


def _hourly(start, values):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="h",
                                                 tz="UTC"))


def test_stayed_flat_by_hand():
    """Five leak-free days alternating +0.1, -0.1 L/s: every 10-h line's slope is
    ±Σ(h-4.5)(-1)^h·0.1/Σ(h-4.5)² = ±0.5/82.5 = ±0.00606 L/s per h, so its spread is 0.00606.
    Then 14 h between two changes: after the 2-h edges, 10 h at a level of 4 L/s alternating
    the same way from +0.1, slope -0.00606: (slope + 2·spread)·14 h = 0.0848 L/s, under half
    a 4 L/s rise (flat) and over half a 0.15 L/s one. A residual climbing 4 L/s over the
    hours is not flat, nor are 3 hours, nor hours where the leak-free slopes spread widely,
    nor any without leak-free hours to measure the spread on."""
    start = pd.Timestamp("2019-02-01 00:00", tz="UTC")
    wiggle = [0.1 * (-1) ** h for h in range(136)]
    x = _hourly(start, [w + (4.0 if h >= 120 else 0.0) for h, w in enumerate(wiggle)])
    mask = np.arange(136) < 120
    since = start + pd.Timedelta(hours=120)
    later = since + pd.Timedelta(hours=14)
    assert FLAT_EDGE_H == 2 and FLAT_Z == 2.0
    # 111 windows, 56 of one sign: a spread of c·sqrt(1 - 1/111²)
    assert slope_spread(x, mask, 10) == pytest.approx(0.5 / 82.5 * np.sqrt(1 - 111.0**-2))
    # the verdict turns at twice the hand-computed 0.0848 L/s
    assert stayed_flat(x, mask, since, later, 2 * 0.0848 + 1e-3)
    assert not stayed_flat(x, mask, since, later, 2 * 0.0848 - 1e-3)
    assert stayed_flat(x, mask, since, later, 4.0)
    assert not stayed_flat(x, mask, since, later, 0.15)
    ramp = x.copy()
    ramp.iloc[120:] += 4.0 * np.arange(16) / 14
    assert not stayed_flat(ramp, mask, since, later, 4.0)
    assert not stayed_flat(x, mask, since, since + pd.Timedelta(hours=7), 4.0)  # 3 h left
    noisy = x.copy()
    noisy.iloc[:120] = [3.0 * (-1) ** (h // 5) for h in range(120)]
    assert slope_spread(noisy, mask, 10) > 0.3
    assert not stayed_flat(noisy, mask, since, later, 4.0)
    assert not stayed_flat(x, np.zeros(136, dtype=bool), since, later, 4.0)


def test_a_signature_is_measured_clear_of_other_changes():
    """A logger falls 0.05 m with a 1 L/s leak at t0, 0.5 m with another leak 60 h before
    and 1.0 m with a burst 30 h after. The window the twin would use (from the end of the
    earlier leak's rebase, 4 h after it, to the hour before the burst) holds both in its day
    means; cleared by half a day and an hour on each side it runs from t0 - 47 h to
    t0 + 17 h, and the signature is the leak's 0.05 m per L/s exactly. A change of the
    episode's own is no other change, nor is one within an hour of t0 (the same event in
    another series), and at least 6 h are kept either side of t0."""
    hours = pd.date_range("2019-03-01", periods=8 * 24, freq="h", tz="UTC")
    h = pd.Timedelta(hours=1)
    t0 = hours[96]
    before, burst = t0 - 60 * h, t0 + 30 * h
    p = pd.DataFrame({"P1": -0.5 * (hours >= before) - 0.05 * (hours >= t0)
                      - 1.0 * (hours >= burst)}, index=hours)
    course = loc.step_course(hours, t0, 1.0)
    lo, hi = before + 4 * h, burst - h
    assert clear_window([before, t0, burst], t0, lo, hi, [t0]) == (t0 - 47 * h, t0 + 17 * h)
    clear = loc.leak_signature(p, course, t0 - 47 * h, t0 + 17 * h)
    assert clear["P1"] == pytest.approx(-0.05, abs=1e-9)
    # the whole window's day means take in both other leaks: off by over twice the signature
    assert abs(loc.leak_signature(p, course, lo, hi)["P1"] + 0.05) > 0.1
    # the burst as the episode's own growth: the window's end stays
    assert clear_window([before, t0, burst], t0, lo, hi, [t0, burst])[1] == hi
    # a change 10 h after t0 would leave no hour after it: 6 h are kept
    assert clear_window([t0, t0 + 10 * h], t0, lo, hi, [t0])[1] == t0 + 6 * h
    assert clear_window([t0 - 3 * h, t0], t0, lo, hi, [t0])[0] == t0 - 6 * h
    # another series' change within the hour is the same event seen there: nothing cleared
    assert clear_window([t0 - h, t0, t0 + h], t0, lo, hi, [t0]) == (lo, hi)
    assert other_changes([before, t0 - h, t0, t0 + h, burst], t0, [t0]) == [before, burst]


def test_a_burst_beside_a_steady_leak_within_a_day_is_a_leak_of_its_own():
    """A 17 L/s burst at x = 0, then 13 h later a 13 L/s one placed 50 m from it (BWSN seed
    16's two bursts of 61 and 47 m³/h, 165 m apart): before its shape is told the second is
    taken as the first's growth; with the DMA's residual, flat between them, it is new. Where
    the residual climbed between them, it is still growth."""
    first = _alarm(0, "2019-03-12 20:00", 0.0, step=17.0)
    second = _alarm(1, "2019-03-13 09:00", 50.0, step=13.0)
    alarms = pd.DataFrame([first, second])
    assert second["change_utc"] - first["change_utc"] < pd.Timedelta(hours=SHAPE_KNOWN_H)
    assert _growth(alarms, NO_CHANGES, 300.0).kind.tolist() == ["new", "growth"]
    hours = pd.date_range("2019-03-10", periods=96, freq="h", tz="UTC")
    on = (hours >= first["change_utc"]).astype(float)
    flat = pd.DataFrame({"DMA-1": 17.0 * on + 0.5 * (-1) ** np.arange(96)}, index=hours)
    mask = np.asarray(hours < first["change_utc"])
    kinds = _growth(alarms, NO_CHANGES, 300.0, residual=flat, mask=mask).kind.tolist()
    assert kinds == ["new", "new"]
    since_h = ((hours - first["change_utc"]) / pd.Timedelta(hours=1)).to_numpy()
    climbing = flat + pd.DataFrame({"DMA-1": np.clip(since_h, 0, None) * 13.0 / 13}, index=hours)
    kinds = _growth(alarms, NO_CHANGES, 300.0, residual=climbing, mask=mask).kind.tolist()
    assert kinds == ["new", "growth"]


def test_a_rise_several_times_a_leaks_largest_rise_is_a_leak_of_its_own():
    """A 2 L/s leak at x = 0; a day later a rise placed 50 m from it is the leak growing at
    5 L/s and a leak of its own at 50 L/s (a burst beside it: more than
    ``GROWTH_STEP_RATIO`` times the leak's largest rise). After it grew by 5 L/s, a 12 L/s
    rise is its growth again, but a 20 L/s one is not, though the leak has reached 7 L/s: a
    leak that grows at a steady rate rises by steps about its first one."""
    first = _alarm(0, "2019-02-01 06:00", 0.0, step=2.0)
    grows = _alarm(1, "2019-02-02 06:00", 50.0, step=5.0)
    burst = _alarm(1, "2019-02-02 06:00", 50.0, step=50.0)
    assert 50.0 > GROWTH_STEP_RATIO * 2.0 > 5.0
    assert _growth(pd.DataFrame([first, grows]), NO_CHANGES, 300.0).kind.tolist() == [
        "new", "growth"]
    assert _growth(pd.DataFrame([first, burst]), NO_CHANGES, 300.0).kind.tolist() == [
        "new", "new"]
    assert 12.0 < 5.0 * GROWTH_STEP_RATIO < 20.0 < 7.0 * GROWTH_STEP_RATIO
    for step, kinds, of in ((12.0, ["new", "growth", "growth"], [-1, 0, 0]),
                            (20.0, ["new", "growth", "new"], [-1, 0, -1])):
        later = _alarm(2, "2019-02-03 06:00", 50.0, step=step)
        out = _growth(pd.DataFrame([first, grows, later]), NO_CHANGES, 300.0)
        assert out.kind.tolist() == kinds
        assert out.growth_of.tolist() == of


def test_a_dma_is_located_on_its_own_loggers_unless_it_has_too_few():
    dmas = pd.Series({"a": "DMA-1", "b": "DMA-1", "c": "DMA-1", "d": "DMA-2", "e": "DMA-2"})
    loggers = ["a", "b", "c", "d", "e"]
    assert location_loggers(loggers, dmas, "DMA-1") == ["a", "b", "c"]
    # two loggers: their median would be the signature itself
    assert location_loggers(loggers, dmas, "DMA-2") == loggers
    assert location_loggers(loggers, dmas, "DMA-2", min_count=2) == ["d", "e"]


def test_a_repeat_alarm_listing_the_earlier_leaks_place_is_its_growth():
    """A repeat alarm whose best position is 800 m from an earlier leak is new unless one of
    the positions listed for it lies within the radius of that leak."""
    alarms = pd.DataFrame([_alarm(0, "2019-02-01 06:00", 0.0),
                           _alarm(1, "2019-02-03 00:00", 800.0)])
    assert alarms.change_utc[1] - alarms.change_utc[0] < pd.Timedelta(hours=SHAPE_KNOWN_H)
    listed = pd.DataFrame({"alarm": [1, 1, 1], "x_m": [800.0, 650.0, 120.0],
                           "y_m": [0.0, 0.0, 0.0]})
    far = listed.assign(x_m=[800.0, 650.0, 500.0])
    assert _growth(alarms, NO_CHANGES, 300.0).kind.tolist() == ["new", "new"]
    assert _growth(alarms, NO_CHANGES, 300.0, far).kind.tolist() == ["new", "new"]
    out = _growth(alarms, NO_CHANGES, 300.0, listed)
    assert out.kind.tolist() == ["new", "growth"] and out.growth_of.tolist() == [-1, 0]


@pytest.mark.parametrize("pipe", ["H12", "V21", "H30"])
def test_a_pattern_the_loggers_share_when_leak_free_is_noise_not_a_leak(grid, pipe, tmp_path):
    """An unmodelled 8 L/s consumer at the middle of H23 that switches on and off (as a pump
    the model runs otherwise than the network would): its pressure change (WNTR) is in
    half the leak-free hours' residuals, and is on again over a 4 L/s leak's change.
    Weighted by each logger's noise alone, the consumer's shape pulls the best position
    more than a grid spacing away from the leak; whitened by the leak-free covariance
    (:func:`noise_covariance`), the leak's pipe is found within a quarter of its length."""
    wn, loggers, sens, xy, pipes = grid
    consumer = _leak_change(wn, "H23", 8.0, loggers, tmp_path)
    dp = _leak_change(wn, pipe, 4.0, loggers, tmp_path)
    rng = np.random.default_rng(1)
    on = rng.random(400) < 0.5
    free = pd.DataFrame(rng.normal(0.0, 0.01, (400, len(loggers))) + np.outer(on, consumer),
                        columns=loggers)
    cov = loc.noise_covariance(free)
    assert cov.attrs["shrinkage"] < 0.05  # a shared pattern this strong is not shrunk away
    sigma = pd.Series(0.01, index=loggers)
    a, b = pipes.loc[pipe, ["start", "end"]]
    mid = 0.5 * (xy.loc[a].to_numpy() + xy.loc[b].to_numpy())
    err = {}
    for name, c in (("alone", None), ("covariance", cov)):
        best = loc.rank_locations(dp + consumer, sigma, 4.0, sens, list(wn.junction_name_list),
                                  xy, pipes, top=3, metric="correlation", noise_cov=c).iloc[0]
        err[name] = float(np.hypot(best.x_m - mid[0], best.y_m - mid[1]))
    assert err["alone"] > SPACING_M, err
    assert err["covariance"] <= 0.25 * SPACING_M + 1e-6, err


def test_independent_noise_keeps_each_loggers_own_variance():
    """Noise with no shared pattern: the covariance's diagonal is each logger's variance
    after the common mode; rows that repeat (a day's running means) are shrunk as the
    fewer samples they are."""
    rng = np.random.default_rng(2)
    sd = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06])
    x = pd.DataFrame(rng.normal(0.0, 1.0, (2000, 6)) * sd, columns=list("abcdef"))
    cov = loc.noise_covariance(x)
    cm = x.sub(x.median(axis=1), axis=0)
    np.testing.assert_allclose(np.diag(cov), cm.var().to_numpy(), rtol=1e-6)
    # the same rows, each repeated 24 times (running means of a day): shrunk as from 1/24
    rep = pd.DataFrame(np.repeat(x.to_numpy()[:100], 24, axis=0), columns=x.columns)
    assert (loc.noise_covariance(rep, 24).attrs["shrinkage"]
            > loc.noise_covariance(rep).attrs["shrinkage"])


def test_position_posterior_against_a_hand_computed_one():
    """Weights exp(−χ²/2) when the best fit is within its noise; the scale χ²_min/(n−2)
    (Birge's ratio) when it is not."""
    p = loc.position_posterior(np.array([2.0, 4.0, 10.0]), n_loggers=10)
    w = np.array([1.0, np.exp(-1.0), np.exp(-4.0)])
    np.testing.assert_allclose(p, w / w.sum(), rtol=1e-12)
    # χ²_min 16 over 8 degrees of freedom: the scale is 2
    p = loc.position_posterior(np.array([16.0, 18.0]), n_loggers=10)
    np.testing.assert_allclose(p, [1 / (1 + np.exp(-0.5)), np.exp(-0.5) / (1 + np.exp(-0.5))])
    assert loc.posterior_point(np.array([[0.0, 0.0], [100.0, 0.0], [260.0, 0.0]]),
                               np.array([0.5, 0.25, 0.25])) == 1  # the mean is at 90 m


def _positions(wn, xy, points=(0.25, 0.5, 0.75)):
    """Every junction and the points along the pipes between two junctions, by hand."""
    juncs = set(wn.junction_name_list)
    rows = [(j, 0.0, *xy.loc[j]) for j in wn.junction_name_list]
    for name, p in wn.pipes():
        if p.start_node_name in juncs and p.end_node_name in juncs:
            a, b = xy.loc[p.start_node_name].to_numpy(), xy.loc[p.end_node_name].to_numpy()
            rows += [(name, f, *((1 - f) * a + f * b)) for f in points]
    return pd.DataFrame(rows, columns=["element", "at", "x_m", "y_m"])


def test_the_posterior_point_is_the_leaks_pipe_when_the_loggers_tell_and_the_middle_when_not(
        grid, tmp_path):
    """A 4 L/s leak at H12's midpoint (WNTR, the leak a demand on a split pipe). With loggers
    of 1 cm noise the posterior is sharp and its point is on that pipe, within a quarter of
    its length of the leak; with 100 m of noise (the change says nothing) every position is
    about as likely and the point is the position nearest the middle of them all, computed
    from the network's coordinates."""
    wn, loggers, sens, xy, pipes = grid
    dp = _leak_change(wn, "H12", 4.0, loggers, tmp_path)
    cand = list(wn.junction_name_list)
    sharp = loc.rank_locations(dp, pd.Series(0.01, index=loggers), 4.0, sens, cand, xy, pipes,
                               top=5, metric="correlation")
    post = sharp.attrs["posterior"]
    mid = 0.5 * (xy.loc["J12"].to_numpy() + xy.loc["J13"].to_numpy())
    assert np.hypot(post["x_m"] - mid[0], post["y_m"] - mid[1]) <= 0.25 * SPACING_M + 1e-6
    assert post["effective_positions"] < 3, post
    assert abs(sharp.probability.sum() - 1.0) < 0.05  # the top five hold nearly all of it
    flat = loc.rank_locations(dp, pd.Series(100.0, index=loggers), 4.0, sens, cand, xy, pipes,
                              top=5, metric="correlation")
    pos = _positions(wn, xy)
    assert flat.attrs["posterior"]["effective_positions"] > 0.99 * len(pos)
    centre = pos[["x_m", "y_m"]].mean().to_numpy()
    near = pos.iloc[np.argmin(np.hypot(pos.x_m - centre[0], pos.y_m - centre[1]))]
    got = flat.attrs["posterior"]
    assert (got["element"], got["at"]) == (near.element, near["at"]), (got, near)
