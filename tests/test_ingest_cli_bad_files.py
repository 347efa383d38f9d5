"""The bad files of issue 16 through the real ``twin ingest``.

The folder of every case runs as a separate process (``python -c ... app()``: the real exit
code and streams); each case alone runs the same entry (:func:`twin.cli.common.run_app`) in
this process, which loads the city once instead of once per case.

Each case is a small file in a real format, written here from the sample city's own meter
ids and tags, with one of the faults the issue found stored as ``valid`` or ending in a
traceback. Per case: the exit code, the file's counts in the summary table (or the one-line
error), no traceback; where the fault is in a value, the store is opened afterwards and the
value checked by hand.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from twin.ingest.store import MeasurementStore

ROOT = Path(__file__).resolve().parents[1]
METER, METER2 = "EM26709090", "EM31642627"  # customers C00001 and C00002 of the sample city
WATER = "WM33231810"  # C00001's water meter


def long_rows(times: list[str], values: list[str], meter: str = METER, unit: str = "kWh",
              ending: str = "\n") -> str:
    rows = [f"{meter},{t},{v},{unit},A" for t, v in zip(times, values, strict=True)]
    return ending.join(["meter_id,interval_start,value,uom,quality", *rows]) + ending


T4 = [f"2016-07-04T00:{m:02d}:00-04:00" for m in (0, 15, 30, 45)]
V4 = ["0.371", "0.381", "0.324", "0.290"]


def register_rows(drop: str) -> str:
    reads = [1095.675 + 0.06 * h for h in range(24)]
    cells = [f"{r:.3f}" for r in reads]
    cells[5] = drop
    return ("meter_id,read_date,uom,read_count," + ",".join(f"h{h:02d}" for h in range(1, 26))
            + f"\n{WATER},2016-07-04,m3,24," + ",".join(cells) + ",\n")


def scada_rows(cells: list[tuple[str, str]]) -> str:
    t = pd.date_range("2016-07-04T04:00Z", periods=len(cells), freq="15min")
    rows = [f"ELEC.F0.P,{x:%Y-%m-%dT%H:%M:%SZ},{v},{u},GOOD" for x, (v, u) in
            zip(t, cells, strict=True)]
    return "\n".join(["tag,timestamp_utc,value,unit,quality", *rows]) + "\n"


def espi(flow: int = 1, uom: int = 72, quality: str = "", shift_s: int = 0,
         meter: str = METER) -> str:
    """A small Green Button feed: a UsagePoint, a ReadingType, a MeterReading, 4 readings."""
    base = "https://utility.example/DataCustodian/espi/1_1/resource/RetailCustomer/C1/" \
           "UsagePoint/1"
    start = 1467604800
    q = f"<espi:ReadingQuality><espi:quality>{quality}</espi:quality></espi:ReadingQuality>" \
        if quality else ""
    readings = "".join(
        f"<espi:IntervalReading>{q}<espi:timePeriod><espi:duration>900</espi:duration>"
        f"<espi:start>{start + 900 * k + (shift_s if k == 1 else 0)}</espi:start>"
        f"</espi:timePeriod><espi:value>{400 + k}</espi:value></espi:IntervalReading>\n"
        for k in range(4))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
<entry><link rel="self" href="{base}"/><title>Service point {meter}</title>
<content><espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind>
</espi:ServiceCategory></espi:UsagePoint></content></entry>
<entry><link rel="self" href="{base}/MeterReading/1"/>
<link rel="related" href="https://utility.example/DataCustodian/espi/1_1/resource/ReadingType/1"/>
<content><espi:MeterReading/></content></entry>
<entry><link rel="self" href="https://utility.example/DataCustodian/espi/1_1/resource/ReadingType/1"/>
<content><espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour>
<espi:commodity>1</espi:commodity><espi:flowDirection>{flow}</espi:flowDirection>
<espi:intervalLength>900</espi:intervalLength><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier>
<espi:uom>{uom}</espi:uom></espi:ReadingType></content></entry>
<entry><link rel="self" href="{base}/MeterReading/1/IntervalBlock/1"/>
<link rel="up" href="{base}/MeterReading/1/IntervalBlock"/>
<content><espi:IntervalBlock>
{readings}</espi:IntervalBlock></content></entry>
</feed>
"""


#: (case, file name, text, extra options, exit code, expected: (read, accepted, quarantined)
#: of the file's row, or a phrase of its one-line error)
CASES = [
    ("leading quote", "quote.csv",
     long_rows(T4, V4).replace(f"{METER},2016-07-04T00:15", f'"{METER},2016-07-04T00:15'),
     [], 0, (4, 3, 1)),
    ("quoted fields", "quoted.csv", long_rows(T4, V4).replace(f"{METER},", f'"{METER}",'),
     [], 0, (4, 4, 0)),
    ("CR-only line endings", "cr.csv", long_rows(T4, V4, ending="\r"), [], 0, (4, 4, 0)),
    ("year 4016", "y4016.csv", long_rows([T4[0], "4016-07-04T00:15:00-04:00", *T4[2:]], V4),
     [], 0, (4, 3, 1)),
    ("off-grid 16:04 and 11:00:30", "offgrid.csv",
     long_rows([T4[0], "2016-07-04T00:16:04-04:00", T4[2], "2016-07-04T00:45:30-04:00"] + [
         f"2016-07-04T01:{m:02d}:00-04:00" for m in (0, 15, 30)], V4 + ["0.2"] * 3),
     [], 0, (7, 5, 2)),
    ("inf, 1e400 and 5,000 digits", "huge.csv",
     long_rows(T4, ["0.3", "inf", "1e400", "9" * 5000]), [], 0, (4, 1, 3)),
    ("SCADA unit MWx and mw", "scada_units.csv",
     scada_rows([("0.8", "MW"), ("0.8", "MWx"), ("0.8", "mw"), ("800", "kW")]), [], 0,
     (4, 2, 2)),
    ("SCADA feeder in kW under an MW label", "scada_kw.csv",
     scada_rows([("831.3", "MW"), ("798.6", "MW")]), [], 1, "beyond the plausible range"),
    ("Green Button flowDirection 19", "gb_export.xml", espi(flow=19), [], 1,
     "flowDirection 19 is not consumption"),
    ("Green Button m3 on an electricity feed", "gb_m3.xml", espi(uom=42), [], 1,
     "is no unit of electricity"),
    ("Green Button quality 99", "gb_q99.xml", espi(quality="99"), [], 1,
     "ReadingQuality code 99 is no ESPI quality code"),
    ("Green Button +7 min", "gb_shift.xml", espi(shift_s=420), [], 0, (4, 3, 1)),
    ("unknown meter id", "unknown.csv", long_rows(T4, V4, meter="EM00000000"), [], 1,
     "--allow-unknown-ids"),
    ("unknown meter id, allowed", "unknown_ok.csv", long_rows(T4, V4, meter="EM00000000"),
     ["--allow-unknown-ids"], 0, (4, 4, 0)),
    ("kWh ingested as water", "kwh_as_water.csv", long_rows(T4, V4), ["--kind", "water_read"],
     1, "is not a water_read unit"),
    ("every row quarantined", "all_bad.csv", long_rows(T4, V4, unit="kWx"), [], 1,
     "every one of its 4 rows was rejected"),
    ("water register drops to 3 m3", "register_drop.csv", register_rows("3.000"), [], 0,
     (1, 1, 0)),
]


def twin_ingest(store: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "400", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from twin.cli import app; app()", "ingest",
                           "--store", str(store), *args],
                          capture_output=True, text=True, timeout=300, env=env)


def twin_ingest_here(store: Path, *args: str, capsys, monkeypatch) -> subprocess.CompletedProcess:
    """``twin ingest --store STORE ARGS`` through the console script's entry in this process;
    its exit code and what it printed, as :func:`twin_ingest` gives them."""
    from twin.cli import app
    from twin.cli.common import console, run_app

    monkeypatch.setattr(console, "_width", 400)  # as COLUMNS=400: a table row on one line
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        run_app(app, ["ingest", "--store", str(store), *args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, stop.value.code or 0, out.out, out.err)


def row_of(stdout: str, name: str) -> list[str]:
    """The cells of a file's row in the summary table."""
    line = next(x for x in stdout.splitlines()
                if x.lstrip().startswith(("│", "|")) and f" {name} " in x)
    return [c.strip() for c in re.split(r"[│|]", line)[1:-1]]


def check_row(stdout: str, name: str, expected, store: Path) -> None:
    """A file's row of the summary table: its counts, or its one-line error (and nothing of
    it stored)."""
    cells = row_of(stdout, name)
    if isinstance(expected, str):  # one line: the file's error, in its row's note
        assert expected in cells[-1] and name in cells[-1], cells
        s = MeasurementStore(str(store))
        assert all(name not in str(x) for k in s.kinds() for x in
                   s.read(k)["source"].astype(str).unique())
    else:
        read, accepted, quarantined = expected
        got = [int(c.replace(",", "")) for c in (cells[1], cells[2], cells[4])]
        assert got == [read, accepted, quarantined], (name, cells)


def test_the_bad_files_in_one_folder(tmp_path):
    """Every case in one run (one process): each file's row says what happened; a folder
    holding failed files exits 1, with no traceback."""
    folder = tmp_path / "in"
    folder.mkdir()
    for _, name, text, options, _, _ in CASES:
        if not options:
            (folder / name).write_text(text)
    out = twin_ingest(tmp_path / "store", str(folder))
    assert "Traceback" not in out.stdout + out.stderr
    assert out.returncode == 1, out.stdout + out.stderr
    for _, name, _, options, _, expected in CASES:
        if not options:
            check_row(out.stdout, name, expected, tmp_path / "store")
    store = MeasurementStore(str(tmp_path / "store"))
    water = store.read("water_read")["value"]  # the steady 0.06 m3/h, no 1,000 m3 hour
    assert len(water) == 23 and water.max() == pytest.approx(0.06, abs=1e-9)
    scada = store.read("scada")  # 0.8 MW, and 800 kW stored as 0.8 MW
    assert scada["unit"].astype(str).unique().tolist() == ["MW"]
    assert scada["raw_value"].round(9).tolist() == [0.8, 0.8]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_file_through_twin_ingest(case, tmp_path, capsys, monkeypatch):
    """Each case alone: its exit code (0 read with quarantine entries, 1 a failed file)."""
    _, name, text, options, code, expected = case
    path = tmp_path / name
    path.write_text(text)
    out = twin_ingest_here(tmp_path / "store", *options, str(path), capsys=capsys,
                           monkeypatch=monkeypatch)
    both = out.stdout + out.stderr
    assert "Traceback" not in both, both
    assert out.returncode == code, both
    check_row(out.stdout, name, expected, tmp_path / "store")


def test_scada_kw_row_is_converted_to_mw(tmp_path, capsys, monkeypatch):
    """A feeder head written in kW (the row says so) is stored in MW, 800 kW = 0.8 MW."""
    path = tmp_path / "kw.csv"
    path.write_text(scada_rows([("0.8", "MW"), ("800", "kW"), ("812.5", "kW")]))
    out = twin_ingest_here(tmp_path / "store", str(path), capsys=capsys,
                           monkeypatch=monkeypatch)
    assert out.returncode == 0, out.stdout + out.stderr
    got = MeasurementStore(str(tmp_path / "store")).read("scada")
    assert got["unit"].astype(str).unique().tolist() == ["MW"]
    assert sorted(got["raw_value"].round(6)) == [0.8, 0.8, 0.8125]


def test_water_register_drop_is_no_huge_volume(tmp_path, capsys, monkeypatch):
    """A register read that drops to 3 m3 (and one that goes negative) is left out: the
    hourly volumes stay those of the register's steady 0.06 m3/h, none of 1,000 m3."""
    for drop in ("3.000", "-5.000"):
        path = tmp_path / f"reg{drop}.csv"
        path.write_text(register_rows(drop))
        store = tmp_path / f"store{drop}"
        out = twin_ingest_here(store, str(path), capsys=capsys, monkeypatch=monkeypatch)
        assert out.returncode == 0 and "Traceback" not in out.stdout + out.stderr
        v = MeasurementStore(str(store)).read("water_read")["value"]
        assert len(v) == 23 and v.max() == pytest.approx(0.06, abs=1e-9)


@pytest.mark.slow  # a process loading the city
def test_a_bad_file_does_not_stop_the_folder(tmp_path):
    """A folder whose first file fails: exit 1, and the next file is still ingested."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_bad.csv").write_text(long_rows(T4, V4, unit="kWx"))
    (folder / "b_good.csv").write_text(long_rows(T4, V4, meter=METER2))
    out = twin_ingest(tmp_path / "store", str(folder))
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert row_of(out.stdout, "b_good.csv")[2] == "4"
    assert len(MeasurementStore(str(tmp_path / "store")).read("electric_interval")) == 4
