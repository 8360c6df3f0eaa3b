"""Issue 3 end to end: register real text, image and audio works, export a signed snapshot, verify it,
refuse tampering, and match transformed copies from the command line."""

from __future__ import annotations

import io
import json
import shutil
import subprocess

import pytest
from PIL import Image
from typer.testing import CliRunner

from cli_helpers import cli_runner
from conftest import make_image
from fairtrain.cli.app import app
from fairtrain.core.keys import SigningKey, sign_document
from fairtrain.core.matcher import SnapshotMatcher
from fairtrain.core.snapshot import FORMAT, MANIFEST, SnapshotError, seal_snapshot, verify_snapshot
from test_fingerprint_audio import synth_piece, write_wav
from worlds import three_media_snapshot

POEM = (
    "바람이 부는 언덕 위에서 우리는 오래된 노래를 불렀다. 강물은 천천히 흘러 바다로 가고, "
    "아이들은 해가 질 때까지 골목에서 뛰어놀았다. "
    * 3
    + "The river keeps its own slow time, carrying the lanterns of the festival past the mill, past the "
    "school where the children learned their letters, and out beyond the harbour lights where the "
    "fishing boats wait for the tide to turn before they slip their moorings and head for open water. "
    "Nobody in the village remembers who first sang the ferryman's song, but everybody knows the words."
)
UNRELATED = (
    "Quarterly maintenance schedule for the municipal water treatment facility: filters are "
    "backwashed every seventy-two hours, chlorine residuals are sampled at six points, and pump "
    "bearings are greased according to the manufacturer's interval table in appendix C. "
) * 3


@pytest.fixture(scope="module")
def audio_piece(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("audio") / "piece.wav", synth_piece(3, seconds=30.0))


@pytest.fixture
def snapshot(registry, tmp_path, audio_piece):
    out, key, ids, manifest = three_media_snapshot(registry, tmp_path, "Creator", ("poem.txt", POEM), 11, audio_piece)
    for wid in ids.values():
        assert registry.work(wid)["iscc"].startswith("ISCC:")
    assert manifest["counts"]["fingerprints"] == {"audio": 1, "image": 1, "text": 1}
    return out, key, ids


def test_snapshot_holds_fingerprints_and_terms_but_never_the_works(snapshot, tmp_path):
    out, key, _ = snapshot
    snap = verify_snapshot(out, [key.public])
    blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert POEM[:40].encode() not in blob and b"ferryman" not in blob
    assert (tmp_path / "photo.jpg").read_bytes()[1000:1100] not in blob
    assert {f["path"].split("/")[1] for f in snap.manifest["files"] if f["path"].startswith("fingerprints/")} == {
        "text",
        "image",
        "audio",
    }


def test_tampering_is_refused_with_the_file_named(snapshot):
    out, key, _ = snapshot
    with pytest.raises(SnapshotError, match="not among the trusted keys"):
        verify_snapshot(out, [SigningKey.generate().public])
    shard = next((out / "terms").glob("*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=rf"{shard.name}: SHA-256 does not match"):
        verify_snapshot(out, [key.public])


def test_added_removed_and_re_signed_files_are_refused(snapshot):
    out, key, _ = snapshot
    (out / "fingerprints" / "extra.parquet").write_bytes(b"x")
    with pytest.raises(SnapshotError, match="extra.parquet: not listed"):
        verify_snapshot(out, [key.public])
    (out / "fingerprints" / "extra.parquet").unlink()
    victim = next(p for p in sorted((out / "fingerprints" / "image").rglob("*")) if p.is_file())
    victim.unlink()
    with pytest.raises(SnapshotError, match="listed in the manifest but missing"):
        verify_snapshot(out, [key.public])
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["counts"]["works"] = 999  # edit the signed body
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="signature does not verify"):
        verify_snapshot(out, [key.public])


def _jpeg(data: bytes, *, quality: int, scale: float = 1.0, crop: float = 0.0, flip: bool = False) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    if crop:
        img = img.crop((int(w * crop), int(h * crop), w, h))
    if scale != 1.0:
        img = img.resize((int(img.width * scale), int(img.height * scale)))
    if flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_transformed_copies_match_their_works_and_unrelated_items_do_not(snapshot, tmp_path, audio_piece):
    out, key, ids = snapshot
    matcher = SnapshotMatcher.open(out, [key.public])
    photo = (tmp_path / "photo.jpg").read_bytes()
    excerpt_doc = UNRELATED + " ".join(POEM.split()[40:100]) + " " + UNRELATED
    mp3 = tmp_path / "copy.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(audio_piece), "-b:a", "64k", str(mp3)], check=True)
    items = [
        ("recompressed.jpg", _jpeg(photo, quality=40, scale=0.5)),
        ("cropped.jpg", _jpeg(photo, quality=80, crop=0.1)),
        ("flipped.jpg", _jpeg(photo, quality=80, flip=True)),
        ("excerpt.txt", excerpt_doc.encode()),
        ("copy.mp3", mp3.read_bytes()),
        ("unrelated.txt", UNRELATED.encode()),
        ("other.jpg", make_image(12)),
        ("junk.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 50),
        ("empty.txt", b""),
    ]
    results = {r.item: r for r in matcher.match(items)}
    for name, kind in [
        ("recompressed.jpg", "image"),
        ("cropped.jpg", "image"),
        ("flipped.jpg", "image"),
        ("excerpt.txt", "text"),
        ("copy.mp3", "audio"),
    ]:
        r = results[name]
        assert r.error is None, (name, r.error)
        assert [m.work_id for m, _ in r.matches] == [ids[kind]], (name, r.matches)
        m, terms = r.matches[0]
        assert m.stage == "verified" and 0 < m.score <= 1 and m.evidence
        assert terms["work_id"] == ids[kind] and terms["train-genai"] == "deny"
    assert results["unrelated.txt"].matches == [] and results["other.jpg"].matches == []
    assert "junk.jpg" in results and results["junk.jpg"].error
    assert results["empty.txt"].error == "empty file"


def _as_flat(out) -> None:
    """Lay each modality's index out as snapshots before format /4 did: one flat directory, no segments."""
    from fairtrain.core.fingerprint.text import TextIndex

    for d in (out / "fingerprints").iterdir():
        (seg,) = d.glob("seg-*")  # the test registry is one segment
        if (seg / "index.json").is_file():  # a /7 text index (memory-mapped .npy): as Parquet, as before /7
            index = TextIndex.load(seg)
            for p in list(seg.iterdir()):
                if p.name != "candidate-keys.npy":
                    p.unlink()
            index.save(seg)
            del index
        for p in seg.iterdir():
            p.rename(d / p.name)
        seg.rmdir()


def _as_format_1(out, key, manifest_format: str = "fairtrain-snapshot/1") -> None:
    """Rewrite a snapshot as fairtrain-snapshot/1 or /2 wrote it: a text index of format 1 (no Hangul
    channel) and that manifest format, signed again by the same key."""
    import pyarrow.parquet as pq

    _as_flat(out)
    text = out / "fingerprints" / "text"
    meta = json.loads(pq.read_schema(text / "works.parquet").metadata[b"fairtrain"])
    meta = {k: v for k, v in meta.items() if not k.startswith("hangul") and k != "works_without_hangul_channel"}
    meta["format"] = "fairtrain-text-index/1"
    for p in text.glob("*.parquet"):
        if p.name == "hangul.parquet":
            p.unlink()
            continue
        table = pq.read_table(p)
        if "hangul_minhash_b8" in table.column_names:
            table = table.drop_columns(["hangul_minhash_b8"])
        pq.write_table(table.replace_schema_metadata({"fairtrain": json.dumps(meta)}), p)
    old = json.loads((out / MANIFEST).read_text())
    doc = seal_snapshot(
        out, key, {k: v for k, v in old.items() if k not in ("format", "created_at", "files", "signature")}
    )
    (out / MANIFEST).write_text(json.dumps(sign_document({**doc, "format": manifest_format}, key)))


@pytest.mark.parametrize("older", ["fairtrain-snapshot/1", "fairtrain-snapshot/2"])
def test_older_snapshot_still_opens_and_says_what_a_re_export_adds(snapshot, tmp_path, older):
    out, key, ids = snapshot
    korean = POEM[: POEM.index("The river")]
    respaced = (UNRELATED + korean.replace(" ", "") + UNRELATED).encode()  # spacing of a copy-paste
    english = (UNRELATED + " ".join(POEM.split()[-60:]) + UNRELATED).encode()
    items = [("respaced.txt", respaced), ("english.txt", english)]

    current = SnapshotMatcher.open(out, [key.public])
    assert current.snapshot.manifest["format"] == FORMAT and current.notices == []
    assert [[m.work_id for m, _ in r.matches] for r in current.match(items)] == [[ids["text"]]] * 2
    assert current.notices == []

    _as_format_1(out, key, older)
    old = SnapshotMatcher.open(out, [key.public])
    assert old.snapshot.manifest["format"] == older
    assert any("re-export" in n and "Korean" in n for n in old.notices)
    found = {r.item: [m.work_id for m, _ in r.matches] for r in old.match(items)}
    assert found == {"respaced.txt": [], "english.txt": [ids["text"]]}  # still matches what it always did
    assert any("fingerprints/text" in n for n in old.notices)  # the text index says so too

    (tmp_path / "q.txt").write_bytes(english)
    (tmp_path / "snap.pub").write_text(key.public.b64())
    r = CliRunner().invoke(
        app,
        [
            "match",
            str(tmp_path / "q.txt"),
            "--snapshot",
            str(out),
            "--public-key",
            str(tmp_path / "snap.pub"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["matches"][0]["work_id"] == ids["text"]
    assert f"note: snapshot format {older[-1]}" in r.stderr and "re-export" in r.stderr


def test_unknown_snapshot_format_is_refused(snapshot):
    out, key, _ = snapshot
    doc = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps(sign_document({**doc, "format": "fairtrain-snapshot/99"}, key)))
    with pytest.raises(SnapshotError, match=f"not a {FORMAT} manifest"):
        verify_snapshot(out, [key.public])


def test_keys_export_verify_and_match_from_the_command_line(database_url, tmp_path):
    run, env = cli_runner(database_url, tmp_path / "data")

    run("holders", "add", "Photographer")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(make_image(5))
    run("works", "add", str(photo), "--holder", "1:photographer")
    key = json.loads(run("keys", "create", "--json").stdout)
    assert len(key["key_id"]) == 16
    run("keys", "create", code=2)  # refuses to overwrite without --force
    run("snapshot", "export", str(tmp_path / "snap"))
    ok = json.loads(run("snapshot", "verify", str(tmp_path / "snap"), "--json").stdout)
    assert ok["valid"] and ok["key_id"] == key["key_id"]
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg(photo.read_bytes(), quality=35))
    found = json.loads(run("match", str(copy), "--snapshot", str(tmp_path / "snap"), "--json").stdout)
    assert found[0]["matches"][0]["work_id"] == 1
    shutil.copy(photo, tmp_path / "snap" / "terms" / "sneaked-in.jpg")
    refused = run("snapshot", "verify", str(tmp_path / "snap"), code=1)
    assert "sneaked-in.jpg: not listed in the signed manifest" in refused.stderr


def test_snapshot_with_pre_issue16_media_indexes_opens_and_says_what_needs_a_re_export(snapshot, tmp_path):
    """A snapshot exported before issue 16 (image index format 1, audio index version 1) still verifies,
    opens and matches; the matcher names what needs a re-export. The current export has no such note."""
    import json

    from fairtrain.core.snapshot import MANIFEST, seal_snapshot
    from test_fingerprint_image import _as_format_1

    out, key, ids = snapshot
    assert SnapshotMatcher.open(out, [key.public]).notices == []
    _as_flat(out)  # the layout before format /4
    _as_format_1(out / "fingerprints" / "image")
    meta_path = out / "fingerprints" / "audio" / "audio_index.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = 1
    meta_path.write_text(json.dumps(meta))
    manifest = json.loads((out / MANIFEST).read_text())
    seal_snapshot(
        out, key, {k: v for k, v in manifest.items() if k not in ("format", "created_at", "files", "signature")}
    )
    matcher = SnapshotMatcher.open(out, [key.public])
    with pytest.warns(UserWarning, match="re-export"):
        notes = matcher.notices
    assert len(notes) == 2 and all("re-export" in n for n in notes)
    assert any("image" in n and "rotated" in n for n in notes) and any("audio" in n and "pitch" in n for n in notes)
    photo = (tmp_path / "photo.jpg").read_bytes()
    [r] = matcher.match([("recompressed.jpg", _jpeg(photo, quality=40, scale=0.5))])
    assert [m.work_id for m, _ in r.matches] == [ids["image"]]
