"""MDM CSV reader: wide and long layouts, DST days, units, quarantine and the count identity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.ingest import examples
from twin.ingest.mdm_csv import MdmCsvError, read_mdm_csv

TZ = "America/New_York"


def write(tmp_path, lines, name="mdm.csv") -> str:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def wide(days, meters=("E1", "E2"), **kw) -> list[str]:
    return examples.wide_lines(list(meters), pd.DatetimeIndex(pd.to_datetime(days)), TZ,
                               np.random.default_rng(0), **kw)


def identity(b) -> bool:
    return b.rows_accepted + len(b.quarantine) + b.duplicates == b.rows_read


@pytest.mark.parametrize("day,n,hours", [("2016-03-13", 92, 23), ("2016-11-06", 100, 25),
                                         ("2016-07-14", 96, 24)])
def test_wide_dst_days_cover_the_right_utc_span(tmp_path, day, n, hours):
    b = read_mdm_csv(write(tmp_path, wide([day], meters=["E1"])), TZ)
    r = b.readings
    assert len(r) == n and identity(b) and b.quarantine.empty
    start = pd.Timestamp(day).tz_localize(TZ).tz_convert("UTC")
    assert r["time_utc"].iloc[0] == start
    assert r["time_utc"].iloc[-1] + pd.Timedelta("15min") - start == pd.Timedelta(hours=hours)
    assert r["time_utc"].diff().dropna().eq(pd.Timedelta("15min")).all()
    assert (r["unit"].astype(str) == "kWh").all()


def test_spring_day_local_clock_skips_two_to_three(tmp_path):
    r = read_mdm_csv(write(tmp_path, wide(["2016-03-13"], meters=["E1"])), TZ).readings
    local = r["time_utc"].dt.tz_convert(TZ)
    assert local.iloc[7].strftime("%H:%M%z") == "01:45-0500"
    assert local.iloc[8].strftime("%H:%M%z") == "03:00-0400"


def test_values_and_units_are_converted(tmp_path):
    lines = wide(["2016-07-14"], meters=["E1"])
    vals = lines[1].split(",")
    wh = ",".join(["E2", vals[1], "Wh", "15"] + [str(float(v) * 1000) if v else ""
                                               for v in vals[4:]])
    kw = ",".join(["E3", vals[1], "kW", "15"] + [str(float(v) * 4) if v else ""
                                               for v in vals[4:]])
    b = read_mdm_csv(write(tmp_path, lines + [wh, kw]), TZ)
    r = b.readings.pivot(index="time_utc", columns="series_id", values="value")
    np.testing.assert_allclose(r["E2"], r["E1"], rtol=1e-12)
    np.testing.assert_allclose(r["E3"], r["E1"], rtol=1e-12)
    assert float(vals[4]) == pytest.approx(r["E1"].iloc[0])


def test_semicolon_file_with_decimal_commas(tmp_path):
    b = read_mdm_csv(write(tmp_path, wide(["2016-07-14"], delimiter=";")), TZ)
    ref = read_mdm_csv(write(tmp_path, wide(["2016-07-14"]), "ref.csv"), TZ)
    assert b.meta["delimiter"] == ";" and identity(b) and b.quarantine.empty
    np.testing.assert_allclose(b.readings["value"], ref.readings["value"])


def test_bad_lines_are_quarantined_with_line_and_reason(tmp_path):
    lines = wide(["2016-07-14", "2016-07-15"], meters=["E1"])
    good = lines[1].split(",")
    bad = {
        4: "complete garbage !!",
        5: ",".join(["E9", "2016-02-30"] + good[2:]),  # impossible date
        6: ",".join(["E9", good[1], "furlongs"] + good[3:]),  # unknown unit
        7: ",".join(good[:10] + ["1,5"] + good[11:]),  # decimal comma in a comma file
        8: ";".join(good),  # wrong delimiter
        9: ",".join(good[:4] + ["abc"] + good[5:]),  # not a number
        10: "",  # empty line
        11: ",".join(["E9", "2016-03-13"] + good[2:4] + ["0.1"] * 96 + [""] * 4),  # 96 on 92
        12: ",".join(good[:2] + ["kWh", "7"] + good[4:]),  # odd interval
    }
    all_lines = lines + [bad[k] for k in sorted(bad)] + [lines[1]]  # + an exact duplicate
    b = read_mdm_csv(write(tmp_path, all_lines), TZ)
    q = b.quarantine.set_index("line")
    assert sorted(q.index) == sorted(bad)
    assert "impossible date" in q.loc[5, "reason"]
    assert "unknown unit furlongs" in q.loc[6, "reason"]
    assert "fields, expected 104" in q.loc[7, "reason"]
    assert "fields, expected 104" in q.loc[8, "reason"]
    assert "not a number, column i001" in q.loc[9, "reason"]
    assert q.loc[10, "reason"] == "empty line"
    assert "96 values for a day of 92" in q.loc[11, "reason"]
    assert "interval_minutes" in q.loc[12, "reason"]
    assert q.loc[4, "raw_text"] == "complete garbage !!"
    assert (q["file"] == "mdm.csv").all()
    assert b.duplicates == 1 and b.rows_read == len(all_lines) - 1
    assert identity(b)
    assert len(b.readings) == 2 * 96


def test_long_layout_with_offsets_and_quality(tmp_path):
    lines = ["meter_id,timestamp_local,value,unit,quality",
             "E1,2016-11-06T01:30:00-04:00,1.0,kWh,A",
             "E1,2016-11-06T01:30:00-05:00,2.0,kWh,E",  # the repeated hour: another time
             "E1,2016-11-06 01:45:00-05:00,3.0,kWh,",
             "E1,2016-11-06T01:45:00-05:00,3.0,kWh,",  # duplicate
             "E1,2016-11-06T01:45:00,3.0,kWh,",  # no offset
             "E1,2016-13-06T01:45:00-05:00,3.0,kWh,",  # impossible
             "E1,2016-11-06T02:00:00Z,4.0,Wh,valid",
             "E1,2016-11-06T02:15:00Z,4.0,kWh,bogus"]
    b = read_mdm_csv(write(tmp_path, lines), TZ)
    assert b.meta["format"] == "mdm_csv_long" and identity(b)
    r = b.readings
    assert r["time_utc"].dt.strftime("%H:%M").tolist() == ["05:30", "06:30", "06:45", "02:00"]
    assert r["value"].tolist() == [1.0, 2.0, 3.0, 0.004]
    assert r["quality_flag"].astype(str).tolist() == ["valid", "estimated", "valid", "valid"]
    assert b.duplicates == 1
    assert sorted(b.quarantine["line"]) == [6, 7, 9]
    reasons = b.quarantine.set_index("line")["reason"]
    assert "without UTC offset" in reasons[6] and "impossible" in reasons[7]
    assert "unknown quality" in reasons[9]


def test_not_an_mdm_file_names_the_file(tmp_path):
    with pytest.raises(MdmCsvError, match=r"weird.csv: line 1 is not an MDM CSV header"):
        read_mdm_csv(write(tmp_path, ["a,b,c", "1,2,3"], "weird.csv"), TZ)


def test_chunks_do_not_change_the_result(tmp_path):
    lines = wide(pd.date_range("2016-03-10", "2016-03-16"), meters=[f"E{i}" for i in range(7)])
    path = write(tmp_path, lines)
    whole = read_mdm_csv(path, TZ)
    small = read_mdm_csv(path, TZ, chunk_bytes=5000)
    pd.testing.assert_frame_equal(whole.readings, small.readings)
    assert small.rows_read == whole.rows_read == len(lines) - 1


_garbage = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=40),
    st.just("E7,2016-07-14,kWh,15"),
    st.just(";;;;"),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(insert=st.lists(st.tuples(st.integers(0, 12), _garbage), max_size=8),
       commas=st.lists(st.tuples(st.integers(0, 11), st.integers(4, 99)), max_size=4),
       chunk=st.sampled_from([400, 3000, 1 << 20]))
def test_garbage_and_decimal_commas_keep_the_count_identity(tmp_path, insert, commas, chunk):
    lines = wide(["2016-07-14", "2016-03-13", "2016-11-06", "2016-07-15"], meters=["A", "B",
                                                                                   "C"])
    body = lines[1:]
    for row, col in commas:  # a decimal comma in a comma file: the line gains a field
        fields = body[row].split(",")
        if fields[col]:
            fields[col] = fields[col].replace(".", ",")
            body[row] = ",".join(fields)
    for pos, text in insert:
        body.insert(min(pos, len(body)), text.replace("\n", " ").replace("\r", " "))
    b = read_mdm_csv(write(tmp_path, [lines[0], *body]), TZ, chunk_bytes=chunk)
    assert b.rows_read == len(body)
    assert identity(b)
    assert (b.quarantine["line"] >= 2).all() and b.quarantine["line"].is_unique
    assert b.readings["value"].notna().all()


def test_generator_column_names_and_interval_count(tmp_path):
    """The generator's headers (read_date, uom, interval_min, interval_count; interval_start)."""
    lines = wide(["2016-03-13", "2016-07-14"], meters=["E1"])
    head = lines[0].split(",")
    out = [",".join(["meter_id", "read_date", "uom", "interval_min", "interval_count"]
                    + head[4:])]
    for line, count in zip(lines[1:], ["92", "96"], strict=True):
        f = line.split(",")
        out.append(",".join(f[:4] + [count] + f[4:]))
    f = lines[1].split(",")
    out.append(",".join(f[:4] + ["96"] + f[4:]))  # a spring day exported as 96 slots
    b = read_mdm_csv(write(tmp_path, out), TZ)
    assert len(b.readings) == 92 + 96
    assert b.quarantine["line"].tolist() == [4]
    assert "interval_count 96 for a day of 92" in b.quarantine["reason"].iloc[0]
    long_ = ["meter_id,interval_start,value,uom,quality",
             "E1,2016-11-06T01:15:00-05:00,0.250,kWh,A",
             "E1,2016-11-06T01:30:00-05:00,0.300,kWh,E"]
    r = read_mdm_csv(write(tmp_path, long_, "long.csv"), TZ).readings
    assert r["time_utc"].dt.strftime("%H:%M").tolist() == ["06:15", "06:30"]
    assert r["quality_flag"].astype(str).tolist() == ["valid", "estimated"]


def test_scada_historian_export_keeps_units_as_read(tmp_path):
    lines = ["tag,timestamp_utc,value,unit,quality",
             "WATER.TANK-1.LEVEL,2016-07-14T04:00:00Z,12.25,m,GOOD",
             "WATER.PUMP-10.POWER,2016-07-14T04:00:00Z,55.5,kW,GOOD",
             "WATER.PUMP-10.POWER,2016-07-14T05:00:00Z,-1.0,kW,BAD",
             "WATER.PUMP-10.POWER,2016-07-14T06:00:00Z,3.0,,GOOD"]
    b = read_mdm_csv(write(tmp_path, lines), TZ)
    assert b.kind == "scada" and identity(b)
    r = b.readings
    assert r["unit"].astype(str).tolist() == ["m", "kW", "kW"]
    assert r["value"].tolist() == [12.25, 55.5, -1.0]
    assert r["quality_flag"].astype(str).tolist() == ["valid", "valid", "failed"]
    assert b.quarantine["line"].tolist() == [5]


def test_amr_register_reads_become_hourly_volumes(tmp_path):
    """data/RAW-FORMATS.md §2: reads at the END of each elapsed hour, cumulative [m3]."""
    head = ",".join(["meter_id", "read_date", "uom", "read_count"]
                    + [f"h{k:02d}" for k in range(1, 26)])
    day1 = [f"{100 + 0.01 * k:.3f}" for k in range(1, 24)] + ["", ""]  # 23 reads, spring day
    day1[9] = ""  # a missing read: the next one includes the volume
    day2 = [f"{100.23 + 0.02 * k:.3f}" for k in range(1, 25)] + [""]
    lines = [head, ",".join(["WM1", "2016-03-13", "m3", "23", *day1]),
             ",".join(["WM1", "2016-03-14", "m3", "24", *day2]),
             ",".join(["WM1", "2016-03-15", "m3", "23", *day2])]  # wrong read_count
    b = read_mdm_csv(write(tmp_path, lines), TZ)
    assert b.kind == "water_read" and identity(b)
    assert b.quarantine["line"].tolist() == [4]
    r = b.readings
    assert (r["unit"].astype(str) == "m3").all()
    # first read 01:00 EST = 06:00 UTC; volumes stamped at the hour's start
    assert r["time_utc"].iloc[0] == pd.Timestamp("2016-03-13 06:00", tz="UTC")
    assert r["time_utc"].diff().dropna().eq(pd.Timedelta("1h")).all()
    np.testing.assert_allclose(r["value"].iloc[:8], 0.01, atol=1e-9)
    split = r[r["vee_rule"].astype(str) == "register_split"]
    assert len(split) == 2 and (split["quality_flag"].astype(str) == "estimated").all()
    np.testing.assert_allclose(split["value"], 0.01, atol=1e-9)
    np.testing.assert_allclose(r["value"].iloc[-23:], 0.02, atol=1e-9)
    assert r["value"].sum() == pytest.approx(float(day2[23]) - float(day1[0]))


def generator_wide(rows: list[tuple[str, str, list[str]]]) -> list[str]:
    """Lines in the generator's wide layout (read_date, uom, interval_min, interval_count)."""
    head = ["meter_id", "read_date", "uom", "interval_min", "interval_count"]
    out = [",".join(head + [f"i{k:03d}" for k in range(1, 101)])]
    for meter, day, vals in rows:
        out.append(",".join([meter, day, "kWh", "15", "96", *vals, *[""] * (100 - len(vals))]))
    return out


def test_dst_spring_96_slots_drop_the_missing_hour_and_map_the_rest(tmp_path):
    """2016-03-13 exported as 96 wall-clock slots, i009-i012 = 0 (02:00-02:45 EST->EDT)."""
    vals = [f"{k / 100:.2f}" for k in range(1, 97)]
    vals[8:12] = ["0"] * 4
    b = read_mdm_csv(write(tmp_path, generator_wide([("EM1", "2016-03-13", vals)])), TZ)
    r = b.readings.set_index("time_utc")["value"]
    assert len(r) == 92 and b.rows_accepted == 1 and b.rows_read == 1  # the line is kept
    # local midnight EST = 05:00 UTC; i008 (01:45 EST) = 06:45 UTC; i013 (03:00 EDT) = 07:00
    assert r[pd.Timestamp("2016-03-13 05:00", tz="UTC")] == pytest.approx(0.01)
    assert r[pd.Timestamp("2016-03-13 06:45", tz="UTC")] == pytest.approx(0.08)
    assert r[pd.Timestamp("2016-03-13 07:00", tz="UTC")] == pytest.approx(0.13)
    assert r.index[-1] == pd.Timestamp("2016-03-14 03:45", tz="UTC")  # 23:45 EDT
    assert r.iloc[-1] == pytest.approx(0.96)
    q = b.quarantine
    assert len(q) == 1 and q["line"].tolist() == [2] and "i009-i012" in q["reason"].iloc[0]
    assert q["raw_text"].iloc[0] == "i009-i012=0,0,0,0"
    assert b.meta["slots_quarantined"] == 1 and b.meta["repaired"] == {"dst_spring_96": 1}
    assert b.rows_accepted + (len(q) - b.meta["slots_quarantined"]) == b.rows_read


def test_dst_autumn_summed_hour_is_split_into_both_hours_and_flagged_edited(tmp_path):
    """2016-11-06 exported as 96 slots: i005-i008 hold 01:xx EDT + 01:xx EST."""
    vals = ["0.10"] * 96
    vals[4:8] = ["0.40", "0.60", "0.80", "1.00"]
    b = read_mdm_csv(write(tmp_path, generator_wide([("EM1", "2016-11-06", vals)])), TZ)
    r = b.readings.set_index("time_utc")
    assert len(r) == 100 and b.quarantine.empty and b.meta["repaired"] == {
        "dst_autumn_split": 1}
    edt = pd.date_range("2016-11-06 05:00", periods=4, freq="15min", tz="UTC")  # 01:xx EDT
    est = edt + pd.Timedelta("1h")  # 01:xx EST
    for t1, t2, summed in zip(edt, est, [0.4, 0.6, 0.8, 1.0], strict=True):
        for t in (t1, t2):
            assert r.loc[t, "value"] == pytest.approx(summed / 2)
            assert r.loc[t, "raw_value"] == pytest.approx(summed)
            assert r.loc[t, "quality_flag"] == "edited"
            assert r.loc[t, "vee_rule"] == "dst_autumn_split"
    # 02:00 EST (i009) = 07:00 UTC; the day ends 23:45 EST = 2016-11-07 04:45 UTC
    assert r.loc[pd.Timestamp("2016-11-06 07:00", tz="UTC"), "quality_flag"] == "valid"
    assert r.index[-1] == pd.Timestamp("2016-11-07 04:45", tz="UTC")
    assert r["value"].sum() == pytest.approx(0.1 * 92 + 2.8)  # energy kept


def test_chunks_give_the_same_readings_and_counts(tmp_path):
    """Streaming in tiny chunks: same readings, same counts, repeats found across chunks."""
    lines = wide(pd.date_range("2016-07-01", periods=4), meters=["E1", "E2", "E3"],
                 gap_share=0.05)
    lines += [lines[2], "garbage"]  # a repeat of line 3 and a broken line, at the end
    path = write(tmp_path, lines)
    whole = read_mdm_csv(path, TZ)
    small = read_mdm_csv(path, TZ, chunk_bytes=1500)  # a few lines per chunk
    assert (small.rows_read, small.rows_accepted, small.duplicates) == (
        whole.rows_read, whole.rows_accepted, whole.duplicates) == (14, 12, 1)
    key = ["series_id", "time_utc"]
    a = whole.readings.astype({"series_id": str}).sort_values(key).reset_index(drop=True)
    b = small.readings.astype({"series_id": str}).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_categorical=False)
    assert small.quarantine["line"].tolist() == [15]
