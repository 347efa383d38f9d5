"""Bad input never crashes a run: a clear error or quarantine entries, every row counted.

For every file: ``accepted + quarantined + duplicates == rows_read``. Files are small MDM
exports written by :mod:`twin.ingest.examples` (wide) or here (long), a Green Button feed of
the shared sample build, and a big file ingested by a real subprocess that is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from twin.ingest import examples
from twin.ingest.pipeline import ingest_file, ingest_paths
from twin.ingest.store import MeasurementStore

TZ = "America/New_York"
NOW = pd.Timestamp("2017-01-01", tz="UTC")
DAYS = pd.date_range("2016-03-01", "2016-03-04")  # 4 normal days, 96 intervals each
FAST = settings(max_examples=12, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def wide_text(meters=("E1", "E2"), days=DAYS, seed=3, unit="kWh", delimiter=",") -> str:
    lines = examples.wide_lines(list(meters), pd.DatetimeIndex(days), TZ,
                                np.random.default_rng(seed), unit=unit, delimiter=delimiter)
    return "\n".join(lines) + "\n"


def long_text(meter="C1", start="2016-03-01", n=8) -> str:
    t = pd.date_range(pd.Timestamp(start).tz_localize(TZ), periods=n, freq="15min")
    rows = [f"{meter},{x.isoformat()},{0.1 + i / 100:.3f},kWh,A" for i, x in enumerate(t)]
    return "\n".join(["meter_id,interval_start,value,uom,quality", *rows]) + "\n"


def ingest(path, **kw):
    """Ingest ``path`` into a fresh store beside it (in the test's own temporary folder,
    which pytest removes); return the report and the store."""
    store = MeasurementStore(tempfile.mkdtemp(prefix="store_", dir=Path(path).parent))
    return ingest_file(store, path, timezone=TZ, now=NOW, **kw), store


def assert_accounted(rep) -> None:
    assert rep.accepted + rep.quarantined + rep.duplicates == rep.rows_read, rep


# ------------------------------------------------------------------ truncated files
WIDE = wide_text().encode()
HEADER_END = WIDE.index(b"\n") + 1


@FAST
@given(cut=st.integers(min_value=1, max_value=len(WIDE) - 1))
@example(cut=HEADER_END)  # the header and nothing else
@example(cut=HEADER_END - 1)  # the header without its newline
@example(cut=HEADER_END + 3)  # three bytes of the first row
def test_truncated_wide_file(tmp_path, cut):
    path = tmp_path / f"cut_{cut}.csv"
    path.write_bytes(WIDE[:cut])
    rep, store = ingest(path)
    assert_accounted(rep)
    if cut < HEADER_END - 1:  # the header itself is cut: an error, or a header of no rows
        assert (rep.error and path.name in rep.error) or rep.rows_read == 0
        assert store.read("electric_interval").empty
        return
    lines = WIDE[HEADER_END:cut].decode().splitlines()
    assert rep.rows_read == len(lines)
    n_fields = WIDE[:HEADER_END].count(b",") + 1
    whole = [line.count(",") + 1 == n_fields for line in lines]  # a cut line lacks fields
    if lines and not any(whole):  # every row rejected: a failed file, nothing stored
        assert rep.error and f"every one of its {len(lines)} rows was rejected" in rep.error
        assert store.read("electric_interval").empty
        return
    assert not rep.error
    assert rep.accepted == sum(whole) and rep.quarantined == len(lines) - sum(whole)
    stored = store.read("electric_interval")
    assert stored["raw_value"].notna().sum() == 96 * sum(whole)


LONG = long_text(n=40).encode()


@FAST
@given(cut=st.integers(min_value=len(LONG) // 3, max_value=len(LONG) - 1))
def test_truncated_long_file(tmp_path, cut):
    path = tmp_path / "cut_long.csv"
    path.write_bytes(LONG[:cut])
    rep, store = ingest(path)
    assert not rep.error
    assert_accounted(rep)
    lines = LONG[:cut].decode().splitlines()[1:]
    assert rep.rows_read == len(lines)
    # only the cut line can be bad: it parses to a shorter value or is quarantined
    assert set(store.read_quarantine()["line"]) <= {len(lines) + 1}
    stored = store.read("electric_interval")
    assert stored["raw_value"].notna().sum() == rep.accepted


def test_truncated_greenbutton_xml_is_a_clear_error(sample_raw, tmp_path):
    feed = sorted((sample_raw / "greenbutton").glob("*.xml"))[0].read_bytes()
    path = tmp_path / "cut_feed.xml"
    path.write_bytes(feed[: len(feed) // 2])
    rep, store = ingest(path)
    assert rep.error and "cut_feed.xml" in rep.error
    assert_accounted(rep)
    assert store.manifest() == []


# ------------------------------------------------------------------ encodings
def test_utf16_file_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes(wide_text().encode("utf-16"))
    rep, store = ingest(path)
    assert rep.error and "utf16.csv" in rep.error
    assert_accounted(rep)
    assert store.manifest() == []


def test_latin1_with_bom_quarantines_only_the_non_ascii_lines(tmp_path):
    text = wide_text(meters=("E1", "Zähler-2", "E3"))
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("latin-1"))
    rep, store = ingest(path)
    assert not rep.error and rep.rows_read == 3 * len(DAYS)
    assert_accounted(rep)
    assert rep.quarantined == len(DAYS)  # the four lines of the meter with the umlaut
    q = store.read_quarantine()
    assert sorted(q["line"]) == [2 + len(DAYS) + i for i in range(len(DAYS))]
    assert set(store.read("electric_interval")["series_id"].astype(str)) == {"E1", "E3"}


# ------------------------------------------------------------------ garbage lines
garbage = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                  min_size=1, max_size=60).filter(lambda s: not s.startswith("E"))


@FAST
@given(junk=st.lists(st.tuples(st.integers(0, 2 * len(DAYS)), garbage), min_size=1,
                     max_size=5))
def test_garbage_lines_are_quarantined_with_their_line_numbers(tmp_path, junk):
    lines = wide_text().splitlines()
    body = lines[1:]
    for pos, text in sorted(junk, key=lambda x: -x[0]):
        body.insert(pos, text)
    path = tmp_path / "garbage.csv"
    path.write_text("\n".join([lines[0], *body]) + "\n")
    rep, store = ingest(path)
    assert not rep.error
    assert_accounted(rep)
    expected = {i + 2 for i, line in enumerate(body) if line not in lines}
    q = store.read_quarantine()
    assert set(q["line"]) == expected and rep.quarantined == len(expected)
    assert len(store.read("electric_interval")) == 2 * len(DAYS) * 96


# ------------------------------------------------------------------ delimiters, decimals
def test_semicolon_file_with_decimal_commas_reads_the_same_values(tmp_path):
    comma, semi = tmp_path / "comma.csv", tmp_path / "semi.csv"
    comma.write_text(wide_text())
    semi.write_text(wide_text(delimiter=";"))
    (a, sa), (b, sb) = ingest(comma), ingest(semi)
    assert_accounted(b)
    assert b.rows_read == a.rows_read and b.quarantined == 0
    va = sa.read("electric_interval")["value"].to_numpy()
    vb = sb.read("electric_interval")["value"].to_numpy()
    np.testing.assert_array_equal(va, vb)


def test_mixed_delimiters_and_decimal_commas_in_a_comma_file(tmp_path):
    lines = wide_text().splitlines()
    lines[2] = lines[2].replace(",", ";")  # a whole line with another delimiter
    f = lines[3].split(",")
    f[4] = f[4].replace(".", ",")  # one decimal comma: one field too many
    lines[3] = ",".join(f)
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    rep, store = ingest(path)
    assert not rep.error
    assert_accounted(rep)
    q = store.read_quarantine()
    assert sorted(q["line"]) == [3, 4]
    assert all("fields" in r for r in q["reason"])


# ------------------------------------------------------------------ units, timestamps
@pytest.mark.parametrize("unit", ["kWhh", "BTU", "", "therm"])
def test_unknown_units_are_quarantined(tmp_path, unit):
    lines = wide_text().splitlines()
    f = lines[1].split(",")
    f[2] = unit
    lines[1] = ",".join(f)
    path = tmp_path / "units.csv"
    path.write_text("\n".join(lines) + "\n")
    rep, store = ingest(path)
    assert_accounted(rep)
    q = store.read_quarantine()
    assert list(q["line"]) == [2] and "unit" in q["reason"].iloc[0]


def test_impossible_dates_and_times_are_quarantined(tmp_path):
    lines = wide_text().splitlines()
    f = lines[1].split(",")
    f[1] = "2016-02-30"
    lines[1] = ",".join(f)
    wide = tmp_path / "dates.csv"
    wide.write_text("\n".join(lines) + "\n")
    rep, store = ingest(wide)
    assert_accounted(rep)
    q = store.read_quarantine()
    assert list(q["line"]) == [2] and "2016-02-30" in q["reason"].iloc[0]

    rows = long_text(n=4).splitlines()
    rows[2] = "C1,2016-03-01T25:00:00-05:00,0.2,kWh,A"
    rows[3] = "C1,2016-02-30T10:00:00-05:00,0.2,kWh,A"
    path = tmp_path / "times.csv"
    path.write_text("\n".join(rows) + "\n")
    rep, store = ingest(path)
    assert_accounted(rep)
    q = store.read_quarantine()
    assert sorted(q["line"]) == [3, 4] and rep.accepted == 2
    assert all("timestamp" in r for r in q["reason"])


# ------------------------------------------------------------------ Green Button
def test_greenbutton_feed_without_reading_type_is_a_clear_error(sample_raw, tmp_path):
    feed = sorted((sample_raw / "greenbutton").glob("*.xml"))[0].read_text()
    start = feed.index("<espi:ReadingType>")
    entry_start = feed.rindex("<entry>", 0, start)
    entry_end = feed.index("</entry>", start) + len("</entry>")
    path = tmp_path / "no_reading_type.xml"
    path.write_text(feed[:entry_start] + feed[entry_end:])
    rep, store = ingest(path)
    assert rep.error and "no_reading_type.xml" in rep.error and "ReadingType" in rep.error
    assert_accounted(rep)
    assert store.manifest() == []


# ------------------------------------------------------------------ twice, and a whole run
def test_a_file_ingested_twice_adds_nothing(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text(wide_text())
    store = MeasurementStore(tmp_path / "store")
    first = ingest_file(store, path, timezone=TZ, now=NOW)
    before, manifest = store.read("electric_interval"), store.manifest()
    copy = tmp_path / "renamed_copy.csv"
    copy.write_bytes(path.read_bytes())
    for again in (ingest_file(store, path, timezone=TZ, now=NOW),
                  ingest_file(store, copy, timezone=TZ, now=NOW)):
        assert again.skipped and again.readings_written == 0
    assert first.readings_written == 2 * len(DAYS) * 96
    pd.testing.assert_frame_equal(store.read("electric_interval"), before)
    assert store.manifest() == manifest


def test_a_folder_of_bad_files_does_not_stop_the_run(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_good.csv").write_text(wide_text())
    (folder / "b_binary.csv").write_bytes(bytes(range(256)) * 8)
    (folder / "c_empty.csv").write_bytes(b"")
    (folder / "d_utf16.csv").write_bytes(wide_text().encode("utf-16"))
    (folder / "e_notxml.xml").write_text("<feed><entry>")
    (folder / "f_good_long.csv").write_text(long_text())
    store = MeasurementStore(tmp_path / "store")
    reports = ingest_paths(store, [folder], timezone=TZ, now=NOW)
    by = {r.file: r for r in reports}
    assert len(reports) == 6
    for r in reports:
        assert_accounted(r)
    assert not by["a_good.csv"].error and not by["f_good_long.csv"].error
    for bad in ("b_binary.csv", "c_empty.csv", "d_utf16.csv", "e_notxml.xml"):
        # an error, or skipped as no meter data, with a reason that names the file
        why = by[bad].error or (by[bad].skipped and getattr(by[bad], "skipped_reason", ""))
        assert why and bad in why, by[bad]
        assert by[bad].readings_written == 0
    assert set(store.read("electric_interval")["series_id"].astype(str)) == {"E1", "E2", "C1"}


# ------------------------------------------------------------------ killed mid-ingest
_INGEST = """
import sys
import pandas as pd
from twin.ingest.pipeline import ingest_file
from twin.ingest.store import MeasurementStore
ingest_file(MeasurementStore(sys.argv[1]), sys.argv[2], timezone="America/New_York",
            now=pd.Timestamp("2017-01-01", tz="UTC"), chunk_bytes=1 << 18)
"""


def test_a_process_killed_mid_ingest_leaves_the_store_as_before(tmp_path):
    root = tmp_path / "store"
    store = MeasurementStore(root)
    small = tmp_path / "small.csv"
    small.write_text(wide_text(meters=("S1",)))
    ingest_file(store, small, timezone=TZ, now=NOW)
    before, manifest = store.read("electric_interval"), store.manifest()
    big = tmp_path / "big.csv"
    n_big = examples.write_wide(big, 250_000, TZ, start="2016-05-01", n_days=30)
    proc = subprocess.Popen([sys.executable, "-c", _INGEST, str(root), str(big)])
    try:
        t_end = time.time() + 120
        while time.time() < t_end:
            if list((root / "_staging").rglob("*.parquet")):
                break
            assert proc.poll() is None, "the ingest ended before it could be killed"
            time.sleep(0.01)
        else:
            pytest.fail("the ingest wrote nothing to staging in 120 s")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    after = MeasurementStore(root)
    assert after.manifest() == manifest
    pd.testing.assert_frame_equal(after.read("electric_interval"), before)
    rep = ingest_file(after, big, timezone=TZ, now=NOW)
    assert not rep.skipped and not rep.error
    assert_accounted(rep)
    assert rep.readings_written == n_big
    after.vacuum()  # removes what the killed process left in staging, nothing committed
    assert not list((root / "_staging").rglob("*.parquet"))
    assert len(after.read("electric_interval")) == len(before) + n_big


# ------------------------------------------------------------------ DST days as 96 slots
@pytest.mark.parametrize("day, n_true", [("2016-03-13", 92), ("2016-11-06", 100)])
def test_dst_day_exported_as_96_wall_clock_slots_is_accounted(tmp_path, day, n_true):
    lines = wide_text(days=pd.DatetimeIndex([day, pd.Timestamp(day) + pd.Timedelta(days=1)])
                      ).splitlines()
    header = lines[0].replace("interval_minutes", "interval_minutes,interval_count")
    rows = []
    for line in lines[1:]:
        f = line.split(",")
        values = [v for v in f[4:] if v][:96] if f[1] == day else [v for v in f[4:] if v]
        values = (values + ["0.100"] * 96)[:96]  # the DST day written as 96 wall slots
        rows.append(",".join(f[:4] + ["96"] + values + [""] * 4))
    path = tmp_path / "dst96.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    rep, store = ingest(path)
    assert not rep.error and rep.rows_read == 4
    assert_accounted(rep)
    stored = store.read("electric_interval")
    day_start = pd.Timestamp(day).tz_localize(TZ).tz_convert("UTC")
    on_day = stored[(stored["time_utc"] >= day_start)
                    & (stored["time_utc"] < day_start + pd.Timedelta(hours=24 + (n_true - 96)
                                                                     // 4))]
    # the day is either refused (quarantined lines) or repaired to its true intervals,
    # with the repair recorded on the readings or in the quarantine
    if rep.quarantined == 2:
        assert on_day.empty
    else:
        assert len(on_day) == 2 * n_true
        touched = on_day["vee_rule"].astype(str) != ""
        assert touched.any() or len(store.read_quarantine()) > 0
