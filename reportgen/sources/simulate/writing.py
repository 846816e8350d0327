"""Writing: vectorised id, label and timestamp arrays for the Arrow tables, and atomic files:
Parquet with fixed options, CSV formatted like the seed."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CSV_SLICE_ROWS = 250_000  # rows formatted at once when writing CSV
_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8)
_CSV_SPECIAL = (b",", b'"', b"\r", b"\n")  # bytes that force a CSV value into quotes
_CENTS = pa.array([f".{i:02d}" for i in range(100)], pa.string())
_DICTIONARY_COLUMNS = {
    "source", "campaign", "influencer_id", "product", "platform", "category", "gender", "basis",
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Vectorised string helpers
# ---------------------------------------------------------------------------------------------


def prefixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Return ids like ``TRK0000042``: prefix plus zero-padded non-negative numbers."""
    numbers = np.asarray(numbers, np.int64)
    head = np.frombuffer(prefix.encode(), np.uint8)
    width = max(width, len(str(int(numbers.max())))) if len(numbers) else width
    cols = np.empty((len(head) + width, len(numbers)), np.uint8)
    cols[: len(head)] = head[:, None]
    _put_digits(cols, len(head), width, numbers)
    return _byte_columns_to_strings(cols)


def _put_digits(cols: np.ndarray, start: int, width: int, values: np.ndarray) -> None:
    """Write values as zero-padded decimal digits into rows start..start+width of cols."""
    rest = values.astype(np.uint32 if width <= 9 else np.uint64)
    for j in range(start + width - 1, start - 1, -1):
        cols[j] = rest % 10 + 48
        rest = rest // 10  # not //=: numpy's in-place stubs reject the generic array


def _byte_columns_to_strings(cols: np.ndarray) -> pa.Array:
    """Return the strings held in the columns of a (width, n) byte matrix."""
    # Transposed, the matrix rows are the strings back to back, which is exactly an Arrow
    # string buffer: about 4x faster than formatting through Arrow compute.
    width, n = cols.shape
    data = np.ascontiguousarray(cols.T)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def labels(names: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Return the label of each integer code."""
    return pc.take(pa.array(list(names), pa.string()), pa.array(np.asarray(codes, np.int64)))


def random_codes(rng: np.random.Generator, n: int, length: int) -> pa.Array:
    """Return n random URL-safe base64 codes (Instagram and YouTube style ids)."""
    raw = np.ascontiguousarray(_B64[rng.integers(0, 64, (n, length))])
    return pa.array(raw.view(f"S{length}").ravel(), pa.binary()).cast(pa.string())


def timestamps(first_day: np.datetime64, second: np.ndarray) -> np.ndarray:
    """Return naive datetime64[us] stamps for seconds since first_day."""
    base = first_day.astype("datetime64[s]").astype(np.int64)
    return ((base + second) * 1_000_000).astype(np.int64).view("datetime64[us]")


# ---------------------------------------------------------------------------------------------
# Writing: atomic files, parquet with fixed options, CSV like the seed
# ---------------------------------------------------------------------------------------------


class _Sink:
    """Append tables of one schema to an open parquet or CSV file, writing in the background."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str) -> None:
        """Open path for writing in the given format."""
        self._file: BinaryIO = open(path, "wb")  # closed in close()
        self._parquet: pq.ParquetWriter | None = None
        # One writer thread: encoding and compressing chunk k (which releases the GIL)
        # overlaps generating chunk k + 1, and order is kept since one write runs at a time.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulate-writer")
        self._pending: Future[None] | None = None
        if fmt == "parquet":
            # Fixed options (and no pandas metadata) keep the bytes identical between runs.
            self._parquet = pq.ParquetWriter(
                self._file,
                schema,
                compression="zstd",
                compression_level=1,
                # Dictionaries only where values repeat; unique ids would just fall back.
                use_dictionary=[f.name for f in schema if f.name in _DICTIONARY_COLUMNS],
                write_statistics=True,
                version="2.6",
                data_page_version="1.0",
            )
        else:
            self._file.write((",".join(schema.names) + "\n").encode())

    def write(self, table: pa.Table) -> None:
        """Queue a table for writing; each becomes one parquet row group (about 1M rows)."""
        self._wait()
        self._pending = self._pool.submit(self._write_now, table)

    def _write_now(self, table: pa.Table) -> None:
        """Encode and write one table (runs on the writer thread)."""
        if self._parquet is not None:
            self._parquet.write_table(table, row_group_size=max(len(table), 1))
        else:
            # Format in slices: CSV text is ~100 bytes a row, and its intermediates more.
            for start in range(0, len(table), CSV_SLICE_ROWS):
                self._file.write(_csv_bytes(table.slice(start, CSV_SLICE_ROWS)))

    def _wait(self) -> None:
        """Wait for the queued write and re-raise its error, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Finish writing, flush the file to disk and close it."""
        try:
            self._wait()
            if self._parquet is not None:
                self._parquet.close()
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._pool.shutdown(wait=True)
            self._file.close()


@contextmanager
def atomic_sink(path: Path, schema: pa.Schema, fmt: str) -> Iterator[_Sink]:
    """Write to a temp file next to path and move it into place only when complete."""
    # A hidden name with the pid, in the same directory so that os.replace is atomic;
    # open() rather than mkstemp() so the file gets the usual umask permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        sink = _Sink(Path(tmp), schema, fmt)
        try:
            yield sink
        finally:
            sink.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(path: Path, fmt: str, table: pa.Table) -> int:
    """Write a whole table atomically and return its row count."""
    with atomic_sink(path, table.schema, fmt) as sink:
        sink.write(table)
    return len(table)


def _csv_bytes(table: pa.Table) -> memoryview:
    """Return CSV lines for a table: minimal quoting, money with 2 decimals, ISO seconds."""
    parts: list[Any] = []
    for i in range(table.num_columns):
        parts += [_csv_column(table.column(i).combine_chunks()), ","]
    parts[-1] = "\n"
    lines = pc.binary_join_element_wise(*parts, "")
    # The string array's data buffer is already the file content, byte for byte.
    offsets = np.frombuffer(lines.buffers()[1], np.int32)
    offsets = offsets[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def _csv_column(col: pa.Array) -> pa.Array:
    """Format one column as CSV cells."""
    if pa.types.is_timestamp(col.type):
        return _timestamp_strings(col)
    if pa.types.is_floating(col.type):
        return _money_strings(col.to_numpy())
    if pa.types.is_string(col.type):
        data = col.buffers()[2]
        raw = data.to_pybytes() if data is not None else b""
        # A memchr scan of the whole buffer is much cheaper than a per-value regex.
        if not any(special in raw for special in _CSV_SPECIAL):
            return col
        needs = pc.match_substring_regex(col, r'[,"\r\n]')
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
        return pc.if_else(needs, quoted, col)
    return pc.cast(col, pa.string())


def _timestamp_strings(col: pa.Array) -> pa.Array:
    """Format naive timestamps as ``YYYY-MM-DD HH:MM:SS`` (Arrow's strftime is ~20x slower)."""
    second = col.cast(pa.timestamp("s")).cast(pa.int64()).to_numpy()
    day = second // 86_400
    clock = second - day * 86_400
    as_day = day.astype("datetime64[D]")
    as_month = as_day.astype("datetime64[M]")
    month_no = as_month.astype(np.int64)
    cols = np.empty((19, len(second)), np.uint8)
    cols[[4, 7]], cols[10], cols[[13, 16]] = ord("-"), ord(" "), ord(":")
    _put_digits(cols, 0, 4, month_no // 12 + 1970)
    _put_digits(cols, 5, 2, month_no % 12 + 1)
    _put_digits(cols, 8, 2, (as_day - as_month).astype(np.int64) + 1)
    _put_digits(cols, 11, 2, clock // 3_600)
    _put_digits(cols, 14, 2, clock // 60 % 60)
    _put_digits(cols, 17, 2, clock % 60)
    return _byte_columns_to_strings(cols)


def _money_strings(values: np.ndarray) -> pa.Array:
    """Format amounts with exactly two decimals (``2345.60``), vectorised and exact."""
    cents = np.rint(values * 100).astype(np.int64)
    negative = cents < 0
    cents = np.abs(cents)
    out = pc.binary_join_element_wise(
        pc.cast(pa.array(cents // 100), pa.string()), pc.take(_CENTS, pa.array(cents % 100)), ""
    )
    if negative.any():
        out = pc.binary_join_element_wise(pc.if_else(pa.array(negative), "-", ""), out, "")
    return out
