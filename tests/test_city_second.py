"""A second city, not the sample city, built only through ``twin city import`` from public
material, and run through the CLI with ``--city``.

The grid is pandapower's ``mv_oberrhein`` (a real German MV grid, 179 buses, 147 loads, written
as a pandapower JSON file); the water network is C-Town (388 junctions, 5 DMAs, 11 pumps, 7
tanks) from ``shared/data/water``, with boundary meters where its utility has them: every pump
station and the valve to tank T2. Customers are a register of one account per demand
junction, placed at the junction and drawing from a load by id; pumps are fed from buses by a
pump list. The city has no SimBench profiles: loads follow the standard profile H0-A.

Independent references: the QSTS step is re-solved with pandapower's ``runpp`` on loads the
test computes from SimBench's LoadProfile.csv itself; the city's system input volume must
equal the sum of its DMAs' (inter-DMA flows cancel only if the derived zones are right).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest
import xarray as xr
from test_city_import import CTOWN, ctown_boundary_meters
from typer.testing import CliRunner

from twin.cli import app
from twin.water.network import node_xy, read_inp

pytestmark = pytest.mark.slow
runner = CliRunner()
#: Three local days in January (the generator runs the water model from 1 January).
START, DAYS = "2016-01-11", 3


@pytest.fixture(scope="module")
def second_city(tmp_path_factory):
    """The imported city folder and the environment its commands run in."""
    tmp = tmp_path_factory.mktemp("second_city")
    grid = pn.mv_oberrhein()
    pp.to_json(grid, str(tmp / "oberrhein.json"))
    wn = read_inp(CTOWN)
    xy = node_xy(wn)
    demand = [j for j, node in wn.junctions() if node.base_demand > 0]
    pd.DataFrame({
        "customer_id": [f"C{i:04d}" for i in range(len(demand))],
        "customer_class": ["commercial" if i % 7 == 0 else "residential"
                           for i in range(len(demand))],
        "electric_meter_id": [f"E{i:04d}" for i in range(len(demand))],
        "water_meter_id": [f"W{i:04d}" for i in range(len(demand))],
        "load": [i % len(grid.load) for i in range(len(demand))],
        "x_m": xy.loc[demand, "x_m"].to_numpy() + 0.5,
        "y_m": xy.loc[demand, "y_m"].to_numpy() - 0.5,
    }).to_csv(tmp / "customers.csv", index=False)
    buses = grid.load.bus.iloc[:: len(grid.load) // 11].to_numpy()[:11]
    pd.DataFrame({"pump": wn.pump_name_list, "bus": buses, "rated_kw": 75.0}).to_csv(
        tmp / "pumps.csv", index=False)
    env = {"COLUMNS": "200", "TWIN_DATA_DIR": str(tmp / "generated")}
    folder = tmp / "oberrhein-ctown"
    r = runner.invoke(app, [
        "city", "import", str(folder), "--name", "Oberrhein C-Town",
        "--timezone", "Europe/Berlin", "--latitude", "48.41", "--longitude", "7.77",
        "--year", "2016", "--grid", str(tmp / "oberrhein.json"), "--water", str(CTOWN),
        "--boundary-meters", str(ctown_boundary_meters(tmp / "boundary_meters.csv")),
        "--customers", str(tmp / "customers.csv"), "--pumps", str(tmp / "pumps.csv")], env=env)
    assert r.exit_code == 0, r.output
    return {"folder": folder, "env": env, "tmp": tmp, "import_output": r.output,
            "customers": len(demand)}


def twin(city, *args):
    r = runner.invoke(app, [*args, "--city", str(city["folder"])], env=city["env"])
    assert r.exit_code == 0, r.output
    return r.output


def test_import_reports_what_it_made(second_city):
    out = second_city["import_output"]
    for zone in ("DMA-1", "DMA-2", "DMA-3", "DMA-4", "DMA-5", "source"):
        assert zone in out
    assert "meter FM-V2 on link V2 bounds nothing" in out
    assert "unmapped: 0 electricity meters with no load" in out
    info = twin(second_city, "info")
    assert "Oberrhein C-Town (Europe/Berlin" in info and "SimBench" not in info
    assert "pandapower JSON oberrhein.json" in info and "EPANET CTOWN.INP" in info
    assert f"│ customers            │   {second_city['customers']} │" in info


def test_simulate_and_water_simulate(second_city):
    out = twin(second_city, "simulate", "--at", "2016-01-12 18:00")
    assert "at 2016-01-12 18:00 CET" in out and "pump power" in out
    path = second_city["tmp"] / "water.nc"
    out = twin(second_city, "water", "simulate", "--days", "1", "--out", str(path))
    assert "388 / 444" in out
    with xr.open_dataset(path) as ds:
        assert ds.sizes["time"] == 25 and ds.sizes["node"] == 396


def test_qsts_matches_runpp_on_standard_profiles_and_losses(second_city):
    import simbench

    path = second_city["tmp"] / "qsts.nc"
    out = twin(second_city, "electric", "qsts", "--start", START, "--days", "1",
               "--out", str(path))
    assert "96 (100.00 %)" in out
    with xr.open_dataset(path) as ds:
        step = 70  # 2016-01-11 17:30 CET = 16:30 UTC
        at = pd.Timestamp(ds.time.values[step])
        vm_twin = ds.vm_pu.isel(time=step).to_series()
    assert at == pd.Timestamp("2016-01-11 16:30")
    # SimBench's clock is local standard time: 17:30 CET is row 96·10 + 70 of its year
    csv = (Path(simbench.__file__).parent / "networks" / "1-complete_data-mixed-all-0-sw")
    row = 96 * 10 + 70
    rel = pd.read_csv(csv / "LoadProfile.csv", sep=";", usecols=["H0-A_pload", "H0-A_qload"],
                      skiprows=range(1, row + 1), nrows=1).iloc[0]
    pv = pd.read_csv(csv / "RESProfile.csv", sep=";", usecols=["PV3"],
                     skiprows=range(1, row + 1), nrows=1).iloc[0]["PV3"]
    net = pp.from_json(str(second_city["folder"] / "electric_net.json"))
    homes = net.load.profile != "pump"
    net.load.loc[homes, "p_mw"] *= rel["H0-A_pload"]
    net.load.loc[homes, "q_mvar"] *= rel["H0-A_qload"]
    net.sgen["p_mw"] *= pv
    pp.runpp(net)
    np.testing.assert_allclose(vm_twin.loc[net.bus.index].to_numpy(),
                               net.res_bus.vm_pu.to_numpy(), atol=1e-6)
    out = twin(second_city, "electric", "losses", "--result", str(path))
    assert "technical losses, 96 steps" in out
    # violations: an upper band between two buses' highest voltages of the day, so that the
    # buses above it, counted here from the saved result, are the elements reported
    with xr.open_dataset(path) as ds:
        peak = ds.vm_pu.max("time").to_series().dropna().sort_values()
    distinct = np.unique(peak.to_numpy())
    hi = float(distinct[-4] + distinct[-3]) / 2
    out = twin(second_city, "electric", "violations", "--result", str(path), "--v-min-pu",
               "0.5", "--v-max-pu", f"{hi:.9f}", "--max-loading-percent", "1000")
    assert f"elements with violations: {int((peak > hi).sum())}" in out
    assert "overvoltage" in out and "undervoltage" not in out


#: How the utility's historian names and writes each quantity of the generated SCADA:
#: (tag format, tag map element from the generator's element, unit, factor from the store
#: unit to the historian's unit).
PSI_M = 6894.757293168 / (1000.0 * 9.80665)  # 1 psi in m of water head
FOREIGN = {
    "flow": ("FIT-{}.PV", "m3/h", 3.6),  # element: the link the meter sits on
    "pressure": ("PT_{}", "psi", 1 / PSI_M),
    "level": ("LT {} pct", "%", None),  # percent of the tank's maximum level
    "pump_power": ("PMP_{}_W", "W", 1000.0),
    "active_power": ("FDR_{}_KW", "kW", 1000.0),
    "reactive_power": ("FDR_{}_KVAR", "kvar", 1000.0),
}


def foreign_export(city_folder: Path, raw: Path, out: Path) -> tuple[Path, Path]:
    """Rewrite the generated historian export as another utility's: its own tag names, psi,
    m³/h, % of tank level, W and kW, local wall-clock times without offset, ``;``-separated
    with decimal commas; and the tag map that reads it. Returns (export, tag map)."""
    from twin.ingest.tag_map import series_elements

    wn = read_inp(city_folder / "water_net.inp")
    meters = pd.read_csv(city_folder / "dma_meters.csv").set_index("meter_id")
    tz = yaml_timezone(city_folder)
    scada = pd.concat(pd.read_csv(f) for f in sorted((raw / "scada").glob("*.csv")))
    what = series_elements(scada.tag.unique(), pd.DataFrame(columns=["tag", "element",
                                                                       "quantity"]))
    rows = []
    for r in what.itertuples():
        fmt, unit, factor = FOREIGN[r.quantity]
        element = meters.at[r.element, "link"] if r.quantity == "flow" else r.element
        rows.append((r.tag, fmt.format(element), element, r.quantity, unit,
                     factor or 100.0 / wn.get_node(r.element).max_level))
    tags = pd.DataFrame(rows, columns=["old", "tag", "element", "quantity", "unit", "factor"])
    tag_map = out / "historian_points.csv"
    tags[["tag", "element", "quantity", "unit"]].to_csv(tag_map, index=False)
    t = tags.set_index("old")
    local = pd.to_datetime(scada.timestamp_utc, utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    export = pd.DataFrame({
        "Point Name": scada.tag.map(t.tag).to_numpy(),
        "Date/Time": local.dt.strftime("%Y-%m-%d %H:%M").to_numpy(),
        "Value": (scada.value * scada.tag.map(t.factor)).round(4).to_numpy()})
    path = out / "Historian Export Jan.csv"
    export.to_csv(path, sep=";", decimal=",", index=False)
    return path, tag_map


def yaml_timezone(folder: Path) -> str:
    import yaml

    return yaml.safe_load((folder / "recipe.yaml").read_text())["timezone"]


@pytest.fixture(scope="module")
def measured(second_city):
    """Three days generated by ``twin data build --city`` (its own store, the sample
    historian's tags), and the utility's store: the SCADA as a foreign historian export read
    through a tag map by ``twin ingest --city --tag-map``, with the AMR and MDM files."""
    out = twin(second_city, "data", "build", "--start", START, "--days", str(DAYS))
    assert "ingested into" in out
    raw = Path(second_city["env"]["TWIN_DATA_DIR"]) / "raw"
    export, tag_map = foreign_export(second_city["folder"], raw, second_city["tmp"])
    store = second_city["tmp"] / "utility-store"
    out = twin(second_city, "ingest", "--tag-map", str(tag_map), "--store", str(store),
               str(export), str(raw / "amr"), str(raw / "mdm"))
    return {"raw": raw, "export": export, "tag_map": tag_map, "store": store,
            "generated": Path(second_city["env"]["TWIN_DATA_DIR"]) / "store",
            "ingest_output": out}


def test_foreign_historian_export_ingests_through_the_tag_map(second_city, measured):
    from twin.ingest.store import MeasurementStore

    export = pd.read_csv(measured["export"], sep=";", decimal=",")
    ms = MeasurementStore(str(measured["store"]))
    stored = ms.read("scada")
    # every reading kept as read (a gap is a row flagged failed, a spike one estimated)
    assert stored.raw_value.notna().sum() == len(export)
    assert "quarantined" in measured["ingest_output"]
    rows = ms.scada_tags().set_index("tag")
    assert rows.loc["FIT-PU1.PV", "store_unit"] == "L/s"
    # one reading checked by hand: a logger's psi back to m, its local time back to UTC
    logger = next(t for t in rows.index if t.startswith("PT_"))
    first = export[export["Point Name"] == logger].iloc[0]
    at = pd.Timestamp(pd.to_datetime(first["Date/Time"], format="%Y-%m-%d %H:%M"),
                      tz="Europe/Berlin").tz_convert("UTC")
    got = stored[(stored.series_id.astype(str) == logger) & (stored.time_utc == at)]
    assert got.value.iloc[0] == pytest.approx(first.Value * PSI_M, abs=1e-4)


def reference_city_siv_m3(city_folder: Path, export: Path, start, end) -> float:
    """The city's system input over the balance's hours, computed here from the foreign
    export: flow out of the sources (m³/h, trapezoid over the hourly values, gaps
    interpolated in time) less the water added to the tanks (% of the maximum level of
    each cylindrical tank × its cross-section)."""
    wn = read_inp(city_folder / "water_net.inp")
    meters = pd.read_csv(city_folder / "dma_meters.csv")
    x = pd.read_csv(export, sep=";", decimal=",")
    x["t"] = pd.to_datetime(x["Date/Time"], format="%Y-%m-%d %H:%M").dt.tz_localize(
        "Europe/Berlin").dt.tz_convert("UTC")
    wide = x.pivot_table(index="t", columns="Point Name", values="Value")
    first = f"FIT-{meters.link.iloc[0]}.PV"
    last = wide[first].dropna().index.max()
    hours = pd.date_range(start, min(end, last), freq="1h")
    wide = wide.reindex(hours).interpolate(method="time", limit_direction="both")
    out_of_sources = sum(wide[f"FIT-{m.link}.PV"] for m in meters.itertuples()
                         if m.from_zone == "source") / 3.6  # L/s
    volume = (out_of_sources.sum() - (out_of_sources.iloc[0] + out_of_sources.iloc[-1]) / 2) \
        * 3.6
    stored = 0.0
    for tank in wn.tank_name_list:
        node = wn.get_node(tank)
        assert node.vol_curve is None
        level = wide[f"LT {tank} pct"].iloc[[0, -1]].to_numpy() / 100 * node.max_level
        stored += np.pi / 4 * node.diameter**2 * (level[1] - level[0])
    return volume - stored


def test_balance_night_flow_and_losses_on_the_utilitys_store(second_city, measured):
    t0 = pd.Timestamp(START, tz="Europe/Berlin")
    t1 = t0 + pd.Timedelta(days=DAYS)
    tables = {}
    for name, store in (("utility", measured["store"]), ("generated", measured["generated"])):
        csv = second_city["tmp"] / f"balance-{name}.csv"
        twin(second_city, "water", "balance", "--start", START, "--days", str(DAYS),
             "--store", str(store), "--csv", str(csv))
        tables[name] = pd.read_csv(csv, index_col=0)
    t = tables["utility"]
    dmas = [f"DMA-{k}" for k in range(1, 6)]
    assert sorted(t.index) == sorted([*dmas, "city"])
    assert (t.loc[dmas, "siv_m3"] > 0).all() and (t.loc[dmas, "connections"] > 0).all()
    from twin.ingest.store import MeasurementStore
    from twin.water.balance import read_time_span

    # the city's input is the sources' outflow less the tanks' gain, summed here by hand over
    # the hours the customers' reads cover (a store's first read gives no volume, so the
    # balance starts with the second hour of reads: twin.water.balance.aligned_period)
    first_read, _ = read_time_span(MeasurementStore(str(measured["store"])), "water_read",
                                   t0.tz_convert("UTC"), t1.tz_convert("UTC"))
    ref = reference_city_siv_m3(second_city["folder"], measured["export"],
                                max(t0.tz_convert("UTC"), first_read), t1.tz_convert("UTC"))
    assert t.loc["city", "siv_m3"] == pytest.approx(ref, rel=1e-6)
    # inter-DMA pump flows cancel: the city's input is the sum of its DMAs'
    assert t.loc[dmas, "siv_m3"].sum() == pytest.approx(t.loc["city", "siv_m3"], rel=5e-3)
    # the same measurements through the sample historian's tags give the same balance
    g = tables["generated"]
    np.testing.assert_allclose(t.loc[g.index, "siv_m3"], g.siv_m3, rtol=1e-4)
    np.testing.assert_allclose(t.loc[g.index, "billed_metered_m3"], g.billed_metered_m3)
    nights = {}
    for name, store in (("utility", measured["store"]), ("generated", measured["generated"])):
        csv = second_city["tmp"] / f"night-{name}.csv"
        twin(second_city, "water", "night-flow", "--start", START, "--days", str(DAYS),
             "--store", str(store), "--csv", str(csv))
        nights[name] = pd.read_csv(csv)
    n = nights["utility"]
    assert sorted(n.dma.unique()) == dmas and len(n) == len(dmas) * DAYS
    np.testing.assert_allclose(n.mnf_l_s, nights["generated"].mnf_l_s, atol=0.02)
    qsts = second_city["tmp"] / "qsts-ntl.nc"
    twin(second_city, "electric", "qsts", "--start", "2016-01-12", "--days", "1",
         "--out", str(qsts))
    out = twin(second_city, "electric", "losses", "--result", str(qsts), "--store",
               str(measured["store"]))
    assert "feeder energy balance" in out and "most suspicious meters" in out
    second_city["figures"] = {"balance": t, "night_flow": n, "losses": out}


def test_loads_from_the_utilitys_meter_reads(second_city):
    """profile_source: store — QSTS, hosting capacity and N-1 on the store's reads (the store
    is the one ``twin data build`` filled for the test above, or is built here)."""
    import shutil

    import yaml

    from twin.ingest.store import MeasurementStore

    store = Path(second_city["env"]["TWIN_DATA_DIR"]) / "store"
    if not (store / "_manifest").is_dir():
        twin(second_city, "data", "build", "--start", START, "--days", str(DAYS))
    folder = second_city["tmp"] / "store-profiles"
    shutil.copytree(second_city["folder"], folder)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    (folder / "recipe.yaml").write_text(yaml.safe_dump({**recipe, "profile_source": "store"}))
    city = {**second_city, "folder": folder}
    path = second_city["tmp"] / "qsts-store.nc"
    out = twin(city, "electric", "qsts", "--start", "2016-01-12", "--days", "1",
               "--out", str(path))
    assert "loads from the measurement store: " in out and "96 (100.00 %)" in out
    # the QSTS loads are the meters' reads: at a bus with loads only (no generator, pump or
    # grid infeed), the solved power is Σ over its loads of (kWh of the load's read meters /
    # their share of the load) / 0.25 h, computed here from the store's rows
    step = pd.Timestamp("2016-01-12 11:00")  # 12:00 CET
    reads = MeasurementStore(str(store)).read("electric_interval", start=step,
                                              end=step + pd.Timedelta("15min"))
    reads = reads.assign(meter=reads.series_id.astype(str)).set_index("meter")["value"]
    customers = pd.read_csv(folder / "customers.csv", dtype={"electric_meter_id": str})
    customers = customers.assign(share=customers.load_share / customers.groupby(
        "load").load_share.transform("sum")).set_index("electric_meter_id")
    net = pp.from_json(str(folder / "electric_net.json"))
    plain = set(net.load.bus) - set(net.sgen.bus) - set(net.ext_grid.bus) - set(
        net.load.bus[net.load.profile == "pump"])
    read = customers.loc[customers.index.intersection(reads.index)]
    expected = {}
    for bus in sorted(plain):
        mw = 0.0
        for load in net.load.index[net.load.bus == bus]:
            mine = read[read["load"] == load]
            if not len(mine):
                break
            mw += reads.loc[mine.index].sum() / mine.share.sum() / 250.0
        else:
            expected[bus] = mw
    assert len(expected) >= 3
    with xr.open_dataset(path) as ds:
        solved = ds.p_mw.sel(time=step).to_series()
    np.testing.assert_allclose(solved.loc[list(expected)].to_numpy(),
                               list(expected.values()), rtol=1e-6)
    out = twin(city, "electric", "hosting-capacity", "--hours", "1", "--top", "3")
    assert "PV hosting capacity of" in out


def test_leaks_on_the_utilitys_store_scored_against_the_generators_leaks(second_city,
                                                                       measured):
    """``twin water leaks --city`` on the foreign SCADA, scored against the leaks the
    generator put in (its ground truth, rewritten as a BattLeDIM-style truth file)."""
    import json

    faults = pd.read_csv(measured["raw"] / "truth" / "faults.csv")
    leaks = faults[faults.kind == "leak"]
    truth = second_city["tmp"] / "leak_truth.csv"
    pd.DataFrame({"leak_id": leaks.fault_id, "junction": leaks.series_id,
                  "start": leaks.start_utc, "end": leaks.end_utc,
                  "flow": [json.loads(d)["mean_flow_l_s"] * 3.6 for d in leaks.details]}
                 ).to_csv(truth, index=False)
    out = twin(second_city, "water", "leaks", "--start", START, "--days", str(DAYS),
               "--baseline-days", "1", "--store", str(measured["store"]), "--truth",
               str(truth))
    assert "Calibration on the baseline" in out and "Scored against" in out
    for dma in (f"DMA-{k}" for k in range(1, 6)):
        assert dma in out
    # every leak the generator drew is scored (3 days: too short a baseline to see them)
    assert re.search(rf"│ leaks\s+│\s+{len(leaks)} │", out), out
    assert "pressure loggers: 5" in out
    second_city.setdefault("figures", {})["leaks"] = out


def test_forecast_backtest_of_a_second_city_series(second_city, tmp_path_factory):
    """A day-ahead backtest of a feeder head's SCADA series with two weeks of history: the
    first 22 days of January generated into their own data directory (30 customers keep
    the build short; the feeder heads carry every load). The weekly seasonal naive's MAPE
    is recomputed here from the store: |y − y one week before| / |y| over the test week's
    hourly means."""
    data = tmp_path_factory.mktemp("three_weeks")
    city = {**second_city, "env": {**second_city["env"], "TWIN_DATA_DIR": str(data)}}
    twin(city, "data", "build", "--start", "2016-01-01", "--days", "22", "--customers", "30")
    csv = data / "backtest.csv"
    out = twin(city, "forecast", "backtest", "--series", "ELEC.F162.P", "--weeks", "1",
               "--calibration-days", "0", "--weather", "none", "--save", str(csv))
    assert "target days 2016-01-16 – 2016-01-22" in out
    table = pd.read_csv(csv).set_index("model")
    assert (table.n_values == 168).all() and (table.failed == 0).all()
    from twin.ingest.store import MeasurementStore

    r = MeasurementStore(str(data / "store")).read("scada", series=["ELEC.F162.P"])
    hourly = r[r.quality_flag.astype(str) != "failed"].set_index("time_utc")[
        "value"].sort_index().resample("1h").mean()
    t0 = pd.Timestamp("2016-01-16", tz="Europe/Berlin").tz_convert("UTC")
    test = hourly[(hourly.index >= t0) & (hourly.index < t0 + pd.Timedelta("7D"))]
    before = hourly.reindex(test.index - pd.Timedelta("7D")).to_numpy()
    mape = 100 * np.mean(np.abs(test.to_numpy() - before) / np.abs(test.to_numpy()))
    assert table.at["seasonal_naive_weekly", "mape_percent"] == pytest.approx(mape, rel=1e-9)
    second_city.setdefault("figures", {})["forecast"] = table
