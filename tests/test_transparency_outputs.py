"""Output checks on a real signed snapshot: planted passages, recompressed images and a re-encoded audio
excerpt are flagged with their evidence; clean outputs are not; bad items are reported and the batch goes on;
attribution weights are integers summing exactly."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import make_image
from fairtrain.cli.app import app
from fairtrain.services.transparency.outputs import (
    OutputCheck,
    OutputChecker,
    Reproduction,
    Thresholds,
    attribution_weights,
)
from test_fingerprint_audio import synth_piece, write_wav
from worlds import three_media_snapshot

NOVEL = (
    "The harbour master kept a ledger of every vessel that entered the bay, noting the colour of its sails, "
    "the name painted on its bow and the hour of its arrival, and in the margins he drew small pictures of "
    "the birds that followed the boats home. His daughter later found the ledgers in a trunk beneath the "
    "stairs and read them aloud to her children on winter evenings, inventing voices for the sailors and "
    "stories for the birds, until the pages grew soft and the ink faded to the colour of weak tea. "
) * 2
PASSAGE = (
    "His daughter later found the ledgers in a trunk beneath the stairs and read them aloud to her "
    "children on winter evenings, inventing voices for the sailors and stories for the birds, until the "
    "pages grew soft"
)
GENERATED = (
    "Large language models produce fluent paragraphs about many subjects. In this answer we discuss "
    "maritime history, the economics of small ports and the way record keeping changed once steam "
    "replaced sail along the northern coasts. Clerks adopted printed forms, tariffs were standardised "
    "and the old handwritten books were archived or lost. "
)


def _jpeg(data: bytes, quality: int, scale: float = 1.0) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if scale != 1.0:
        img = img.resize((int(img.width * scale), int(img.height * scale)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def piece(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("audio") / "piece.wav", synth_piece(5, seconds=30.0))


@pytest.fixture
def snap(registry, tmp_path, piece):
    path, key, ids, _ = three_media_snapshot(registry, tmp_path, "Harbour Writer", ("novel.txt", NOVEL), 31, piece)
    return path, key, ids


def test_planted_passage_image_and_audio_are_flagged_with_evidence(snap, tmp_path, piece):
    path, key, ids = snap
    checker = OutputChecker.open(path, [key.public])
    planted = (GENERATED + PASSAGE + ". " + GENERATED).encode()
    clip = tmp_path / "clip.mp3"  # 15 s of the work from 8 s in, re-encoded
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", "8", "-t", "15", "-i", str(piece), "-b:a", "96k", str(clip)],
        check=True,
        timeout=60,
    )
    results = checker.check(
        [
            ("answer.txt", planted),
            ("clean.txt", (GENERATED * 3).encode()),
            ("render.jpg", _jpeg(make_image(31), 55, 0.8)),
            ("other.jpg", make_image(77)),
            ("clip.mp3", clip.read_bytes()),
            ("empty.txt", b""),
            ("blob.bin", b"\x00\x01\x02" * 50),
        ]
    )
    by = {r.item: r for r in results}

    text = by["answer.txt"]
    assert text.flagged and text.reproductions[0].work_id == ids["text"]
    (span, *_) = text.reproductions[0].evidence["spans"]
    start = len(GENERATED.split())  # the passage starts after the generated paragraph's words
    assert span["query_words"][0] >= start - 1 and span["query_words"][1] <= start + len(PASSAGE.split()) + 1
    assert span["query_words"][1] - span["query_words"][0] >= Thresholds().text_min_words
    assert "trunk beneath the stairs" in span["excerpt"] and "large language" not in span["excerpt"]
    assert not by["clean.txt"].flagged and not by["clean.txt"].reproductions

    img = by["render.jpg"]
    assert img.flagged and img.reproductions[0].work_id == ids["image"]
    assert img.reproductions[0].evidence["phash_distance"] <= 10 and img.reproductions[0].score >= 0.75
    assert not by["other.jpg"].flagged

    audio = by["clip.mp3"]
    assert audio.flagged and audio.reproductions[0].work_id == ids["audio"]
    assert abs(audio.reproductions[0].evidence["offset_s"] - 8.0) < 1.0  # where in the work the copy starts

    assert by["empty.txt"].error == "empty file" and not by["empty.txt"].flagged
    assert by["blob.bin"].error and "unsupported" in by["blob.bin"].error


def test_a_short_shared_phrase_is_not_a_reproduction(snap):
    path, key, _ = snap
    checker = OutputChecker.open(path, [key.public])
    # 12 words of the work: an aligned match, but shorter than the flagging span.
    short = (GENERATED + "in the margins he drew small pictures of the birds that followed " + GENERATED).encode()
    (r,) = checker.check([("short.txt", short)])
    assert not r.flagged


def test_attribution_weights_are_integers_summing_exactly():
    def out(*reps):
        return OutputCheck("x", "text", [Reproduction(w, s, "verified", {}, f, e) for w, s, f, e in reps])

    checks = [
        out((1, 1.0, True, 40.0)),
        out((1, 1.0, True, 20.0), (2, 1.0, True, 20.0)),
        out((3, 0.9, False, 30.0)),
        out((2, 1.0, True, 10.0)),
    ]
    w = attribution_weights(checks, total=1000)
    assert sum(w.values()) == 1000 and set(w) == {1, 2}  # the unflagged match earns nothing
    assert w[1] == 500 and w[2] == 500  # output 1: all to 1; output 2: halves; output 4: all to 2
    thirds = attribution_weights([out((1, 1.0, True, 1.0), (2, 1.0, True, 1.0), (3, 1.0, True, 1.0))], total=100)
    assert sorted(thirds.values()) == [33, 33, 34] and attribution_weights([]) == {}


def test_outputs_check_command_writes_json_and_weights(snap, tmp_path, database_url):
    path, key, ids = snap
    pub = tmp_path / "registry.pub"
    pub.write_text(key.public.b64())
    (tmp_path / "a.txt").write_text(GENERATED + PASSAGE + ". " + GENERATED, encoding="utf-8")
    (tmp_path / "b.jpg").write_bytes(_jpeg(make_image(31), 70))
    (tmp_path / "c.txt").write_text(GENERATED, encoding="utf-8")
    env = {"FAIRTRAIN_DATA_DIR": str(tmp_path / "data"), "FAIRTRAIN_DATABASE_URL": database_url}
    r = CliRunner().invoke(
        app,
        [
            "outputs",
            "check",
            str(tmp_path / "a.txt"),
            str(tmp_path / "b.jpg"),
            str(tmp_path / "c.txt"),
            "--snapshot",
            str(path),
            "--public-key",
            str(pub),
            "--weights",
            str(tmp_path / "w.json"),
            "--json",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["flagged"] == 2 and [o["flagged"] for o in data["outputs"]] == [True, True, False]
    weights = json.loads((tmp_path / "w.json").read_text())
    assert set(weights) == {str(ids["text"]), str(ids["image"])} and sum(weights.values()) == 1_000_000
    r = CliRunner().invoke(
        app,
        ["outputs", "check", str(tmp_path / "missing.txt"), "--snapshot", str(path), "--public-key", str(pub)],
        env=env,
    )
    assert r.exit_code == 1 and "cannot read" in r.output
