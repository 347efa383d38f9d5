"""Green Button readers: the real ESPI feed, namespace prefixes, registers, errors, CSV."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.ingest.greenbutton import (
    GreenButtonError,
    read_greenbutton_csv,
    read_greenbutton_xml,
)

REAL_FEED = Path("/work/shared/data/greenbutton/"
                 "Coastal_Multi_Family_Daily_Jan_1_2011_to_Jan_1_2012_RetailCustomer_4.xml")


@pytest.fixture(scope="module")
def real_feed():
    if not REAL_FEED.exists():
        pytest.skip(f"the real Green Button feed is not here ({REAL_FEED}); "
                    "it lives in the shared data folder next to the checkout")
    return REAL_FEED, read_greenbutton_xml(REAL_FEED)


def test_real_feed_units_times_and_count(real_feed):
    path, batch = real_feed
    raw = path.read_text()
    # independent reading of the raw XML by regex
    readings = re.findall(
        r"<IntervalReading>\s*<timePeriod>\s*<duration>(\d+)</duration>\s*"
        r"<start>(\d+)</start>\s*</timePeriod>\s*<value>(-?\d+)</value>", raw)
    mult = int(re.search(r"<ReadingType[^>]*>.*?<powerOfTenMultiplier>(-?\d+)<", raw,
                         re.S).group(1))
    uom = int(re.search(r"<ReadingType[^>]*>.*?<uom>(\d+)<", raw, re.S).group(1))
    assert uom == 72  # Wh
    assert len(readings) == 8760
    assert batch.rows_read == batch.rows_accepted == len(batch.readings) == 8760
    assert batch.quarantine.empty and batch.duplicates == 0
    assert batch.kind == "electric_interval"
    r = batch.readings.sort_values("time_utc").reset_index(drop=True)
    assert (r["unit"] == "kWh").all()
    for i in (0, 1234, 8759):
        dur, start, value = map(int, readings[i])
        t = pd.Timestamp(start, unit="s", tz="UTC")
        row = r[r["time_utc"] == t].iloc[0]
        assert row["value"] == pytest.approx(value * 10.0 ** mult / 1000.0)  # Wh -> kWh
        assert dur == 3600
    # the first reading: 1293868800 = 2011-01-01 08:00 UTC = midnight PST (tzOffset -28800)
    assert r["time_utc"].iloc[0] == pd.Timestamp("2011-01-01 08:00", tz="UTC")
    assert r["value"].iloc[0] == pytest.approx(0.450)
    assert r["time_utc"].diff().dropna().eq(pd.Timedelta("1h")).all()
    total_wh = sum(int(v) for _, _, v in readings) * 10.0 ** mult
    assert r["value"].sum() == pytest.approx(total_wh / 1000.0)
    lt = batch.meta["local_time"]
    assert lt["tzOffset"] == "-28800" and lt["dstOffset"] == "3600"
    # the utility's identity: its host and the MeterReading's resource path
    assert r["series_id"].unique().tolist() == [
        "services.greenbuttondata.org:RetailCustomer/4/UsagePoint/1/MeterReading/01"]
    assert (r["interval_s"] == 3600).all()


FEED = """<?xml version="1.0"?>
<{p}feed xmlns{c}="http://www.w3.org/2005/Atom" xmlns:ns3="http://naesb.org/espi">
 <{p}entry>
  <{p}link rel="self" href="https://x/espi/1_1/resource/ReadingType/9"/>
  <{p}content><ns3:ReadingType>
   <ns3:accumulationBehaviour>{acc}</ns3:accumulationBehaviour>
   <ns3:intervalLength>900</ns3:intervalLength>
   <ns3:powerOfTenMultiplier>-3</ns3:powerOfTenMultiplier>
   <ns3:uom>72</ns3:uom>
  </ns3:ReadingType></{p}content>
 </{p}entry>
 <{p}entry>
  <{p}link rel="self" href="https://x/espi/1_1/resource/UsagePoint/7/MeterReading/2"/>
  <{p}link rel="related" href="https://x/espi/1_1/resource/ReadingType/9"/>
  <{p}content><ns3:MeterReading/></{p}content>
 </{p}entry>
 <{p}entry>
  <{p}link rel="up" href="https://x/espi/1_1/resource/UsagePoint/7/MeterReading/2/IntervalBlock"/>
  <{p}content><ns3:IntervalBlock>
   {readings}
  </ns3:IntervalBlock></{p}content>
 </{p}entry>
</{p}feed>
"""


def reading(start, value, quality=None):
    q = (f"<ns3:ReadingQuality><ns3:quality>{quality}</ns3:quality></ns3:ReadingQuality>"
         if quality is not None else "")
    return (f"<ns3:IntervalReading>{q}<ns3:timePeriod><ns3:duration>900</ns3:duration>"
            f"<ns3:start>{start}</ns3:start></ns3:timePeriod><ns3:value>{value}</ns3:value>"
            "</ns3:IntervalReading>")


@pytest.mark.parametrize("prefix", ["", "atom:"])
def test_any_namespace_prefix_and_reading_quality(tmp_path, prefix):
    body = "".join([reading(1451606400, 1500), reading(1451607300, 2500, quality=8),
                    reading(1451608200, 3500, quality=7)])
    text = FEED.format(p=prefix, c=":atom" if prefix else "", acc=4, readings=body)
    p = tmp_path / "feed.xml"
    p.write_text(text)
    b = read_greenbutton_xml(p)
    r = b.readings
    assert r["series_id"].iloc[0] == "x:UsagePoint/7/MeterReading/2"
    np.testing.assert_allclose(r["value"], [1.5e-3, 2.5e-3, 3.5e-3])  # mWh*1e-3 Wh -> kWh
    assert r["quality_flag"].tolist() == ["valid", "estimated", "edited"]
    assert r["vee_rule"].tolist() == ["", "source_quality_8", "source_quality_7"]
    assert r["time_utc"].iloc[0] == pd.Timestamp("2016-01-01", tz="UTC")


def test_register_reads_become_interval_deltas(tmp_path):
    body = "".join(reading(1451606400 + 900 * k, v) for k, v in
                   enumerate([10_000, 10_400, 11_000, 11_100]))
    p = tmp_path / "register.xml"
    p.write_text(FEED.format(p="", c="", acc=1, readings=body))
    b = read_greenbutton_xml(p)
    np.testing.assert_allclose(b.readings["value"], [0.4e-3, 0.6e-3, 0.1e-3])
    assert len(b.quarantine) == 1 and "no following read" in b.quarantine["reason"].iloc[0]
    assert b.rows_accepted + len(b.quarantine) + b.duplicates == b.rows_read == 4


def test_bare_interval_block_needs_a_reading_type(tmp_path):
    p = tmp_path / "bare.xml"
    p.write_text('<espi:IntervalBlock xmlns:espi="http://naesb.org/espi">'
                 + reading(1451606400, 1000).replace("ns3:", "espi:")
                 + "</espi:IntervalBlock>")
    with pytest.raises(GreenButtonError, match=r"bare.xml: IntervalBlock .* no ReadingType"):
        read_greenbutton_xml(p)
    b = read_greenbutton_xml(p, reading_type={"uom": 72}, series_id="m1")
    assert b.readings["value"].tolist() == [1.0] and b.readings["series_id"].iloc[0] == "m1"


def test_meter_reading_without_its_reading_type_names_the_file(tmp_path):
    body = reading(1451606400, 1)
    text = FEED.format(p="", c="", acc=4, readings=body)
    text = re.sub(r"<entry>\s*<link rel=\"self\" href=\"[^\"]*ReadingType/9\"/>.*?</entry>", "",
                  text, count=1, flags=re.S)
    p = tmp_path / "noreadingtype.xml"
    p.write_text(text)
    with pytest.raises(GreenButtonError,
                       match=r"noreadingtype.xml: MeterReading x:UsagePoint/7/MeterReading/2 "
                             r"declares ReadingType x:ReadingType/9, which is in no file"):
        read_greenbutton_xml(p)


def test_not_xml_is_a_clear_error(tmp_path):
    p = tmp_path / "broken.xml"
    p.write_text("<feed><entry>")
    with pytest.raises(GreenButtonError, match="broken.xml: not well-formed XML"):
        read_greenbutton_xml(p)


def test_green_button_csv(tmp_path):
    p = tmp_path / "gb.csv"
    p.write_text("Name,JOHN DOE\nAddress,1 MAIN ST\n\n"
                 "TYPE,DATE,START TIME,END TIME,USAGE,UNITS,COST\n"
                 "Electric usage,2016-03-13,01:00,01:59,0.50,kWh,$0.05\n"
                 "Electric usage,2016-03-13,02:00,02:59,0.50,kWh,$0.05\n"  # skipped by DST
                 "Electric usage,2016-03-13,03:00,03:59,600,Wh,$0.05\n"
                 "Electric usage,2016-03-13,04:00,04:59,0.2,kW,$0.05\n"
                 "Electric usage,2016-03-13,05:00,05:59,x,kWh,$0.05\n")
    b = read_greenbutton_csv(p, "America/New_York")
    assert b.readings["time_utc"].dt.strftime("%H:%M").tolist() == ["06:00", "07:00", "08:00"]
    np.testing.assert_allclose(b.readings["value"], [0.5, 0.6, 0.2])
    assert sorted(b.quarantine["line"]) == [6, 9]
    assert b.rows_accepted + len(b.quarantine) == b.rows_read == 5


def test_feed_with_self_links_only(tmp_path):
    """As the city's generator writes them (data/RAW-FORMATS.md §5): no up/related links."""
    base = "https://u.example/DataCustodian/espi/1_1/resource/RetailCustomer/C1/UsagePoint/1"
    body = "".join(reading(1451624400 + 900 * k, 100 + k).replace("ns3:", "espi:")
                   for k in range(3))
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">
  <entry><link rel="self" href="{base}/MeterReading/1"/>
    <content><espi:MeterReading/></content></entry>
  <entry><link rel="self" href="https://u.example/DataCustodian/espi/1_1/resource/ReadingType/1"/>
    <content><espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour>
      <espi:intervalLength>900</espi:intervalLength><espi:uom>72</espi:uom>
      <espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier></espi:ReadingType></content>
  </entry>
  <entry><link rel="self" href="{base}/MeterReading/1/IntervalBlock/1"/>
    <content><espi:IntervalBlock>{body}</espi:IntervalBlock></content></entry>
</feed>"""
    p = tmp_path / "greenbutton_C1.xml"
    p.write_text(text)
    b = read_greenbutton_xml(p)
    assert b.readings["series_id"].iloc[0] == (
        "u.example:RetailCustomer/C1/UsagePoint/1/MeterReading/1")
    np.testing.assert_allclose(b.readings["value"], [0.1, 0.101, 0.102])
    assert b.readings["time_utc"].iloc[0] == pd.Timestamp("2016-01-01 05:00", tz="UTC")


USAGE_POINT = """ <{p}entry>
  <{p}link rel="self" href="https://x/espi/1_1/resource/UsagePoint/7"/>
  <{p}title>Service point EM00000042</{p}title>
  <{p}content><ns3:UsagePoint><ns3:ServiceCategory><ns3:kind>0</ns3:kind>
  </ns3:ServiceCategory></ns3:UsagePoint></{p}content>
 </{p}entry>
"""


def feed_with_usage_point(readings: str) -> str:
    text = FEED.format(p="", c="", acc=4, readings=readings)
    return text.replace(" <entry>", USAGE_POINT.format(p="") + " <entry>", 1)


def test_series_is_the_meter_id_of_the_usage_point(tmp_path):
    p = tmp_path / "feed.xml"
    p.write_text(feed_with_usage_point(reading(1451606400, 1500)))
    assert read_greenbutton_xml(p).readings["series_id"].tolist() == ["EM00000042"]


def test_green_button_and_mdm_of_one_meter_merge_mdm_first(tmp_path):
    """Same meter, same interval in both sources: the MDM export wins whatever the order."""
    from twin.ingest.pipeline import ingest_file
    from twin.ingest.store import MeasurementStore

    t0 = pd.Timestamp("2016-01-01", tz="UTC")
    gb = tmp_path / "feed.xml"  # 1.5 Wh at 00:00 and 2.5 Wh at 00:15 (only in the feed)
    gb.write_text(feed_with_usage_point(reading(1451606400, 1500000)
                                        + reading(1451607300, 2500000)))
    mdm = tmp_path / "mdm.csv"
    mdm.write_text("meter_id,timestamp_local,value,unit\n"
                   "EM00000042,2015-12-31T19:00:00-05:00,1.400,kWh\n")
    for order in ([mdm, gb], [gb, mdm]):
        store = MeasurementStore(tmp_path / f"store-{order[0].name}")
        for f in order:
            rep = ingest_file(store, f, timezone="America/New_York", now=t0 + pd.Timedelta(
                "365D"), use_history=False)
            assert rep.balanced and not rep.error
        df = store.read("electric_interval").set_index("time_utc")
        assert df["series_id"].astype(str).unique().tolist() == ["EM00000042"]
        assert df.loc[t0, "value"] == pytest.approx(1.4)  # MDM over Green Button
        assert df.loc[t0 + pd.Timedelta("15min"), "value"] == pytest.approx(2.5)
        assert "Green Button" in store.manifest()[0]["precedence"]


# ------------------------------------------------------------------ resources across files
ESPI_DIR = Path("/work/shared/data/greenbutton/espi")
ESPI = "{http://naesb.org/espi}"
ATOM = "{http://www.w3.org/2005/Atom}"


def _us_dst(utc_s: int) -> bool:
    """US daylight time by the rules LocalTimeParameters encode (360E2000 / B40E2000):
    from the second Sunday of March 02:00 local to the first Sunday of November 02:00."""
    t = pd.Timestamp(utc_s, unit="s")
    y = t.year
    march = pd.Timestamp(f"{y}-03-01")
    start = march + pd.Timedelta(days=(6 - march.weekday()) % 7 + 7, hours=2 + 5)  # 02 EST
    nov = pd.Timestamp(f"{y}-11-01")
    end = nov + pd.Timedelta(days=(6 - nov.weekday()) % 7, hours=2 + 4)  # 02 EDT
    return start <= t < end


@pytest.mark.skipif(not ESPI_DIR.exists(), reason="the shared ESPI sample folder is not here")
def test_espi_resource_folder_ingests_with_counts_units_and_times(tmp_path):
    """The ESPI sample resources, one per file, linked only by hrefs: the IntervalBlock file is
    read, the others are skipped (not failed); values, units and times against a reading of
    the XML by xml.etree with the ReadingType and LocalTimeParameters applied by hand."""
    import xml.etree.ElementTree as ET

    from twin.ingest.pipeline import ingest_paths
    from twin.ingest.store import MeasurementStore

    store = MeasurementStore(tmp_path / "store")
    reports = ingest_paths(store, [ESPI_DIR], now=pd.Timestamp("2026-01-01", tz="UTC"))
    by = {r.file: r for r in reports}
    assert not any(r.error for r in reports), [(r.file, r.error) for r in reports if r.error]
    block = by.pop("ESPIIntervalBlock.xml")
    assert all(r.skipped and "no IntervalReading" in r.skipped_reason for r in by.values())
    assert len(by) == 12
    # independent reading
    root = ET.parse(ESPI_DIR / "ESPIIntervalBlock.xml").getroot()
    reads = [(int(r.find(f"{ESPI}timePeriod/{ESPI}start").text),
              int(r.find(f"{ESPI}timePeriod/{ESPI}duration").text),
              int(r.find(f"{ESPI}value").text)) for r in root.iter(f"{ESPI}IntervalReading")]
    types = ET.parse(ESPI_DIR / "ESPIReadingTypes.xml").getroot()
    daily = [e.find(f"{ATOM}content/{ESPI}ReadingType") for e in types.iter(f"{ATOM}entry")
             if e.find(f"{ATOM}content/{ESPI}ReadingType/{ESPI}intervalLength").text == "86400"]
    assert len(daily) == 1  # the only ReadingType of the readings' interval
    uom = int(daily[0].find(f"{ESPI}uom").text)
    mult = int(daily[0].find(f"{ESPI}powerOfTenMultiplier").text)
    assert uom == 72  # Wh
    ltp = ET.parse(ESPI_DIR / "ESPILocalTimeParameters.xml").getroot()
    tz_off = int(ltp.find(f"{ATOM}content/{ESPI}LocalTimeParameters/{ESPI}tzOffset").text)
    dst_off = int(ltp.find(f"{ATOM}content/{ESPI}LocalTimeParameters/{ESPI}dstOffset").text)
    assert block.rows_read == block.accepted == len(reads) == 444 and block.balanced
    assert any("guessed" in n for n in block.notes)  # no MeterReading declares it: a warning
    df = store.read("electric_interval")
    df = df[df["raw_value"].notna()].sort_values("time_utc").reset_index(drop=True)
    assert len(df) == len(reads)
    want_t = pd.to_datetime([s for s, _, _ in sorted(reads)], unit="s", utc=True)
    assert (df["time_utc"].to_numpy() == want_t.to_numpy()).all()
    want_kwh = np.array([v for _, _, v in sorted(reads)]) * 10.0 ** mult / 1000.0
    np.testing.assert_allclose(df["value"], want_kwh)
    np.testing.assert_allclose(df["raw_value"], want_kwh)
    assert (df["unit"].astype(str) == "kWh").all()
    assert df["interval_s"].tolist() == [d for _, d, _ in sorted(reads)]
    assert {82800, 90000} <= set(df["interval_s"])  # the 23 h and 25 h days are stored
    # each reading starts at a local midnight: UTC + tzOffset (+ dstOffset in daylight time)
    local = [s + tz_off + (dst_off if _us_dst(s) else 0) for s, _, _ in reads]
    assert all(t % 86400 == 0 for t in local)
    assert df["series_id"].astype(str).unique().tolist() == [
        "services.greenbuttondata.org:Subscription/5/UsagePoint/1/MeterReading/1"]


def _entry(self_href, content, related=(), up=None):
    links = f'<link rel="self" href="{self_href}"/>' if self_href else ""
    links += f'<link rel="up" href="{up}"/>' if up else ""
    links += "".join(f'<link rel="related" href="{h}"/>' for h in related)
    return (f'<entry xmlns="http://www.w3.org/2005/Atom" xmlns:espi="http://naesb.org/espi">'
            f"{links}<content>{content}</content></entry>\n")


def _rt(interval=900, mult=0, uom=72):
    return (f"<espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour>"
            f"<espi:intervalLength>{interval}</espi:intervalLength>"
            f"<espi:powerOfTenMultiplier>{mult}</espi:powerOfTenMultiplier>"
            f"<espi:uom>{uom}</espi:uom></espi:ReadingType>")


def _block(values, start=1451606400, step=900):
    body = "".join(
        f"<espi:IntervalReading><espi:timePeriod><espi:duration>{step}</espi:duration>"
        f"<espi:start>{start + step * k}</espi:start></espi:timePeriod>"
        f"<espi:value>{v}</espi:value></espi:IntervalReading>\n" for k, v in enumerate(values))
    return f"<espi:IntervalBlock>\n{body}</espi:IntervalBlock>"


U = "https://sce.example/DataCustodian/espi/1_1/resource"


def _feed(*entries):
    return ('<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n'
            + "".join(entries) + "</feed>\n")


@pytest.mark.parametrize("first, second, want", [
    (_rt(3600, 0), _rt(900, 3), 1.0),  # told apart by the readings' interval (900 s)
    (_rt(900, 3), _rt(900, 0), 1e-3),  # same interval: the one after the MeterReading
])
def test_two_reading_types_under_one_self_link(first, second, want, tmp_path):
    mr = f"{U}/Subscription/1/UsagePoint/1/MeterReading/1"
    text = _feed(_entry(f"{U}/ReadingType/1", first),
                 _entry(mr, "<espi:MeterReading/>", related=[f"{U}/ReadingType/1"]),
                 _entry(f"{U}/ReadingType/1", second),
                 _entry(f"{mr}/IntervalBlock/1", _block([1, 2, 3]), up=f"{mr}/IntervalBlock"))
    p = tmp_path / "sce.xml"
    p.write_text(text)
    b = read_greenbutton_xml(p)
    np.testing.assert_allclose(b.readings["value"], np.array([1, 2, 3]) * want)
    assert "declared" in b.meta["reading_types"][b.readings["series_id"].iloc[0]]["how"]


def test_resources_in_separate_files_are_linked_by_href(tmp_path):
    """A PG&E-style download: the block, its MeterReading and its ReadingType each in its
    own file; the folder reads as one, without a guess."""
    from twin.ingest.pipeline import ingest_paths
    from twin.ingest.store import MeasurementStore

    mr = f"{U}/Subscription/9/UsagePoint/3/MeterReading/2"
    (tmp_path / "rt.xml").write_text(_entry(f"{U}/ReadingType/77", _rt(900, -3)))
    (tmp_path / "rt_other.xml").write_text(_entry(f"{U}/ReadingType/78", _rt(900, 0)))
    (tmp_path / "mr.xml").write_text(_entry(mr, "<espi:MeterReading/>",
                                            related=[f"{mr}/IntervalBlock",
                                                     f"{U}/ReadingType/77"]))
    (tmp_path / "ib.xml").write_text(_feed(_entry(f"{mr}/IntervalBlock/1",
                                                  _block([1000, 2000]),
                                                  up=f"{mr}/IntervalBlock")))
    store = MeasurementStore(tmp_path / "store")
    reps = {r.file: r for r in ingest_paths(store, [tmp_path], now=pd.Timestamp(
        "2026-01-01", tz="UTC"), use_history=False)}
    assert reps["ib.xml"].accepted == 2 and not reps["ib.xml"].notes
    assert all(reps[f].skipped for f in ("rt.xml", "rt_other.xml", "mr.xml"))
    df = store.read("electric_interval")
    np.testing.assert_allclose(df["value"], [1e-3, 2e-3])  # mWh x 1e-3 -> kWh
    assert df["series_id"].astype(str).iloc[0] == (
        "sce.example:Subscription/9/UsagePoint/3/MeterReading/2")


def test_reading_type_given_for_a_bare_block_file(tmp_path):
    from twin.ingest.pipeline import ingest_paths
    from twin.ingest.store import MeasurementStore

    blocks = tmp_path / "blocks"
    blocks.mkdir()
    (blocks / "interval.xml").write_text(
        '<IntervalBlock xmlns="http://naesb.org/espi">'
        + _block([5, 6]).replace("espi:", "").replace("<IntervalBlock>", "")
        .replace("</IntervalBlock>", "") + "</IntervalBlock>")
    rt = tmp_path / "ReadingType.xml"
    rt.write_text(_entry(f"{U}/ReadingType/5", _rt(900, 3)))
    store = MeasurementStore(tmp_path / "store")
    now = pd.Timestamp("2026-01-01", tz="UTC")
    refused = ingest_paths(store, [blocks], now=now)[0]
    assert "interval.xml" in refused.error and "--reading-type" in refused.error
    rep = ingest_paths(store, [blocks], reading_type=rt, now=now, use_history=False)[0]
    assert rep.accepted == 2 and not rep.error
    np.testing.assert_allclose(store.read("electric_interval")["value"], [5.0, 6.0])  # kWh


def test_a_declared_unit_is_never_replaced_by_a_guess(tmp_path):
    """Wh x10^3 declared with values that look a thousand times too large: the guess only
    warns; raw_value stays the value as read; --unit replaces the declaration explicitly."""
    from twin.ingest.pipeline import ingest_file
    from twin.ingest.store import MeasurementStore

    mr = f"{U}/Subscription/1/UsagePoint/1/MeterReading/1"
    values = [400 + k % 7 for k in range(96 * 3)]  # 400 kWh a quarter-hour: a 1.6 MW home
    p = tmp_path / "kwh.xml"
    p.write_text(_feed(_entry(mr, "<espi:MeterReading/>", related=[f"{U}/ReadingType/1"]),
                       _entry(f"{U}/ReadingType/1", _rt(900, 3)),
                       _entry(f"{mr}/IntervalBlock/1", _block(values),
                              up=f"{mr}/IntervalBlock")))
    now = pd.Timestamp("2026-01-01", tz="UTC")
    store = MeasurementStore(tmp_path / "a")
    rep = ingest_file(store, p, now=now, use_history=False)
    assert rep.unit_scale == 1.0 and any(n.startswith("warning: values look") for n in rep.notes)
    df = store.read("electric_interval")
    np.testing.assert_allclose(df["raw_value"], values)
    np.testing.assert_allclose(df["value"].iloc[:5], values[:5])
    store = MeasurementStore(tmp_path / "b")
    rep = ingest_file(store, p, now=now, use_history=False, unit="Wh")
    assert any("unit Wh given" in n for n in rep.notes)
    np.testing.assert_allclose(store.read("electric_interval")["raw_value"],
                               np.array(values) / 1000.0)


def test_quarantined_readings_carry_their_line(tmp_path):
    mr = f"{U}/Subscription/1/UsagePoint/1/MeterReading/1"
    text = _feed(_entry(f"{U}/ReadingType/1", _rt()),
                 _entry(f"{mr}/IntervalBlock/1", _block([1, "x", 3]), up=f"{mr}/IntervalBlock"))
    p = tmp_path / "lines.xml"
    p.write_text(text)
    b = read_greenbutton_xml(p)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "<espi:value>x<" in s)
    assert b.quarantine["line"].tolist() == [line] and b.rows_accepted == 2
