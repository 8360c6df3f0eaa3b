"""A snapshot's match indexes, cut into segments by work id: built in bounded memory, opened lazily.

Since snapshot format /4 each modality's index under ``fingerprints/<modality>/`` is a series of
``seg-NNNNN/`` directories, each the modality's own index over the next ``segment_works`` works in work-id
order. The export and a delta's apply build them the same way from the same public fingerprint rows
(:func:`build_segments`), one segment held in memory at a time, so an export's memory is a fixed cost per
segment whatever the registry's size, and the bytes do not depend on how the rows were batched. The
segment size is in the signed manifest (``index_segment_works``), so a puller cuts the same segments.

:class:`SegmentedIndex` matches against every segment (each opened on first use) and merges the results
in the order the modalities' indexes give them: exact hits first, then score descending, then work id. Snapshots before /4 have
one flat index per modality; :func:`open_index` opens either layout.

One difference from a single index, by design of a bounded export: the text index's stop list (8-grams
in more than ``max_works_per_fingerprint`` works) is computed per segment, so a passage common across
segments but rare inside each one still counts as evidence. Registries up to ``segment_works`` works are
one segment and match exactly as a single index does.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterable
from pathlib import Path

from fairtrain.core.fingerprint import Match, _buckets, codec
from fairtrain.core.fingerprint.modalities import modality

# Works per index segment: a text segment of 100,000 works is built in about 1 GB (its builder holds
# every fingerprint of the segment), which bounds an export's peak memory.
SEGMENT_WORKS = 100_000
SEGMENT_PREFIX = "seg-"


def segment_name(i: int) -> str:
    return f"{SEGMENT_PREFIX}{i:05d}"


def build_segments(
    name: str,
    rows: Iterable[tuple[int, bytes]],
    directory: Path,
    segment_works: int = SEGMENT_WORKS,
    *,
    on_row: Callable[[int, bytes], None] | None = None,
    segment_filters: bool = False,
    mapped: bool = True,
    buckets: bool = True,
) -> int:
    """Build ``name``'s index from ``(work_id, public fingerprint blob)`` rows in work-id order (or
    ``(work_id, blob, loads(blob))``, where the caller decoded it already) into
    ``directory/seg-NNNNN/``: every ``segment_works`` rows a segment is built, saved and dropped; then the
    merged candidate table over them (:func:`build_router`). Always writes at least one segment (an empty
    index for no rows). ``on_row`` sees each row as it passes (the export writes the public rows from it).
    ``segment_filters``: lay the segments out as format /5 did (a filter per segment, no merged table),
    for a delta whose result is a /5 snapshot. ``mapped``: save each index in its memory-mapped format where
    the modality has one (format /7: the text index as uncompressed ``.npy``); False for a /5 or /6 result.
    ``buckets``: with bucket directories over the mapped index's keys and the routing table's (format /8);
    False for a /7 result. Returns the number of rows."""
    if segment_works < 1:
        raise ValueError("segment_works must be >= 1")
    directory = Path(directory)
    n, seg, builder, in_seg = 0, 0, modality(name).new_builder(), 0
    for row in rows:  # a builder fed as rows pass: a segment's fingerprints, never its blobs too
        work_id, blob = row[0], row[1]
        if on_row is not None:
            on_row(work_id, blob)
        builder.add(work_id, row[2] if len(row) > 2 else codec.loads(blob))
        n, in_seg = n + 1, in_seg + 1
        if in_seg == segment_works:
            _save(name, builder, directory / segment_name(seg), segment_filters, mapped, buckets)
            seg, builder, in_seg = seg + 1, modality(name).new_builder(), 0
    if in_seg or seg == 0:
        _save(name, builder, directory / segment_name(seg), segment_filters, mapped, buckets)
    if not segment_filters:
        build_router(name, directory, buckets=buckets)
    return n


def build_segment(
    name: str,
    rows: Iterable[tuple[int, bytes]],
    target: Path,
    *,
    segment_filters: bool = False,
    mapped: bool = True,
    buckets: bool = True,
) -> None:
    """One segment of ``name``'s index from its ``(work_id, public fingerprint blob)`` rows into ``target``:
    a pure function of the rows, so any process (or Ray task) building it writes the same bytes."""
    builder = modality(name).new_builder()
    for row in rows:
        builder.add(row[0], row[2] if len(row) > 2 else codec.loads(row[1]))
    _save(name, builder, Path(target), segment_filters, mapped, buckets)


def _save(
    name: str, builder, target: Path, segment_filters: bool = False, mapped: bool = True, buckets: bool = True
) -> None:
    index = builder.build()
    del builder
    if mapped and hasattr(index, "save_mapped"):
        # since /7: opened by memory-mapping, nothing decoded; since /8 with bucket directories (format 4)
        index.save_mapped(target, version=4 if buckets else 3)
    else:
        index.save(target)
    keys = _CANDIDATE_KEYS.get(name)
    if keys is not None:
        write_keys(target, keys.of_index(index), segment_filter=segment_filters)
    del index
    gc.collect()  # fingerprints reference each other's arrays: free the segment before the next one
    _trim()


def _trim() -> None:
    """Give the freed segment back to the system (glibc keeps freed small blocks in its arenas, so the
    process's RSS would otherwise stay at its largest segment plus fragmentation)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


# -- the candidate stage: memory-mapped keys and a bit filter per segment ----------------------------
#
# Since format /5 a segment of a modality listed in _CANDIDATE_KEYS carries ``candidate-keys.npy``, every
# hash its index can match on (sorted, unique, uint64), and ``candidate-filter.npy``, a one-hash Bloom
# filter of them (16 bits a key), both uncompressed so they open by memory-mapping. A query that shares no
# key with a segment cannot match anything in it, so :class:`SegmentedIndex` routes a batch first: every
# query hash is looked up in each segment's filter (one byte read), the few that pass are searched in its
# keys, and each segment is handed only the queries that hit it. Clearance costs what it touches, not the
# number of segments, and a segment no query reaches is never opened.
KEYS_FILE = "candidate-keys.npy"
FILTER_FILE = "candidate-filter.npy"
_GOLDEN = 0x9E3779B97F4A7C15  # multiplicative hashing: spreads winnowed hashes (window minima) over the filter


class _TextKeys:
    """The text index's match keys: excerpt and Hangul fingerprints, LSH band keys and the exact digests
    (each folded to 64 bits: high word XOR low word). Every way a text index finds a work starts from one
    of them."""

    @staticmethod
    def of_index(index):
        import numpy as np

        return np.concatenate(
            [
                np.asarray(index.fp_hash, dtype=np.uint64),
                np.asarray(index.hangul.hash, dtype=np.uint64),
                np.asarray(index.band_key, dtype=np.uint64),
                np.asarray(index.exact_hi, dtype=np.uint64) ^ np.asarray(index.exact_lo, dtype=np.uint64),
            ]
        )

    @staticmethod
    def of_queries(fps):
        """(keys, query of each key, where each kind of key ends) of a batch, in one pass over it: its
        excerpt fingerprints, band keys, Hangul fingerprints and folded digests, in that order."""
        import numpy as np

        empty = np.empty(0, np.uint64)
        groups = [
            [fp.grams for fp in fps],
            [fp.bands for fp in fps],
            [fp.hangul_grams if fp.hangul_grams is not None else empty for fp in fps],
        ]
        digests = np.frombuffer(b"".join(fp.raw_hash + fp.norm_hash for fp in fps), dtype=">u8").astype(np.uint64)
        digests = digests.reshape(-1, 4)
        folded = np.stack([digests[:, 0] ^ digests[:, 1], digests[:, 2] ^ digests[:, 3]], axis=1).ravel()
        n = np.arange(len(fps))
        # one concatenate casting as it copies (a per-array asarray cost more than the rest of the routing)
        keys = np.concatenate([a for g in groups for a in g] + [folded], dtype=np.uint64, casting="unsafe")
        lens = [np.fromiter(map(len, g), dtype=np.intp, count=len(g)) for g in groups]
        owner = np.concatenate([np.repeat(n, c) for c in lens] + [np.repeat(n, 2)])
        return keys, owner, np.cumsum([int(c.sum()) for c in lens]).tolist()

    @staticmethod
    def present(fps, queries: list[int], held, owner, ends) -> dict:
        """The text index's ``present`` hint (:meth:`TextIndex.match`) for the batch ``[fps[q] for q in
        queries]`` (``queries`` ascending), from ``held``, a mask over :meth:`of_queries`' keys true where
        the segment holds the key (``owner`` and ``ends`` as it gave them): a segment's keys hold every excerpt and Hangul fingerprint and band key
        of its index, so a key it does not hold need not be looked up there again."""
        import numpy as np

        mine = np.zeros(len(fps), dtype=bool)
        mine[queries] = True
        mine = mine[owner]
        out, at = {}, 0
        for name, end in zip(("grams", "bands", "hangul"), ends, strict=False):
            out[name] = held[at:end][mine[at:end]]
            at = end
        return out


_CANDIDATE_KEYS = {"text": _TextKeys}


def write_keys(target: Path, keys, *, segment_filter: bool = False) -> None:
    """A segment's candidate keys (sorted, unique), and with ``segment_filter`` their bit filter (format /5;
    since /6 the modality's merged table, :func:`build_router`, routes instead)."""
    import numpy as np

    keys = np.unique(np.asarray(keys, dtype=np.uint64))
    np.save(Path(target) / KEYS_FILE, keys, allow_pickle=False)
    if segment_filter:
        bits = _filter_bits(len(keys))
        packed = np.zeros(1 << (bits - 3), dtype=np.uint8)  # 2 bytes a key, set in place (no byte per slot)
        _set_bits(packed, keys, bits)
        np.save(Path(target) / FILTER_FILE, packed, allow_pickle=False)


def _filter_bits(n_keys: int) -> int:
    return max(10, (16 * n_keys - 1).bit_length())  # 16 bits a key at least, a power of two


def _set_bits(packed, keys, bits: int) -> None:
    import numpy as np

    slot = _slots(keys, bits)
    np.bitwise_or.at(packed, slot >> 3, np.left_shift(1, slot & 7).astype(np.uint8))


# -- the merged candidate table (format /6) -----------------------------------------------------------
#
# One table per modality over all its segments: every segment's keys merged in key order
# (``route-keys.npy``, uint64, a key once per segment holding it), the segment of each
# (``route-segments.npy``, uint16 up to 65,535 segments, else uint32) and a one-hash bit filter over them
# (``route-filter.npy``, 16 bits a key). A batch is routed with one filter pass and two binary searches of
# the keys that pass, whatever the number of segments; everything is memory-mapped.
ROUTE_KEYS = "route-keys.npy"
ROUTE_SEGMENTS = "route-segments.npy"
ROUTE_FILTER = "route-filter.npy"
ROUTE_FILES = (ROUTE_KEYS, ROUTE_SEGMENTS, ROUTE_FILTER)
# Since /8: the keys' bucket directory (core/fingerprint/_buckets.py), so a key that passes the filter is
# found in one short run instead of by a binary search over every key of the registry (at 10⁷ works, some
# 4×10⁸ keys and 3 GB: a search's pages are mostly not in memory). A /6 or /7 table has none.
ROUTE_BUCKETS = "route-buckets.npy"
_MERGE_CHUNK = 1 << 22  # keys merged at a time (about 100 MB of work arrays): bounds the merge's memory
_FILTER_PASS_BYTES = 1 << 28  # the filter is set this many bytes at a time (a 10⁷-work table's is 1 GiB)


def build_router(name: str, directory: Path, *, buckets: bool = True) -> None:
    """Merge the candidate keys of ``directory``'s segments into the modality's routing table (see above),
    a key range at a time, so memory stays bounded whatever the number of keys. The bytes depend only on
    the segments' keys: the export, its engines and a delta's apply write the same table. ``buckets``: with
    the keys' bucket directory (format /8).

    Keys, segments and the directory are written in order through plain file writes and the segments' keys
    read a range at a time into memory, not through memory maps: a mapped page counts in the process's
    resident memory until the kernel reclaims it (10⁶ works: 1.45 GB of mapped file pages in the merge).
    The filter's bits are scattered, so it is set a slice of its bytes at a time from the merged keys."""
    if name not in _CANDIDATE_KEYS:
        return
    import numpy as np

    directory = Path(directory)
    paths = sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith(SEGMENT_PREFIX))
    keys = [np.load(p / KEYS_FILE, mmap_mode="r", allow_pickle=False) for p in paths]  # searched, not read
    total = sum(len(k) for k in keys)
    seg_type = np.uint16 if len(paths) <= 0xFFFF else np.uint32
    parts = max(1, -(-total // _MERGE_CHUNK))
    # hashes are spread evenly over 64 bits, so equal slices of the key space are about equal in size
    edges = [0, *(int(j * (1 << 64) // parts) for j in range(1, parts))]
    starts = [np.searchsorted(k, np.array(edges, dtype=np.uint64)).tolist() + [len(k)] for k in keys]
    sources = [(p / KEYS_FILE, k.offset) for p, k in zip(paths, keys, strict=True)]
    del keys
    dir_bits = _buckets.bucket_bits(total) if buckets else 0
    with contextlib.ExitStack() as stack:
        out_keys = stack.enter_context(_NpyWriter(directory / ROUTE_KEYS, np.uint64, total))
        out_segs = stack.enter_context(_NpyWriter(directory / ROUTE_SEGMENTS, seg_type, total))
        directory_of = None
        if buckets:
            count = (1 << dir_bits) + 1
            directory_of = stack.enter_context(
                _NpyWriter(directory / ROUTE_BUCKETS, _buckets.offset_type(total), count)
            )
            # the buckets whose first key value lies in each key range: [ceil(edge / bucket width), ...)
            cuts = [-((-e) >> (64 - dir_bits)) for e in edges] + [1 << dir_bits]
        pos = 0
        for j in range(parts):
            pieces = [
                _read_keys(path, offset, s[j], s[j + 1]) for (path, offset), s in zip(sources, starts, strict=True)
            ]
            cat = np.concatenate(pieces) if pieces else np.empty(0, np.uint64)
            seg = np.repeat(np.arange(len(pieces), dtype=seg_type), [len(p) for p in pieces])
            del pieces
            order = np.argsort(cat, kind="stable")  # equal keys stay in segment order
            merged = cat[order]
            del cat
            out_keys.write(merged)
            out_segs.write(seg[order])
            del seg, order
            if directory_of is not None:
                directory_of.write(_buckets.directory_part(merged, pos, dir_bits, cuts[j], cuts[j + 1]))
            pos += len(merged)
            del merged
        if directory_of is not None:
            directory_of.write(np.array([total]))
    _write_filter(directory / ROUTE_FILTER, directory / ROUTE_KEYS, total)


class _NpyWriter:
    """An ``.npy`` file of a known dtype and length written front to back, its bytes those
    ``numpy.lib.format.open_memmap`` would hold once filled (the header is its own)."""

    def __init__(self, path: Path, dtype, length: int):
        import numpy as np
        from numpy.lib.format import open_memmap

        self.path, self.dtype, self.length, self.done = Path(path), np.dtype(dtype), length, 0
        header = open_memmap(self.path, mode="w+", dtype=self.dtype, shape=(length,))  # header, sparse body
        self.offset = header.offset
        del header

    def __enter__(self):
        self.file = open(self.path, "r+b")  # noqa: SIM115 (closed by __exit__)
        self.file.seek(self.offset)
        return self

    def write(self, values) -> None:
        import numpy as np

        values = np.ascontiguousarray(values, dtype=self.dtype)
        self.file.write(memoryview(values).cast("B"))
        self.done += len(values)

    def __exit__(self, kind, *_) -> None:
        self.file.close()
        if kind is None and self.done != self.length:
            raise AssertionError(f"{self.path.name}: {self.done} of {self.length} values written")


def _read_keys(path: Path, offset: int, start: int, stop: int):
    import numpy as np

    with open(path, "rb") as f:
        f.seek(offset + 8 * start)
        return np.fromfile(f, dtype=np.uint64, count=stop - start)


def _write_filter(target: Path, keys_file: Path, total: int) -> None:
    """The one-hash bit filter over the merged keys (16 bits a key), set :data:`_FILTER_PASS_BYTES` at a time:
    each pass reads the keys back and keeps those whose slot falls in its slice."""
    import numpy as np

    bits = _filter_bits(total)
    size = 1 << (bits - 3)
    offset = np.load(keys_file, mmap_mode="r", allow_pickle=False).offset
    with _NpyWriter(target, np.uint8, size) as out:
        for lo in range(0, size, _FILTER_PASS_BYTES):
            hi = min(size, lo + _FILTER_PASS_BYTES)
            packed = np.zeros(hi - lo, dtype=np.uint8)
            for at in range(0, total, _MERGE_CHUNK):
                slot = _slots(_read_keys(keys_file, offset, at, min(total, at + _MERGE_CHUNK)), bits)
                if hi - lo < size:
                    slot = slot[(slot >> 3 >= lo) & (slot >> 3 < hi)]
                    slot -= lo << 3
                np.bitwise_or.at(packed, slot >> 3, np.left_shift(1, slot & 7).astype(np.uint8))
            out.write(packed)
            del packed


def _mixed(keys):
    import numpy as np

    with np.errstate(over="ignore"):
        return keys * np.uint64(_GOLDEN)


def _slots(keys, bits: int, mixed=None):
    import numpy as np

    return ((_mixed(keys) if mixed is None else mixed) >> np.uint64(64 - bits)).astype(np.intp)


def is_segmented(directory: Path) -> bool:
    return (Path(directory) / segment_name(0)).is_dir()


class SegmentedIndex:
    """A modality's segments as one index: ``match`` asks each segment (opened on first use) and merges."""

    def __init__(self, name: str, directory: Path, check: Callable[[Path], Path] | None = None):
        self.name = name
        self.directory = Path(directory)
        self.check = check or (lambda p: p)  # a lazily verified snapshot's: hashes a file before its first read
        self.paths = sorted(p for p in self.directory.iterdir() if p.is_dir() and p.name.startswith(SEGMENT_PREFIX))
        self._open: dict[int, object] = {}
        self._keys: dict[int, object] = {}
        self._router = None
        self.candidates = _CANDIDATE_KEYS.get(name)
        self.merged = self.candidates is not None and all((self.directory / f).is_file() for f in ROUTE_FILES)
        if (
            self.candidates is not None
            and not self.merged
            and not all((p / KEYS_FILE).is_file() and (p / FILTER_FILE).is_file() for p in self.paths)
        ):
            self.candidates = None  # a /4 snapshot: every segment is asked (re-exporting adds the keys)

    def __len__(self) -> int:
        return sum(len(self.segment(i)) for i in range(len(self.paths)))

    def segment(self, i: int):
        if i not in self._open:
            self._open[i] = modality(self.name).load_index(self.check(self.paths[i]))
        return self._open[i]

    @property
    def notices(self) -> list[str]:
        out: list[str] = []
        for i in range(len(self.paths)):
            out.extend(n for n in getattr(self.segment(i), "notices", ()) if n not in out)
        return out

    def keys(self, i: int):
        """Segment ``i``'s candidate keys and bit filter, memory-mapped (nothing is read until touched)."""
        if i not in self._keys:
            import numpy as np

            # plain ndarray views of the maps: numpy's memmap subclass costs more per index than the read
            keys = np.load(self.check(self.paths[i] / KEYS_FILE), mmap_mode="r", allow_pickle=False).view(np.ndarray)
            packed = np.load(self.check(self.paths[i] / FILTER_FILE), mmap_mode="r", allow_pickle=False)
            packed = packed.view(np.ndarray)
            self._keys[i] = (keys, packed, (len(packed) * 8).bit_length() - 1)
        return self._keys[i]

    def router(self):
        """The merged candidate table (format /6), memory-mapped: keys, their segments, filter, its bits,
        and the keys' bucket directory (format /8; None before)."""
        if self._router is None:
            import numpy as np

            def load(f):
                return np.load(self.check(self.directory / f), mmap_mode="r", allow_pickle=False).view(np.ndarray)

            keys, segs, packed = (load(f) for f in ROUTE_FILES)
            directory = load(ROUTE_BUCKETS) if (self.directory / ROUTE_BUCKETS).is_file() else None
            self._router = (keys, segs, packed, (len(packed) * 8).bit_length() - 1, directory)
        return self._router

    def route(self, fps) -> list[list[int]]:
        """For each segment, the queries (by position in ``fps``) that share a key with it: all of them
        for every segment when the modality or the snapshot has no candidate keys."""
        return self._route(fps)[0]

    def _route(self, fps) -> tuple[list[list[int]], list[dict | None]]:
        """:meth:`route`, and for each segment the keys it holds of its queries (the modality index's
        ``present`` hint) where the merged table told them, else None."""
        if self.candidates is None:
            return [list(range(len(fps))) for _ in self.paths], [None] * len(self.paths)
        import numpy as np

        if not len(fps):
            return [[] for _ in self.paths], [None] * len(self.paths)
        needles, owner, ends = self.candidates.of_queries(fps)
        if self.merged:
            return self._route_merged(needles, owner, ends, fps)
        mixed = _mixed(needles)  # once for the batch; each segment's filter takes its own top bits
        out = []
        for i in range(len(self.paths)):
            keys, packed, bits = self.keys(i)
            slot = _slots(needles, bits, mixed)
            maybe = np.flatnonzero((packed[slot >> 3] >> (slot & 7).astype(np.uint8)) & np.uint8(1))
            at = np.searchsorted(keys, needles[maybe])
            hit = at < len(keys)
            hit[hit] = keys[at[hit]] == needles[maybe][hit]
            out.append(np.unique(owner[maybe[hit]]).tolist())
        return out, [None] * len(self.paths)

    def _route_merged(self, needles, owner, ends, fps) -> tuple[list[list[int]], list[dict | None]]:
        import numpy as np

        n_queries = len(fps)
        keys, segs, packed, bits, directory = self.router()
        slot = _slots(needles, bits)
        maybe = np.flatnonzero((packed[slot >> 3] >> (slot & 7).astype(np.uint8)) & np.uint8(1))
        found = needles[maybe]
        lo, hi = _buckets.find(keys, directory, found)  # a /6 or /7 table has no directory: binary search
        count = hi - lo
        hit = count > 0
        lo, count, who = lo[hit], count[hit], owner[maybe[hit]]
        # every (key, segment) row of each hit: lo .. lo + count - 1
        rows = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
        row_seg = segs[rows].astype(np.int64)
        pairs = np.unique(row_seg * n_queries + np.repeat(who, count))
        seg_of, query = pairs // n_queries, pairs % n_queries
        cuts = np.searchsorted(seg_of, np.arange(len(self.paths) + 1))
        routes = [query[cuts[i] : cuts[i + 1]].tolist() for i in range(len(self.paths))]
        # each segment's queries come with the keys it holds: it looks up only those (present=)
        row_key = np.repeat(maybe[hit], count)
        hints: list[dict | None] = [None] * len(self.paths)
        for i in np.flatnonzero(cuts[1:] > cuts[:-1]).tolist():
            held = np.zeros(len(needles), dtype=bool)
            held[row_key[row_seg == i]] = True
            hints[i] = self.candidates.present(fps, routes[i], held, owner, ends)
        return routes, hints

    def match(self, fps, **options) -> list[list[Match]]:
        """The modality index's ``match`` (with its options, such as thresholds) over every segment; with
        candidate keys, each segment sees only the queries that share a key with it."""
        if len(self.paths) == 1:
            return self.segment(0).match(fps, **options)
        merged: list[list[Match]] = [[] for _ in fps]
        routes, hints = self._route(fps)
        for i, queries in enumerate(routes):
            if not queries:
                continue
            extra = {} if hints[i] is None else {"present": hints[i]}
            batch = [fps[q] for q in queries]
            for q, found in zip(queries, self.segment(i).match(batch, **options, **extra), strict=True):
                merged[q].extend(found)
        for qi, out in enumerate(merged):
            if self.name == "audio" and any(m.stage == "exact" for m in out):
                out[:] = [m for m in out if m.stage == "exact"]  # an exact hit ends an audio query's search
            out.sort(key=lambda m: (m.stage != "exact", -m.score, m.work_id))
            merged[qi] = out
        return merged


def open_index(name: str, directory: Path, check: Callable[[Path], Path] | None = None):
    """A modality's index in a snapshot: segmented (format /4) or one flat index (before). ``check`` is
    called with each file or directory before it is read (a lazily verified snapshot's ``check``)."""
    directory = Path(directory)
    if is_segmented(directory):
        return SegmentedIndex(name, directory, check)
    return modality(name).load_index((check or (lambda p: p))(directory))
