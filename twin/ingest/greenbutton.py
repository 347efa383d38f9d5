"""Green Button readers: ESPI XML (Atom feeds and bare IntervalBlocks) and Green Button CSV.

ESPI XML
    Elements are matched on their LOCAL names, so any namespace prefix (``espi:``, ``ns1:``,
    a default namespace, none) works. In a feed, each Atom ``entry`` holds one resource;
    ``MeterReading`` entries link (``rel="related"``) to their ``ReadingType``, and
    ``IntervalBlock`` entries link (``rel="up"``) to ``<MeterReading>/IntervalBlock``.
    A file without links but with exactly one ``ReadingType`` uses it for every block; bare
    ``IntervalBlock`` files need ``reading_type=`` from the caller.

    ``IntervalReading/timePeriod/start`` is UTC epoch [s] and ``duration`` [s]; ``value`` is
    an integer in ``uom`` times ``10**powerOfTenMultiplier``. ``uom`` 72 = Wh (-> kWh),
    38 = W (-> kWh per interval), 42 = m3, 128 = US gal (-> m3).
    ``accumulationBehaviour`` 4 (deltaData) is interval energy; 1 (bulkQuantity) and 3
    (cumulative) are register reads and become interval deltas ``v[i+1] - v[i]`` for
    ``[start[i], start[i+1])`` (the last read of a series has no delta and is quarantined).
    ``ReadingQuality/quality`` codes map to quality flags (:data:`QUALITY_CODES`).
    ``LocalTimeParameters`` (``tzOffset``, ``dstOffset`` [s], DST rules) is kept in
    ``ReadBatch.meta['local_time']``; times in the store stay UTC.
"""

from __future__ import annotations

import io
import posixpath
import re
import xml.etree.ElementTree as ET

import fsspec
import numpy as np
import pandas as pd

from twin.ingest import schema
from twin.ingest.batch import ReadBatch, quarantine_frame

#: ESPI ``uom`` code -> (unit as read, canonical unit, factor to canonical [-], is power).
UOM = {
    72: ("Wh", "kWh", 1e-3, False),
    38: ("W", "kWh", 1e-3, True),
    42: ("m3", "m3", 1.0, False),
    128: ("gal", "m3", 3.785411784e-3, False),
}

#: ESPI ``QualityOfReading`` code -> quality flag.
QUALITY_CODES = {
    0: "valid", 7: "edited", 8: "estimated", 9: "estimated", 10: "valid", 11: "valid",
    12: "estimated", 13: "estimated", 14: "valid", 15: "edited", 16: "valid", 17: "valid",
    18: "valid", 19: "valid",
}
_PLAIN_QUALITY = {0, 14, 17, 18, 19}
_DELTA, _REGISTERS = 4, {1, 3}


class GreenButtonError(ValueError):
    """A Green Button file that cannot be read; the message names the file and what to do."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element | None, name: str, default=None):
    c = _child(el, name) if el is not None else None
    return c.text.strip() if c is not None and c.text is not None else default


def _find(el: ET.Element, name: str) -> ET.Element | None:
    for c in el.iter():
        if _local(c.tag) == name:
            return c
    return None


def parse_reading_type(el: ET.Element) -> dict:
    """Return a ``ReadingType``'s fields that matter: uom, multiplier, accumulation, interval."""
    return {
        "uom": int(_text(el, "uom", -1)),
        "powerOfTenMultiplier": int(_text(el, "powerOfTenMultiplier", 0)),
        "accumulationBehaviour": int(_text(el, "accumulationBehaviour", _DELTA)),
        "intervalLength": int(_text(el, "intervalLength", 0)),
        "flowDirection": int(_text(el, "flowDirection", 1)),
        "commodity": int(_text(el, "commodity", 0)),
    }


def parse_interval_block(el: ET.Element) -> tuple[list, list, list, list, list]:
    """Return starts [s], durations [s], raw values, quality codes and texts of a block."""
    starts, durations, values, quality, texts = [], [], [], [], []
    for r in el:
        if _local(r.tag) != "IntervalReading":
            continue
        tp = _child(r, "timePeriod")
        q = _child(r, "ReadingQuality")
        starts.append(_text(tp, "start"))
        durations.append(_text(tp, "duration"))
        values.append(_text(r, "value"))
        quality.append(_text(q, "quality", "0") if q is not None else "0")
        texts.append(ET.tostring(r, encoding="unicode")[:300])
    return starts, durations, values, quality, texts


def _links(entry: ET.Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in entry:
        if _local(c.tag) == "link":
            out.setdefault(c.get("rel", ""), []).append(c.get("href", ""))
    return out


def _resource_id(href: str) -> str:
    return href.split("/resource/", 1)[-1] if href else ""


def service_point_id(title: str) -> str:
    """The meter id in a UsagePoint entry title ``Service point <meter id>`` ("" if none)."""
    m = re.match(r"\s*service\s+point\s+(\S+)\s*$", title or "", re.IGNORECASE)
    return m.group(1) if m else ""


def _meter_of(meter_reading: str, usage_points: dict[str, str]) -> str:
    """The electric meter id of a MeterReading: that of the UsagePoint it lies under, or of
    the feed's only UsagePoint; "" when unknown."""
    for up, meter_id in usage_points.items():
        if up and meter_reading.startswith(up.rstrip("/") + "/"):
            return meter_id
    return next(iter(usage_points.values())) if len(usage_points) == 1 else ""


def read_greenbutton_xml(
    path,
    *,
    series_id: str | None = None,
    reading_type: dict | None = None,
) -> ReadBatch:
    """Read a Green Button ESPI XML file into the long measurement schema.

    Parameters
    ----------
    path : str or path-like
        Local path or fsspec URL of the XML file.
    series_id : str, optional
        Series id for every reading; default the customer's electric meter id from the
        UsagePoint entry title ``Service point <meter id>`` (so the reads merge with the MDM
        reads of the same meter), else the MeterReading's resource path, e.g.
        ``RetailCustomer/4/UsagePoint/1/MeterReading/01``, or the file name for bare blocks.
    reading_type : dict, optional
        ``uom``, ``powerOfTenMultiplier``, ``accumulationBehaviour``, ``intervalLength`` for
        files that carry no ``ReadingType`` (bare IntervalBlocks).

    Returns
    -------
    ReadBatch
        Kind ``electric_interval`` (``water_read`` for volume units); values [kWh] or [m3].

    Raises
    ------
    GreenButtonError
        When the file is not XML, or a block's ReadingType is missing or unsupported.
    """
    name = posixpath.basename(str(path))
    with fsspec.open(str(path), "rb") as f:
        data = f.read()
    reading_types: dict[str, dict] = {}
    meter_rt: dict[str, str] = {}  # meter reading id -> reading type id
    blocks: list[tuple[str, tuple]] = []  # (meter reading id, parsed IntervalBlock)
    local_time: dict = {}
    usage_kind = None
    usage_points: dict[str, str] = {}  # UsagePoint resource id -> electric meter id
    depth_entry = 0
    try:
        for event, el in ET.iterparse(io.BytesIO(data), events=("start", "end")):
            tag = _local(el.tag)
            if event == "start":
                if tag == "entry":
                    depth_entry += 1
                continue
            if tag == "entry":
                depth_entry -= 1
                links = _links(el)
                self_id = _resource_id((links.get("self") or [""])[0])
                up_id = _resource_id((links.get("up") or [""])[0])
                content = _child(el, "content")
                if content is None:
                    continue
                for res in content:
                    kind = _local(res.tag)
                    if kind == "ReadingType":
                        reading_types[self_id] = parse_reading_type(res)
                    elif kind == "MeterReading":
                        rel = [_resource_id(h) for h in links.get("related", [])
                               if "ReadingType" in h]
                        meter_rt[self_id] = rel[0] if rel else ""
                    elif kind == "IntervalBlock":
                        # up: <MeterReading>/IntervalBlock; without it, self names the block
                        meter = (up_id or self_id).rsplit("/IntervalBlock", 1)[0]
                        blocks.append((meter, parse_interval_block(res)))
                    elif kind == "LocalTimeParameters":
                        local_time = {_local(c.tag): (c.text or "").strip() for c in res}
                    elif kind == "UsagePoint":
                        usage_kind = _text(_child(res, "ServiceCategory"), "kind")
                        meter_id = service_point_id(_text(el, "title", ""))
                        if meter_id:
                            usage_points[self_id] = meter_id
                el.clear()
            elif tag == "IntervalBlock" and depth_entry == 0:
                blocks.append(("", parse_interval_block(el)))
                el.clear()
            elif tag == "ReadingType" and depth_entry == 0:
                reading_types[f"bare{len(reading_types)}"] = parse_reading_type(el)
    except ET.ParseError as exc:
        raise GreenButtonError(f"{name}: not well-formed XML ({exc}); is it a Green Button "
                               "XML file?") from None
    if not blocks:
        raise GreenButtonError(f"{name}: no IntervalBlock found; nothing to read")

    def type_of(meter: str) -> dict:
        if meter and meter_rt.get(meter) in reading_types:
            return reading_types[meter_rt[meter]]
        if reading_type is not None:
            return {"powerOfTenMultiplier": 0, "accumulationBehaviour": _DELTA,
                    "intervalLength": 0, **reading_type}
        if len(reading_types) == 1:
            return next(iter(reading_types.values()))
        which = f"MeterReading {meter}" if meter else "IntervalBlock outside any feed entry"
        raise GreenButtonError(
            f"{name}: {which} has no ReadingType; the file must include the ReadingType "
            "entry its MeterReading links to, or pass reading_type={'uom': 72, "
            "'powerOfTenMultiplier': 0, 'accumulationBehaviour': 4} explicitly")

    frames, quarantined = [], []
    rows_read = duplicates = 0
    by_meter: dict[str, list] = {}
    for meter, parsed in blocks:
        by_meter.setdefault(meter, []).append(parsed)
    for meter, parts in by_meter.items():
        rt = type_of(meter)
        if rt["uom"] not in UOM:
            raise GreenButtonError(
                f"{name}: ReadingType uom {rt['uom']} is not supported (known: "
                f"{', '.join(f'{k}={v[0]}' for k, v in UOM.items())})")
        if rt["accumulationBehaviour"] not in {_DELTA, *_REGISTERS}:
            raise GreenButtonError(
                f"{name}: accumulationBehaviour {rt['accumulationBehaviour']} is not supported "
                "(4 = interval delta, 1/3 = register)")
        cols = [sum((p[i] for p in parts), []) for i in range(5)]
        start = pd.to_numeric(pd.Series(cols[0], dtype=object), errors="coerce")
        dur = pd.to_numeric(pd.Series(cols[1], dtype=object), errors="coerce")
        raw = pd.to_numeric(pd.Series(cols[2], dtype=object), errors="coerce")
        qual = pd.to_numeric(pd.Series(cols[3], dtype=object), errors="coerce").fillna(0)
        texts = np.asarray(cols[4], dtype=object)
        rows_read += len(start)
        bad = start.isna() | raw.isna()
        if bad.any():
            quarantined.append(quarantine_frame(
                "electric_interval", name, np.zeros(int(bad.sum()), np.int64),
                np.where(start[bad].isna(), "IntervalReading without a numeric start",
                         "IntervalReading without a numeric value"), texts[bad.to_numpy()]))
        keep = ~bad
        start, dur, raw, qual = start[keep], dur[keep], raw[keep], qual[keep]
        unit_in, unit, factor, is_power = UOM[rt["uom"]]
        scale = 10.0 ** rt["powerOfTenMultiplier"] * factor
        frame = pd.DataFrame({"t": start.astype(np.int64), "dur": dur.fillna(
            rt["intervalLength"]).astype(np.int64), "v": raw.astype(float) * scale,
            "q": qual.astype(int), "text": texts[keep.to_numpy()]})
        if is_power:
            frame["v"] = frame["v"] * frame["dur"] / 3600.0
        dup = frame.duplicated(["t", "v"])
        duplicates += int(dup.sum())
        frame = frame[~dup].sort_values("t", kind="stable").reset_index(drop=True)
        if rt["accumulationBehaviour"] in _REGISTERS:
            delta = frame["v"].shift(-1) - frame["v"]
            dur_next = frame["t"].shift(-1) - frame["t"]
            last = delta.isna()
            quarantined.append(quarantine_frame(
                "electric_interval", name, np.zeros(int(last.sum()), np.int64),
                ["register read with no following read: no interval delta"] * int(last.sum()),
                frame.loc[last, "text"].tolist()))
            frame = frame.assign(v=delta, dur=dur_next)[~last]
        sid = series_id or _meter_of(meter, usage_points) or meter or posixpath.splitext(
            name)[0]
        q = frame["q"].to_numpy()
        flags = [QUALITY_CODES.get(int(c), "valid") for c in q]
        rules = ["" if int(c) in _PLAIN_QUALITY else f"source_quality_{int(c)}" for c in q]
        frames.append(pd.DataFrame({
            "series_id": sid,
            "time_utc": pd.to_datetime(frame["t"].to_numpy(), unit="s", utc=True),
            "value": frame["v"].to_numpy(),
            "unit": unit,
            "quality_flag": flags,
            "vee_rule": rules,
            "raw_value": frame["v"].to_numpy(),
        }))
    readings = pd.concat(frames, ignore_index=True)
    kind = "water_read" if readings["unit"].iloc[0] == "m3" else "electric_interval"
    quarantine = (pd.concat(quarantined, ignore_index=True) if quarantined
                  else schema.empty_quarantine())
    quarantine["kind"] = kind
    return ReadBatch(
        kind=kind, readings=readings, quarantine=quarantine, rows_read=rows_read,
        rows_accepted=rows_read - len(quarantine) - duplicates, duplicates=duplicates,
        meta={"format": "greenbutton_xml", "local_time": local_time,
              "service_kind": usage_kind, "reading_types": reading_types},
    )


def read_greenbutton_csv(path, timezone: str, *, series_id: str | None = None) -> ReadBatch:
    """Read a utility "Green Button Download My Data" CSV export.

    The layout is a preamble of account lines, then a header starting ``TYPE,DATE,START
    TIME,END TIME,USAGE,UNITS`` (more columns are ignored). ``DATE`` + ``START TIME`` are the
    city's wall clock without offset; they are localised with ``timezone``. A time in the hour
    that DST skips or repeats cannot be placed and is quarantined, like unreadable dates,
    usage that is not a number and unknown units.

    Parameters
    ----------
    path : str or path-like
        Local path or fsspec URL.
    timezone : str
        IANA zone of the export's wall clock, e.g. ``"America/New_York"``.
    series_id : str, optional
        Default: the file name without extension.
    """
    name = posixpath.basename(str(path))
    with fsspec.open(str(path), "rt") as f:
        lines = f.read().splitlines()
    head = next((i for i, line in enumerate(lines)
                 if line.upper().replace(" ", "").startswith("TYPE,DATE,STARTTIME")), None)
    if head is None:
        raise GreenButtonError(f"{name}: no 'TYPE,DATE,START TIME,...' header line; "
                               "is it a Green Button CSV?")
    df = pd.read_csv(io.StringIO("\n".join(lines[head:])), dtype=str, skipinitialspace=True,
                     skip_blank_lines=False)
    df.columns = [c.strip().upper() for c in df.columns]
    naive = pd.to_datetime(df["DATE"].str.strip() + " " + df["START TIME"].str.strip(),
                           errors="coerce", format="%Y-%m-%d %H:%M")
    t = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    end = pd.to_datetime(df["DATE"].str.strip() + " " + df["END TIME"].str.strip(),
                         errors="coerce", format="%Y-%m-%d %H:%M")
    hours = ((end - naive).dt.total_seconds() + 60) / 3600.0  # END TIME is the last minute
    v = pd.to_numeric(df["USAGE"].str.strip(), errors="coerce")
    units = df["UNITS"].fillna("").str.strip() if "UNITS" in df else pd.Series(
        "kWh", index=df.index)
    factor = units.map({k: f for k, (_, f) in schema.UNIT_FACTORS.items()})
    power = units.isin(list(schema.POWER_UNITS))
    value = v * factor * np.where(power, hours, 1.0)
    bad = t.isna() | value.isna()
    reasons = np.select(
        [naive.isna(), t.isna(), v.isna(), factor.isna()],
        ["impossible date/time", "local time skipped or repeated by DST",
         "usage is not a number", "unknown unit"], "interval length unreadable")
    q = quarantine_frame("electric_interval", name, (np.flatnonzero(bad) + head + 2),
                         reasons[bad.to_numpy()],
                         df[bad].fillna("").astype(str).agg(",".join, axis=1).tolist())
    ok = ~bad
    n_ok = int(ok.sum())
    readings = pd.DataFrame({
        "series_id": [series_id or posixpath.splitext(name)[0]] * n_ok,
        "time_utc": t[ok].to_numpy(), "value": value[ok].to_numpy(), "unit": "kWh",
    })
    readings["time_utc"] = pd.to_datetime(readings["time_utc"], utc=True)
    readings["raw_value"] = readings["value"]
    return ReadBatch("electric_interval", readings, q, rows_read=len(df), rows_accepted=n_ok,
                     meta={"format": "greenbutton_csv", "timezone": timezone})
