"""Green Button readers: ESPI XML (Atom feeds, single resources, folders of them) and CSV.

ESPI XML
    Elements are matched on their LOCAL names, so any namespace prefix (``espi:``, ``ns1:``,
    a default namespace, none) works. A file holds an Atom ``feed`` of ``entry`` resources, a
    single ``entry``, or a bare resource. Resources are linked by their ``href`` s, whatever
    file they are in (:class:`GreenButtonResources` gathers those of a folder or feed):
    an ``IntervalBlock`` lies under its MeterReading (``up`` link ``<MeterReading>/
    IntervalBlock``, or its own ``self`` link), a ``MeterReading`` names its ``ReadingType``
    by a ``related`` link, a ``UsagePoint`` its ``LocalTimeParameters``.

    Which ReadingType a block's readings have, in this order (:func:`resolve_reading_type`):

    1. the one its MeterReading declares (a ``related`` link). When several different
       ReadingType entries share that self link, the one whose ``intervalLength`` is the
       readings' duration, else the one that follows the MeterReading in its file;
    2. the one given by the caller (``reading_type=``, ``twin ingest --reading-type FILE``),
       where the files declare none;
    3. the feed's only ReadingType (one feed, one reading type: the sample city's feeds);
    4. a guess: the ReadingTypes of the folder whose ``intervalLength`` is the readings'
       duration, when they all agree on unit and multiplier; the report warns.

    A declared ReadingType is never replaced by a guess; ``unit=`` (``--unit``) replaces the
    unit and multiplier explicitly, noted in the report.

    ``IntervalReading/timePeriod/start`` is UTC epoch [s] and ``duration`` [s] (stored as
    ``interval_s``); ``value`` is an integer in ``uom`` times ``10**powerOfTenMultiplier``.
    ``uom`` 72 = Wh (-> kWh), 38 = W (-> kWh per interval), 42 = m3, 128 = US gal (-> m3).
    ``accumulationBehaviour`` 4 (deltaData) is interval energy; 1 (bulkQuantity) and 3
    (cumulative) are register reads and become interval deltas ``v[i+1] - v[i]`` for
    ``[start[i], start[i+1])`` (the last read of a series has no delta and is quarantined).
    ``ReadingQuality/quality`` codes map to quality flags (:data:`QUALITY_CODES`).
    ``raw_value`` is the value as read in the declared unit, converted to the store unit; no
    later guess touches it. Quarantined readings carry their element's line in the file.

    Series ids keep the utility's identity: the meter id of the UsagePoint titled
    ``Service point <meter id>``, else ``<host>:<MeterReading resource path>`` (e.g.
    ``services.greenbuttondata.org:Subscription/5/UsagePoint/1/MeterReading/1``), else the
    file name for bare blocks. A file with no IntervalReading (a ReadingType, UsagePoint,
    UsageSummary... resource) holds no readings: :class:`NoReadings`, reported as skipped.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

import fsspec
import numpy as np
import pandas as pd
from lxml import etree

from twin.ingest import schema
from twin.ingest.batch import ReadBatch, quarantine_frame

#: ESPI ``uom`` code -> (unit as read, canonical unit, factor to canonical [-], is power).
UOM = {
    72: ("Wh", "kWh", 1e-3, False),
    38: ("W", "kWh", 1e-3, True),
    42: ("m3", "m3", 1.0, False),
    128: ("gal", "m3", 3.785411784e-3, False),
}
#: Units a caller may give (``unit=``, ``--unit``) -> (ESPI uom, powerOfTenMultiplier).
UNIT_OVERRIDES = {"Wh": (72, 0), "kWh": (72, 3), "MWh": (72, 6), "W": (38, 0),
                  "kW": (38, 3), "m3": (42, 0), "gal": (128, 0)}

#: ESPI ``QualityOfReading`` code -> quality flag.
QUALITY_CODES = {
    0: "valid", 7: "edited", 8: "estimated", 9: "estimated", 10: "valid", 11: "valid",
    12: "estimated", 13: "estimated", 14: "valid", 15: "edited", 16: "valid", 17: "valid",
    18: "valid", 19: "valid",
}
_PLAIN_QUALITY = {0, 14, 17, 18, 19}
_DELTA, _REGISTERS = 4, {1, 3}
#: ReadingType fields that decide how values are read.
_RT_KEYS = ("uom", "powerOfTenMultiplier", "accumulationBehaviour", "intervalLength",
            "flowDirection", "commodity")


class GreenButtonError(ValueError):
    """A Green Button file that cannot be read; the message names the file and what to do."""


class NoReadings(GreenButtonError):
    """A Green Button file that holds resources but no interval reading (skipped, not failed)."""


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1] if isinstance(tag, str) else ""


def _child(el, name: str):
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el, name: str, default=None):
    c = _child(el, name) if el is not None else None
    return c.text.strip() if c is not None and c.text is not None and c.text.strip() else default


def parse_reading_type(el) -> dict:
    """Return a ``ReadingType``'s fields that matter: uom, multiplier, accumulation, interval."""
    def num(name, default):
        try:
            return int(_text(el, name, default))
        except ValueError:
            return default
    return {"uom": num("uom", -1), "powerOfTenMultiplier": num("powerOfTenMultiplier", 0),
            "accumulationBehaviour": num("accumulationBehaviour", _DELTA),
            "intervalLength": num("intervalLength", 0), "flowDirection": num("flowDirection", 1),
            "commodity": num("commodity", 0)}


def href_key(href: str) -> str:
    """A resource's identity from its href: ``<host>:<path after /resource/>``."""
    href = (href or "").strip()
    if not href:
        return ""
    host = urlparse(href).netloc
    path = href.split("/resource/", 1)[1] if "/resource/" in href else urlparse(href).path
    path = path.strip("/")
    return f"{host}:{path}" if host else path


@dataclass
class Resource:
    """One ESPI resource: kind, self href key, links (rel -> keys), fields, where it is."""

    kind: str
    href: str
    links: dict = field(default_factory=dict)
    fields: dict = field(default_factory=dict)
    title: str = ""
    file: str = ""
    line: int = 0
    order: int = 0

    def related(self, kind: str) -> list[str]:
        """Keys of the ``related`` links that name a resource of ``kind``."""
        return [h for h in self.links.get("related", []) if re.search(
            rf"(^|[:/]){kind}(/|$)", h)]


@dataclass
class Block:
    """An IntervalBlock's readings as text, with the line of each ``IntervalReading``."""

    meter: str  # key of its MeterReading ("" for a bare block)
    starts: list
    durations: list
    values: list
    quality: list
    lines: list
    texts: list


def parse_espi(path, *, with_blocks: bool = True) -> tuple[list[Resource], list[Block]]:
    """Parse an ESPI XML file into its resources and (optionally) its interval blocks.

    Raises
    ------
    GreenButtonError
        When the file is not well-formed XML.
    """
    name = posixpath.basename(str(path))
    with fsspec.open(str(path), "rb") as f:
        data = f.read()
    resources: list[Resource] = []
    blocks: list[Block] = []
    pending: list[Block] = []  # blocks of the entry being read
    depth = 0
    parser = etree.iterparse(io.BytesIO(data), events=("start", "end"), resolve_entities=False,
                             load_dtd=False, no_network=True, huge_tree=False,
                             remove_comments=True)
    try:
        for event, el in parser:
            tag = _local(el.tag)
            if event == "start":
                depth += tag == "entry"
                continue
            if tag == "IntervalBlock":
                if with_blocks:
                    pending.append(_block(el))
                el.clear(keep_tail=True)
            elif tag == "entry":
                depth -= 1
                res = _entry_resource(el, name, len(resources))
                for b in pending:
                    b.meter = _meter_of_block(res)
                blocks.extend(pending)
                pending = []
                if res is not None and res.kind != "IntervalBlock":
                    resources.append(res)
                el.clear(keep_tail=True)
            elif depth == 0 and tag in ("ReadingType", "MeterReading", "UsagePoint",
                                        "LocalTimeParameters"):
                resources.append(Resource(tag, "", {}, _fields(el, tag), "", name,
                                          el.sourceline or 0, len(resources)))
    except etree.XMLSyntaxError as exc:
        raise GreenButtonError(f"{name}: not well-formed XML ({exc}); is it a Green Button "
                               "XML file?") from None
    blocks.extend(pending)  # bare blocks (no entry)
    return resources, blocks


def _fields(el, kind: str) -> dict:
    if kind == "ReadingType":
        return parse_reading_type(el)
    if kind == "UsagePoint":
        return {"kind": _text(_child(el, "ServiceCategory"), "kind")}
    return {_local(c.tag): (c.text or "").strip() for c in el if _local(c.tag)}


def _entry_resource(entry, file: str, order: int) -> Resource | None:
    links: dict[str, list[str]] = {}
    for c in entry:
        if _local(c.tag) == "link":
            links.setdefault(c.get("rel", ""), []).append(href_key(c.get("href", "")))
    content = _child(entry, "content")
    body = next((c for c in content if isinstance(c.tag, str)), None) if content is not None \
        else None
    kind = _local(body.tag) if body is not None else ""
    if not kind:
        return None
    return Resource(kind, (links.get("self") or [""])[0], links,
                    _fields(body, kind) if kind != "IntervalBlock" else {},
                    _text(entry, "title", "") or "", file, entry.sourceline or 0, order)


def _meter_of_block(res: Resource | None) -> str:
    """The MeterReading key of an IntervalBlock entry: its ``up`` link, else its ``self``."""
    if res is None:
        return ""
    up = (res.links.get("up") or [""])[0]
    key = up or res.href
    return re.split(r"/IntervalBlock(/|$)", key, maxsplit=1)[0]


def _block(el) -> Block:
    b = Block("", [], [], [], [], [], [])
    for r in el:
        if _local(r.tag) != "IntervalReading":
            continue
        tp = _child(r, "timePeriod")
        q = _child(r, "ReadingQuality")
        b.starts.append(_text(tp, "start"))
        b.durations.append(_text(tp, "duration"))
        b.values.append(_text(r, "value"))
        b.quality.append(_text(q, "quality", "0") if q is not None else "0")
        b.lines.append(r.sourceline or 0)
        b.texts.append(etree.tostring(r, encoding="unicode")[:300])
    return b


class GreenButtonResources:
    """The resources of several ESPI files (a folder, a feed), to link blocks across files."""

    def __init__(self, resources: list[Resource] | None = None):
        self.items: list[Resource] = []
        for r in resources or []:
            self.add(r)

    def add(self, res: Resource) -> None:
        self.items.append(res)

    @classmethod
    def scan(cls, paths) -> GreenButtonResources:
        """Gather the resources (not the readings) of ESPI files; unreadable files are left
        out (their own ingest says why)."""
        pool = cls()
        for p in paths:
            try:
                res, _ = parse_espi(p, with_blocks=False)
            except (GreenButtonError, OSError):
                continue
            for r in res:
                pool.add(r)
        return pool

    def find(self, kind: str, href: str) -> list[Resource]:
        """Resources of ``kind`` under the self link ``href``, one per distinct content."""
        out, seen = [], set()
        for r in self.items:
            if r.kind == kind and r.href == href and href:
                key = tuple(sorted(r.fields.items()))
                if key not in seen:
                    seen.add(key)
                    out.append(r)
        return out

    def of_kind(self, kind: str) -> list[Resource]:
        """Resources of ``kind``, one per distinct (href, content)."""
        out, seen = [], set()
        for r in self.items:
            key = (r.href, tuple(sorted(r.fields.items())))
            if r.kind == kind and key not in seen:
                seen.add(key)
                out.append(r)
        return out


def reading_types_of(path) -> list[dict]:
    """The ReadingTypes in an ESPI file (for ``--reading-type FILE``).

    Raises
    ------
    GreenButtonError
        When the file holds no ReadingType.
    """
    res, _ = parse_espi(path, with_blocks=False)
    rts = [r.fields for r in res if r.kind == "ReadingType"]
    if not rts:
        raise GreenButtonError(f"{posixpath.basename(str(path))}: no ReadingType in it; "
                               "--reading-type takes an ESPI file holding a ReadingType")
    return rts


def resolve_reading_type(meter: str, duration_s: int, pool: GreenButtonResources,
                         own: list[Resource], given: list[dict], file: str) -> tuple[dict, str]:
    """Which ReadingType the readings of one MeterReading have (see the module docstring).

    Returns
    -------
    (dict, str)
        The ReadingType fields, and how it was found (``declared``, ``given``, ``feed``,
        ``guessed``, with words).
    """
    which = f"MeterReading {meter}" if meter else "IntervalBlock outside any feed entry"
    declared_missing = ""
    for mr in pool.find("MeterReading", meter):
        for href in mr.related("ReadingType"):
            cands = pool.find("ReadingType", href)
            if len(cands) == 1:
                return cands[0].fields, f"declared ({href})"
            if len(cands) > 1:
                same = [c for c in cands if c.fields["intervalLength"] == duration_s]
                if len(same) == 1:
                    return same[0].fields, (f"declared ({href}; {len(cands)} different entries "
                                            "under that self link, the one of the readings' "
                                            "interval length)")
                after = [c for c in cands if c.file == mr.file and c.order > mr.order]
                if after:
                    pick = min(after, key=lambda c: c.order)
                    return pick.fields, (f"declared ({href}; {len(cands)} different entries "
                                         f"under that self link, the one after the "
                                         f"MeterReading, line {pick.line})")
                raise GreenButtonError(
                    f"{file}: {which} declares ReadingType {href}, and {len(cands)} different "
                    f"entries carry that self link (lines "
                    f"{', '.join(f'{c.file}:{c.line}' for c in cands)}); pass the right one "
                    "with --reading-type FILE")
            declared_missing = declared_missing or href
    if given:
        pick = [g for g in given if g.get("intervalLength") in (duration_s, 0, None)] or given
        if len(pick) > 1 and len({tuple(g.get(k) for k in _RT_KEYS[:3]) for g in pick}) > 1:
            raise GreenButtonError(f"{file}: the given ReadingTypes disagree for {which}; "
                                   "give a file with one ReadingType")
        return ({"powerOfTenMultiplier": 0, "accumulationBehaviour": _DELTA,
                 "intervalLength": 0, "flowDirection": 1, "commodity": 0, **pick[0]},
                "given (--reading-type)")
    if declared_missing:
        raise GreenButtonError(
            f"{file}: {which} declares ReadingType {declared_missing}, which is in no file of "
            "the folder or feed; put that resource's file beside it, or pass --reading-type "
            "FILE (an ESPI file holding the ReadingType)")
    own_rts = [r for r in own if r.kind == "ReadingType"]
    if len({tuple(sorted(r.fields.items())) for r in own_rts}) == 1:
        return own_rts[0].fields, "the feed's only ReadingType"
    guesses = [r for r in pool.of_kind("ReadingType") if r.fields["intervalLength"] == duration_s]
    kinds = {tuple(r.fields[k] for k in _RT_KEYS if k != "intervalLength") for r in guesses}
    if len(kinds) == 1:
        return guesses[0].fields, (
            f"guessed: no ReadingType is declared for {which}; the folder's ReadingTypes of "
            f"interval {duration_s} s ({', '.join(sorted(r.href for r in guesses))}) agree on "
            f"uom {guesses[0].fields['uom']} x10^{guesses[0].fields['powerOfTenMultiplier']}; "
            "pass --reading-type FILE to be sure")
    raise GreenButtonError(
        f"{file}: {which} has no ReadingType; the file must include the ReadingType entry "
        "its MeterReading links to, or put it beside the file, or pass --reading-type FILE "
        "(or reading_type={'uom': 72, 'powerOfTenMultiplier': 0, "
        "'accumulationBehaviour': 4})")


def service_point_id(title: str) -> str:
    """The meter id in a UsagePoint entry title ``Service point <meter id>`` ("" if none)."""
    m = re.match(r"\s*service\s+point\s+(\S+)\s*$", title or "", re.IGNORECASE)
    return m.group(1) if m else ""


def _usage_point(meter: str, pool: GreenButtonResources, own: list[Resource]):
    """The UsagePoint a MeterReading lies under (or the file's only one)."""
    if "/MeterReading" in meter:
        up = meter.split("/MeterReading", 1)[0]
        found = pool.find("UsagePoint", up)
        if found:
            return found[0]
    ups = [r for r in own if r.kind == "UsagePoint"]
    return ups[0] if len(ups) == 1 else None


def _local_time(up, pool: GreenButtonResources, own: list[Resource]) -> dict:
    if up is not None:
        for href in up.related("LocalTimeParameters"):
            found = pool.find("LocalTimeParameters", href)
            if found:
                return found[0].fields
    ltp = [r for r in own if r.kind == "LocalTimeParameters"]
    return ltp[0].fields if ltp else {}


def read_greenbutton_xml(
    path,
    *,
    series_id: str | None = None,
    reading_type: dict | list | str | None = None,
    unit: str | None = None,
    resources: GreenButtonResources | None = None,
) -> ReadBatch:
    """Read a Green Button ESPI XML file into the long measurement schema.

    Parameters
    ----------
    path : str or path-like
        Local path or fsspec URL of the XML file.
    series_id : str, optional
        Series id for every reading; default the utility's identity (module docstring).
    reading_type : dict, list of dict or path, optional
        ReadingType fields (``uom``, ``powerOfTenMultiplier``, ``accumulationBehaviour``,
        ``intervalLength``), or an ESPI file holding ReadingTypes, for readings whose files
        declare none.
    unit : str, optional
        The unit of the values as written (one of :data:`UNIT_OVERRIDES`), replacing the
        ReadingType's ``uom`` and multiplier (noted in ``meta['notes']``).
    resources : GreenButtonResources, optional
        The other resources of the folder or feed, to follow links into.

    Returns
    -------
    ReadBatch
        Kind ``electric_interval`` (``water_read`` for volume units); values [kWh] or [m3];
        ``meta['notes']`` says how each ReadingType was found (guesses included).

    Raises
    ------
    NoReadings
        When the file holds no IntervalReading.
    GreenButtonError
        When the file is not XML, or a block's ReadingType is missing or unsupported.
    """
    name = posixpath.basename(str(path))
    own, blocks = parse_espi(path)
    if not any(b.starts for b in blocks):
        kinds = Counter(r.kind for r in own)
        what = ", ".join(f"{k} x{n}" for k, n in kinds.items()) or "nothing ESPI"
        raise NoReadings(f"{name}: no IntervalReading ({what}); a resource for linking")
    pool = GreenButtonResources(own)
    for r in (resources.items if resources is not None else []):
        if r.file != name:
            pool.add(r)
    if isinstance(reading_type, dict):
        given = [reading_type]
    elif isinstance(reading_type, list):
        given = reading_type
    elif reading_type is not None:
        given = reading_types_of(reading_type)
    else:
        given = []
    if unit is not None and unit not in UNIT_OVERRIDES:
        raise GreenButtonError(f"unit {unit!r} is not one of {', '.join(UNIT_OVERRIDES)}")

    by_meter: dict[str, list[Block]] = {}
    for b in blocks:
        by_meter.setdefault(b.meter, []).append(b)
    frames, quarantined, notes, used = [], [], [], {}
    rows_read = duplicates = 0
    local_time: dict = {}
    usage_kind = None
    for meter, parts in by_meter.items():
        cols = [sum((getattr(p, k) for p in parts), []) for k in
                ("starts", "durations", "values", "quality", "lines", "texts")]
        start = pd.to_numeric(pd.Series(cols[0], dtype=object), errors="coerce")
        dur = pd.to_numeric(pd.Series(cols[1], dtype=object), errors="coerce")
        raw = pd.to_numeric(pd.Series(cols[2], dtype=object), errors="coerce")
        qual = pd.to_numeric(pd.Series(cols[3], dtype=object), errors="coerce").fillna(0)
        lines = np.asarray(cols[4], np.int64)
        texts = np.asarray(cols[5], dtype=object)
        rows_read += len(start)
        mode = int(dur.mode().iloc[0]) if dur.notna().any() else 0
        rt, how = resolve_reading_type(meter, mode, pool, own, given, name)
        rt = dict(rt)
        if how.startswith("guessed"):
            notes.append(f"warning: ReadingType {how}")
        if unit is not None:
            uom, mult = UNIT_OVERRIDES[unit]
            if (rt["uom"], rt["powerOfTenMultiplier"]) != (uom, mult):
                notes.append(f"unit {unit} given: ReadingType uom {rt['uom']} "
                             f"x10^{rt['powerOfTenMultiplier']} ({how}) replaced")
            rt.update(uom=uom, powerOfTenMultiplier=mult)
            how += f"; unit {unit} given"
        if rt["uom"] not in UOM:
            raise GreenButtonError(
                f"{name}: ReadingType uom {rt['uom']} is not supported (known: "
                f"{', '.join(f'{k}={v[0]}' for k, v in UOM.items())}); pass --unit")
        if rt["accumulationBehaviour"] not in {_DELTA, *_REGISTERS}:
            raise GreenButtonError(
                f"{name}: accumulationBehaviour {rt['accumulationBehaviour']} is not supported "
                "(4 = interval delta, 1/3 = register)")
        bad = start.isna() | raw.isna()
        if bad.any():
            quarantined.append(quarantine_frame(
                "electric_interval", name, lines[bad.to_numpy()],
                np.where(start[bad].isna(), "IntervalReading without a numeric start",
                         "IntervalReading without a numeric value"), texts[bad.to_numpy()]))
        keep = ~bad
        start, dur, raw, qual = start[keep], dur[keep], raw[keep], qual[keep]
        unit_in, unit_out, factor, is_power = UOM[rt["uom"]]
        scale = 10.0 ** rt["powerOfTenMultiplier"] * factor
        frame = pd.DataFrame({
            "t": start.astype(np.int64).to_numpy(),
            "dur": dur.fillna(rt["intervalLength"]).astype(np.int64).to_numpy(),
            "v": raw.astype(float).to_numpy() * scale, "q": qual.astype(int).to_numpy(),
            "line": lines[keep.to_numpy()], "text": texts[keep.to_numpy()]})
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
                "electric_interval", name, frame.loc[last, "line"].to_numpy(),
                ["register read with no following read: no interval delta"] * int(last.sum()),
                frame.loc[last, "text"].tolist()))
            frame = frame.assign(v=delta, dur=dur_next)[~last]
        up = _usage_point(meter, pool, own)
        local_time = local_time or _local_time(up, pool, own)
        usage_kind = usage_kind or (up.fields.get("kind") if up is not None else None)
        sid = (series_id or (service_point_id(up.title) if up is not None else "") or meter
               or posixpath.splitext(name)[0])
        used[sid] = {"reading_type": rt, "how": how, "meter_reading": meter}
        q = frame["q"].to_numpy()
        frames.append(pd.DataFrame({
            "series_id": sid,
            "time_utc": pd.to_datetime(frame["t"].to_numpy(), unit="s", utc=True),
            "value": frame["v"].to_numpy(),
            "unit": unit_out,
            "quality_flag": [QUALITY_CODES.get(int(c), "valid") for c in q],
            "vee_rule": ["" if int(c) in _PLAIN_QUALITY else f"source_quality_{int(c)}"
                         for c in q],
            "raw_value": frame["v"].to_numpy(),
            "interval_s": frame["dur"].to_numpy(dtype=np.int64),
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
              "service_kind": usage_kind, "reading_types": used, "notes": notes},
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
