"""The benchmark generator reads only its sensors out of EPANET and gets the whole run's numbers.

The anchor is :func:`twin.water.hydraulics.simulate` on the case's real network (every node
and link written to EPANET's binary output, float32, and read back: the generator's earlier
way); :func:`twin.synthetic.leak_benchmark.make_case` now steps the run and reads only the
loggers, the DMA boundary links and the tanks, and takes the AMR junctions' demands from
their patterns. With every noise set to zero its SCADA and AMR volumes must be the anchor's
within float32 round-off: 1e-4 m, and 1e-4 L/s or 1e-6 of the largest flow where that is
more (float32 keeps ~7 digits: KL's 590 L/s inflow, 9,300 GPM in its file, differs by up
to 1.05e-4 L/s over 10 days, 2e-7 of it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.synthetic.leak_benchmark import BenchmarkSpec, draw_leaks, make_case, published_model
from twin.water.dma import boundary_meters, partition_dmas
from twin.water.hydraulics import simulate

DATA = next((p / "shared" / "data" / "water" for p in Path(__file__).resolve().parents
             if (p / "shared" / "data" / "water" / "KL.inp").exists()), None)
#: Agreement asked of pressures and levels [m] and of flows [L/s].
TOL_M, TOL_L_S = 1e-4, 1e-4


@pytest.mark.skipif(DATA is None, reason="the public networks are not beside the checkout")
@pytest.mark.parametrize("network", ["KL.inp", "CTOWN.INP"])
def test_three_day_case_is_the_whole_runs_case(network):
    """KL (US units, no tank) and C-Town (tanks, pumps, valves, demands without a pattern)."""
    spec = BenchmarkSpec(str(DATA / network), seed=3, days=3, leak_free_days=0, step_s=900, n_leaks=0,
                         pressure_noise_m=0.0, flow_noise=0.0, level_noise_m=0.0,
                         amr_noise=0.0)
    wn = published_model(spec.network)
    dmas = partition_dmas(wn, spec.n_dmas, seed=spec.seed)
    leaks = draw_leaks(BenchmarkSpec(spec.network, seed=3, n_leaks=2), wn, dmas,
                       boundary_meters(wn, dmas), np.random.default_rng(5))
    day = 86400.0
    leaks = leaks.assign(start_s=[1 * day, 1.5 * day], end_s=[3 * day] * 2, flow=[60.0, 20.0],
                         kind=["abrupt", "incipient"], ramp_s=[0.0, day])
    case = make_case(spec, leaks=leaks)
    whole = simulate(case.real_wn, spec.days * 86400 - spec.step_s, spec.step_s)
    obs = case.obs
    assert len(obs.times) == whole.sizes["time"] == 3 * 96
    p = whole.pressure_m.sel(node=case.loggers).to_numpy()
    assert np.abs(obs.pressure_m.to_numpy() - p).max() <= TOL_M
    q = whole.flow_m3s.sel(link=list(case.meters.link)).to_numpy() * 1000
    assert np.abs(obs.flow_l_s.to_numpy() - q).max() <= max(TOL_L_S, 1e-6 * np.abs(q).max())
    lv = whole.pressure_m.sel(node=case.wn.tank_name_list).to_numpy()
    assert obs.tank_level_m.shape == lv.shape
    assert np.abs(obs.tank_level_m.to_numpy() - lv).max(initial=0.0) <= TOL_M
    amr = list(case.customers.junction)
    dem = whole.demand_m3s.sel(node=amr).to_pandas().set_axis(obs.times)
    use = dem.groupby(dem.index.floor("h")).mean() * 3600.0
    assert obs.use_m3.shape == use.shape
    # hourly volumes [m³] of a demand within 1e-4 L/s
    assert np.abs(obs.use_m3.to_numpy() - use.to_numpy()).max() <= TOL_L_S * 3.6
    # the leaks are in the run: a boundary flow or logger moves once they start
    assert float(np.abs(p[-1] - p[0]).max()) > 0.0
    assert isinstance(obs.use_m3.index, pd.DatetimeIndex)
