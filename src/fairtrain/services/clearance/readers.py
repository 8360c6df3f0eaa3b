"""Dataset readers for clearance: the input side of ``fairtrain clear INPUT``.

A reader lists an input's shards in a fixed order, streams each shard as batches of :class:`Item`
(memory bounded by the batch, never the file), and writes the items that passed clearance back in the
input's own format and columns, atomically, one output shard per input shard. Rows are identified by
their position in the shard, so a shard can be re-read and re-written exactly; an item that cannot be
read carries ``error`` and the shard goes on.

Formats: ``parquet`` (img2dataset/LAION manifests), ``jsonl``, ``csv``, ``webdataset``, ``folder``,
``hf`` (``save_to_disk``), ``warc``.

``write_cleared`` selects rows by ``Item.row`` and copies them from the input itself (Parquet/Arrow
batches with the same schema, JSONL/CSV/WARC bytes verbatim, tar members with their headers, files), so
the output does not depend on what a step did to ``record``. Its ``out_path`` is a file, except for
``folder``, where it is the shard's output directory. Readers and Items pickle, for process pools and Ray.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from ._readers_archive import FolderReader, WarcReader, WebDatasetReader
from ._readers_base import Item, ReaderError, Shard
from ._readers_tabular import CsvReader, HfReader, JsonlReader, ParquetReader

__all__ = [
    "FORMATS",
    "CsvReader",
    "FolderReader",
    "HfReader",
    "Item",
    "JsonlReader",
    "ParquetReader",
    "Reader",
    "ReaderError",
    "Shard",
    "WarcReader",
    "WebDatasetReader",
    "detect_format",
    "reader_for",
]


@runtime_checkable
class Reader(Protocol):
    format: str

    def shards(self, input_path: str | Path) -> list[Shard]:
        """The input's shards, always in the same order."""
        ...

    def read(self, shard: Shard, batch_size: int) -> Iterator[list[Item]]:
        """Batches of at most ``batch_size`` items, streamed."""
        ...

    def write_cleared(self, shard: Shard, items_kept: Iterable[Item], out_path: str | Path) -> int:
        """Write the kept items of ``shard`` to ``out_path`` in the input's format; returns how many."""
        ...


FORMATS: dict[str, type] = {
    "parquet": ParquetReader,
    "jsonl": JsonlReader,
    "csv": CsvReader,
    "webdataset": WebDatasetReader,
    "folder": FolderReader,
    "hf": HfReader,
    "warc": WarcReader,
}
_ALIASES = {
    "wds": "webdataset",
    "tar": "webdataset",
    "json": "jsonl",
    "ndjson": "jsonl",
    "tsv": "csv",
    "huggingface": "hf",
    "datasets": "hf",
    "directory": "folder",
    "dir": "folder",
}
_TABULAR = ("parquet", "jsonl", "csv", "hf")
# A directory holding several kinds picks the first here: img2dataset writes NNNNN.tar beside NNNNN.parquet
# (the same samples' metadata), and the tar holds the content.
_PRIORITY = ("warc", "webdataset", "parquet", "jsonl", "csv")
# Files that may sit beside dataset shards without making the directory a plain folder of works.
_SIDECAR = re.compile(r"^(_.*|.*\.json|.*\.md|(LICEN[CS]E|COPYING|README|NOTICE)(\..*)?)$", re.I)


def _format_of_file(name: str) -> str | None:
    name = name.lower()
    for fmt in _PRIORITY:
        if name.endswith(FORMATS[fmt].suffixes):
            return fmt
    return None


def detect_format(input_path: str | Path) -> str:
    """The format of a file by its extension; of a directory by what it holds (``folder`` otherwise)."""
    p = Path(input_path)
    if p.is_file():
        fmt = "hf" if p.name.endswith(".arrow") else _format_of_file(p.name)
        if fmt is None:
            raise ReaderError(
                str(input_path), f"cannot tell the format from the name; pass a format, one of {', '.join(FORMATS)}"
            )
        return fmt
    if not p.is_dir():
        raise ReaderError(str(input_path), "no such file or directory")
    if (p / "dataset_dict.json").is_file() or (p / "state.json").is_file():
        return "hf"
    found: set[str] = set()
    for f in p.rglob("*"):
        if not f.is_file() or f.name.startswith("."):
            continue
        fmt = _format_of_file(f.name)
        if fmt is not None:
            found.add(fmt)
        elif not _SIDECAR.match(f.name):
            return "folder"
    return next((fmt for fmt in _PRIORITY if fmt in found), "folder")


def reader_for(
    input_path: str | Path,
    format: str | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    scratch: str | Path | None = None,
) -> Reader:
    """The reader for ``input_path``: by ``format`` when given, else by extension or directory contents.

    ``columns`` names input columns for the roles ``url``, ``path``, ``data``, ``text`` (the row's content)
    or ``caption`` (text describing the row's media) when the column names do not tell. ``scratch``: a
    directory the caller owns for the temporary files of archive members read by path (WebDataset videos);
    by default the system's temporary directory."""
    fmt = (format or detect_format(input_path)).lower()
    fmt = _ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise ReaderError(str(format), f"unknown input format; known: {', '.join(FORMATS)}")
    if columns and fmt not in _TABULAR:
        raise ReaderError("columns", f"the {fmt} format has no columns to map")
    if fmt in _TABULAR:
        return FORMATS[fmt](columns=columns)
    return FORMATS[fmt](scratch=scratch) if fmt == "webdataset" else FORMATS[fmt]()
