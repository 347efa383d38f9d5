"""The measurement store: partitioned Parquet, one dataset per kind, atomic appends.

Layout under the store's root (a local folder or any fsspec URL, e.g. ``s3://bucket/store``)::

    <kind>/month=YYYY-MM/part-<batch>-NNN.parquet   readings of one batch in one UTC month
    quarantine/part-<batch>.parquet             rejected input of one batch
    _manifest/<batch>.json                      one entry per COMMITTED batch
    _staging/<batch>/...                        a batch being written (ignored by readers)
    (a month with more than 2 M readings is split into several part files)
    archive/<sha256[:2]>/<sha256>-<file name>   every raw file ingested, as read

Atomic appends
    A batch (one source file) is written completely under ``_staging/<batch>/``, in as many
    parts as the ingest streams (:class:`StagedBatch`), its files are then moved to
    their partitions, and finally its manifest entry is moved into ``_manifest/``. Readers
    only read files named by a manifest entry, so the move of the entry is the commit: a
    crash at any earlier point leaves the store reading back exactly as before (the
    leftovers are removed by :meth:`MeasurementStore.vacuum`).

Writers and stale staging
    Several writers may append at once (each batch stages under its own name). While a
    batch is open its writer holds an exclusive lock on ``_staging/<batch>.lock`` (``flock``;
    the kernel releases it when the writer dies, e.g. killed mid-ingest). :meth:`vacuum`,
    which every ingest run calls first, removes only the leftovers of batches whose lock it
    can take (their writer is gone) and that never committed: a running writer's staging and
    its files being published are left alone. On a store without file locks (object
    storage) a batch counts as abandoned :data:`STALE_STAGING_S` after it began.

Re-ingest
    Each manifest entry records the sha256 of its source file; writing a file whose checksum
    is already committed adds nothing.

Overlaps (precedence rule)
    When several committed batches hold a reading with the same ``(series_id, time_utc)``,
    readers return ONE: the one with the highest quality rank
    (``edited`` > ``valid`` > ``estimated`` > ``failed``); among equal ranks the source's
    precedence (:data:`FORMAT_PRECEDENCE`: the MDM export over a Green Button download of the
    same meter), then the batch committed later wins. So a later valid read replaces an earlier estimate, a later file
    replaces an earlier one of the same quality, and nothing replaces a manual edit but a
    later edit. Merging happens on read, per month partition, so it streams.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from twin.ingest import schema

#: Extra storage column: the batch's commit order key [ns since 1970], for the precedence rule.
BATCH_COLUMN = "batch_ns"
QUARANTINE = "quarantine"
#: The overlap rule, recorded in every manifest entry (see the module docstring).
PRECEDENCE_RULE = ("highest quality rank (edited > valid > estimated > failed), then source "
                   "(meter data management export over Green Button), then latest batch")
#: Source precedence of each reader format [-], higher wins among equal quality: the
#: utility's MDM export is the system of record, a customer's Green Button download a copy.
FORMAT_PRECEDENCE = {"greenbutton_xml": 0, "greenbutton_csv": 0}
_DEFAULT_FORMAT_RANK = 1
_CHUNK = 1 << 20
#: Parquet compression of the readings: LZ4 writes as fast as snappy and 28 % smaller
#: (measured on a 1.3 M-reading chunk of benchmarks/bench_ingest.py).
COMPRESSION = "lz4"
#: Columns whose min/max statistics are written (the ones reads filter on: row groups are
#: skipped by them); statistics of the other columns cost ~40 % of the write, unused.
STATISTICS_COLUMNS = ("series_id", "time_utc")
#: Stored rows read at once by :meth:`MeasurementStore.iter_read` [-]: a million readings
#: with every column take ~0.3 GB while their overlaps are resolved.
READ_CHUNK_ROWS = 1_000_000
#: On a store without file locks (object storage), a staged batch this long after it began
#: is taken as abandoned by a writer that died [s] (an ingest of one file takes minutes).
STALE_STAGING_S = 24 * 3600
#: The batch name in staged and published file names: ``<start ns>-<8 hex>``.
_BATCH_NAME = re.compile(r"(\d{20}-[0-9a-f]{8})")
#: Columns the precedence rule reads besides the ones asked for.
_MERGE_COLUMNS = ("series_id", "time_utc", "quality_flag", BATCH_COLUMN)


class StoreError(ValueError):
    """A store operation that cannot be done; the message says which and why."""


@dataclass(frozen=True)
class WriteResult:
    """What one :meth:`MeasurementStore.write` did."""

    batch: str
    rows: int
    quarantined: int
    skipped: bool  # True when the source checksum was already committed


def file_sha256(path: str, fs: fsspec.AbstractFileSystem | None = None,
                on_block: Callable[[bytes], None] | None = None) -> str:
    """Return the sha256 hex digest of a file, streamed in 1 MiB chunks; ``on_block`` (if
    given) sees each chunk too, so one pass over the bytes serves both."""
    h = hashlib.sha256()
    opener = fs.open(path, "rb") if fs is not None else fsspec.open(str(path), "rb")
    with opener as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            if on_block is not None:
                on_block(chunk)
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
    t = schema.time_ns(times)
    if len(t) == 0:
        return []
    lo_hi = np.array([t.min(), t.max()]).view("datetime64[ns]").astype("datetime64[M]")
    lo, hi = (int(x) for x in lo_hi.view(np.int64))
    if lo == hi:  # the common case: no per-row month needed
        months = None
    else:
        bounds = np.arange(lo, hi + 2).astype("datetime64[M]").astype("datetime64[ns]").view(
            np.int64)
        months = np.searchsorted(bounds, t, side="right") - 1 + lo
    out = []
    for m in range(lo, hi + 1):  # a loop over months, not rows
        rows = np.arange(len(t)) if months is None else np.flatnonzero(months == m)
        for i in range(0, len(rows), max_rows):
            if len(rows[i:i + max_rows]):
                out.append((month_name(m), rows[i:i + max_rows]))
    return out


def merge_overlaps(table: pa.Table, source_rank: dict[int, int] | None = None,
                   columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Resolve readings that several batches hold, by the store's precedence rule.

    Parameters
    ----------
    table : pyarrow.Table
        Stored rows with ``series_id``, ``time_utc``, ``quality_flag`` and ``batch_ns``
        (and the ``columns`` asked for).
    source_rank : dict, optional
        Source precedence of each batch (``batch_ns`` -> rank, see
        :data:`FORMAT_PRECEDENCE`); batches not in it rank as an MDM export.
    columns : sequence of str, optional
        Measurement columns to return, in this order; all (conformed to the schema) by
        default.

    Returns
    -------
    pandas.DataFrame
        One row per ``(series_id, time_utc)``, sorted by them, in the measurement schema.
    """
    df = table.to_pandas()
    if df.empty:
        return _subset(schema.empty_measurements(), columns)
    sid = df["series_id"]
    if isinstance(sid.dtype, pd.CategoricalDtype) and sid.cat.categories.dtype == object:
        # Arrow's dictionary: codes as stored (no string per row); categories sorted
        sid = sid.cat.set_categories(sorted(sid.cat.categories))
    else:
        sid = sid.astype(str).astype("category")
    df["series_id"] = sid
    codes = sid.cat.codes.to_numpy()
    t = schema.time_ns(df["time_utc"])
    rank = schema.quality_rank(df["quality_flag"])
    batch = df[BATCH_COLUMN].to_numpy()
    inv, batches = pd.factorize(batch)  # a few batches: rank per batch, not per row
    src = np.array([(source_rank or {}).get(int(b), _DEFAULT_FORMAT_RANK) for b in batches],
                   np.int8)[inv]
    order = np.lexsort((batch, src, rank, t, codes))  # last key is primary
    del t, rank, batch, inv, src
    c, tt = codes[order], schema.time_ns(df["time_utc"])[order]
    last = np.ones(len(order), bool)
    last[:-1] = (c[1:] != c[:-1]) | (tt[1:] != tt[:-1])
    del c, tt
    keep = order[last]
    del order, last
    out = df.iloc[keep].drop(columns=BATCH_COLUMN)
    out["series_id"] = out["series_id"].cat.remove_unused_categories()
    if columns is None:
        return schema.conform(out)
    return _subset(out, columns)


def _subset(df: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    """``df``'s ``columns`` (all by default) with a fresh index and the schema's dtypes for
    the columns :func:`schema.conform` would fix (``interval_s`` nulls of old files: 0)."""
    if columns is None:
        return df
    out = df[list(columns)].reset_index(drop=True)
    if "interval_s" in out and out["interval_s"].dtype != "int32":
        out["interval_s"] = out["interval_s"].fillna(0).astype("int32")
    return out


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

    def scada_tags(self) -> pd.DataFrame:
        """The tag map rows the committed SCADA exports were read with (latest per tag).

        Analyses find a quantity's series here (``series_id`` = the utility's tag) without
        knowing any tag grammar, e.g. every pressure logger and its junction::

            tags = store.scada_tags()
            p = tags[tags.quantity == "pressure"]   # tag, element, quantity, unit, store_unit

        Returns
        -------
        DataFrame
            ``tag, element, quantity, unit`` (as the historian wrote it), ``store_unit`` (of
            the stored values); empty when no export was read through a tag map.
        """
        rows = [r for e in self.manifest() if e["kind"] == "scada"
                for r in e.get("report", {}).get("meta", {}).get("tags", [])]
        cols = ["tag", "element", "quantity", "unit", "store_unit"]
        if not rows:
            return pd.DataFrame(columns=cols)
        df = pd.DataFrame(rows)[cols].astype(str)
        return df.drop_duplicates("tag", keep="last").sort_values("tag").reset_index(drop=True)

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
        staged = self.begin(kind, source_file, sha256)
        try:
            staged.add(df)
            return staged.commit(quarantine=quarantine, report=report)
        except BaseException:
            staged.abort()
            raise

    def begin(self, kind: str, source_file: str, sha256: str) -> StagedBatch:
        """Start a batch written in parts (:meth:`StagedBatch.add`), visible at its commit."""
        if kind not in schema.KINDS:
            raise StoreError(f"unknown kind {kind!r}; known: {', '.join(schema.KINDS)}")
        return StagedBatch(self, kind, str(source_file), sha256)

    def _write_parquet(self, table: pa.Table, path: str) -> None:
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with self.fs.open(path, "wb") as f:
            pq.write_table(table, f, compression=COMPRESSION, write_statistics=[
                c for c in STATISTICS_COLUMNS if c in table.column_names] or False)

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
        """Remove what writers that died left behind; return the paths removed.

        A batch's leftovers (its ``_staging/<batch>/`` folder and lock, and files it had
        moved into partitions without committing) are removed only when its writer is gone:
        its lock can be taken (:func:`_abandoned`) and it has no manifest entry. Batches
        being written by a running writer are left alone, so any writer may call this at any
        time (every ingest run does, first).
        """
        committed = {f for e in self.manifest() for f in e["files"]}
        removed = []
        staging = self._path("_staging")
        if self.fs.exists(staging):
            names = {posixpath.basename(p.rstrip("/")) for p in self.fs.ls(staging,
                                                                         detail=False)}
            for batch in sorted({n.removesuffix(".lock") for n in names}):
                with self._abandoned(batch) as gone:
                    if not gone:
                        continue
                    folder = self._path("_staging", batch)
                    if self.fs.exists(folder):
                        self.fs.rm(folder, recursive=True)
                        removed.append(folder)
                    if f"{batch}.lock" in names:  # its lock file goes when the lock is let go
                        removed.append(self._path("_staging", f"{batch}.lock"))
        for kind in [*schema.KINDS, QUARANTINE]:
            folder = self._path(kind)
            if not self.fs.exists(folder):
                continue
            for path in self.fs.find(folder):
                if posixpath.relpath(path, self.root) in committed:
                    continue
                match = _BATCH_NAME.search(posixpath.basename(path))
                if match is None:
                    continue  # not a file this store wrote: not ours to remove
                with self._abandoned(match.group(1)) as gone:
                    if gone and self.fs.exists(path):
                        self.fs.rm(path)
                        removed.append(path)
        if self._local:
            with contextlib.suppress(OSError):  # not empty: a writer is at work
                os.rmdir(staging)
        return removed

    @property
    def _local(self) -> bool:
        return "file" in _protocols(self.fs)

    @contextlib.contextmanager
    def _abandoned(self, batch: str):
        """Yield True while ``batch`` is known abandoned: never committed and its writer
        gone (its lock held here until the block ends, so no writer can take it back)."""
        if self.fs.exists(self._path("_manifest", f"{batch}.json")):
            yield False
            return
        if not self._local:
            began = int(batch.split("-")[0]) if _BATCH_NAME.fullmatch(batch) else 0
            yield time.time_ns() - began > STALE_STAGING_S * 1_000_000_000
            return
        lock = _take_lock(self._path("_staging", f"{batch}.lock"), wait=False)
        if lock is None:  # its writer holds it
            yield False
            return
        try:  # committed while we waited for the lock? (the entry is moved before release)
            yield not self.fs.exists(self._path("_manifest", f"{batch}.json"))
        finally:
            _drop_lock(lock, self._path("_staging", f"{batch}.lock"))

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

    def _dataset(self, files: list[str]) -> ds.Dataset:
        """The stored Parquet files as one Arrow dataset of :func:`storage_schema`."""
        return ds.dataset(files, schema=storage_schema(), format="parquet", filesystem=self.fs)

    def _read_files(self, files: list[str], series=None, start=None, end=None) -> pd.DataFrame:
        table = self._dataset(files).to_table(filter=_filter(series, start, end))
        return merge_overlaps(table, self.source_ranks())

    def source_ranks(self) -> dict[int, int]:
        """Source precedence of each committed batch (``batch_ns`` -> rank) by its format."""
        return {e["batch_ns"]: FORMAT_PRECEDENCE.get(e.get("report", {}).get("format", ""),
                                                     _DEFAULT_FORMAT_RANK)
                for e in self.manifest()}

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

    def iter_read(self, kind: str, columns: Sequence[str] | None = None, series=None,
                  start=None, end=None, chunk_rows: int | None = READ_CHUNK_ROWS
                  ) -> Iterator[pd.DataFrame]:
        """Read readings as :meth:`read` does (overlaps resolved), streamed in chunks.

        A UTC month at a time, and within a month a group of whole series at a time, each
        group holding at most ``chunk_rows`` stored rows (a series with more is a group of
        its own); only ``columns`` are read besides the few the precedence rule needs. A
        reading's overlapping copies share its series and month, so every chunk resolves
        its own: the chunks concatenated hold the rows of :meth:`read` (each chunk sorted by
        series and time; months in order, series groups in order within a month).

        Parameters
        ----------
        kind : str
            Measurement kind.
        columns : sequence of str, optional
            Measurement columns to return; all by default.
        series, start, end
            As for :meth:`read`.
        chunk_rows : int, optional
            Stored rows per chunk [-]; None reads each month whole.

        Yields
        ------
        pandas.DataFrame
            Non-empty chunks with ``columns``.
        """
        need = None
        if columns is not None:
            need = list(dict.fromkeys([*columns, *_MERGE_COLUMNS]))
        ranks = None
        for files in self._files_by_month(kind, start, end).values():
            dataset = self._dataset(files)
            where = _filter(series, start, end)
            ranks = self.source_ranks() if ranks is None else ranks
            for group in _series_groups(dataset, where, chunk_rows):
                filt = where if group is None else _and(where, ds.field("series_id").isin(
                    group))
                table = dataset.to_table(columns=need, filter=filt)
                if table.num_rows:
                    yield merge_overlaps(table, ranks, columns)
                del table
            pa.default_memory_pool().release_unused()  # a month's buffers back to the OS

    def iter_columns(self, kind: str, columns: Sequence[str], series=None, start=None,
                     end=None) -> Iterator[pd.DataFrame]:
        """Read some columns of the stored rows as they are (overlaps NOT resolved), one
        record batch at a time, each in stored order (series, then time).

        For statistics over many rows (history of a meter), where reading and merging every
        column would cost more than it tells; memory stays small.
        """
        files = [f for fs_ in self._files_by_month(kind, start, end).values() for f in fs_]
        if not files:
            return
        for batch in self._dataset(files).to_batches(columns=list(columns),
                                                     filter=_filter(series, start, end)):
            if batch.num_rows:
                yield batch.to_pandas()

    def last_time(self, kind: str) -> pd.Timestamp | None:
        """Start (UTC) of the latest stored reading of a kind, from its last month's files
        (one column read); None when the kind has none."""
        months = self._files_by_month(kind)
        if not months:
            return None
        files = months[max(months)]
        table = self._dataset(files).to_table(columns=["time_utc"])
        last = pc.max(table["time_utc"]).as_py()
        return None if last is None else _utc(last)

    def first_time(self, kind: str) -> pd.Timestamp | None:
        """Start (UTC) of the earliest stored reading of a kind, from its first month's files
        (one column read); None when the kind has none."""
        months = self._files_by_month(kind)
        if not months:
            return None
        table = self._dataset(months[min(months)]).to_table(columns=["time_utc"])
        first = pc.min(table["time_utc"]).as_py()
        return None if first is None else _utc(first)

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


class StagedBatch:
    """A batch of one source file written in parts under ``_staging/<batch>/``.

    Nothing is visible to readers until :meth:`commit` moves the parts to their partitions
    and then the manifest entry into ``_manifest/`` (the commit point); a crash before that
    leaves the store reading back as before. Parts may be added from a writer thread while
    the next part is being validated.
    """

    def __init__(self, store: MeasurementStore, kind: str, source_file: str, sha256: str):
        self.store, self.kind, self.source_file, self.sha256 = store, kind, source_file, sha256
        self.batch_ns = time.time_ns()
        self.batch = f"{self.batch_ns:020d}-{uuid.uuid4().hex[:8]}"
        self.staging = store._path("_staging", self.batch)
        self._lock_path = store._path("_staging", f"{self.batch}.lock")
        self._lock = _take_lock(self._lock_path, wait=True) if store._local else None
        self.parts: list[str] = []  # relative paths of the staged reading parts
        self.series: list[set] = []  # series ids of each part
        self.rows = 0

    def add(self, df: pd.DataFrame) -> int:
        """Stage readings (measurement schema); return the rows staged."""
        df = schema.conform(df)
        if not len(df):
            return 0
        table = schema.arrow_table(df)
        table = table.append_column(
            BATCH_COLUMN, pa.array(np.full(len(df), self.batch_ns, np.int64)))
        sid = df["series_id"].cat
        for m, rows in month_slices(df["time_utc"]):
            rel = posixpath.join(self.kind, f"month={m}",
                                 f"part-{self.batch}-{len(self.parts):04d}.parquet")
            part = table if len(rows) == len(df) else table.take(rows)
            self.store._write_parquet(part, posixpath.join(self.staging, rel))
            used = np.unique(sid.codes.to_numpy()[rows])
            self.parts.append(rel)
            self.series.append(set(sid.categories[used[used >= 0]].astype(str)))
        self.rows += len(df)
        return len(df)

    def _parts_with(self, names: set) -> list[int]:
        return [i for i, s in enumerate(self.series) if s & names]

    def take_series(self, names: Iterable[str]) -> pd.DataFrame:
        """Remove the staged readings of these series and return them (measurement schema).

        One pass over the parts that hold them (read once, split, the rest written back),
        two parts at a time (Parquet releases the GIL); rows come back in part order.
        """
        names = set(names)
        idx = self._parts_with(names)
        if not idx:
            return schema.empty_measurements()
        wanted = pa.array(sorted(names))
        with ThreadPoolExecutor(max_workers=2) as pool:
            taken = list(pool.map(lambda i: self._take_part(i, wanted), idx))
        for i in idx:
            self.series[i] -= names
        table = pa.concat_tables(taken).drop([BATCH_COLUMN])
        self.rows -= table.num_rows
        return schema.conform(table.to_pandas())

    def _take_part(self, i: int, wanted: pa.Array) -> pa.Table:
        """Split staged part ``i`` into the rows of ``wanted`` series (returned) and the
        rest (written back in place)."""
        path = posixpath.join(self.staging, self.parts[i])
        with self.store.fs.open(path, "rb") as f:
            table = pq.read_table(f)
        sid = table["series_id"].combine_chunks()  # dictionary: test the names, not rows
        hit = pc.take(pc.is_in(sid.dictionary, value_set=wanted), sid.indices)
        hit = pc.fill_null(hit, False)
        self.store._write_parquet(table.filter(pc.invert(hit)), path)
        return table.filter(hit)

    def commit(self, quarantine: pd.DataFrame | None = None,
               report: dict | None = None) -> WriteResult:
        """Commit the staged parts and quarantine atomically (see the class docstring)."""
        store = self.store
        if self.sha256 in store.checksums():  # committed meanwhile by another writer
            self.abort()
            return WriteResult("", 0, 0, True)
        moves = [(posixpath.join(self.staging, r), store._path(r)) for r in self.parts]
        nq = 0
        if quarantine is not None and len(quarantine):
            q = quarantine[[c.name for c in schema.QUARANTINE_COLUMNS]]
            qt = pa.Table.from_pandas(q, schema=schema.quarantine_arrow_schema(),
                                      preserve_index=False)
            rel = posixpath.join(QUARANTINE, f"part-{self.batch}.parquet")
            store._write_parquet(qt, posixpath.join(self.staging, rel))
            moves.append((posixpath.join(self.staging, rel), store._path(rel)))
            nq = len(q)
        entry = {
            "batch": self.batch, "batch_ns": self.batch_ns, "kind": self.kind,
            "source": source_label(self.source_file, self.sha256),
            "source_path": self.source_file, "sha256": self.sha256, "rows": self.rows,
            "quarantined": nq,
            "files": [posixpath.relpath(dst, store.root) for _, dst in moves],
            "committed_utc": pd.Timestamp.now(tz="UTC").isoformat(),
            "precedence": PRECEDENCE_RULE,
            "report": report or {},
        }
        staged_entry = posixpath.join(self.staging, "manifest.json")
        store.fs.makedirs(self.staging, exist_ok=True)  # a file with no rows staged nothing yet
        with store.fs.open(staged_entry, "wb") as f:
            f.write(json.dumps(entry, indent=1).encode())
        store._publish(moves, staged_entry, store._path("_manifest", f"{self.batch}.json"))
        store.fs.rm(self.staging, recursive=True)
        self._release()
        return WriteResult(self.batch, self.rows, nq, False)

    def abort(self) -> None:
        """Remove what was staged; the store stays as it was."""
        if self.store.fs.exists(self.staging):
            self.store.fs.rm(self.staging, recursive=True)
        self._release()

    def _release(self) -> None:
        """Give up the batch's lock (and remove its file): the batch is closed."""
        if self._lock is not None:
            _drop_lock(self._lock, self._lock_path)
            self._lock = None


@dataclass(frozen=True)
class _MonthReader:
    store: MeasurementStore
    series: object
    start: object
    end: object

    def __call__(self, files: list[str]) -> pd.DataFrame:
        return self.store._read_files(files, self.series, self.start, self.end)


def _protocols(fs) -> tuple:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def _take_lock(path: str, wait: bool) -> int | None:
    """Take the exclusive ``flock`` on the lock file ``path`` (created if missing); return
    its descriptor, or None when another process holds it and ``wait`` is False.

    The lock counts only while ``path`` still names the locked file: a holder that finished
    removes the file, and a process that took the lock on the removed file retries (a
    writer) or gives up (a cleaner: the batch was closed by its writer).
    """
    import fcntl

    while True:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder was removed meanwhile (empty): again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
        if not wait:
            return None


def _drop_lock(fd: int, path: str) -> None:
    """Remove the lock file ``path`` and release its lock (in that order: see
    :func:`_take_lock`)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.close(fd)


def _utc(t) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _month(t) -> str:
    return _utc(t).strftime("%Y-%m")


def _and(a, b):
    """Both filter expressions (either may be None)."""
    return b if a is None else a if b is None else a & b


def _series_groups(dataset: ds.Dataset, where, chunk_rows: int | None) -> list:
    """Groups of series ids (sorted) of at most ``chunk_rows`` stored rows each; ``[None]``
    (everything at once) when the rows are fewer or ``chunk_rows`` is None. Reads only the
    ``series_id`` column (dictionary indices, no string per row)."""
    if chunk_rows is None:
        return [None]
    counts: dict[str, int] = {}
    for batch in dataset.to_batches(columns=["series_id"], filter=where):
        col = batch.column(0)
        if not batch.num_rows:
            continue
        n = np.bincount(col.indices.to_numpy(zero_copy_only=False),
                        minlength=len(col.dictionary))
        for name, k in zip(col.dictionary.to_pylist(), n.tolist(), strict=True):
            if k:
                counts[name] = counts.get(name, 0) + k
    if sum(counts.values()) <= chunk_rows:
        return [None]
    groups, group, rows = [], [], 0
    for name in sorted(counts):
        if group and rows + counts[name] > chunk_rows:
            groups.append(group)
            group, rows = [], 0
        group.append(name)
        rows += counts[name]
    return [*groups, group] if group else groups


def _filter(series, start, end):
    expr = None
    both = _and

    if series is not None:
        series = [series] if isinstance(series, str) else list(series)
        expr = both(expr, ds.field("series_id").isin(series))
    if start is not None:
        expr = both(expr, ds.field("time_utc") >= pa.scalar(_utc(start), pa.timestamp("ns",
                                                                                      "UTC")))
    if end is not None:
        expr = both(expr, ds.field("time_utc") < pa.scalar(_utc(end), pa.timestamp("ns", "UTC")))
    return expr
