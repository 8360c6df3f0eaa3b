"""Dataset readers for clearance: every format on real small data, round trips, streaming, bad input."""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import TESTDATA
from fairtrain.services.clearance.readers import (
    FORMATS,
    Item,
    Reader,
    ReaderError,
    Shard,
    detect_format,
    reader_for,
)

IMG2DATASET = TESTDATA / "datasets" / "img2dataset"
WEBDATASET = TESTDATA / "datasets" / "webdataset"


def _png(seed: int, size: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _read_all(reader: Reader, shard: Shard, batch_size: int = 16) -> list[Item]:
    out = []
    for batch in reader.read(shard, batch_size):
        assert 1 <= len(batch) <= batch_size
        out.extend(batch)
    return out


def _round_trip(reader: Reader, shard: Shard, out: Path, keep=lambda it: it.row % 3 != 1):
    """Read, keep a subset, write it, read the output back: the kept records, in order."""
    items = _read_all(reader, shard)
    kept = [it for it in items if it.error is None and keep(it)]
    assert reader.write_cleared(shard, kept, out) == len(kept)
    (again,) = reader.shards(out)
    back = _read_all(reader, again)
    assert [it.record for it in back] == [it.record for it in kept]
    assert [(it.url, it.text, it.data, it.media_type) for it in back] == [
        (it.url, it.text, it.data, it.media_type) for it in kept
    ]
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]  # nothing left half-written
    return items, kept, back


# --- format detection --------------------------------------------------------------------------------


def test_formats_are_chosen_by_extension_directory_contents_or_name(tmp_path):
    assert detect_format(IMG2DATASET) == "parquet"  # LICENSE beside the shards is a sidecar
    assert detect_format(WEBDATASET) == "webdataset"
    assert detect_format(IMG2DATASET / "img2dataset_test_1000.parquet") == "parquet"
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    assert detect_format(tmp_path / "a.jsonl.gz") == "jsonl"
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "a.png").write_bytes(_png(1))
    assert detect_format(tmp_path / "pics") == "folder"
    mixed = tmp_path / "img2dataset-out"  # img2dataset's webdataset output: tar + parquet + stats per shard
    mixed.mkdir()
    for name in ("00000.tar", "00000.parquet", "00000_stats.json"):
        (mixed / name).write_bytes(b"")
    assert detect_format(mixed) == "webdataset"
    assert reader_for(mixed, "parquet").format == "parquet"
    assert reader_for(mixed, "wds").format == "webdataset"
    assert set(FORMATS) == {"parquet", "jsonl", "csv", "webdataset", "folder", "hf", "warc"}


def test_unknown_formats_and_missing_inputs_are_clear_errors(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"\0")
    with pytest.raises(ReaderError, match="cannot tell the format.*parquet"):
        reader_for(tmp_path / "x.bin")
    with pytest.raises(ReaderError, match="unknown input format"):
        reader_for(tmp_path, "xlsx")
    with pytest.raises(ReaderError, match="no such file"):
        reader_for(tmp_path / "nope")
    with pytest.raises(ReaderError, match="no columns"):
        reader_for(tmp_path, "folder", columns={"text": "body"})
    with pytest.raises(ReaderError, match="batch_size"):
        next(reader_for(IMG2DATASET).read(reader_for(IMG2DATASET).shards(IMG2DATASET)[0], 0))


# --- Parquet -----------------------------------------------------------------------------------------


def test_img2dataset_manifests_give_url_caption_image_items():
    r = reader_for(IMG2DATASET)
    shards = r.shards(IMG2DATASET)
    assert [s.id for s in shards] == [
        "img2dataset_sample_image.parquet",
        "img2dataset_test_1000.parquet",
        "img2dataset_test_10000.parquet",
    ]
    assert r.shards(IMG2DATASET) == shards
    items = _read_all(r, shards[1], batch_size=64)
    table = pq.read_table(shards[1].path)
    assert len(items) == 1000
    assert [it.item for it in items[:2]] == [f"img2dataset_test_1000.parquet:{i}" for i in (0, 1)]
    assert [it.url for it in items] == table["URL"].to_pylist()
    assert [it.text for it in items] == table["TEXT"].to_pylist()
    assert all(it.media_type == "image" and it.data is None and it.error is None for it in items)
    assert items[5].record == table.slice(5, 1).to_pylist()[0]
    sample = _read_all(r, shards[0])  # url / txt / sha256hash columns
    assert [(it.url.rsplit("/", 1)[1], it.text) for it in sample] == [("original.png", "Lorem Ipsum")] * 2


def test_parquet_round_trip_keeps_schema_metadata_and_rows(tmp_path):
    r = reader_for(IMG2DATASET)
    shard = r.shards(IMG2DATASET)[1]
    out = tmp_path / "out" / "cleared.parquet"
    items, kept, back = _round_trip(r, shard, out)
    assert len(back) == 667
    src, dst = pq.read_table(shard.path), pq.read_table(out)
    assert dst.schema.equals(src.schema, check_metadata=True)  # pandas index metadata included
    assert dst.to_pylist() == src.take([it.row for it in kept]).to_pylist()


def _many_row_groups(path: Path, groups: int = 24, rows: int = 10, blob: int = 48 << 10) -> None:
    rng = np.random.default_rng(7)
    schema = pa.schema([("key", pa.string()), ("url", pa.string()), ("caption", pa.string()), ("jpg", pa.binary())])
    with pq.ParquetWriter(path, schema, compression="none") as w:
        for g in range(groups):
            w.write_table(
                pa.table(
                    {
                        "key": [f"{g:03d}{i:03d}" for i in range(rows)],
                        "url": [f"https://example.org/{g}/{i}" for i in range(rows)],
                        "caption": [f"picture {g}-{i}" for i in range(rows)],
                        "jpg": [b"\xff\xd8\xff" + rng.bytes(blob) for _ in range(rows)],
                    },
                    schema=schema,
                )
            )


def test_parquet_streams_with_bounded_batches_and_memory(tmp_path):
    path = tmp_path / "big.parquet"
    _many_row_groups(path)  # 240 rows of 48 KiB: ~11.5 MiB
    r = reader_for(path)
    (shard,) = r.shards(path)
    pool = pa.default_memory_pool()
    peak, n = 0, 0
    for batch in r.read(shard, 5):
        assert len(batch) <= 5
        n += len(batch)
        peak = max(peak, pool.bytes_allocated())
        assert all(it.media_type == "image" and len(it.data) == 3 + (48 << 10) for it in batch)
    assert n == 240
    # one row group (10 rows, 480 KiB) at a time, never the 11.5 MiB file
    assert peak < 3 << 20, f"Arrow held {peak} bytes while streaming"


def test_big_parquet_files_split_into_row_group_shards(tmp_path):
    path = tmp_path / "big.parquet"
    _many_row_groups(path, groups=4, rows=10, blob=64)
    r = reader_for(path)
    r.split_bytes = 1024
    shards = r.shards(path)
    assert [s.id for s in shards] == [f"big.parquet#rowgroup-{k}" for k in range(4)]
    items = _read_all(r, shards[2], 3)
    assert [it.record["key"] for it in items] == [f"002{i:03d}" for i in range(10)]
    assert [it.row for it in items] == list(range(10))
    assert items[0].item == "big.parquet#rowgroup-2:0"
    out = tmp_path / "out.parquet"
    assert r.write_cleared(shards[2], items[4:6], out) == 2
    assert pq.read_table(out)["key"].to_pylist() == ["002004", "002005"]
    with pytest.raises(ReaderError, match="belongs to shard"):
        r.write_cleared(shards[1], items[:1], tmp_path / "wrong.parquet")
    assert not (tmp_path / "wrong.parquet").exists()


def test_parquet_local_paths_and_bytes_columns(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(_png(1))
    os.mkfifo(tmp_path / "images" / "pipe.png")
    paths = ["images/a.png", "images/missing.png", str(tmp_path / "images/a.png"), "images/pipe.png"]
    pq.write_table(pa.table({"image_path": paths, "caption": ["a", "b", "c", "d"]}), tmp_path / "manifest.parquet")
    r = reader_for(tmp_path / "manifest.parquet")
    items = _read_all(r, r.shards(tmp_path / "manifest.parquet")[0])
    assert items[0].data == _png(1) and items[0].media_type == "image" and items[0].text == "a"
    assert items[1].error == "local file 'images/missing.png' is missing" and items[1].data is None
    assert items[2].data == _png(1) and items[2].error is None
    assert items[3].error == "local file 'images/pipe.png' is not a regular file"  # and did not block
    # an HF-style struct image column and a plain binary column
    img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    pq.write_table(
        pa.table(
            {
                "image": pa.array([{"bytes": _png(2), "path": "x.png"}, {"bytes": None, "path": "images/a.png"}], img),
                "TEXT": ["cap", "by path"],
            }
        ),
        tmp_path / "structs.parquet",
    )
    embedded, by_path = _read_all(r, r.shards(tmp_path / "structs.parquet")[0])
    assert (embedded.data, embedded.media_type, embedded.text) == (_png(2), "image", "cap")
    assert (by_path.data, by_path.media_type) == (_png(1), "image")
    pq.write_table(pa.table({"blob": [b"\xff\xd8\xff\xe0jpeg"], "url": ["https://x.org/1"]}), tmp_path / "b.parquet")
    (blob,) = _read_all(r, r.shards(tmp_path / "b.parquet")[0])  # any binary column is the content
    assert (blob.data, blob.media_type, blob.url) == (b"\xff\xd8\xff\xe0jpeg", "image", "https://x.org/1")


def test_a_file_that_is_not_parquet_is_an_error_item_not_a_crash(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"url": ["https://x.org/a.jpg"]}), tmp_path / "b.parquet")
    r = reader_for(tmp_path)
    shards = r.shards(tmp_path)
    (bad,) = _read_all(r, shards[0])
    assert bad.error.startswith("shard unreadable from row 0 on") and bad.item == "a.parquet:0"
    (good,) = _read_all(r, shards[1])
    assert good.url == "https://x.org/a.jpg" and good.error is None


# --- JSONL -------------------------------------------------------------------------------------------

_JSONL_LINES = [
    b'{"id": 1, "text": "first document", "url": "https://a.example/1"}\n',
    b'{"id": 2, "text": "caf\xc3\xa9 \xea\xb0\x80\xeb\x82\x98", "meta": {"lang": "ko"}}\n',
    b'{"id": 3, "text": "bad \xff byte"}\n',
    b"\n",
    b"not json at all\n",
    b"[1, 2, 3]\n",
    b'{"id": 7, "text": "last, no newline"}',
]


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz"])
def test_jsonl_rows_errors_and_verbatim_round_trip(tmp_path, name):
    path = tmp_path / name
    raw = b"".join(_JSONL_LINES)
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    r = reader_for(path)
    (shard,) = r.shards(path)
    items = _read_all(r, shard, 2)
    assert [it.row for it in items] == [0, 1, 2, 4, 5, 6]  # the blank line is no item but keeps numbering
    assert items[0].text == "first document" and items[0].url == "https://a.example/1"
    assert items[0].media_type == "text" and items[0].content == b"first document"
    assert items[1].text == "café 가나" and items[1].record["meta"] == {"lang": "ko"}
    assert "line 3 is not valid UTF-8" in items[2].error
    assert "line 5 is not JSON" in items[3].error
    assert items[4].error == "line 6 is a JSON list, not an object"
    assert items[5].text == "last, no newline"
    out = tmp_path / "out" / name
    _round_trip(r, shard, out, keep=lambda it: it.row != 1)
    written = gzip.decompress(out.read_bytes()) if name.endswith(".gz") else out.read_bytes()
    assert written == _JSONL_LINES[0] + _JSONL_LINES[6]  # the original bytes, line for line


def test_column_roles_can_be_named(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"body_text": "hello", "link": "https://a.example/x", "TEXT": "t"}) + "\n")
    (it,) = _read_all(reader_for(path), reader_for(path).shards(path)[0])
    assert (it.text, it.url, it.media_type) == ("t", "https://a.example/x", "image")  # TEXT is a caption
    r = reader_for(path, columns={"text": "body_text"})
    (it,) = _read_all(r, r.shards(path)[0])
    assert (it.text, it.media_type) == ("hello", "text")
    r = reader_for(path, columns={"text": "nope"})
    (it,) = _read_all(r, r.shards(path)[0])
    assert "text='nope' is not a column" in it.error


# --- CSV ---------------------------------------------------------------------------------------------


def test_csv_rows_quoted_newlines_errors_and_verbatim_round_trip(tmp_path):
    rows = [
        b"\xef\xbb\xbfurl,caption,path\r\n",
        b'https://a.example/1.jpg,"two\r\nlines, with comma",\r\n',
        b"https://a.example/2.jpg,caf\xc3\xa9,\r\n",
        b"https://a.example/3.jpg,bad \xff byte,\r\n",
        b"https://a.example/4.jpg,too,many,fields\r\n",
        b"\r\n",
        b'https://a.example/5.jpg,"say ""hi""",img.png\r\n',
    ]
    (tmp_path / "img.png").write_bytes(_png(3))
    path = tmp_path / "manifest.csv"
    path.write_bytes(b"".join(rows))
    r = reader_for(path)
    (shard,) = r.shards(path)
    items = _read_all(r, shard, 3)
    assert [it.row for it in items] == [0, 1, 2, 3, 4]
    assert items[0].text == "two\r\nlines, with comma" and items[0].media_type == "image"
    assert items[0].record == {"url": "https://a.example/1.jpg", "caption": "two\r\nlines, with comma", "path": ""}
    assert items[1].text == "café"
    assert "not valid UTF-8" in items[2].error
    assert "4 fields, the header 3" in items[3].error
    assert items[4].text == 'say "hi"' and items[4].data == _png(3)
    out = tmp_path / "out.csv"
    _round_trip(r, shard, out, keep=lambda it: it.row in (0, 4))
    assert out.read_bytes() == rows[0] + rows[1] + rows[6]  # the header and the rows, byte for byte


def test_tsv_and_a_csv_without_header(tmp_path):
    (tmp_path / "a.tsv").write_text("text\tid\nhello, world\t1\n", encoding="utf-8")
    r = reader_for(tmp_path / "a.tsv")
    (it,) = _read_all(r, r.shards(tmp_path / "a.tsv")[0])
    assert it.record == {"text": "hello, world", "id": "1"} and it.media_type == "text"
    (tmp_path / "b.csv").write_bytes(b"a,\xff\n1,2\n")
    (bad,) = _read_all(r := reader_for(tmp_path / "b.csv"), r.shards(tmp_path / "b.csv")[0])
    assert "header unreadable" in bad.error and "not valid UTF-8" in bad.error


# --- WebDataset --------------------------------------------------------------------------------------


def test_webdataset_shared_shards():
    r = reader_for(WEBDATASET)
    shards = r.shards(WEBDATASET)
    assert [s.id for s in shards] == ["compressed.tar", "sample.tgz"]
    texts = _read_all(r, shards[0])
    assert [(it.item, it.text, it.media_type) for it in texts] == [
        ("compressed.tar:compressed/0001", "hello\n", "text"),
        ("compressed.tar:compressed/0002", "world\n", "text"),
        ("compressed.tar:compressed/0003", "gzip\n", "text"),
    ]
    assert texts[0].record["txt.gz"][:2] == b"\x1f\x8b"  # the record keeps the member as stored
    samples = _read_all(r, shards[1], 32)
    assert len(samples) == 90
    assert all(it.media_type == "image" and it.data.startswith(b"\x89PNG") for it in samples)
    assert {it.record["cls"] for it in samples} <= {str(i).encode() for i in range(10)}
    with Image.open(io.BytesIO(samples[0].data)) as im:
        assert im.size[0] > 0


@pytest.mark.parametrize("shard_name", ["compressed.tar", "sample.tgz"])
def test_webdataset_round_trip_keeps_members(tmp_path, shard_name):
    r = reader_for(WEBDATASET)
    shard = next(s for s in r.shards(WEBDATASET) if s.id == shard_name)
    out = tmp_path / shard_name
    items, kept, back = _round_trip(r, shard, out)
    kept_keys = {it.record["__key__"] for it in kept}

    def members(p):
        with tarfile.open(p) as tf:
            return [(m.name, tf.extractfile(m).read()) for m in tf if m.isfile()]

    assert members(out) == [(n, d) for n, d in members(shard.path) if n.split(".")[0] in kept_keys]
    assert (out.read_bytes()[:2] == b"\x1f\x8b") == shard_name.endswith(".tgz")


def _add(tf: tarfile.TarFile, name: str, data: bytes, **kw) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data))


def test_webdataset_refuses_traversal_links_and_survives_damage(tmp_path):
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        _add(tf, "000001.png", _png(1))
        _add(tf, "000001.txt", b"a caption")
        _add(tf, "000001.json", json.dumps({"url": "https://a.example/1.png"}).encode())
        _add(tf, "../escape.txt", b"outside")
        _add(tf, "/etc/cron.d/x.txt", b"absolute")
        ln = tarfile.TarInfo("000002.png")
        ln.type, ln.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(ln)
        _add(tf, "000003.txt", b"third")
        _add(tf, "000004.txt", b"fourth")
        _add(tf, "000005.txt", b"fifth")
    data = bytearray(path.read_bytes())
    with tarfile.open(path) as tf:
        hdr = next(m for m in tf if m.name == "000004.txt").offset
    data[hdr : hdr + 100] = b"\x55" * 100  # a damaged header in the middle
    path.write_bytes(bytes(data))
    r = reader_for(path)
    items = _read_all(r, r.shards(path)[0], 2)
    by = {it.item: it for it in items}
    first = by["evil.tar:000001"]
    assert (first.media_type, first.text, first.url) == ("image", "a caption", "https://a.example/1.png")
    assert "climbs out with '..'" in by["evil.tar:../escape.txt"].error
    assert "an absolute path" in by["evil.tar:/etc/cron.d/x.txt"].error
    assert "a link or special file" in by["evil.tar:000002.png"].error
    assert by["evil.tar:000003"].text == "third"
    assert any("damaged tar data skipped" in (it.error or "") for it in items)
    assert by["evil.tar:000005"].text == "fifth"  # found again after the damage
    assert "evil.tar:000004" not in by
    assert not (tmp_path.parent / "escape.txt").exists()


def test_a_truncated_tar_ends_its_shard_with_an_error_item(tmp_path):
    path = tmp_path / "cut.tar"
    with tarfile.open(path, "w") as tf:
        _add(tf, "a.txt", b"alpha")
        _add(tf, "b.png", _png(4, 64))
    path.write_bytes(path.read_bytes()[: 1024 + 600])
    r = reader_for(path)
    items = _read_all(r, r.shards(path)[0])
    assert items[0].text == "alpha"
    assert items[-1].error and "shard unreadable from row 1 on" in items[-1].error


# --- folders -----------------------------------------------------------------------------------------


def test_folder_items_symlinks_and_special_files(tmp_path):
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("한국어 text", encoding="utf-8")
    (root / "sub" / "b.png").write_bytes(_png(5))
    (root / "sub" / "deeper" / "c.bin").write_bytes(b"\x00\x01binary")
    (tmp_path / "secret.txt").write_text("outside the root")
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink("../a.txt", root / "sub" / "inside.txt")
    os.symlink("nowhere.txt", root / "broken.txt")
    os.symlink(tmp_path, root / "sub" / "updir")
    os.mkfifo(root / "pipe")
    r = reader_for(root)
    assert r.format == "folder"
    shards = r.shards(root)
    assert [s.id for s in shards] == [".", "sub", "sub/deeper"]
    items = {it.item: it for s in shards for it in _read_all(r, s)}
    assert items["a.txt"].text == "한국어 text" and items["a.txt"].media_type == "text"
    assert items["sub/b.png"].media_type == "image" and items["sub/b.png"].data == _png(5)
    binary = items["sub/deeper/c.bin"]
    assert binary.data == b"\x00\x01binary" and binary.media_type is None
    assert items["sub/inside.txt"].text == "한국어 text"
    assert "leaves the input root" in items["escape.txt"].error and items["escape.txt"].data is None
    assert "leaves the input root" in items["sub/updir"].error
    assert "target is missing" in items["broken.txt"].error
    assert "not a regular file" in items["pipe"].error
    assert not any("outside the root" in (it.text or "") for it in items.values())


def test_folder_round_trip_copies_kept_files(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    for i in range(5):
        (root / f"{i}.png").write_bytes(_png(i))
    r = reader_for(root)
    (shard,) = r.shards(root)
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.png").write_bytes(b"old")  # a previous attempt is replaced, not merged
    _round_trip(r, shard, out)
    assert sorted(p.name for p in out.iterdir()) == ["0.png", "2.png", "3.png"]
    assert (out / "2.png").read_bytes() == _png(2)


# --- Hugging Face datasets ---------------------------------------------------------------------------


def test_hf_save_to_disk_shards_features_and_round_trip(tmp_path):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"]), "image": datasets.Image()}
    )
    ds = datasets.Dataset.from_dict(
        {
            "text": [f"document {i}" for i in range(10)],
            "label": [i % 2 for i in range(10)],
            "image": [{"bytes": _png(i), "path": None} for i in range(10)],
        },
        features=feats,
    )
    ds.save_to_disk(str(tmp_path / "ds"), num_shards=2)
    r = reader_for(tmp_path / "ds")
    assert r.format == "hf"
    shards = r.shards(tmp_path / "ds")
    assert [s.id for s in shards] == ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]
    items = _read_all(r, shards[1], 4)
    assert [it.text for it in items] == [f"document {i}" for i in range(5, 10)]
    assert all(it.media_type == "image" for it in items) and items[0].data == _png(5)
    out = tmp_path / "out" / "part1.arrow"
    _round_trip(r, shards[1], out)
    back = datasets.Dataset.from_file(str(out))
    assert back.features == feats
    assert back["text"] == ["document 5", "document 7", "document 8"]


def test_hf_dataset_dict_and_not_a_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict({"text": ["x", "y"]}), "test": datasets.Dataset.from_dict({"text": ["z"]})}
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    r = reader_for(tmp_path / "dd")
    shards = r.shards(tmp_path / "dd")
    assert sorted(s.id for s in shards) == [f"{sp}/data-00000-of-00001.arrow" for sp in ("test", "train")]
    assert sorted(it.text for s in shards for it in _read_all(r, s)) == ["x", "y", "z"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReaderError, match="not a dataset saved with save_to_disk"):
        reader_for(tmp_path / "empty", "hf").shards(tmp_path / "empty")


# --- WARC --------------------------------------------------------------------------------------------


def _warc(path: Path, gz: bool = True) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gz)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "fairtrain tests"}))
        pages = [
            ("https://a.example/page", "text/html; charset=euc-kr", "<p>안녕하세요</p>".encode("euc-kr")),
            ("https://a.example/cat.png", "image/png", _png(9)),
            ("https://a.example/song", "audio/mpeg", b"ID3\x03\x00" + bytes(64)),
        ]
        for uri, ctype, body in pages:
            headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
            resp = w.create_warc_record(
                uri,
                "response",
                payload=io.BytesIO(body),
                http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
            )
            req = w.create_warc_record(
                uri,
                "request",
                http_headers=StatusAndHeaders("GET / HTTP/1.1", [("Host", "a.example")], is_http_request=True),
            )
            w.write_request_response_pair(req, resp)
        notes = w.create_warc_record(
            "file:///notes.txt", "resource", payload=io.BytesIO(b"plain notes"), warc_content_type="text/plain"
        )
        w.write_record(notes)


@pytest.mark.parametrize("gz", [True, False])
def test_warc_responses_become_items_and_records_are_copied_verbatim(tmp_path, gz):
    pytest.importorskip("warcio")
    from warcio.archiveiterator import ArchiveIterator

    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    _warc(path, gz)
    r = reader_for(path)
    assert r.format == "warc"
    (shard,) = r.shards(path)
    items = _read_all(r, shard, 2)
    assert [it.url for it in items] == [
        "https://a.example/page",
        "https://a.example/cat.png",
        "https://a.example/song",
        "file:///notes.txt",
    ]
    assert items[0].text == "<p>안녕하세요</p>" and items[0].media_type == "text"
    assert items[1].data == _png(9) and items[1].media_type == "image"
    assert items[2].media_type == "audio" and items[3].text == "plain notes"
    assert items[0].record["http_status"] == "200" and items[0].record["type"] == "response"
    out = tmp_path / "out" / path.name
    _round_trip(r, shard, out, keep=lambda it: it.row in (1, 3))
    with open(out, "rb") as f:
        kinds = [(rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI")) for rec in ArchiveIterator(f)]
    assert kinds == [
        ("warcinfo", None),
        ("response", "https://a.example/cat.png"),
        ("request", "https://a.example/cat.png"),
        ("resource", "file:///notes.txt"),
    ]
    src = _raw_records(path)
    assert out.read_bytes() == b"".join(src[k] for k in kinds)  # byte for byte from the input


def _raw_records(path: Path) -> dict[tuple[str, str | None], bytes]:
    from warcio.archiveiterator import ArchiveIterator

    data, spans = path.read_bytes(), []
    with open(path, "rb") as f:
        for rec in (it := ArchiveIterator(f)):
            key = (rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"))
            spans.append((key, it.get_record_offset()))
    ends = [o for _, o in spans[1:]] + [len(data)]
    return {k: data[o:e] for (k, o), e in zip(spans, ends)}


def test_a_damaged_warc_keeps_what_it_read_and_reports_the_rest(tmp_path):
    pytest.importorskip("warcio")
    path = tmp_path / "crawl.warc"
    _warc(path, gz=False)
    data = path.read_bytes()
    cut = data.index(b"WARC/1", data.index(b"https://a.example/cat.png"))  # the header of a later record
    path.write_bytes(data[:cut] + b"GARBAGE" + data[cut + 6 :])
    r = reader_for(path)
    items = _read_all(r, r.shards(path)[0])
    assert items[0].url == "https://a.example/page" and items[0].error is None
    assert items[-1].error and "WARC unreadable" in items[-1].error


# --- optional packages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "module", "pin"), [("hf", "datasets", "datasets==5.2.0"), ("warc", "warcio", "warcio==1.8.1")]
)
def test_missing_optional_packages_say_what_to_install(tmp_path, monkeypatch, fmt, module, pin):
    (tmp_path / "x.warc").write_bytes(b"")
    for name in [m for m in list(sys.modules) if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    r = reader_for(tmp_path / "x.warc" if fmt == "warc" else tmp_path, fmt)
    assert isinstance(r, Reader)
    with pytest.raises(ReaderError, match=f"pip install {pin}"):
        r.shards(tmp_path / "x.warc" if fmt == "warc" else tmp_path)


def test_every_format_has_a_reader_that_follows_the_protocol():
    for fmt in FORMATS:
        r = reader_for(IMG2DATASET, fmt)
        assert isinstance(r, Reader) and r.format == fmt


def test_readers_and_items_travel_to_worker_processes(tmp_path):
    import pickle

    r = reader_for(IMG2DATASET, columns={"caption": "TEXT"})
    shard = r.shards(IMG2DATASET)[1]
    items = next(r.read(shard, 3))
    r2, shard2, items2 = pickle.loads(pickle.dumps((r, shard, items)))
    assert shard2 == shard and [i.record for i in items2] == [i.record for i in items]
    assert [i.url for i in next(r2.read(shard2, 3))] == [i.url for i in items]
