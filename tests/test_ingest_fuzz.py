"""Fuzz: mutated real files through the ingestion pipeline (issue 16).

Seeds are heads of the real files of the shared sample build (MDM long and wide exports, AMR
water registers, the SCADA historian export, a Green Button feed). Each variant is a seed
mutated as files go wrong in the field: truncated, bytes flipped, re-encoded, another
delimiter, other line endings, far-future and off-grid times, huge numbers, other units,
quotes, XML attacks. Per variant:

1. no exception leaves :func:`~twin.ingest.pipeline.ingest_file` (no traceback);
2. the file is a clear error naming it (and nothing is stored), or it is balanced,
   ``accepted + quarantined + duplicates == rows_read``, with ``rows_read`` equal to an
   independent count of the file's rows (lines, or ``IntervalReading`` elements);
3. nothing is stored that a reference reading of the file (the csv module, ``datetime``,
   ``zoneinfo`` and regular expressions here, not the twin's readers) would not store: every
   stored reading's series, time and value as read are a reading of the reference.

:func:`run_variant` and :func:`variants` are shared with ``benchmarks/bench_ingest_fuzz.py``.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TZ = "America/New_York"
NOW = pd.Timestamp("2017-01-01", tz="UTC")
YEARS = (1970, 2200)  # the plausible range, written again here (an independent reference)
ENERGY = {"kWh": 1.0, "Wh": 1e-3, "MWh": 1e3}
SCADA_UNITS = {"MW", "Mvar", "kW", "L/s", "m", "-", "%", "kV", "V", "W", "kvar", "psi", "bar",
               "kPa", "ft", "GPM", "MGD", "m3/h", "m3/s"}

# ------------------------------------------------------------------------------- seeds


def seeds_from(raw: Path) -> dict[str, bytes]:
    """Small seeds cut from a raw build's real files (whole lines; one feed)."""
    def head(pattern: str, n: int) -> bytes:
        f = sorted(raw.glob(pattern))[0]
        return b"".join(f.read_bytes().splitlines(keepends=True)[:n])

    gb = sorted(raw.glob("greenbutton/*.xml"))[0].read_bytes()
    return {"mdm_long": head("mdm/interval_long_*.csv", 49),
            "mdm_wide": head("mdm/interval_wide_*.csv", 4),
            "register": head("amr/water_register_*.csv", 4),
            "scada": head("scada/historian_*.csv", 49),
            "greenbutton": _shorter_feed(gb, 96)}


def _shorter_feed(xml: bytes, keep: int) -> bytes:
    """A Green Button feed with only its first ``keep`` IntervalReadings (fast to fuzz)."""
    text = xml.decode()
    readings = list(re.finditer(r"\s*<espi:IntervalReading>.*?</espi:IntervalReading>", text,
                                re.S))
    if len(readings) <= keep:
        return xml
    cut = readings[keep:]
    out, pos = [], 0
    for m in cut:
        out.append(text[pos:m.start()])
        pos = m.end()
    out.append(text[pos:])
    return "".join(out).encode()


# ---------------------------------------------------------------------------- mutators
HUGE = ("inf", "-inf", "nan", "1e400", "-1e400", "9" * 5000, "1e308", "-0", "0x10", "1_000")
UNITS = ("MWx", "mw", "kW", "Wh", "m3", "", "kWh ", "MWh")
YEAR_SWAPS = ("4016", "2263", "9999", "1677", "2554", "0001", "1969")


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _field_edit(data: bytes, rng: np.random.Generator, new: bytes | None = None,
                column: int | None = None, delim: bytes = b",") -> bytes:
    """Replace (or quote) one field of one data line."""
    lines = _lines(data)
    body = [i for i in range(1, len(lines)) if lines[i]]
    if not body:
        return data
    i = int(rng.choice(body))
    fields = lines[i].split(delim)
    j = int(rng.integers(len(fields))) if column is None else min(column, len(fields) - 1)
    fields[j] = (b'"' + fields[j] + b'"' if rng.random() < 0.5 else b'"' + fields[j]) \
        if new is None else new
    lines[i] = delim.join(fields)
    return b"\n".join(lines)


def mutate(fmt: str, data: bytes, how: str, rng: np.random.Generator) -> bytes:
    """One mutation of a seed (see the module docstring)."""
    xml = fmt == "greenbutton"
    if how == "truncate":
        return data[:int(rng.integers(1, len(data)))]
    if how == "flip":
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        return bytes(b)
    if how == "utf16":
        return data.decode("utf-8").encode("utf-16")
    if how == "latin1":
        return data.decode("utf-8").replace("E", "É", 1).encode("latin-1", "replace")
    if how == "bom":
        return b"\xef\xbb\xbf" + data
    if how == "delimiter":
        return data if xml else data.replace(b",", [b";", b"\t", b"|"][int(rng.integers(3))])
    if how == "crlf":
        return data.replace(b"\n", b"\r\n")
    if how == "cr":
        return data.replace(b"\n", b"\r")
    if how == "far_future":
        if xml:
            return re.sub(rb"<espi:start>(\d+)</espi:start>",
                          lambda m: b"<espi:start>" + str(int(m.group(1)) + int(
                              rng.choice([64e9, 1e12, -2e9]))).encode() + b"</espi:start>",
                          data, count=int(rng.integers(1, 3)))
        hits = [m.start() for m in re.finditer(rb"20\d\d-\d\d-\d\d", data)][1:]
        if not hits:
            return data
        k = int(rng.choice(hits))
        return data[:k] + str(rng.choice(YEAR_SWAPS)).encode() + data[k + 4:]
    if how == "off_grid":
        if xml:
            return re.sub(rb"<espi:start>(\d+)</espi:start>",
                          lambda m: b"<espi:start>" + str(int(m.group(1)) + int(
                              rng.choice([420, 30, 1]))).encode() + b"</espi:start>",
                          data, count=int(rng.integers(1, 3)))
        hits = [m.start() for m in re.finditer(rb"T\d\d:\d\d:\d\d", data)]
        if not hits:
            return data
        k = int(rng.choice(hits))
        new = [b"T%02d:04:00", b"T%02d:00:30", b"T%02d:07:00"][int(rng.integers(3))] % int(
            data[k + 1:k + 3])
        return data[:k] + new + data[k + 9:]
    if how == "huge":
        value = str(rng.choice(HUGE)).encode()
        if xml:
            return re.sub(rb"<espi:value>-?\d+</espi:value>", b"<espi:value>" + value +
                          b"</espi:value>", data, count=int(rng.integers(1, 3)))
        column = {"mdm_long": 2, "scada": 2, "mdm_wide": 5 + int(rng.integers(90)),
                  "register": 4 + int(rng.integers(20))}[fmt]
        return _field_edit(data, rng, value, column)
    if how == "unit":
        unit = str(rng.choice(UNITS)).encode()
        if xml:
            return re.sub(rb"<espi:uom>\d+</espi:uom>", b"<espi:uom>" + str(rng.choice(
                [42, 38, 128, 5, 999])).encode() + b"</espi:uom>", data)
        column = {"mdm_long": 3, "scada": 3, "mdm_wide": 2, "register": 2}[fmt]
        return _field_edit(data, rng, unit, column)
    if how == "quote":
        if xml:
            return data.replace(b"<espi:value>", b'<espi:value>"', 1)
        return _field_edit(data, rng)
    if how == "xml_attack":
        if not xml:
            return data
        return _xml_attack(data, int(rng.integers(3)))
    raise ValueError(how)


MUTATIONS = ("truncate", "flip", "utf16", "latin1", "bom", "delimiter", "crlf", "cr",
             "far_future", "off_grid", "huge", "unit", "quote", "xml_attack")
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
<!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
"""


def _xml_attack(data: bytes, which: int) -> bytes:
    """A billion-laughs DTD, an external entity (/etc/passwd) in a value, or both."""
    body = re.sub(rb"^<\?xml[^>]*>\s*", b"", data)
    if which == 0:
        body = body.replace(b"<espi:value>", b"<espi:value>&lol9;", 1)
    elif which == 1:
        body = body.replace(b"<espi:value>", b"<espi:value>&xxe;", 1)
    else:
        body = body.replace(b"<title>", b"<title>&xxe;&lol9;", 1)
    return LAUGHS + body


# --------------------------------------------------------------- independent reference
@dataclass
class Reference:
    """What a reference reading of a file finds: its rows, and the readings it allows
    (key -> values as read in the store unit)."""

    rows: int | None  # None: the reference cannot say (not UTF-8, no header)
    readings: dict
    bounded: dict | None = None  # register files: meter -> (0, max volume) [m3]


def _text(data: bytes, ascii_lines: bool) -> str | None:
    """The file as text with LF line ends (CR-only files translated). MDM exports are ASCII:
    a line holding another byte is a row that cannot be read (blanked here, still counted).
    Other CSV files are UTF-8 (None when they are not)."""
    if b"\n" not in data[:65536] and b"\r" in data[:65536]:
        data = data.replace(b"\r", b"\n")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not ascii_lines:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    lines = data.split(b"\n")
    ok = [re.fullmatch(rb"[\x20-\x7e\t\r]*", x) is not None for x in lines]
    if not ok[0]:
        return None
    return "\n".join(x.decode("ascii") if good else "\x00" for x, good in zip(
        lines, ok, strict=True))


def _number(s: str) -> float | None:
    s = s.strip()
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        return None
    x = float(s)
    return x if math.isfinite(x) else None


def _utc_seconds(stamp: str) -> int | None:
    s = stamp.strip().replace("Z", "+00:00")
    try:
        t = datetime.fromisoformat(s)
    except ValueError:
        return None
    if t.tzinfo is None or not (YEARS[0] <= t.year < YEARS[1]):
        return None
    return int(t.timestamp())


def _csv_rows(text: str) -> tuple[list[str], str, list[list[str]]]:
    lines = text.split("\n")
    header = lines[0]
    delim = max((",", ";", "\t", "|"), key=header.count)
    body = lines[1:]
    if body and body[-1] == "":
        body = body[:-1]
    rows = []
    for line in body:
        line = line.rstrip("\r")
        try:
            rows.append(next(csv.reader([line], delimiter=delim)) if line else [])
        except (csv.Error, StopIteration):  # a row all the same (a CR inside it, a quote)
            rows.append([line])
    return [h.strip().lower() for h in header.rstrip("\r").split(delim)], delim, rows


def reference(fmt: str, data: bytes) -> Reference:
    """An independent reading of a (mutated) seed."""
    if fmt == "greenbutton":
        return _reference_xml(data)
    text = _text(data, ascii_lines=fmt != "scada")
    if text is None:
        return Reference(None, {})
    header, delim, rows = _csv_rows(text)
    readings: dict = {}
    dec = (lambda s: s.replace(",", ".")) if delim == ";" else (lambda s: s)
    if fmt == "mdm_long":
        for r in rows:
            if len(r) != 5:
                continue
            t, v = _utc_seconds(r[1]), _number(dec(r[2]))
            if t is not None and v is not None and r[3].strip() in ENERGY:
                readings.setdefault((r[0].strip(), t), set()).add(v * ENERGY[r[3].strip()])
        return Reference(len(rows), readings)
    if fmt == "mdm_wide":
        tz = ZoneInfo(TZ)
        for r in rows:
            if len(r) != len(header):
                continue
            try:
                day = date.fromisoformat(r[1].strip())
                step = int(r[3])
            except ValueError:
                continue
            # energy units, or a mean power over the interval (kW x interval = kWh)
            scale = {**ENERGY, "kW": step / 60, "W": 1e-3 * step / 60}.get(r[2].strip())
            if scale is None or not (YEARS[0] <= day.year < YEARS[1]):
                continue
            midnight = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(
                UTC)
            for k, cell in enumerate(r[5:]):
                v = _number(dec(cell))
                if v is not None:
                    t = int((midnight + timedelta(minutes=k * step)).timestamp())
                    readings.setdefault((r[0].strip(), t), set()).add(v * scale)
        return Reference(len(rows), readings)
    if fmt == "register":
        bounded: dict = {}
        for r in rows:
            vals = [_number(dec(c)) for c in r[4:]] if len(r) == len(header) else []
            vals = [v for v in vals if v is not None and v >= 0]
            if vals:
                lo, hi = bounded.get(r[0].strip(), (math.inf, -math.inf))
                bounded[r[0].strip()] = (min(lo, *vals), max(hi, *vals))
        return Reference(len(rows), {}, {m: hi - lo for m, (lo, hi) in bounded.items()})
    # scada historian, long, with a unit column; rows with any text are rows
    n = 0
    for r in rows:
        if not any(c != "" for c in r):
            continue
        n += 1
        if len(r) < 4:
            continue
        t, v = _utc_seconds(r[1]), _number(dec(r[2]))
        if t is not None and v is not None and r[3].strip() in SCADA_UNITS:
            readings.setdefault((r[0].strip(), t), set()).add(v)
    return Reference(n, readings)


def _reference_xml(data: bytes) -> Reference:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", "replace")
    else:
        text = data.decode("utf-8", "replace")
    n = len(re.findall(r"<(?:\w+:)?IntervalReading[\s>]", text))
    uom = re.findall(r"<espi:uom>(\d+)</espi:uom>", text)
    mult = re.findall(r"<espi:powerOfTenMultiplier>(-?\d+)</", text)
    factor = {"72": 1e-3, "38": 1e-3, "42": 1.0, "128": 3.785411784e-3}.get(
        uom[0] if uom else "", None)
    power = bool(uom) and uom[0] == "38"  # W: energy = power x duration
    scale = factor * 10.0 ** int(mult[0]) if factor is not None and mult else None
    readings: dict = {}
    for m in re.finditer(r"<espi:duration>(\d+)</espi:duration><espi:start>(\d+)</espi:start>"
                         r"\s*</espi:timePeriod>[^<]*<espi:value>(-?\d+)</espi:value>", text):
        d, t, v = int(m.group(1)), int(m.group(2)), float(m.group(3))
        if scale is not None and YEARS[0] <= 1970 + t / 31_557_600 < YEARS[1] and \
                math.isfinite(v):
            readings.setdefault(("*", t), set()).add(v * scale * (d / 3600 if power else 1))
    return Reference(n, readings)


# ------------------------------------------------------------------------ one variant
@dataclass
class Outcome:
    """What one variant did: ``crash`` (an exception's text), ``unbalanced`` (counts that do
    not add up or disagree with the reference's rows), ``wrong`` (stored readings the
    reference does not have)."""

    crash: str = ""
    unbalanced: str = ""
    wrong: str = ""
    error: str = ""


def run_variant(fmt: str, data: bytes, folder: Path) -> Outcome:
    """Ingest one variant into a fresh store in ``folder``; check it (module docstring)."""
    from twin.ingest.pipeline import ingest_file
    from twin.ingest.store import MeasurementStore

    suffix = ".xml" if fmt == "greenbutton" else ".csv"
    path = folder / f"{fmt}{suffix}"
    path.write_bytes(data)
    store = MeasurementStore(str(folder / "store"))
    out = Outcome()
    try:
        rep = ingest_file(store, path, timezone=TZ, now=NOW)
    except Exception as exc:  # noqa: BLE001 - what the fuzz looks for
        out.crash = f"{exc.__class__.__name__}: {str(exc)[:200]}"
        return out
    out.error = rep.error
    stored = pd.concat([store.read(k) for k in store.kinds()], ignore_index=True) if \
        store.kinds() else pd.DataFrame()
    if rep.error:
        if path.name not in rep.error and "internal error" not in rep.error:
            out.unbalanced = f"error without the file's name: {rep.error[:120]}"
        if "internal error" in rep.error:
            out.crash = rep.error[:200]
        if len(stored):
            out.wrong = f"{len(stored)} readings stored from a failed file"
        return out
    if rep.skipped:
        return out
    ref = reference(fmt, data)
    if not rep.balanced:
        out.unbalanced = (f"accepted {rep.accepted} + quarantined {rep.quarantined} + "
                          f"duplicates {rep.duplicates} != read {rep.rows_read}")
    elif ref.rows is not None and rep.rows_read != ref.rows:
        out.unbalanced = f"read {rep.rows_read} rows, the reference counts {ref.rows}"
    if len(stored):
        out.wrong = _not_in_reference(stored[stored["raw_value"].notna()], ref)
    return out


def _not_in_reference(stored: pd.DataFrame, ref: Reference) -> str:
    """Stored readings the reference does not have ("" when there is none)."""
    if ref.bounded is not None:
        v = stored["raw_value"].to_numpy(float)
        cap = stored["series_id"].astype(str).map(ref.bounded).to_numpy(float)
        bad = ~np.isfinite(v) | (v < 0) | ~(v <= cap + 1e-9)
        return f"{int(bad.sum())} register volumes beyond the file's reads" if bad.any() else ""
    t = (pd.DatetimeIndex(stored["time_utc"]).asi8 // 1_000_000_000).tolist()
    sids = stored["series_id"].astype(str).tolist()
    wild = any(k[0] == "*" for k in ref.readings)
    missing = 0
    example = ""
    for sid, ti, v in zip(sids, t, stored["raw_value"].tolist(), strict=True):
        allowed = ref.readings.get(("*" if wild else sid, ti), ())
        if not any(math.isclose(v, a, rel_tol=1e-9, abs_tol=1e-12) for a in allowed):
            missing += 1
            example = example or f"{sid} {pd.Timestamp(ti, unit='s')} {v}"
    return f"{missing} stored readings not in the reference, e.g. {example}" if missing else ""


def variants(seeds: dict[str, bytes], n: int, seed: int = 16):
    """``n`` variants ``(format, mutation, data)``, every mutation of every seed in turn."""
    rng = np.random.default_rng(seed)
    combos = [(f, m) for f in seeds for m in MUTATIONS
              if not (m == "xml_attack" and f != "greenbutton")]
    for i in range(n):
        fmt, how = combos[i % len(combos)]
        yield fmt, how, mutate(fmt, seeds[fmt], how, rng)


# ------------------------------------------------------------------------------ tests
@pytest.fixture(scope="module")
def seeds(sample_raw) -> dict[str, bytes]:
    return seeds_from(sample_raw)


def test_the_seeds_themselves_are_read_whole(seeds, tmp_path):
    """The unmutated seeds: balanced, counted as the reference counts, all readings known."""
    for fmt, data in seeds.items():
        folder = tmp_path / fmt
        folder.mkdir()
        out = run_variant(fmt, data, folder)
        assert out == Outcome(), (fmt, out)


#: Variants in the suite: every mutation of every seed, several times over.
SUITE_VARIANTS = 300


@pytest.mark.slow
def test_mutated_real_files(seeds, tmp_path):
    """A few hundred mutated real files: no crash, balanced, nothing wrong stored."""
    problems = []
    for i, (fmt, how, data) in enumerate(variants(seeds, SUITE_VARIANTS)):
        folder = tmp_path / f"v{i}"
        folder.mkdir()
        out = run_variant(fmt, data, folder)
        if out.crash or out.unbalanced or out.wrong:
            problems.append((fmt, how, out))
        shutil.rmtree(folder)
    assert not problems, problems[:5]


FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FAST
@given(lines=st.lists(st.tuples(
    st.sampled_from(["EM20999491", "EM2099", '"EM20999491"', "", "É"]),
    st.sampled_from(["2016-07-04T00:00:00-04:00", "2016-07-04T00:15:00-04:00",
                     "4016-07-04T00:30:00-04:00", "2016-07-04T00:34:00-04:00",
                     "2016-07-04 00:45:00", "2262-04-12T00:00:00Z", "x"]),
    st.one_of(st.sampled_from(list(HUGE)), st.floats(allow_nan=False, allow_infinity=False,
                                                     width=32).map(repr)),
    st.sampled_from(["kWh", "Wh", "MWx", "kW", ""])), min_size=1, max_size=12),
    ending=st.sampled_from(["\n", "\r\n", "\r"]))
def test_hypothesis_long_mdm_rows(lines, ending):
    """Rows built from bad parts (hypothesis): no crash, balanced, nothing wrong stored."""
    text = ending.join(["meter_id,interval_start,value,uom,quality",
                        *[f"{m},{t},{v},{u},A" for m, t, v, u in lines]]) + ending
    folder = Path(tempfile.mkdtemp(prefix="fuzz_"))
    try:
        out = run_variant("mdm_long", text.encode("utf-8"), folder)
    finally:
        shutil.rmtree(folder)
    assert not (out.crash or out.unbalanced or out.wrong), out


def test_xml_entities_are_never_resolved(seeds, tmp_path):
    """Billion laughs and an external entity: lxml resolves neither; the file is read or
    refused in a moment, and nothing of /etc/passwd reaches the store or its quarantine."""
    from twin.ingest.pipeline import ingest_file
    from twin.ingest.store import MeasurementStore

    for which in range(3):
        path = tmp_path / f"attack{which}.xml"
        path.write_bytes(_xml_attack(seeds["greenbutton"], which))
        store = MeasurementStore(str(tmp_path / f"s{which}"))
        rep = ingest_file(store, path, timezone=TZ, now=NOW)
        assert rep.error or rep.balanced
        q = store.read_quarantine()
        text = " ".join(q["raw_text"].astype(str)) + " ".join(q["reason"].astype(str))
        assert "root:" not in text and "lollollol" not in text
