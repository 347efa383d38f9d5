"""What a reader hands to the pipeline, and what the pipeline reports per file."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

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

    @property
    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.accepted + self.quarantined + self.duplicates == self.rows_read


def quarantine_frame(kind: str, file: str, lines, reasons, texts) -> pd.DataFrame:
    """Build a quarantine table from equal-length sequences of lines, reasons and texts."""
    df = pd.DataFrame({"kind": kind, "file": file, "line": pd.Series(lines, dtype="int64"),
                       "reason": pd.Series(reasons, dtype=object),
                       "raw_text": pd.Series(texts, dtype=object)})
    if df.empty:
        return schema.empty_quarantine()
    return df
