"""Audio fingerprinting and its match index, on real audio: the c2pa sample WAV and music-like pieces
synthesised here (chords, bass, melody, drums), transformed with the real ffmpeg."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import iscc_core
import numpy as np
import pytest
import xxhash

from conftest import TESTDATA
from fairtrain.core.fingerprint import FingerprintError
from fairtrain.core.fingerprint import audio as fa
from fairtrain.core.fingerprint.audio import (
    DEFAULT_HIGHPASS,
    DEFAULT_SPEEDS,
    ITEM_SECONDS,
    AudioFingerprint,
    AudioIndex,
    AudioIndexBuilder,
    AudioRegistration,
    AudioToolError,
    fingerprint_audio,
    fingerprint_audio_batch,
    register_audio,
    register_audio_batch,
)

SAMPLE_WAV = TESTDATA / "c2pa" / "sample1_signed.wav"  # 33.5 s, 8 kHz stereo
RATE = 22050
SPEEDS = (0.97, 0.98, 0.99, 1.01, 1.02, 1.03)


# --- music-like test material --------------------------------------------------------------------


def _tone(freq: float, seconds: float, rng: np.random.Generator, harmonics: int = 4) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave_ = sum((0.6**h) * np.sin(2 * np.pi * freq * (h + 1) * t + rng.uniform(0, 6.28)) for h in range(harmonics))
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t * rng.uniform(1.5, 4.0))
    return wave_ * envelope


def _mix(out: np.ndarray, start: int, chunk: np.ndarray) -> None:
    if start < len(out):
        end = min(len(out), start + len(chunk))
        out[start:end] += chunk[: end - start]


def synth_piece(seed: int, seconds: float = 40.0) -> np.ndarray:
    """A distinct piece per seed: own key, tempo, two sections of chord progressions, melody, drums."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE) + RATE)
    root = 48 + int(rng.integers(0, 12))
    scale = np.array([0, 2, 4, 5, 7, 9, 11] if rng.random() < 0.5 else [0, 2, 3, 5, 7, 8, 10])
    beat = 60.0 / rng.uniform(84, 140)
    sections = [rng.integers(0, 7, size=4) for _ in range(2)]
    midi_hz = lambda m: 440.0 * 2 ** ((m - 69) / 12)  # noqa: E731
    note = lambda degree, octave=0: root + 12 * (octave + degree // 7) + scale[degree % 7]  # noqa: E731
    bar, t = 0, 0.0
    while t < seconds:
        degree = int(sections[(bar // 4) % 2][bar % 4])
        start = int(t * RATE)
        for offset in (0, 2, 4):  # triad, held for the bar
            _mix(out, start, 0.25 * _tone(midi_hz(note(degree + offset, 1)), 4 * beat, rng))
        for b in range(4):  # bass on every beat, melody on eighths, drums
            s = int((t + b * beat) * RATE)
            _mix(out, s, 0.35 * _tone(midi_hz(note(degree)), beat, rng, harmonics=3))
            for half in (0, 1):
                if rng.random() < 0.8:
                    m = note(int(rng.integers(0, 10)), 2)
                    s2 = int((t + (b + half / 2) * beat) * RATE)
                    _mix(out, s2, 0.3 * _tone(midi_hz(m), beat / 2, rng))
            hit = rng.standard_normal(int(0.05 * RATE)) * np.exp(-np.arange(int(0.05 * RATE)) / 200)
            _mix(out, s, (0.4 if b % 2 else 0.15) * hit)
        t += 4 * beat
        bar += 1
    out = out[: int(seconds * RATE)]
    return out / np.abs(out).max() * 0.8


def write_wav(path: Path, signal: np.ndarray, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def synth_piece_file(folder: Path, seed: int) -> Path:
    return write_wav(folder / f"piece{seed}.wav", synth_piece(seed))


def ffmpeg(src: Path, dst: Path, *args: str, before: tuple[str, ...] = ()) -> Path:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-y", "-v", "error", *before, "-i", str(src), *args, str(dst)], check=True, timeout=60
    )
    return dst


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pieces(tmp_path_factory) -> list[Path]:
    """Five distinct pieces: 0-3 are registered, 4 is an unrelated outsider."""
    folder = tmp_path_factory.mktemp("pieces")
    return [synth_piece_file(folder, seed) for seed in range(5)]


@pytest.fixture(scope="module")
def registrations(pieces) -> list[AudioRegistration]:
    regs = register_audio_batch(pieces[:4], speeds=SPEEDS, workers=2)
    assert all(isinstance(r, AudioRegistration) for r in regs), regs
    return regs  # type: ignore[return-value]


@pytest.fixture(scope="module")
def index(registrations) -> AudioIndex:
    builder = AudioIndexBuilder()
    for work_id, reg in zip((101, 102, 103, 104), registrations):
        builder.add(work_id, reg)
    return builder.build()


# --- scan side -----------------------------------------------------------------------------------


def test_fingerprint_of_a_real_wav_is_chromaprint_of_the_whole_file():
    if SAMPLE_WAV is None:
        pytest.skip("shared/testdata not found (set FAIRTRAIN_TESTDATA)")
    fp = fingerprint_audio(SAMPLE_WAV)
    raw = SAMPLE_WAV.read_bytes()
    assert fp.item == str(SAMPLE_WAV)
    assert fp.items.dtype == np.uint32
    assert fp.exact == xxhash.xxh3_128_digest(raw)
    assert fp.duration == pytest.approx(33.53, abs=0.05)
    # Chromaprint: (duration·11025 − 4096) / 1365 − 18 items, i.e. the whole file, not fpcalc's 120 s cap
    assert abs(len(fp.items) - ((33.53 * 11025 - 4096) / 1365 - 18)) <= 2
    assert fp.seconds == pytest.approx(fp.duration, abs=ITEM_SECONDS * 2)
    assert not fp.truncated
    assert fingerprint_audio(raw, item="same-bytes") == fp
    assert np.unique(fp.items).size > len(fp.items) // 2  # a real signal, not a constant


def test_bad_inputs_raise_fingerprint_error_naming_item_and_reason(tmp_path, pieces):
    cases: dict[str, tuple[object, str]] = {
        "empty": (b"", "empty input"),
        "junk": (np.random.default_rng(1).bytes(20_000), "not decodable"),
        "text": (b"%PDF-1.7\n" + b"hello world\n" * 500, "not decodable"),
        "missing": (tmp_path / "nowhere.ogg", "cannot read"),
    }
    short = write_wav(tmp_path / "short.wav", synth_piece(9, seconds=1.0))
    cases["short"] = (short, "too short")
    silent_zero = write_wav(tmp_path / "zero.wav", np.zeros(0))
    cases["zero-length"] = (silent_zero, "too short")
    wav = pieces[0].read_bytes()
    cases["truncated-wav"] = (wav[: len(wav) // 2], "truncated")
    ogg = ffmpeg(pieces[0], tmp_path / "p.ogg", "-c:a", "libvorbis", "-q:a", "2").read_bytes()
    cases["truncated-ogg"] = (ogg[: int(len(ogg) * 0.6)], "truncated")
    mp3 = ffmpeg(pieces[0], tmp_path / "p.mp3", "-c:a", "libmp3lame", "-b:a", "96k").read_bytes()
    cases["truncated-mp3"] = (mp3[: int(len(mp3) * 0.6)], "truncated")
    for name, (data, reason) in cases.items():
        with pytest.raises(FingerprintError) as caught:
            fingerprint_audio(data, item=name)
        assert caught.value.item == name
        assert reason in caught.value.reason, (name, caught.value.reason)
        assert str(caught.value).startswith(f"{name}: ")
    # the untouched files are fine, and a truncated one can be kept on request
    assert len(fingerprint_audio(ogg).items) > 200
    assert len(fingerprint_audio(mp3).items) > 200
    partial = fingerprint_audio(ogg[: int(len(ogg) * 0.6)], item="cut", allow_truncated=True)
    assert partial.truncated and 100 < len(partial.items) < 0.7 * len(fingerprint_audio(ogg).items)


def test_batch_keeps_order_and_records_failures(pieces):
    out = fingerprint_audio_batch([pieces[0], b"not audio at all" * 100, pieces[1]], ["a", "b", "c"], workers=2)
    assert isinstance(out[0], AudioFingerprint) and out[0].item == "a"
    assert isinstance(out[1], FingerprintError) and out[1].item == "b"
    assert isinstance(out[2], AudioFingerprint) and out[2].item == "c"
    assert not np.array_equal(out[0].items[:100], out[2].items[:100])


def test_missing_binaries_name_the_debian_package(monkeypatch, pieces):
    monkeypatch.setenv("FAIRTRAIN_FPCALC", "/nonexistent/fpcalc")  # the subprocess path needs it
    with pytest.raises(AudioToolError, match="libchromaprint-tools"):
        fingerprint_audio(pieces[0], in_process=False)
    monkeypatch.delenv("FAIRTRAIN_FPCALC")
    monkeypatch.setenv("FAIRTRAIN_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(AudioToolError, match="Debian package ffmpeg"):
        register_audio(pieces[0], speeds=(1.02,))


# --- registry side -------------------------------------------------------------------------------


def test_registration_has_speed_variants_and_an_iscc_audio_code(registrations):
    reg = registrations[0]
    n = len(reg.fingerprint.items)
    by_speed = [v for v in reg.variants if not v.highpass]
    assert [v.speed for v in by_speed] == list(SPEEDS)
    # the work at its own speed through each high-pass filter, every 2nd item kept
    filtered = [v for v in reg.variants if v.highpass]
    assert [v.highpass for v in filtered] == list(DEFAULT_HIGHPASS)
    for variant in filtered:
        assert variant.speed == 1.0 and variant.step == 2 and abs(len(variant.items) - n / 2) <= 1
        assert not np.array_equal(variant.items, reg.fingerprint.items[::2])
    for variant in by_speed:
        assert variant.step == 4 and variant.items.dtype == np.uint32
        # played s× faster the work is 1/s as long; only every 4th item is kept
        assert abs(len(variant.items) - n / variant.speed / 4) <= 3
        assert not np.array_equal(variant.items, reg.fingerprint.items[::4][: len(variant.items)])
    signed = reg.fingerprint.items.astype(np.int32).tolist()
    assert reg.iscc == iscc_core.gen_audio_code_v0(signed)["iscc"]
    assert reg.iscc.startswith("ISCC:EI")  # Content-Code, Audio subtype


def test_index_is_flat_arrays_and_reports_its_size(index, registrations):
    assert len(index) == 4
    for name in ("keys", "postings", "items", "seg_start"):
        assert isinstance(getattr(index, name), np.ndarray)
    assert np.all(index.keys[1:] >= index.keys[:-1])
    assert np.array_equal(index.items[index.postings.astype(np.int64)], index.keys)
    stored = sum(len(r.fingerprint.items) + sum(len(v.items) for v in r.variants) for r in registrations)
    assert len(index.items) == stored
    # 4 B stored + up to 8 B indexed per item: the raw items at 8/s, 6 speed variants at 2/s and 3 high-pass
    # variants at 4/s
    assert 200 < index.bytes_per_second < 450
    assert index.bytes_per_work == pytest.approx(index.nbytes / 4)


# --- matching ------------------------------------------------------------------------------------

TRANSFORMS = {
    "mp3-64k": (("-c:a", "libmp3lame", "-b:a", "64k"), (), "mp3", 1.0),
    "aac-48k": (("-c:a", "aac", "-b:a", "48k"), (), "m4a", 1.0),
    "ogg-q0": (("-c:a", "libvorbis", "-q:a", "0"), (), "ogg", 1.0),
    "excerpt-15s": (("-c:a", "libmp3lame", "-b:a", "128k"), ("-ss", "20", "-t", "15"), "mp3", 1.0),
    "speed-0.97": (("-af", "asetrate=22050*0.97,aresample=22050", "-c:a", "libmp3lame"), (), "mp3", 0.97),
    "speed-1.03": (("-af", "asetrate=22050*1.03,aresample=22050", "-c:a", "libmp3lame"), (), "mp3", 1.03),
    "speed-1.025": (("-af", "asetrate=22050*1.025,aresample=22050"), (), "wav", 1.025),
}


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_transformed_copies_match_their_work(name, tmp_path, pieces, index):
    args, before, ext, speed = TRANSFORMS[name]
    queries = [
        fingerprint_audio(ffmpeg(p, tmp_path / f"q{i}.{ext}", *args, before=before)) for i, p in enumerate(pieces[:2])
    ]
    for work_id, matches in zip((101, 102), index.match(queries)):
        assert matches, name
        top = matches[0]
        assert top.work_id == work_id and top.stage == "verified"
        assert [m.work_id for m in matches] == [work_id]
        assert top.evidence["ber"] <= 0.15
        assert top.evidence["overlap_s"] >= 10
        assert abs(top.evidence["speed"] - speed) <= 0.006
        assert top.score == pytest.approx(1 - 2 * top.evidence["ber"], abs=1e-3)
        if name == "excerpt-15s":
            assert top.evidence["offset_s"] == pytest.approx(20 + top.evidence["query_offset_s"], abs=0.5)


def test_noisy_copy_matches(tmp_path, pieces, index):
    rng = np.random.default_rng(7)
    signal = synth_piece(2)
    noise = rng.standard_normal(len(signal))
    noise *= np.sqrt(np.mean(signal**2) / np.mean(noise**2)) / 10 ** (15 / 20)  # 15 dB SNR
    noisy = fingerprint_audio(write_wav(tmp_path / "noisy.wav", signal + noise))
    [matches] = index.match([noisy])
    assert [m.work_id for m in matches] == [103]
    assert matches[0].evidence["ber"] <= 0.15


def test_distinct_and_unrelated_audio_do_not_match(tmp_path, pieces, registrations, index):
    outsider = fingerprint_audio(pieces[4])
    sample = fingerprint_audio(SAMPLE_WAV if SAMPLE_WAV else synth_piece_file(tmp_path, 11))
    silence = fingerprint_audio(write_wav(tmp_path / "silence.wav", np.zeros(20 * RATE)))
    hum = fingerprint_audio(
        write_wav(tmp_path / "hum.wav", 0.5 * np.sin(2 * np.pi * 220 * np.arange(20 * RATE) / RATE))
    )
    assert index.match([outsider, sample, silence, hum]) == [[], [], [], []]
    # each registered piece, re-encoded, finds itself and none of the others
    for i, p in enumerate(pieces[:4]):
        q = fingerprint_audio(ffmpeg(p, tmp_path / f"r{i}.mp3", "-c:a", "libmp3lame", "-b:a", "96k"))
        assert [m.work_id for m in index.match([q])[0]] == [101 + i]


def test_exact_copy_is_found_at_the_exact_stage(pieces, index):
    [matches] = index.match([fingerprint_audio(pieces[3].read_bytes(), item="rehosted")])
    assert [(m.work_id, m.stage, m.score) for m in matches] == [(104, "exact", 1.0)]
    assert matches[0].evidence["xxh3_128"] == xxhash.xxh3_128_hexdigest(pieces[3].read_bytes())


def test_silence_registered_as_a_work_matches_nothing(tmp_path, pieces):
    silent = register_audio(write_wav(tmp_path / "quiet.wav", np.zeros(30 * RATE)), speeds=(1.02,))
    builder = AudioIndexBuilder()
    builder.add(1, silent)
    index = builder.build()
    other_silence = fingerprint_audio(write_wav(tmp_path / "quiet2.wav", np.zeros(25 * RATE)))
    assert index.match([other_silence, fingerprint_audio(pieces[0])]) == [[], []]


def test_save_load_round_trip_is_exact(tmp_path, index, pieces):
    files = index.save(tmp_path / "idx")
    assert {f.suffix for f in files} == {".parquet", ".npy", ".json"}
    assert all(f.exists() for f in files)
    # the index holds fingerprints, never the audio: far smaller than the registered WAVs
    assert sum(f.stat().st_size for f in files) < sum(p.stat().st_size for p in pieces[:4]) / 20
    loaded = AudioIndex.load(tmp_path / "idx")
    assert loaded == index
    assert loaded.isccs == index.isccs
    mapped = AudioIndex.load(tmp_path / "idx", mmap=True)
    query = fingerprint_audio(ffmpeg(pieces[1], tmp_path / "q.ogg", "-c:a", "libvorbis", "-q:a", "1"))
    exact = fingerprint_audio(pieces[0])
    expected = index.match([query, exact])
    assert [[m.to_dict() for m in ms] for ms in loaded.match([query, exact])] == [
        [m.to_dict() for m in ms] for ms in expected
    ]
    assert [[m.work_id for m in ms] for ms in mapped.match([query, exact])] == [[102], [101]]


def test_builder_rejects_a_work_added_twice(registrations):
    builder = AudioIndexBuilder()
    builder.add(5, registrations[0])
    with pytest.raises(ValueError, match="work 5 added twice"):
        builder.add(5, registrations[1])


def test_a_hung_or_slow_subprocess_is_stopped_by_the_timeout(pieces):
    with pytest.raises(FingerprintError, match="timed out after"):
        fingerprint_audio(pieces[0], item="slow", timeout=0.001, in_process=False)


def test_empty_index_and_too_short_queries_match_nothing(tmp_path, pieces, index):
    empty = AudioIndexBuilder().build()
    assert len(empty) == 0 and empty.bytes_per_second == 0.0
    assert empty.match([fingerprint_audio(pieces[0])]) == [[]]
    empty.save(tmp_path / "empty")
    assert AudioIndex.load(tmp_path / "empty") == empty
    # 6 s of a registered piece is below the 10 s of overlap the verification demands
    short = fingerprint_audio(
        ffmpeg(pieces[0], tmp_path / "s.mp3", "-c:a", "libmp3lame", before=("-ss", "10", "-t", "6"))
    )
    assert index.match([short]) == [[]]
    assert [m.work_id for m in index.match([short], min_overlap_s=3.0)[0]] == [101]


def test_in_process_chromaprint_equals_fpcalc(tmp_path, pieces):
    """The in-process path (libsndfile + libchromaprint) gives fpcalc's fingerprint, for WAV and MP3."""
    mp3 = ffmpeg(pieces[0], tmp_path / "p.mp3", "-c:a", "libmp3lame", "-b:a", "128k")
    for src in (pieces[0], mp3):
        fast = fingerprint_audio(src)
        slow = fingerprint_audio(src, in_process=False)
        assert np.array_equal(fast.items, slow.items), src
        assert abs(fast.duration - slow.duration) < 0.1


def test_speed_variants_made_in_one_ffmpeg_run_are_fpcalcs_items(tmp_path, pieces, monkeypatch):
    """Registration's 24 speed variants come from one ffmpeg run and Chromaprint in this process, and its
    high-pass variants from Chromaprint in this process: item for item what one fpcalc run each gave."""
    from fairtrain.core.fingerprint import _audio_tools as tools

    rates = [round(tools.SAMPLE_RATE * s) for s in DEFAULT_SPEEDS]
    for source in (SAMPLE_WAV, pieces[1]):  # a recording (8 kHz) and a synthesised piece
        pcm = tools.decode_pcm(str(source), "p1", 60)
        expected = [tools.fpcalc_pcm(pcm, r, "p1", 60) for r in rates]
        made = tools.speed_variants(pcm, rates, "p1", 60)
        assert len(made) == len(rates)
        for rate, want, got in zip(rates, expected, made, strict=True):
            assert isinstance(got, np.ndarray) and np.array_equal(got, want), (source, rate)
    monkeypatch.setattr(tools, "_SPEED_BATCH_BYTES", 3 * len(pcm) * 2)  # three rates an ffmpeg run
    assert all(np.array_equal(a, b) for a, b in zip(tools.speed_variants(pcm, rates, "p1", 60), expected, strict=True))
    from fairtrain.core.fingerprint.audio import _highpassed

    for cutoff in DEFAULT_HIGHPASS:
        hp = _highpassed(pcm, cutoff)
        assert np.array_equal(
            tools.chromaprint_pcm(hp, tools.SAMPLE_RATE, "p1", 60), tools.fpcalc_pcm(hp, tools.SAMPLE_RATE, "p1", 60)
        )
    # too short for Chromaprint: the same error as fpcalc's, in its place
    short = pcm[: 2 * tools.SAMPLE_RATE]
    with pytest.raises(FingerprintError, match="too short") as slow:
        tools.fpcalc_pcm(short, rates[0], "short", 60)
    (fast,) = tools.speed_variants(short, rates[:1], "short", 60)
    assert isinstance(fast, FingerprintError) and fast.reason == slow.value.reason


# --- issue 16: pitch kept / tempo kept ------------------------------------------------------------

SEMITONE = 2 ** (1 / 12)


@pytest.fixture(scope="module")
def wide_index(pieces) -> AudioIndex:
    """Pieces 0 and 1 registered with the speed variants that pitch ±1 semitone (0.944, 1.059) and
    +0.5 semitone (1.029) need; the rest of the default 0.5 % grid is left out to keep the test quick."""
    builder = AudioIndexBuilder()
    for work_id, p in zip((201, 202), pieces[:2]):
        builder.add(work_id, register_audio(p, speeds=(0.94, 0.945, 0.97, 1.03, 1.06)))
    return builder.build()


@pytest.mark.parametrize("semitones", [1.0, -1.0, 0.5])
def test_pitch_shifted_copy_with_tempo_kept_matches(semitones, tmp_path, pieces, wide_index):
    factor = SEMITONE**semitones
    q = fingerprint_audio(
        ffmpeg(
            pieces[0],
            tmp_path / "pitch.mp3",
            "-af",
            f"rubberband=pitch={factor:.5f}",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
        )
    )
    [matches] = wide_index.match([q])
    assert [m.work_id for m in matches] == [201], matches
    ev = matches[0].evidence
    assert abs(ev["pitch"] - factor) <= 0.02 and ev["tempo"] == 1.0
    assert ev["overlap_s"] >= 10


@pytest.mark.parametrize("tempo", [0.95, 1.04])
def test_tempo_changed_copy_with_pitch_kept_matches(tempo, tmp_path, pieces, wide_index):
    q = fingerprint_audio(
        ffmpeg(
            pieces[1], tmp_path / "tempo.mp3", "-af", f"rubberband=tempo={tempo}", "-c:a", "libmp3lame", "-b:a", "128k"
        )
    )
    [matches] = wide_index.match([q])
    assert [m.work_id for m in matches] == [202], matches
    ev = matches[0].evidence
    assert ev["pitch"] == 1.0 and abs(ev["tempo"] - tempo) <= 0.006


def test_pitch_and_tempo_copies_of_unrelated_audio_do_not_match(tmp_path, pieces, wide_index):
    queries = []
    for i, af in enumerate(
        (
            f"rubberband=pitch={SEMITONE:.5f}",
            f"rubberband=pitch={1 / SEMITONE:.5f}",
            "rubberband=tempo=0.95",
            "rubberband=tempo=1.05",
        )
    ):
        for j, p in enumerate(pieces[2:]):
            queries.append(fingerprint_audio(ffmpeg(p, tmp_path / f"u{i}-{j}.mp3", "-af", af)))
    assert wide_index.match(queries) == [[] for _ in queries]


def test_version_1_audio_index_opens_and_says_what_needs_a_re_export(tmp_path, index, pieces):
    import json

    index.save(tmp_path / "v1")
    meta = json.loads((tmp_path / "v1" / "audio_index.json").read_text())
    meta["version"] = 1
    (tmp_path / "v1" / "audio_index.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="re-export"):
        old = AudioIndex.load(tmp_path / "v1")
    assert len(old.notices) == 1 and "pitch" in old.notices[0] and index.notices == []
    assert [m.work_id for m in old.match([fingerprint_audio(pieces[0])])[0]] == [101]
    meta["version"] = 7
    (tmp_path / "v1" / "audio_index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"version 7.*re-export"):
        AudioIndex.load(tmp_path / "v1")


def test_version_2_audio_index_opens_without_high_pass_variants_and_says_so(tmp_path, index, pieces):
    """An index saved before the high-pass variants (format 2: no ``highpass`` column) still opens and
    matches what it matched, with a notice that copies with the bass cut need a re-export."""
    import json

    import pyarrow.parquet as pq

    index.save(tmp_path / "v2")
    meta = json.loads((tmp_path / "v2" / "audio_index.json").read_text())
    meta["version"] = 2
    (tmp_path / "v2" / "audio_index.json").write_text(json.dumps(meta))
    segments = pq.read_table(tmp_path / "v2" / "audio_segments.parquet")
    pq.write_table(segments.drop_columns(["highpass"]), tmp_path / "v2" / "audio_segments.parquet")
    with pytest.warns(UserWarning, match="high-pass.*re-export"):
        old = AudioIndex.load(tmp_path / "v2")
    assert len(old.notices) == 1 and "bass cut" in old.notices[0]
    # read as format 2, the high-pass segments are taken for plain ones: matching still works
    assert not old.seg_highpass.any() and len(old.seg_highpass) == len(index.seg_highpass)
    assert [m.work_id for m in old.match([fingerprint_audio(pieces[1])])[0]] == [102]
    # the current format keeps the cut-offs
    current = AudioIndex.load(index.save(tmp_path / "v3")[0].parent)
    assert current.notices == [] and sorted(set(current.seg_highpass)) == [0.0, *DEFAULT_HIGHPASS]


@pytest.mark.parametrize("cutoff", [200, 350, 500])
def test_copy_with_the_bass_cut_matches_through_a_high_pass_variant(cutoff, tmp_path, pieces, index, registrations):
    """A 4th-order high-pass (thin speakers, a "telephone" edit) moves Chromaprint's chroma as far as
    unrelated audio; the registry's high-passed variants of the work bring it back within reach."""
    af = f"highpass=f={cutoff},highpass=f={cutoff}"
    q = fingerprint_audio(ffmpeg(pieces[2], tmp_path / f"hp{cutoff}.wav", "-af", af))
    [matches] = index.match([q])
    assert [m.work_id for m in matches] == [103]
    assert matches[0].evidence["highpass"] in DEFAULT_HIGHPASS
    # unrelated audio through the same filter matches nothing
    other = fingerprint_audio(ffmpeg(pieces[4], tmp_path / f"u{cutoff}.wav", "-af", af))
    assert index.match([other]) == [[]]


def test_ten_second_excerpt_matches(tmp_path, pieces, index):
    """A 10-s excerpt yields ~7.7 s of Chromaprint items: it is verified over its own length (format 1
    demanded 10 s of items and never matched one)."""
    q = fingerprint_audio(
        ffmpeg(pieces[1], tmp_path / "ten.mp3", "-c:a", "libmp3lame", "-b:a", "128k", before=("-ss", "12", "-t", "10"))
    )
    assert q.seconds < 10
    [matches] = index.match([q])
    assert [m.work_id for m in matches] == [102]
    assert matches[0].evidence["offset_s"] == pytest.approx(12 + matches[0].evidence["query_offset_s"], abs=0.5)


def test_reverberant_copy_matches(tmp_path, pieces, index):
    """Reverberation flips a bit or two of most items: found through the one-bit-flip lookups."""
    rng = np.random.default_rng(3)
    dry = synth_piece(0)
    n = int(3.0 * RATE)  # a hall: 3 s to fade by 60 dB, 85 % of what is heard is reflections
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    size = 1 << int(np.ceil(np.log2(len(dry) + n)))
    wet = np.fft.irfft(np.fft.rfft(dry, size) * np.fft.rfft(ir, size), size)[: len(dry)]
    wet *= np.sqrt(np.mean(dry**2) / np.mean(wet**2))
    q = fingerprint_audio(write_wav(tmp_path / "reverb.wav", 0.15 * dry + 0.85 * wet))
    assert [m.work_id for m in index.match([q])[0]] == [101]
    # Without the flipped lookups the true alignment keeps one exact hit: found only because single-vote
    # candidates are verified too (issue 16); with two votes required, as before, it is not found...
    assert index.match([q], probe_flips=False, min_votes=2, robust_candidates=0) == [[]]
    # ...but the robust-bits lookup gives the true alignment votes of its own
    [robust] = index.match([q], probe_flips=False, min_votes=2)
    assert [m.work_id for m in robust] == [101] and robust[0].evidence["votes"] >= fa.ROBUST_MIN_VOTES
    [slack] = index.match([q], long_slack=0.06)
    assert [m.work_id for m in slack] == [101]


def _voice(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like sound: syllables of a gliding harmonic series shaped by two formants, short gaps between
    syllables and longer ones between words."""
    n = int(seconds * RATE)
    out = np.zeros(n)
    t = 0
    while t < n:
        syllable = int(rng.uniform(0.12, 0.3) * RATE)
        f0 = rng.uniform(100, 220)
        tt = np.arange(syllable) / RATE
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 5) * tt))) / RATE
        f1, f2 = rng.uniform(300, 900), rng.uniform(900, 2500)
        sound = sum(
            np.sin(h * phase)
            * (np.exp(-(((h * f0 - f1) / 200) ** 2)) + 0.5 * np.exp(-(((h * f0 - f2) / 300) ** 2)) + 0.05)
            for h in range(1, 30)
        )
        end = min(n, t + syllable)
        out[t:end] += (sound * np.sin(np.pi * np.arange(syllable) / syllable) ** 2)[: end - t]
        t += syllable + int(rng.uniform(0.02, 0.08 if rng.random() < 0.7 else 0.4) * RATE)
    return out


def _over(music: np.ndarray, voice: np.ndarray, db: float) -> np.ndarray:
    mixed = music + voice * np.sqrt(np.mean(music**2) / np.mean(voice**2)) * 10 ** (db / 20)
    return 0.9 * mixed / np.abs(mixed).max()


@pytest.mark.parametrize(("seed", "piece"), [(1, 0), (5, 3)])
def test_copy_with_a_voice_over_it_is_found_through_the_robust_bits(seed, piece, tmp_path, index):
    """A voice 3 dB under the music flips the even bits of Chromaprint's items far more than the odd ones:
    neither the exact nor the one-bit-flipped 32-bit lookups give the true alignment a candidate, the
    robust-bits lookup (the odd bits and one-bit flips of them) does, and the significance then accepts it.
    The same voice over unrelated music matches nothing."""
    rng = np.random.default_rng(seed)
    start, length = int(rng.uniform(0, 20) * RATE), int(rng.uniform(12, 18) * RATE)
    part = synth_piece(piece)[start : start + length]
    voice = _voice(length / RATE, np.random.default_rng(100 + seed))
    q = fingerprint_audio(write_wav(tmp_path / "voice-over.wav", _over(part, voice, -3)))
    [found] = index.match([q])
    assert [m.work_id for m in found] == [101 + piece]
    assert found[0].evidence["significance"] >= fa.SIGNIFICANCE
    assert found[0].evidence["offset_s"] == pytest.approx(start / RATE + found[0].evidence["query_offset_s"], abs=0.5)
    # without the robust-bits candidates (the code before them) the copy is not found
    assert index.match([q], robust_candidates=0) == [[]]
    unrelated = synth_piece(4)[:length]
    other = fingerprint_audio(write_wav(tmp_path / "voice-over-unrelated.wav", _over(unrelated, voice, -3)))
    assert index.match([other]) == [[]]


def _items(bits: np.ndarray) -> np.ndarray:
    """(n, 32) booleans → n Chromaprint-like uint32 items."""
    return np.packbits(bits.astype(np.uint8), axis=1, bitorder="little").view("<u4").ravel().astype(np.uint32)


def _bare(items: np.ndarray, name: str) -> AudioFingerprint:
    return AudioFingerprint(
        item=name, exact=xxhash.xxh3_128_digest(name.encode()), duration=len(items) * 0.124, items=items
    )


def test_chance_agreement_of_biased_bits_is_not_a_match():
    """Two unrelated pieces with the same sustained timbre keep most bits constant and agree far below BER
    0.5 by chance (a negative of the benchmark's diagnostics sat at BER 0.17 against a work over 16 s with
    a chance BER of 0.19). The window rule alone accepted such a pair; the significance against the pair's
    own chance BER refuses it, while a real copy of the same biased work is still found."""
    rng = np.random.default_rng(16)
    bias = np.where(rng.random(32) < 0.5, 0.93, 0.07)  # each bit set in 93 % or 7 % of the items
    work = _items(rng.random((900, 32)) < bias)
    unrelated = _items(rng.random((130, 32)) < bias)
    # plant a few of the work's items so that the unrelated query gets candidates at one alignment
    unrelated[::16] = work[300:430:16]
    b = AudioIndexBuilder()
    b.add(7, _bare(work, "biased work"))
    index = b.build()
    chance = fa._chance_ber(work[300:430], unrelated)
    observed = np.bitwise_count(work[300:430] ^ unrelated).mean() / 32
    assert 0.10 < observed < 0.20 and chance == pytest.approx(2 * 0.93 * 0.07, abs=0.03)
    # the BER rule alone (no significance demanded) takes it for a copy; the default refuses it
    assert [m.work_id for m in index.match([_bare(unrelated, "u")], min_significance=-np.inf)[0]] == [7]
    assert index.match([_bare(unrelated, "u")]) == [[]]
    # a copy of the same work with a tenth of its bits flipped: BER 0.10 against a chance 0.16 → found
    copy = work[300:430] ^ _items(rng.random((130, 32)) < 0.03)
    [found] = index.match([_bare(copy, "copy")])
    assert [m.work_id for m in found] == [7] and found[0].evidence["significance"] >= fa.SIGNIFICANCE


def test_copy_past_the_window_rule_is_accepted_by_its_significance_over_the_whole_overlap():
    """Reverb, a second sound over the work and rubberband's tempo or pitch leave BER 0.20–0.33 over the
    whole copy: no 10-s window passes BER 0.20, but the agreement over 20 s is far beyond chance. Unrelated
    material aligned the same way is not accepted."""
    rng = np.random.default_rng(5)
    work = _items(rng.random((1200, 32)) < 0.5)
    part = work[400:560].copy()  # ≈ 20 s
    noisy = rng.random(len(part)) < 0.6  # 60 % of the items lose 45 % of their bits, the rest kept
    part[noisy] ^= _items(rng.random((int(noisy.sum()), 32)) < 0.45)
    b = AudioIndexBuilder()
    b.add(3, _bare(work, "work"))
    index = b.build()
    ber = np.bitwise_count(part ^ work[400:560]).mean() / 32
    assert 0.24 < ber < 0.32
    [found] = index.match([_bare(part, "copy")])
    assert [m.work_id for m in found] == [3]
    assert found[0].evidence["ber"] > 0.2 and found[0].evidence["significance"] >= fa.SIGNIFICANCE
    assert found[0].evidence["offset_s"] == pytest.approx(400 * 0.124, abs=0.3)
    # an unrelated query that shares the kept items' positions only by a few planted hits: no match
    other = _items(rng.random((160, 32)) < 0.5)
    other[::20] = work[400:560:20]
    assert index.match([_bare(other, "other")]) == [[]]
    # the length term stops at the longest overlap the threshold is calibrated on (30 s)
    assert fa.significance(0.40, 0.47, 300.0) == fa.significance(0.40, 0.47, 30.0) < fa.SIGNIFICANCE
    assert fa.significance(0.40, 0.47, 10.0) < fa.significance(0.40, 0.47, 20.0)
