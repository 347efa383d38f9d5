"""The measurement store: partitioned Parquet, one dataset per kind, atomic appends.

Layout under the store's root (a local folder or any fsspec URL, e.g. ``s3://bucket/store``)::

    <kind>/month=YYYY-MM/part-<batch>-NNN.parquet   readings of one batch in one UTC month
    quarantine/part-<batch>.parquet             rejected input of one batch
    _manifest/<batch>.json                      one entry per COMMITTED batch
    _staging/<batch>/...                        a batch being written (ignored by readers)
    (a month with more than 2 M readings is split into several part files)
    archive/<sha256[:2]>/<sha256>-<file name>   every raw file ingested, as read

Atomic appends
    A batch is written completely under ``_staging/<batch>/``, its files are then moved to
    their partitions, and finally its manifest entry is moved into ``_manifest/``. Readers
    only read files named by a manifest entry, so the move of the entry is the commit: a
    crash at any earlier point leaves the store reading back exactly as before (the
    leftovers are removed by :meth:`MeasurementStore.vacuum`).

Re-ingest
    Each manifest entry records the sha256 of its source file; writing a file whose checksum
    is already committed adds nothing.

Overlaps (precedence rule)
    When several committed batches hold a reading with the same ``(series_id, time_utc)``,
    readers return ONE: the one with the highest quality rank
    (``edited`` > ``valid`` > ``estimated`` > ``failed``); among equal ranks the batch
    committed later wins. So a later valid read replaces an earlier estimate, a later file
    replaces an earlier one of the same quality, and nothing replaces a manual edit but a
    later edit. Merging happens on read, per month partition, so it streams.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from twin.ingest import schema

#: Extra storage column: the batch's commit order key [ns since 1970], for the precedence rule.
BATCH_COLUMN = "batch_ns"
QUARANTINE = "quarantine"
#: The overlap rule, recorded in every manifest entry (see the module docstring).
PRECEDENCE_RULE = "highest quality rank (edited > valid > estimated > failed), then latest batch"
_CHUNK = 1 << 20


class StoreError(ValueError):
    """A store operation that cannot be done; the message says which and why."""


@dataclass(frozen=True)
class WriteResult:
    """What one :meth:`MeasurementStore.write` did."""

    batch: str
    rows: int
    quarantined: int
    skipped: bool  # True when the source checksum was already committed


def file_sha256(path: str, fs: fsspec.AbstractFileSystem | None = None) -> str:
    """Return the sha256 hex digest of a file, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    opener = fs.open(path, "rb") if fs is not None else fsspec.open(str(path), "rb")
    with opener as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def source_label(path: str, sha256: str) -> str:
    """Return the ``source`` column value of a file: ``<name>@<sha256[:12]>``."""
    return f"{posixpath.basename(str(path))}@{sha256[:12]}"


def storage_schema() -> pa.Schema:
    """Arrow schema of the stored files: the measurement schema plus ``batch_ns``."""
    return schema.arrow_schema().append(pa.field(BATCH_COLUMN, pa.int64()))


def month_index(times: pd.Series) -> np.ndarray:
    """Return the UTC month of each time as months since 1970-01 [-] (int64)."""
    return schema.time_ns(times).view("datetime64[ns]").astype("datetime64[M]").view(np.int64)


def month_name(month: int) -> str:
    """Return the partition name ``YYYY-MM`` of a month index from :func:`month_index`."""
    return str(np.datetime64(int(month), "M"))


def month_slices(times: pd.Series, max_rows: int = 2_000_000) -> list[tuple[str, np.ndarray]]:
    """Split rows by UTC month, and big months into parts of at most ``max_rows``.

    Returns
    -------
    list of (month name, row indices)
    """
    months = month_index(times)
    if len(months) == 0:
        return []
    lo, hi = int(months.min()), int(months.max())
    out = []
    for m in range(lo, hi + 1):  # a loop over months, not rows
        rows = np.arange(len(months)) if lo == hi else np.flatnonzero(months == m)
        for i in range(0, len(rows), max_rows):
            if len(rows[i:i + max_rows]):
                out.append((month_name(m), rows[i:i + max_rows]))
    return out


def merge_overlaps(table: pa.Table) -> pd.DataFrame:
    """Resolve readings that several batches hold, by the store's precedence rule.

    Parameters
    ----------
    table : pyarrow.Table
        Stored rows with ``batch_ns``.

    Returns
    -------
    pandas.DataFrame
        One row per ``(series_id, time_utc)``, sorted by them, in the measurement schema.
    """
    df = table.to_pandas()
    if df.empty:
        return schema.empty_measurements()
    sid = df["series_id"].astype(str).astype("category")
    df["series_id"] = sid
    codes = sid.cat.codes.to_numpy()
    t = schema.time_ns(df["time_utc"])
    rank = schema.quality_rank(df["quality_flag"])
    batch = df[BATCH_COLUMN].to_numpy()
    order = np.lexsort((batch, rank, t, codes))  # last key is primary
    c, tt = codes[order], t[order]
    last = np.ones(len(order), bool)
    last[:-1] = (c[1:] != c[:-1]) | (tt[1:] != tt[:-1])
    keep = order[last]
    out = df.iloc[keep].drop(columns=BATCH_COLUMN)
    out["series_id"] = out["series_id"].cat.remove_unused_categories()
    return schema.conform(out)


class MeasurementStore:
    """Partitioned Parquet measurement store with atomic appends (see module docstring).

    Parameters
    ----------
    root : str or path-like
        A local folder or an fsspec URL (``memory://store``, ``s3://bucket/store``).
    storage_options : dict, optional
        Passed to fsspec for remote roots (credentials, endpoint).
    """

    def __init__(self, root, storage_options: dict | None = None):
        self.url = str(root)
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        self.fs.makedirs(self.root, exist_ok=True)

    def __repr__(self) -> str:
        return f"MeasurementStore({self.url!r})"

    # ---------------------------------------------------------------- paths and manifest
    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def manifest(self) -> list[dict]:
        """Return the committed batches' entries, oldest first."""
        folder = self._path("_manifest")
        if not self.fs.exists(folder):
            return []
        entries = []
        for path in sorted(self.fs.ls(folder, detail=False)):
            if not path.endswith(".json"):
                continue
            with self.fs.open(path, "rb") as f:
                entries.append(json.loads(f.read()))
        return sorted(entries, key=lambda e: e["batch_ns"])

    def checksums(self) -> set[str]:
        """Return the sha256 of every source file committed to the store."""
        return {e["sha256"] for e in self.manifest() if e.get("sha256")}

    def kinds(self) -> list[str]:
        """Return the kinds that hold committed data."""
        return sorted({e["kind"] for e in self.manifest() if e["rows"]})

    # ---------------------------------------------------------------- writing
    def write(
        self,
        kind: str,
        df: pd.DataFrame,
        source_file: str,
        *,
        quarantine: pd.DataFrame | None = None,
        sha256: str | None = None,
        report: dict | None = None,
    ) -> WriteResult:
        """Append a batch of readings (and its quarantined input) atomically.

        Parameters
        ----------
        kind : str
            One of :data:`twin.ingest.schema.KINDS`.
        df : pandas.DataFrame
            Readings in the measurement schema.
        source_file : str
            The file the batch was read from; its sha256 is the re-ingest key.
        quarantine : pandas.DataFrame, optional
            Rejected input in the quarantine schema, committed with the batch.
        sha256 : str, optional
            The file's checksum if already computed.
        report : dict, optional
            Counts to keep in the manifest entry (for audit).

        Returns
        -------
        WriteResult
            ``skipped`` is True, and nothing is written, when the file was committed before.
        """
        if kind not in schema.KINDS:
            raise StoreError(f"unknown kind {kind!r}; known: {', '.join(schema.KINDS)}")
        sha256 = sha256 or file_sha256(source_file)
        if sha256 in self.checksums():
            return WriteResult("", 0, 0, True)
        batch_ns = time.time_ns()
        batch = f"{batch_ns:020d}-{uuid.uuid4().hex[:8]}"
        staging = self._path("_staging", batch)
        moves: list[tuple[str, str]] = []

        df = schema.conform(df)
        if len(df):
            table = pa.Table.from_pandas(df, schema=schema.arrow_schema(), preserve_index=False)
            table = table.append_column(
                BATCH_COLUMN, pa.array(np.full(len(df), batch_ns, np.int64)))
            parts = month_slices(df["time_utc"])
            rels = [posixpath.join(kind, f"month={m}", f"part-{batch}-{i:03d}.parquet")
                    for i, (m, _) in enumerate(parts)]
            with ThreadPoolExecutor(max_workers=2) as pool:  # pyarrow releases the GIL
                list(pool.map(lambda a: self._write_parquet(table.take(a[0][1]), a[1]),
                              zip(parts, [posixpath.join(staging, r) for r in rels],
                                  strict=True)))
            moves += [(posixpath.join(staging, r), self._path(r)) for r in rels]
        nq = 0
        if quarantine is not None and len(quarantine):
            q = quarantine[[c.name for c in schema.QUARANTINE_COLUMNS]]
            qt = pa.Table.from_pandas(q, schema=schema.quarantine_arrow_schema(),
                                      preserve_index=False)
            rel = posixpath.join(QUARANTINE, f"part-{batch}.parquet")
            self._write_parquet(qt, posixpath.join(staging, rel))
            moves.append((posixpath.join(staging, rel), self._path(rel)))
            nq = len(q)
        entry = {
            "batch": batch, "batch_ns": batch_ns, "kind": kind,
            "source": source_label(source_file, sha256), "source_path": str(source_file),
            "sha256": sha256, "rows": len(df), "quarantined": nq,
            "files": [posixpath.relpath(dst, self.root) for _, dst in moves],
            "committed_utc": pd.Timestamp.now(tz="UTC").isoformat(),
            "precedence": PRECEDENCE_RULE,
            "report": report or {},
        }
        staged_entry = posixpath.join(staging, "manifest.json")
        with self.fs.open(staged_entry, "wb") as f:
            f.write(json.dumps(entry, indent=1).encode())
        self._publish(moves, staged_entry, self._path("_manifest", f"{batch}.json"))
        self.fs.rm(staging, recursive=True)
        return WriteResult(batch, len(df), nq, False)

    def _write_parquet(self, table: pa.Table, path: str) -> None:
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with self.fs.open(path, "wb") as f:
            pq.write_table(table, f, compression="snappy")

    def _publish(self, moves: Sequence[tuple[str, str]], staged_entry: str, entry: str) -> None:
        """Move staged files to their partitions, then commit by moving the manifest entry."""
        for src, dst in moves:
            self.fs.makedirs(posixpath.dirname(dst), exist_ok=True)
            self.fs.mv(src, dst)
        self.fs.makedirs(posixpath.dirname(entry), exist_ok=True)
        self.fs.mv(staged_entry, entry)  # the commit point

    def archive(self, path: str, sha256: str | None = None) -> str:
        """Copy a raw file into ``archive/`` under its sha256 (once); return the archive path."""
        sha256 = sha256 or file_sha256(path)
        dst = self._path("archive", sha256[:2], f"{sha256}-{posixpath.basename(str(path))}")
        if self.fs.exists(dst):
            return dst
        tmp = dst + f".tmp-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(posixpath.dirname(dst), exist_ok=True)
        with fsspec.open(str(path), "rb") as src, self.fs.open(tmp, "wb") as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
        self.fs.mv(tmp, dst)
        return dst

    def vacuum(self) -> list[str]:
        """Remove what crashed writes left behind (staging, uncommitted files); return them."""
        committed = {f for e in self.manifest() for f in e["files"]}
        removed = []
        staging = self._path("_staging")
        if self.fs.exists(staging):
            removed += self.fs.ls(staging, detail=False)
            self.fs.rm(staging, recursive=True)
        for kind in [*schema.KINDS, QUARANTINE]:
            folder = self._path(kind)
            if not self.fs.exists(folder):
                continue
            for path in self.fs.find(folder):
                if posixpath.relpath(path, self.root) not in committed:
                    self.fs.rm(path)
                    removed.append(path)
        return removed

    # ---------------------------------------------------------------- reading
    def _files_by_month(self, kind: str, start=None, end=None) -> dict[str, list[str]]:
        if kind not in schema.KINDS:
            raise StoreError(f"unknown kind {kind!r}; known: {', '.join(schema.KINDS)}")
        lo = _month(start) if start is not None else None
        hi = _month(end) if end is not None else None
        groups: dict[str, list[str]] = {}
        for e in self.manifest():
            if e["kind"] != kind:
                continue
            for rel in e["files"]:
                if not rel.startswith(kind + "/"):
                    continue
                m = rel.split("/")[1].removeprefix("month=")
                if (lo and m < lo) or (hi and m > hi):
                    continue
                groups.setdefault(m, []).append(self._path(rel))
        return dict(sorted(groups.items()))

    def _read_files(self, files: list[str], series=None, start=None, end=None) -> pd.DataFrame:
        dataset = ds.dataset(files, schema=storage_schema(), format="parquet",
                             filesystem=self.fs)
        table = dataset.to_table(filter=_filter(series, start, end))
        return merge_overlaps(table)

    def read(self, kind: str, series: Iterable[str] | str | None = None, start=None,
             end=None) -> pd.DataFrame:
        """Read readings of one kind, overlaps resolved, sorted by series and time.

        Parameters
        ----------
        kind : str
            Measurement kind.
        series : str or list of str, optional
            Series ids to read; all by default.
        start, end : time-like, optional
            UTC bounds, ``start <= time_utc < end``; naive times are taken as UTC.

        Returns
        -------
        pandas.DataFrame
            In the measurement schema (:mod:`twin.ingest.schema`).
        """
        files = [f for fs_ in self._files_by_month(kind, start, end).values() for f in fs_]
        if not files:
            return schema.empty_measurements()
        return self._read_files(files, series, start, end)

    def read_quarantine(self, kind: str | None = None) -> pd.DataFrame:
        """Read the quarantined input, optionally of one kind only."""
        files = [self._path(rel) for e in self.manifest() for rel in e["files"]
                 if rel.startswith(QUARANTINE + "/")]
        if not files:
            return schema.empty_quarantine()
        table = ds.dataset(files, schema=schema.quarantine_arrow_schema(), format="parquet",
                           filesystem=self.fs).to_table()
        df = table.to_pandas()
        return df[df["kind"] == kind].reset_index(drop=True) if kind else df

    def read_xarray(self, kind: str, series=None, start=None, end=None):
        """Read readings as an ``xarray.Dataset`` over ``series`` × ``time``.

        Returns
        -------
        xarray.Dataset
            Variables ``value`` and ``raw_value`` (with ``units`` attributes) and
            ``quality_flag``; coordinate ``unit`` per series; ``time`` is UTC (naive).
        """
        import xarray as xr

        df = self.read(kind, series, start, end)
        df["series_id"] = df["series_id"].astype(str)
        sid, series_ids = pd.factorize(df["series_id"], sort=True)
        times_utc = df["time_utc"].dt.tz_localize(None)
        tid, times = pd.factorize(times_utc, sort=True)
        shape = (len(series_ids), len(times))
        value = np.full(shape, np.nan)
        raw = np.full(shape, np.nan)
        flag = np.full(shape, "", dtype=object)
        value[sid, tid] = df["value"].to_numpy()
        raw[sid, tid] = df["raw_value"].to_numpy()
        flag[sid, tid] = df["quality_flag"].astype(str).to_numpy()
        units = df.groupby("series_id", sort=True, observed=True)["unit"].first()
        units = units.astype(str).reindex(series_ids).fillna("").to_numpy()
        unit_attr = ", ".join(sorted(set(units))) or schema.KINDS[kind].unit
        return xr.Dataset(
            {
                "value": (("series", "time"), value,
                          {"units": unit_attr, "long_name": f"{kind} value after VEE"}),
                "raw_value": (("series", "time"), raw,
                              {"units": unit_attr, "long_name": f"{kind} value as read"}),
                "quality_flag": (("series", "time"), flag.astype(str)),
            },
            coords={"series": np.asarray(series_ids, dtype=str), "time": np.asarray(times),
                    "unit": ("series", units.astype(str))},
            attrs={"kind": kind, "time_zone": "UTC"},
        )

    def read_dask(self, kind: str, series=None, start=None, end=None):
        """Read readings lazily as a ``dask.dataframe``, one partition per UTC month.

        Each partition resolves its own overlaps (a reading's month is fixed by its time), so
        the result equals :meth:`read` without loading every month at once.
        """
        import dask.dataframe as dd

        groups = list(self._files_by_month(kind, start, end).values())
        meta = schema.empty_measurements()
        if not groups:
            return dd.from_pandas(meta, npartitions=1)
        return dd.from_map(_MonthReader(self, series, start, end), groups, meta=meta,
                           enforce_metadata=False)


@dataclass(frozen=True)
class _MonthReader:
    store: MeasurementStore
    series: object
    start: object
    end: object

    def __call__(self, files: list[str]) -> pd.DataFrame:
        return self.store._read_files(files, self.series, self.start, self.end)


def _utc(t) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _month(t) -> str:
    return _utc(t).strftime("%Y-%m")


def _filter(series, start, end):
    expr = None

    def both(a, b):
        return b if a is None else a & b

    if series is not None:
        series = [series] if isinstance(series, str) else list(series)
        expr = both(expr, ds.field("series_id").isin(series))
    if start is not None:
        expr = both(expr, ds.field("time_utc") >= pa.scalar(_utc(start), pa.timestamp("ns",
                                                                                      "UTC")))
    if end is not None:
        expr = both(expr, ds.field("time_utc") < pa.scalar(_utc(end), pa.timestamp("ns", "UTC")))
    return expr
