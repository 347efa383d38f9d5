"""The CSV-line toolkit the text readers share (MDM exports, PV portal files).

A chunk of whole lines is split and checked with numpy (:func:`split_lines`: line bounds,
fields per line, bytes that are not printable ASCII), the good lines are handed to
``pyarrow.csv`` (:func:`take_lines`), the rejected ones keep their text for the quarantine
(:func:`line_texts`). What spreadsheets write is accepted:

- quoted fields (``"E000123",2016-...``): :func:`unquote_lines` rewrites the lines holding a
  quote (a few) without their quotes; a quote that does not close, or a quoted field that
  holds the delimiter, quarantines its line with that reason;
- old Mac line endings (CR only): :func:`open_lines` reads such a file as LF lines;
- numbers: :func:`numeric_or_null` reads decimal numbers only; ``inf``, ``nan``, ``1e400`` or
  a 5,000-digit number is not a finite number and is refused.
"""

from __future__ import annotations

import csv
import io

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: A number as text: sign, digits, decimal point, exponent (no inf, no nan).
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
#: Bytes that are not printable ASCII, TAB, CR or LF: their line is quarantined.
_BAD_LOOKUP = np.ones(256, bool)
_BAD_LOOKUP[32:127] = False
_BAD_LOOKUP[[9, 10, 13]] = False
_BAD_BYTES = np.flatnonzero(_BAD_LOOKUP)


def split_lines(buf: np.ndarray, delimiter: str) -> tuple[np.ndarray, ...]:
    """Split a chunk of bytes into lines and check each line's field count (vectorised).

    Parameters
    ----------
    buf : ndarray of uint8
        Whole lines, each ending with ``\\n``.

    Returns
    -------
    starts, ends : ndarray of int64
        Byte offsets of each line (end excludes the newline and a ``\\r``).
    fields : ndarray of int64
        Fields per line.
    clean : ndarray of bool
        The line holds only printable ASCII (and TAB).
    """
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl[:-1] + 1]).astype(np.int64)
    ends = nl.astype(np.int64)
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - has_cr
    # delimiters before each newline (few queries into the delimiter positions)
    before = np.searchsorted(np.flatnonzero(buf == ord(delimiter)), nl)
    fields = np.diff(before, prepend=0) + 1
    counts = np.bincount(buf, minlength=256)  # one pass: most chunks hold no bad byte
    if counts[_BAD_BYTES].any():
        bad_pos = np.flatnonzero(_BAD_LOOKUP[buf])
        before_bad = np.searchsorted(bad_pos, nl)
        clean = np.diff(before_bad, prepend=0) == 0
    else:
        clean = np.ones(len(nl), bool)
    return starts, ends, fields, clean


def take_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                keep: np.ndarray) -> bytes:
    """Return the kept lines joined by newlines (vectorised byte mask)."""
    lengths = ends - starts + 1  # include the newline slot
    full = np.diff(np.concatenate([starts, [len(buf)]]))
    mask = np.repeat(np.where(keep, 1, 0).astype(bool), full)
    within = np.arange(len(buf)) - np.repeat(starts, full)
    mask &= within < np.repeat(lengths, full)
    out = buf[mask].copy()
    # lines end where their (possibly \r) newline slot is: force a newline there
    line_end = np.cumsum(lengths[keep]) - 1
    out[line_end] = 10
    return out.tobytes()


def line_texts(buf: np.ndarray, starts, ends, idx) -> list[str]:
    return [bytes(buf[starts[i]:min(ends[i], starts[i] + 300)]).decode("utf-8", "replace")
            for i in idx]


def numeric_or_null(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Return float values (NaN for empty) and a mask of cells that are not numbers."""
    col = pc.utf8_trim_whitespace(col)
    empty = pc.fill_null(pc.equal(col, ""), True)
    ok = pc.or_(empty, pc.fill_null(pc.match_substring_regex(col, NUMBER), False))
    bad = ~np.asarray(ok.to_numpy(zero_copy_only=False), bool)
    cleaned = pc.if_else(ok, pc.if_else(empty, pa.scalar(None, pa.string()), col),
                         pa.scalar(None, pa.string()))
    vals = np.asarray(pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False), float)
    huge = np.isinf(vals)  # 1e400, a 5,000-digit number: no finite float
    if huge.any():
        bad |= huge
        vals = np.where(huge, np.nan, vals)  # (Arrow's array may be read-only)
    return vals, bad


#: Bytes looked at to decide whether a file ends its lines with CR only [B].
SNIFF_BYTES = 65536


class _CrAsLf(io.RawIOBase):
    """A binary file whose CR line endings are read as LF (for CR-only files)."""

    def __init__(self, f):
        self.f = f

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self.f.read(n).replace(b"\r", b"\n")

    def readline(self, limit: int = -1) -> bytes:
        out = bytearray()
        while True:
            c = self.f.read(1)
            if not c:
                return bytes(out)
            out += b"\n" if c == b"\r" else c
            if c == b"\r" or c == b"\n":
                return bytes(out)

    def close(self) -> None:
        self.f.close()
        super().close()


def is_cr_only(path) -> bool:
    """True when a file ends its lines with CR alone (old Mac, some spreadsheets)."""
    with fsspec.open(str(path), "rb") as f:
        head = f.read(SNIFF_BYTES)
    return b"\r" in head and b"\n" not in head


class open_lines:  # noqa: N801 - used as a function: ``with open_lines(path) as f``
    """Open a text file for reading in binary, its line endings LF (CR-only files translated).

    Use as ``with open_lines(path) as f: f.readline(); f.read(n)``.
    """

    def __init__(self, path):
        self.path = path
        self._open = None

    def __enter__(self):
        cr = is_cr_only(self.path)
        self._open = fsspec.open(str(self.path), "rb")
        f = self._open.__enter__()
        return _CrAsLf(f) if cr else f

    def __exit__(self, *exc):
        return self._open.__exit__(*exc)


def unquote_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, delimiter: str,
                  n_fields: int) -> tuple[np.ndarray, dict[int, bytes], dict[int, str]]:
    """Rewrite the lines that hold a double quote without their quotes.

    Parameters
    ----------
    buf, starts, ends
        A chunk and its line bounds (:func:`split_lines`).
    delimiter : str
        The file's delimiter.
    n_fields : int
        Fields a line must have [-].

    Returns
    -------
    quoted : ndarray of bool
        Per line: it holds a quote.
    fixed : dict of int to bytes
        Line index -> the line rewritten (fields joined by the delimiter, no quotes).
    why : dict of int to str
        Line index -> why the line cannot be read (a quote that does not close, a quoted
        field holding the delimiter, a wrong number of fields).
    """
    q = np.flatnonzero(buf == 34)  # '"'
    quoted = np.searchsorted(q, ends) > np.searchsorted(q, starts)
    fixed: dict[int, bytes] = {}
    why: dict[int, str] = {}
    for i in np.flatnonzero(quoted):  # a loop over quoted lines (rare), not all lines
        text = bytes(buf[starts[i]:ends[i]]).decode("utf-8", "replace")
        try:
            fields = next(csv.reader([text], delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration):
            why[int(i)] = "a double quote opens a field that does not close"
            continue
        if any(delimiter in f or '"' in f for f in fields):
            why[int(i)] = f"a quoted field holds the delimiter {delimiter!r} or a quote"
        elif len(fields) != n_fields:
            why[int(i)] = f"{len(fields)} fields, expected {n_fields}"
        else:
            fixed[int(i)] = delimiter.join(fields).encode("utf-8")
    return quoted, fixed, why
