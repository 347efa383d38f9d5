"""``twin city import`` and the city folder: DMAs from boundary meters, registers, bad input.

References are independent of the importer: C-Town's own demand pattern names (``DMA1_pat``
…) say which DMA each junction belongs to; pandapower's ``runpp`` on the original MATPOWER
case gives the voltages the imported grid must reproduce.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pandas as pd
import pytest
from typer.testing import CliRunner

from twin import schemas
from twin.city import CityError, read_city
from twin.cli import app
from twin.importers import CityImportError, dma_zones, import_city
from twin.water.network import read_inp, shipped_network_path

CTOWN = Path(__file__).resolve().parents[2] / "shared" / "data" / "water" / "CTOWN.INP"
if not CTOWN.exists():  # worktrees sit one level deeper than the main checkout
    CTOWN = Path("/work/shared/data/water/CTOWN.INP")
PLACE = dict(timezone="Europe/Berlin", latitude=48.4, longitude=7.8, year=2016)
runner = CliRunner()


def ctown_pattern_dmas() -> dict[str, str]:
    """Each C-Town junction's DMA as the file's own demand pattern names it (DMA1_pat → DMA1)."""
    text = CTOWN.read_text(encoding="latin-1")
    section = text.split("[JUNCTIONS]")[1].split("[")[0]
    out = {}
    for line in section.splitlines():
        f = line.split(";")[0].split()
        if len(f) >= 4 and f[3].startswith("DMA"):
            out[f[0]] = f[3].split("_")[0]
    return out


def ctown_boundary_meters(path: Path) -> Path:
    """The meters a C-Town utility has at its DMA boundaries: every pump station and V2."""
    wn = read_inp(CTOWN)
    links = [*wn.pump_name_list, "V2"]
    pd.DataFrame({"meter_id": [f"FM-{x}" for x in links], "link": links,
                  "direction": "forward"}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def ctown():
    return read_inp(CTOWN)


def test_dmas_from_boundary_meters_match_the_networks_own_dma_patterns(ctown, tmp_path):
    meters = schemas.read_table("boundary_meters", ctown_boundary_meters(tmp_path / "m.csv"))
    zones, dma_meters, table, notes = dma_zones(ctown, meters)
    truth = ctown_pattern_dmas()
    assert len(truth) == 334
    # every derived zone holds the junctions of exactly one of the file's DMAs, and all of them
    mapping = {}
    for junction, dma in truth.items():
        mapping.setdefault(zones[junction], set()).add(dma)
    assert all(len(v) == 1 for v in mapping.values()), mapping
    assert sorted(mapping) == [f"DMA-{k}" for k in range(1, 6)]
    sizes = pd.Series(truth).value_counts()
    for zone, (dma,) in mapping.items():
        assert (zones[list(truth)] == zone).sum() == sizes[dma]
    # the reservoir with its pump suction nodes is the source zone, outside every DMA
    assert zones["R1"] == "source" and table.loc["source", "demand_junctions"] == 0
    assert table.bounded.all()
    # V2 feeds tank T2 from inside DMA 1: it bounds nothing, and the report says so
    assert any("FM-V2" in n and "bounds nothing" in n for n in notes)
    pu1 = dma_meters.set_index("meter_id").loc["FM-PU1"]
    assert (pu1.from_zone, pu1.to_zone) == ("source", mapping and zones["J273"])


def test_a_zone_no_meter_bounds_is_reported(tmp_path):
    wn = read_inp(shipped_network_path("Net1"))
    meters = pd.DataFrame({"meter_id": ["M1"], "link": ["10"], "direction": ["reverse"]})
    zones, dma_meters, table, notes = dma_zones(wn, meters)
    # cutting pipe 10 (pump 9's discharge node 10 to junction 11) splits the source (reservoir
    # 9 and node 10, no demand) from the rest
    assert zones["9"] == zones["10"] == "source" and zones["11"] == "DMA-1"
    # reverse: the meter reads positive from its end node (zone DMA-1) to its start
    assert dma_meters.from_zone.iloc[0] == zones[wn.get_link("10").end_node_name]
    zones, _, table, notes = dma_zones(wn, meters.iloc[:0])
    assert set(zones) == {"unmetered-1"} and not table.bounded.any()
    assert any("bounded by no meter" in n for n in notes)


#: MATPOWER's published case9 (the WSCC 9-bus system), as its case9.m states it.
CASE9_M = """function mpc = case9
mpc.version = '2';
mpc.baseMVA = 100;
mpc.bus = [
	1	3	0	0	0	0	1	1	0	345	1	1.1	0.9;
	2	2	0	0	0	0	1	1	0	345	1	1.1	0.9;
	3	2	0	0	0	0	1	1	0	345	1	1.1	0.9;
	4	1	0	0	0	0	1	1	0	345	1	1.1	0.9;
	5	1	90	30	0	0	1	1	0	345	1	1.1	0.9;
	6	1	0	0	0	0	1	1	0	345	1	1.1	0.9;
	7	1	100	35	0	0	1	1	0	345	1	1.1	0.9;
	8	1	0	0	0	0	1	1	0	345	1	1.1	0.9;
	9	1	125	50	0	0	1	1	0	345	1	1.1	0.9;
];
mpc.gen = [
	1	72.3	27.03	300	-300	1.04	100	1	250	10	0	0	0	0	0	0	0	0	0	0	0;
	2	163	6.54	300	-300	1.025	100	1	300	10	0	0	0	0	0	0	0	0	0	0	0;
	3	85	-10.95	300	-300	1.025	100	1	270	10	0	0	0	0	0	0	0	0	0	0	0;
];
mpc.branch = [
	1	4	0	0.0576	0	250	250	250	0	0	1	-360	360;
	4	5	0.017	0.092	0.158	250	250	250	0	0	1	-360	360;
	5	6	0.039	0.17	0.358	150	150	150	0	0	1	-360	360;
	3	6	0	0.0586	0	300	300	300	0	0	1	-360	360;
	6	7	0.0119	0.1008	0.209	150	150	150	0	0	1	-360	360;
	7	8	0.0085	0.072	0.149	250	250	250	0	0	1	-360	360;
	8	2	0	0.0625	0	250	250	250	0	0	1	-360	360;
	8	9	0.032	0.161	0.306	250	250	250	0	0	1	-360	360;
	9	4	0.01	0.085	0.176	250	250	250	0	0	1	-360	360;
];
"""

#: Bus voltages [p.u.] of MATPOWER's power flow of case9, as MATPOWER prints them.
MATPOWER_CASE9_VM_PU = [1.040, 1.025, 1.025, 1.026, 1.013, 1.032, 1.016, 1.026, 0.996]


@pytest.mark.parametrize("suffix", [".mat", ".m"])
def test_matpower_case_imports_and_solves_like_the_original(tmp_path, suffix):
    from pandapower.converter.matpower.to_mpc import to_mpc

    case = pn.case9()
    path = tmp_path / f"case9{suffix}"
    if suffix == ".mat":
        to_mpc(case, str(path), init="flat")
    else:
        path.write_text(CASE9_M)
    report = import_city(tmp_path / "grid-city", grid=path, **PLACE)
    assert report.counts["buses"] == 9 and "water" not in report.sources
    city = read_city(tmp_path / "grid-city")
    assert city.wn is None and city.recipe.profiles == "standard"
    net = city.electric_copy()
    pp.runpp(net)
    if suffix == ".mat":  # written from pandapower's case9: solves as pandapower's does
        pp.runpp(case)
        np.testing.assert_allclose(net.res_bus.vm_pu.to_numpy(),
                                   case.res_bus.vm_pu.to_numpy(), atol=1e-8)
    else:  # MATPOWER's published runpf(case9) voltages, 3 decimals
        np.testing.assert_allclose(net.res_bus.vm_pu.to_numpy(), MATPOWER_CASE9_VM_PU,
                                   atol=5e-4)
    with pytest.raises(CityError, match="has no water network"):
        city.require("water", what="twin water balance")


def test_registers_map_by_id_or_nearest_and_count_what_maps_nowhere(ctown, tmp_path):
    grid = tmp_path / "grid.json"
    pp.to_json(pn.mv_oberrhein(), str(grid))
    from twin.water.network import node_xy

    xy = node_xy(ctown)
    pd.DataFrame({"customer_id": ["A", "B", "C"], "electric_meter_id": ["E1", "E2", ""],
                  "water_meter_id": ["W1", "", "W3"], "load": [5, None, None],
                  "x_m": [xy.at["J411", "x_m"] + 1, None, None],
                  "y_m": [xy.at["J411", "y_m"], None, None]}).to_csv(tmp_path / "c.csv",
                                                                   index=False)
    pd.DataFrame({"meter_id": ["W3", "E9"], "network": ["water", "electric"],
                  "customer_id": ["C", ""], "element": ["J511", "3"]}).to_csv(
        tmp_path / "m.csv", index=False)
    report = import_city(tmp_path / "city", grid=grid, water=CTOWN,
                         boundary_meters=ctown_boundary_meters(tmp_path / "b.csv"),
                         customers=tmp_path / "c.csv", meters=tmp_path / "m.csv", **PLACE)
    c = read_city(tmp_path / "city").customers.set_index("customer_id")
    assert c.at["A", "load"] == 5 and c.at["A", "junction"] == "J411"   # id / nearest
    assert c.at["C", "junction"] == "J511" and c.at["E9", "load"] == 3  # meter register
    assert c.at["A", "dma"] == c.at["C", "dma"] or c.at["A", "dma"].startswith("DMA")
    assert "B" not in c.index  # B's only meter has no load or place: left out, counted
    assert report.unmapped["electricity meters with no load"] == 1
    assert report.unmapped["customers mapped to no element (left out)"] == 1
    assert report.unmapped["loads with no meter"] == 147 - 2
    assert c.at["A", "load_share"] == 1.0 and c.at["A", "bus"] == pn.mv_oberrhein().load.at[5,
                                                                                          "bus"]


@pytest.mark.parametrize("name, rows, message", [
    ("boundary_meters", "meter_id,link\nM1,NOPE\n", "line 2, column link: no link 'NOPE'"),
    ("boundary_meters", "meter_id,link,direction\nM1,P1,sideways\n", "line 2, column direction"),
    ("boundary_meters", "meter,link\nM1,P1\n", "line 1: required column(s) ['meter_id']"),
    ("customers", "customer_id,load\nA,99999\n", "line 2, column load: no load 99999"),
    ("meters", "meter_id,network\nW1,water\n", "none of its 1 meters maps"),
    ("meters", "meter_id,network,element\nW1,water,J-NONE\n", "line 2, column element"),
    ("assets", "asset_id,asset_class,network,element_table,element,install_year\n"
     "A1,pipe,water,pipe,P1,1971\nA2,pipe,water,pipe,NOPE,1970\n",
     "line 3, column element: no pipe 'NOPE' in the water network"),
    ("assets", "asset_id,asset_class,network,element_table,element,install_year\n"
     "A1,pipe,water,pipe,P1,nineteen\n", "line 2, column install_year"),
    ("pumps", "pump,bus,rated_kw\nPU99,1,50\n", "line 2, column pump: no pump 'PU99'"),
])
def test_bad_registers_name_file_line_and_column(tmp_path, name, rows, message):
    path = tmp_path / f"{name}.csv"
    path.write_text(rows)
    kwargs = {"boundary_meters": ctown_boundary_meters(tmp_path / "b.csv")}
    kwargs[name] = path
    with pytest.raises(CityImportError) as exc:
        import_city(tmp_path / "city", water=CTOWN, **kwargs, **PLACE)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_a_simbench_code_keeps_its_own_profiles(tmp_path):
    report = import_city(tmp_path / "sb", grid="1-MV-rural--0-sw", **PLACE)
    city = read_city(tmp_path / "sb")
    assert city.recipe.electric_grid == "1-MV-rural--0-sw" and city.recipe.profiles == "simbench"
    assert report.counts["buses"] == 97 and report.counts["feeders"] > 0


def test_cli_import_bad_input_is_one_line_without_traceback(tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    base = ["city", "import", str(tmp_path / "x"), "--timezone", "Europe/Berlin",
            "--latitude", "48", "--longitude", "7", "--year", "2016"]
    for extra, message in [
        (["--water", str(tmp_path / "none.inp")], "none.inp: no such EPANET file"),
        (["--grid", "not-a-grid"], "not-a-grid: no such grid file"),
        (["--grid", str(garbage)], "garbage.json: cannot read it as a pandapower JSON"),
        ([], "give --grid, --water or both"),
    ]:
        r = runner.invoke(app, base + extra, env={"COLUMNS": "200"})
        assert r.exit_code == 2 and message in r.output, r.output
        assert "Traceback" not in r.output
    bad_zone = [*base[:4], "Mars/Olympus", *base[5:], "--water", str(CTOWN)]
    r = runner.invoke(app, bad_zone, env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in r.output, r.output


def test_city_folder_bad_files_are_one_clear_error(tmp_path):
    folder = tmp_path / "c"
    import_city(folder, water=CTOWN, **PLACE)
    assert read_city(folder).net is None
    for args, what in [(["electric", "qsts"], "twin electric qsts"),
                       (["simulate"], "twin simulate")]:
        r = runner.invoke(app, [*args, "--city", str(folder)], env={"COLUMNS": "300"})
        assert r.exit_code == 2 and f"has no electric network (electric_net.json); {what} " \
            "needs one" in r.output, r.output
    r = runner.invoke(app, ["info", "--city", str(folder)], env={"COLUMNS": "300"})
    assert r.exit_code == 0 and "electric grid: none" in r.output and "junctions" in r.output
    (folder / "recipe.yaml").write_text("name: x\ntimezone: Europe/Berlin\n")
    with pytest.raises(CityError, match=r"recipe.yaml: year: Field required"):
        read_city(folder)
    import_city(folder, water=CTOWN, overwrite=True, **PLACE)
    (folder / "customers.csv").write_text("customer_id,pv_kwp\nA,-3\n")
    with pytest.raises(CityError, match=r"customers.csv: line 2, column pv_kwp"):
        read_city(folder)
    (folder / "customers.csv").write_text("customer_id,junction\nA,NOPE\n")
    with pytest.raises(CityError, match=r"line 2, column junction: no junction 'NOPE'"):
        read_city(folder)
    (folder / "water_net.inp").unlink()
    with pytest.raises(CityError, match="neither electric_net.json nor water_net.inp"):
        read_city(folder)
    r = runner.invoke(app, ["info", "--city", str(tmp_path / "nowhere")], env={"COLUMNS": "200"})
    assert r.exit_code == 2 and "no such city folder" in r.output


def test_a_customer_register_needs_only_an_id(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("customer_id,electric_meter_id\nA,E1\nB,E2\n")
    df = schemas.read_table("customers", path)
    assert list(df.columns) == list(schemas.TABLES["customers"])
    assert (df.customer_class == "residential").all() and (df["load"] == -1).all()
    assert schemas.required_columns("customers") == ["customer_id"]
