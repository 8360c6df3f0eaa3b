"""Tabular inputs: Parquet (img2dataset/LAION manifests), JSONL, CSV/TSV, Hugging Face ``save_to_disk``."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fairtrain.core import safejson
from fairtrain.core.files import atomic_file

from ._readers_base import (
    MAX_LINE_BYTES,
    SHARD_ERRORS,
    Columns,
    Item,
    ReaderError,
    Shard,
    batched,
    error_item,
    item_from_record,
    kept_rows,
)

T = TypeVar("T")


def list_files(input_path: str | Path, suffixes: tuple[str, ...]) -> list[tuple[str, Path]]:
    """``(shard id, path)`` of the input file, or of every matching file under the input directory, sorted."""
    root = Path(input_path)
    if root.is_file():
        return [(root.name, root)]
    if not root.is_dir():
        raise ReaderError(str(input_path), "no such file or directory")
    found = sorted(
        (p.relative_to(root).as_posix(), p)
        for p in root.rglob("*")
        if p.is_file() and p.name.lower().endswith(suffixes) and not p.name.startswith(".")
    )
    if not found:
        raise ReaderError(str(input_path), f"no {'/'.join(suffixes)} files under it")
    return found


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def capped_lines(f: IO[bytes], cap: int = MAX_LINE_BYTES) -> Iterator[bytes | int]:
    """Each line of ``f`` with its line end; a line longer than ``cap`` bytes is skipped a piece at a time
    and given as its length instead, so no line ever takes more than ``cap`` bytes of memory."""
    while raw := f.readline(cap + 1):
        if len(raw) <= cap:
            yield raw
            continue
        size = len(raw)
        while not raw.endswith(b"\n") and (raw := f.readline(1 << 20)):
            size += len(raw)
        yield size


def _too_long(row: int, size: int) -> str:
    return f"line {row + 1} is {size} bytes long, more than the {MAX_LINE_BYTES} allowed"


def until_unreadable(it: Iterable[T]) -> Iterator[T]:
    """``it`` up to the failure that ends a shard early: the pass that writes the cleared output stops where
    the reading pass stopped (and reported it as an error item), instead of failing the job."""
    try:
        yield from it
    except SHARD_ERRORS:
        return


def _create_binary(path: Path, like: Path) -> IO[bytes]:
    """Output compressed the way the input was."""
    return gzip.open(path, "wb") if like.name.lower().endswith(".gz") else open(path, "wb")


def _binary_columns(schema: pa.Schema) -> list[str]:
    """Columns holding content bytes: binary, or a struct with a binary ``bytes`` field (HF Image/Audio)."""
    out = []
    for f in schema:
        t = f.type
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            out.append(f.name)
        elif (
            pa.types.is_struct(t)
            and t.get_field_index("bytes") >= 0
            and (pa.types.is_binary(t.field("bytes").type) or pa.types.is_large_binary(t.field("bytes").type))
        ):
            out.append(f.name)
    return out


def rebatch_rows(shard: Shard, it: Iterator[Item], batch_size: int) -> Iterator[list[Item]]:
    """Batches of ``it``; an exception that ends the shard early becomes one last error item."""
    row = 0

    def guarded() -> Iterator[Item]:
        nonlocal row
        try:
            for item in it:
                row = item.row + 1
                yield item
        except SHARD_ERRORS as e:
            yield error_item(shard, row, f"shard unreadable from row {row} on: {e}", field="shard")

    yield from batched(guarded(), batch_size)


def _record_items(
    shard: Shard, batches: Iterable[Any], columns: Mapping[str, str] | None, base: Path
) -> Iterator[Item]:
    """One Item per row of Arrow record batches (or tables), the column roles read off the first one."""
    cols = None
    row = 0
    for rb in batches:
        if cols is None:
            cols = Columns.infer(rb.schema.names, _binary_columns(rb.schema), columns)
        for rec in rb.to_pylist():
            yield item_from_record(shard, row, rec, cols, base)
            row += 1


def _kept_batches(batches: Iterable[pa.RecordBatch], keep: set[int]) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` whose numbers (counted from 0 across the batches) are in ``keep``."""
    row = 0
    for rb in batches:
        mask = np.fromiter((r in keep for r in range(row, row + rb.num_rows)), bool, rb.num_rows)
        row += rb.num_rows
        if mask.any():
            yield rb.filter(pa.array(mask))


class ParquetReader:
    """Parquet files; a file over ``split_bytes`` with several row groups is one shard per row group."""

    format = "parquet"
    suffixes = (".parquet", ".pq")

    def __init__(self, columns: Mapping[str, str] | None = None, split_bytes: int = 512 << 20):
        self.columns = columns
        self.split_bytes = split_bytes

    def shards(self, input_path: str | Path) -> list[Shard]:
        out = []
        for sid, path in list_files(input_path, self.suffixes):
            size = path.stat().st_size
            try:
                meta = pq.read_metadata(path)
            except (OSError, pa.ArrowException):
                meta = None  # read() reports it as the shard's error item
            if meta is not None and size > self.split_bytes and meta.num_row_groups > 1:
                out += [
                    Shard(f"{sid}#rowgroup-{k}", str(path), meta.row_group(k).total_byte_size, row_group=k)
                    for k in range(meta.num_row_groups)
                ]
            else:
                out.append(Shard(sid, str(path), size))
        return out

    def _batches(self, shard: Shard, batch_size: int) -> Iterator[pa.RecordBatch]:
        pf = pq.ParquetFile(shard.path)
        groups = [shard.row_group] if shard.row_group is not None else range(pf.num_row_groups)
        # One row group per call: pre-buffering (coalesced reads, good on remote storage) then holds one
        # row group, where a call over all groups buffers the whole file (peak 12.6 MB vs 1.2 MB for an
        # 11.5 MB file of 24 row groups).
        for k in groups:
            yield from pf.iter_batches(batch_size=batch_size, row_groups=[k], use_threads=False)

    def read(self, shard: Shard, batch_size: int) -> Iterator[list[Item]]:
        base = Path(shard.path).parent

        return rebatch_rows(
            shard, _record_items(shard, self._batches(shard, batch_size), self.columns, base), batch_size
        )

    def write_cleared(self, shard: Shard, items_kept: Iterable[Item], out_path: str | Path) -> int:
        keep = kept_rows(shard, items_kept)
        pf = pq.ParquetFile(shard.path)
        md = pf.metadata
        codec = "zstd"
        if md.num_row_groups and md.num_columns:
            codec = md.row_group(0).column(0).compression.lower()
        codec = {"uncompressed": "none", "lz4_raw": "lz4"}.get(codec, codec)
        written = 0
        with atomic_file(out_path) as tmp:
            with pq.ParquetWriter(tmp, pf.schema_arrow, compression=codec) as w:
                for rb in _kept_batches(until_unreadable(self._batches(shard, 65536)), keep):
                    w.write_batch(rb)
                    written += rb.num_rows
        return written


class _LineReader:
    """Shared by JSONL and CSV: rows are byte ranges of the file, written back verbatim."""

    suffixes: tuple[str, ...] = ()

    def __init__(self, columns: Mapping[str, str] | None = None):
        self.columns = columns
        self._cols: dict[tuple[str, ...], Columns] = {}

    def shards(self, input_path: str | Path) -> list[Shard]:
        return [Shard(sid, str(p), p.stat().st_size) for sid, p in list_files(input_path, self.suffixes)]

    def _columns(self, names: Iterable[str]) -> Columns:
        key = tuple(names)
        if key not in self._cols:
            if len(self._cols) >= 256:  # rows with ever-new keys must not grow the cache without end
                self._cols.clear()
            self._cols[key] = Columns.infer(key, (), self.columns)
        return self._cols[key]

    def _rows(self, shard: Shard) -> Iterator[tuple[int, bytes, dict | str]]:
        """``(row, raw bytes, record or error)``; the header, if any, is row -1."""
        raise NotImplementedError

    # The part of a row an error string from _rows is about.
    error_field = "line"

    def read(self, shard: Shard, batch_size: int) -> Iterator[list[Item]]:
        base = Path(shard.path).parent

        def items() -> Iterator[Item]:
            for row, _raw, rec in self._rows(shard):
                if row < 0:
                    continue
                if isinstance(rec, str):
                    yield error_item(shard, row, rec, field=self.error_field)
                else:
                    try:
                        cols = self._columns(rec)
                    except ReaderError as e:
                        yield error_item(shard, row, str(e), record=rec, field="columns")
                        continue
                    yield item_from_record(shard, row, rec, cols, base)

        return rebatch_rows(shard, items(), batch_size)

    def write_cleared(self, shard: Shard, items_kept: Iterable[Item], out_path: str | Path) -> int:
        keep = kept_rows(shard, items_kept)
        written = 0
        with atomic_file(out_path) as tmp:
            with _create_binary(tmp, Path(shard.path)) as out:
                for row, raw, _rec in until_unreadable(self._rows(shard)):
                    if row < 0 or row in keep:
                        out.write(raw)
                        written += row >= 0
        return written


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = raw[e.start : e.start + 1]
        raise ValueError(f"{what} is not valid UTF-8 (byte {e.start}: {bad!r})") from None


class JsonlReader(_LineReader):
    """One JSON object per line (``.jsonl``, ``.ndjson``, gzip-compressed too); row = line number from 0."""

    format = "jsonl"
    suffixes = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json.gz")

    def _rows(self, shard: Shard) -> Iterator[tuple[int, bytes, dict | str]]:
        with _open_binary(Path(shard.path)) as f:
            for row, raw in enumerate(capped_lines(f)):
                if isinstance(raw, int):
                    yield row, b"", _too_long(row, raw)
                    continue
                if not raw.strip():
                    continue
                try:
                    line = _utf8(raw, f"line {row + 1}")
                except ValueError as e:
                    yield row, raw, str(e)
                    continue
                try:
                    rec: Any = safejson.loads(line)
                except safejson.JsonTooDeep as e:
                    yield row, raw, f"line {row + 1} is refused: {e}"
                    continue
                except ValueError as e:
                    yield row, raw, f"line {row + 1} is not JSON: {e}"
                    continue
                if not isinstance(rec, dict):
                    yield row, raw, f"line {row + 1} is a JSON {type(rec).__name__}, not an object"
                    continue
                yield row, raw, rec


# Text datasets in CSV carry whole documents in a field; the csv module's default cap is 128 KiB.
_CSV_FIELD_LIMIT = 64 << 20


class CsvReader(_LineReader):
    """CSV (or TSV) with a header row; row = data row number from 0; quoted newlines are kept."""

    format = "csv"
    suffixes = (".csv", ".tsv", ".csv.gz", ".tsv.gz")

    def __init__(self, columns: Mapping[str, str] | None = None):
        super().__init__(columns)
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)

    def _rows(self, shard: Shard) -> Iterator[tuple[int, bytes, dict | str]]:
        path = Path(shard.path)
        delimiter = "\t" if ".tsv" in path.name.lower() else ","
        consumed: list[bytes] = []
        bad: list[str] = []

        def lines(f: IO[bytes]) -> Iterator[str]:
            for n, raw in enumerate(capped_lines(f)):
                if isinstance(raw, int):  # the parser cannot find the next row in step: the shard ends here
                    raise ValueError(_too_long(n, raw))
                consumed.append(raw)
                text = raw[3:] if n == 0 and raw.startswith(b"\xef\xbb\xbf") else raw
                try:
                    yield _utf8(text, f"line {n + 1}")
                except ValueError as e:
                    bad.append(str(e))
                    yield text.decode("utf-8", "surrogateescape")  # keeps the parser in step with the bytes

        with _open_binary(path) as f:
            reader = csv.reader(lines(f), delimiter=delimiter)
            header: list[str] | None = None
            row = 0
            while True:
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    fields = None
                    bad.append(f"line {reader.line_num}: {e}")
                raw = b"".join(consumed)
                consumed.clear()
                if fields == [] and not bad:  # a blank line
                    continue
                if header is None:
                    if bad or not fields:
                        raise ValueError(f"header unreadable: {'; '.join(bad) or 'empty'}")
                    header = fields
                    if len(set(header)) != len(header):
                        raise ValueError(f"header repeats a column name: {header}")
                    yield -1, raw, {}
                    continue
                if bad:
                    yield row, raw, "; ".join(bad)
                    bad.clear()
                elif len(fields) != len(header):
                    yield row, raw, (f"line {reader.line_num} has {len(fields)} fields, the header {len(header)}")
                else:
                    yield row, raw, dict(zip(header, fields))
                row += 1


_DATASETS_PIN = "datasets==5.2.0"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as e:
        raise ReaderError(
            "hf", f"reading Hugging Face datasets needs the datasets package: pip install {_DATASETS_PIN}"
        ) from e
    return datasets


class HfReader:
    """A Hugging Face ``datasets`` dataset (or DatasetDict) saved with ``save_to_disk``: one shard per Arrow
    file; the cleared shard is an Arrow file with the same schema and features (``Dataset.from_file``)."""

    format = "hf"

    def __init__(self, columns: Mapping[str, str] | None = None):
        self.columns = columns

    def shards(self, input_path: str | Path) -> list[Shard]:
        datasets = _datasets()
        root = Path(input_path)
        if root.is_file() and root.suffix == ".arrow":  # one Arrow file, such as a cleared shard
            return [Shard(root.name, str(root), root.stat().st_size)]
        try:
            loaded = datasets.load_from_disk(str(root))
        except (FileNotFoundError, ValueError, OSError) as e:
            raise ReaderError(str(input_path), f"not a dataset saved with save_to_disk: {e}") from e
        parts = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
        out = []
        for ds in parts:
            for cf in ds.cache_files:
                p = Path(cf["filename"])
                out.append(
                    Shard(
                        p.relative_to(root.resolve()).as_posix() if p.is_relative_to(root.resolve()) else p.name,
                        str(p),
                        p.stat().st_size,
                    )
                )
        return out

    def read(self, shard: Shard, batch_size: int) -> Iterator[list[Item]]:
        datasets = _datasets()
        base = Path(shard.path).parent

        def items() -> Iterator[Item]:
            ds = datasets.Dataset.from_file(shard.path)
            yield from _record_items(shard, ds.with_format("arrow").iter(batch_size=batch_size), self.columns, base)

        return rebatch_rows(shard, items(), batch_size)

    def write_cleared(self, shard: Shard, items_kept: Iterable[Item], out_path: str | Path) -> int:
        keep = kept_rows(shard, items_kept)
        written = 0
        with atomic_file(out_path) as tmp, pa.memory_map(shard.path) as src:
            reader = pa.ipc.open_stream(src)
            with pa.ipc.new_stream(str(tmp), reader.schema) as w:
                for rb in _kept_batches(until_unreadable(reader), keep):
                    w.write_batch(rb)
                    written += rb.num_rows
        return written
