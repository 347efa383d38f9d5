"""Reading EPANET ``.inp`` files: every file EPANET 2.2 opens, with EPANET as the judge."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import wntr
from wntr.epanet.toolkit import ENepanet

from twin.water.network import NetworkFileError, read_inp, repair_inp_text, shipped_network_path

PUBLIC_WATER = Path(os.environ.get("TWIN_PUBLIC_WATER", "/work/shared/data/water"))
PUBLIC = ["BIN.inp", "BWSN_Network_1.inp", "CTOWN.INP", "GOY.inp", "KL.inp",
          "MICROPOLIS_v1.inp"]
LIBRARY = ["Net1", "Net2", "Net3", "Net6", "ky4", "ky10"]


def _epanet_counts(path: Path) -> dict[str, int]:
    """Element counts as the EPANET 2.2 toolkit reads the file (independent of WNTR)."""
    en = ENepanet(version=2.2)
    with tempfile.TemporaryDirectory() as tmp:
        en.ENopen(str(path), os.path.join(tmp, "r.rpt"), os.path.join(tmp, "r.bin"))
        c = [en.ENgetcount(i) for i in range(7)]
        en.ENclose()
    return {"nodes": c[0], "tanks_and_reservoirs": c[1], "links": c[2], "patterns": c[3],
            "controls_and_rules": c[5] + c[6]}


@pytest.mark.parametrize("path", [
    *(pytest.param(PUBLIC_WATER / n, id=n) for n in PUBLIC),
    *(pytest.param(shipped_network_path(n), id=n) for n in LIBRARY)])
def test_every_network_epanet_opens_is_read_whole(path):
    if not path.exists():
        pytest.skip(f"public EPANET networks not at {PUBLIC_WATER}")
    wn = read_inp(path)
    want = _epanet_counts(path)
    got = {"nodes": wn.num_nodes, "tanks_and_reservoirs": wn.num_tanks + wn.num_reservoirs,
           "links": wn.num_links, "patterns": wn.num_patterns,
           "controls_and_rules": wn.num_controls}
    assert got == want
    assert wn.name == str(path) and isinstance(wn.inp_repairs, list)


needs_public = pytest.mark.skipif(not PUBLIC_WATER.is_dir(), reason="no public networks")


@needs_public
def test_why_wntr_refused_the_public_networks_and_what_was_read():
    # BIN: a title in a single-byte code page (byte 0xA1), read as latin-1
    wn = read_inp(PUBLIC_WATER / "BIN.inp")
    assert "latin-1" in wn.inp_repairs[0] and "Almer" in " ".join(wn.title)
    # its steps are all 0:00: EPANET's defaults (1 h), not WNTR's 1-second steps
    assert wn.options.time.hydraulic_timestep == 3600 == wn.options.time.pattern_timestep
    # GOY: "units si" is EPANET's legacy keyword for L/s; "30 71.0" under [TANKS] is a
    # reservoir; "70 30 1 4.52" is an EPANET 1.x constant-power pump of 4.52 kW
    wn = read_inp(PUBLIC_WATER / "GOY.inp")
    assert wn.options.hydraulic.inpfile_units == "LPS"
    assert wn.get_node("30").node_type == "Reservoir"
    assert wn.get_node("30").base_head == pytest.approx(71.0)
    assert wn.get_link("70").power == pytest.approx(4520.0)
    # BWSN: "Quality Chemical TIME": a chemical with a units label EPANET ignores
    wn = read_inp(PUBLIC_WATER / "BWSN_Network_1.inp")
    assert wn.options.quality.parameter == "CHEMICAL"
    # MICROPOLIS: rules "IF SYSTEM CLOCKTIME >= 6 AM"; 6 AM is 21,600 s after midnight
    wn = read_inp(PUBLIC_WATER / "MICROPOLIS_v1.inp")
    notes = [n for n in wn.inp_repairs if "CLOCKTIME" in n]
    assert len(notes) == 14 and notes[0].startswith("line 3507:")
    rule = str(wn.get_control("1"))
    assert "CLOCKTIME >= 6:00:00 AM" in rule and "CLOCKTIME BELOW 8:00:00 PM" in rule


def test_repairs_keep_the_files_line_numbers():
    text = ("[TANKS]\n T1 10 2 0 5 8\n R9 55\n[PUMPS]\n PU R9 T1 7.5\n[OPTIONS]\n units us\n"
            "[RULES]\nRULE 1\nIF SYSTEM CLOCKTIME < 8.25 PM\nTHEN PUMP PU STATUS IS OPEN\n"
            "[END]\n")
    fixed = repair_inp_text(text)
    lines = fixed.text.splitlines()
    moved = lines.index(" R9 55")
    assert lines[moved - 1] == "[RESERVOIRS]" and fixed.origin[moved] == 3
    assert lines[fixed.origin.index(5)] == " PU R9 T1 POWER 7.5"
    assert lines[fixed.origin.index(7)] == " units GPM"
    assert lines[fixed.origin.index(10)] == "IF SYSTEM CLOCKTIME < 8:15 PM"
    assert lines[-1] == "[END]" and len(fixed.notes) == 4


def _goy_with(tmp_path, old: str, new: str) -> Path:
    text = (PUBLIC_WATER / "GOY.inp").read_bytes().decode("latin-1").replace(old, new)
    path = tmp_path / "goy.inp"
    path.write_text(text)
    return path


@needs_public
def test_a_file_epanet_refuses_names_its_line_and_epanets_error(tmp_path):
    path = _goy_with(tmp_path, " 70   30      1         4.52", " 70   30      99        4.52")
    with pytest.raises(NetworkFileError, match=r"goy\.inp, line 81 \('70   30      99        "
                                               r"4\.52'\): EPANET error 203: undefined node"):
        read_inp(path)
    path = _goy_with(tmp_path, "units si", "units XYZ")
    with pytest.raises(NetworkFileError, match=r"line 84 \('units XYZ'\): EPANET error 213"):
        read_inp(path)
    with pytest.raises(NetworkFileError, match="no such EPANET file"):
        read_inp(tmp_path / "missing.inp")


@needs_public
def test_epanet_times_win_over_wntrs_reading(tmp_path):
    # WNTR reads "15 min" as 15 h and "1 day" as 1 h; EPANET as 900 s and 86,400 s
    path = _goy_with(tmp_path, "[OPTIONS]",
                     "[TIMES]\nDuration 1 day\nHydraulic Timestep 15 min\n[OPTIONS]")
    wn = read_inp(path)
    assert wn.options.time.duration == 86400 and wn.options.time.hydraulic_timestep == 900
    assert sum("read as EPANET reads it" in n for n in wn.inp_repairs) >= 2
    # and a network written back by WNTR reads the same
    back = tmp_path / "back.inp"
    wntr.network.write_inpfile(wn, str(back))
    again = read_inp(back)
    assert again.options.time.hydraulic_timestep == 900
    assert np.isclose(again.get_link("70").power, wn.get_link("70").power)
