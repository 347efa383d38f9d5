"""What a reader hands to the pipeline, and what the pipeline reports per file."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from pandas.api.types import union_categoricals

from twin.ingest import schema


@dataclass
class ReadBatch:
    """Readings parsed from one file, before VEE.

    Attributes
    ----------
    kind : str
        Measurement kind (:data:`twin.ingest.schema.KINDS`).
    readings : DataFrame
        ``series_id, time_utc, value, unit, quality_flag, vee_rule, raw_value`` in canonical
        units (``source`` is added by the pipeline).
    quarantine : DataFrame
        Rejected input, one row per rejected file row: ``kind, file, line, reason, raw_text``.
    rows_read : int
        Data rows in the file (lines for CSV, ``IntervalReading`` elements for XML).
    rows_accepted : int
        Rows that became readings.
    duplicates : int
        Rows dropped as exact repeats of an earlier row.
    meta : dict
        Reader facts worth keeping (layout, delimiter, local time parameters).
    """

    kind: str
    readings: pd.DataFrame
    quarantine: pd.DataFrame
    rows_read: int
    rows_accepted: int
    duplicates: int = 0
    meta: dict = field(default_factory=dict)


@dataclass
class IngestReport:
    """What ingesting one file did; ``accepted + quarantined + duplicates == rows_read``.

    Counts are in file rows (CSV lines, XML interval readings) except ``readings_written``
    (rows stored after VEE, including estimated gaps) and the VEE counts [readings].
    """

    file: str
    kind: str = ""
    format: str = ""
    sha256: str = ""
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    readings_written: int = 0
    estimated: int = 0
    failed: int = 0
    skipped: bool = False  # the same file (checksum) was ingested before
    error: str = ""  # why the whole file could not be read, if so
    vee: dict = field(default_factory=dict)
    #: Quarantine entries for parts of accepted rows (DST slots that do not exist) [-].
    slots_quarantined: int = 0
    #: Factor the file's values were multiplied by to fix a wrong unit label [-] (1 = none).
    unit_scale: float = 1.0
    #: The file's values look like another unit than it declares, with no stored history to
    #: prove it: kept as declared and flagged (rule ``unit_suspect``), never rescaled.
    unit_suspect: bool = False
    #: Rows repaired by the reader, per rule (``dst_autumn_split``, ``dst_spring_96``).
    repaired: dict = field(default_factory=dict)
    #: Why the file was not ingested although it was found (e.g. not a measurement file).
    skipped_reason: str = ""
    #: What was noticed and done to the file as a whole, in words.
    notes: list = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.accepted + self.quarantined + self.duplicates == self.rows_read


def concat_readings(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate reading frames; categorical columns stay categorical (categories unioned)."""
    frames = [f for f in frames if len(f)] or frames[:1]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    out = {}
    common = [c for c in frames[0].columns if all(c in f for f in frames[1:])]
    for c in common:  # a column some frames lack (``interval_s``) is derived again later
        cols = [f[c] for f in frames]
        if all(isinstance(x.dtype, pd.CategoricalDtype) for x in cols):
            out[c] = union_categoricals([x.astype(x.dtype) for x in cols], ignore_order=True)
        else:
            out[c] = pd.concat(cols, ignore_index=True)
    return pd.DataFrame(out)


def quarantine_frame(kind: str, file: str, lines, reasons, texts) -> pd.DataFrame:
    """Build a quarantine table from equal-length sequences of lines, reasons and texts."""
    df = pd.DataFrame({"kind": kind, "file": file, "line": pd.Series(lines, dtype="int64"),
                       "reason": pd.Series(reasons, dtype=object),
                       "raw_text": pd.Series(texts, dtype=object)})
    if df.empty:
        return schema.empty_quarantine()
    return df
