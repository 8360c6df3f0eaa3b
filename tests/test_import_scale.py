"""Import at speed (issue 17, item 1): files fingerprinted by worker processes, a chunk's ISCC Text-Codes
computed together, and what is stored identical to today's one-file-at-a-time path (whose ISCC code is
iscc-core's own); a killed import with files stores nothing."""

from __future__ import annotations

import random
import signal
import subprocess
import time
import wave
from pathlib import Path

import iscc_core
import numpy as np
import pytest
from sqlalchemy import func, select

from cli_helpers import FAIRTRAIN
from conftest import make_image
from fairtrain.core.store.models import Fingerprint, Work
from fairtrain.services.registry import Registry, csv_import, import_csv
from fairtrain.services.registry.registry import register_content
from web_helpers import cli_env

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
KO = "동해 물과 백두산이 마르고 닳도록 하느님이 보우하사 우리나라 만세 무궁화 삼천리 화려 강산 대한 사람 길이 보전하세".split()
EN = "the registry keeps every work its holders declared and the terms under which it may be used for training".split()
JA = "吾輩 は 猫 で ある 名前 は まだ 無い どこ で 生れた か とんと 見当 が つかぬ".split()


def corpus(root: Path, n: int, seed: int = 3) -> Path:
    rnd = random.Random(seed)
    (root / "files").mkdir(parents=True, exist_ok=True)
    lines = [HEADER]
    for i in range(n):
        words = (KO, EN, JA)[i % 3]
        (root / "files" / f"{i}.txt").write_text(" ".join(rnd.choices(words, k=rnd.randint(5, 250))), "utf-8")
        lines.append(f"R{i:05d},Work {i},files/{i}.txt,Holder {i % 7}:author:1,,,,,allow,,,,,\n")
    lines.append("BAD,Broken,files/missing.txt,Holder 1:author:1,,,,,allow,,,,,\n")
    (root / "works.csv").write_text("".join(lines), "utf-8")
    return root / "works.csv"


@pytest.fixture
def org(registry):
    return registry.add_org("KOMCA", country="KR")


def test_import_with_files_stores_todays_fingerprints_and_iscc_codes(registry, org, tmp_path, monkeypatch):
    sheet = corpus(tmp_path, 120)
    # several small chunks, so that several worker processes fingerprint them
    monkeypatch.setattr(csv_import, "_FILE_PARALLEL_BYTES", 0)
    monkeypatch.setattr(csv_import, "_FILE_CHUNK_BYTES", 1024)
    monkeypatch.setattr(csv_import, "FILE_WORKERS", 2)
    report = import_csv(registry, sheet, org_id=org, skip_invalid=True)
    assert report.created == 120
    assert [(e.line, e.column) for e in report.errors] == [(122, "file")]
    with registry.engine.connect() as c:
        stored = {
            r.work_ref: r
            for r in c.execute(
                select(Work.work_ref, Work.iscc, Fingerprint.payload.label("fingerprint")).join(
                    Fingerprint, Fingerprint.work_id == Work.id
                )
            )
        }
    assert len(stored) == 120
    for i in range(120):
        data = (tmp_path / "files" / f"{i}.txt").read_bytes()
        row = stored[f"R{i:05d}"]
        assert row.iscc == iscc_core.gen_text_code_v0(data.decode("utf-8"), bits=64)["iscc"]
        assert (row.fingerprint, row.iscc) == register_content("text", data, f"files/{i}.txt")


def test_images_and_audio_imported_by_workers_store_todays_fingerprints(registry, org, tmp_path, monkeypatch):
    """Images and audio go through the same worker processes as text: what they store is what registering
    each file alone stores."""
    files = tmp_path / "files"
    files.mkdir()
    lines = [HEADER]
    for i in range(6):
        (files / f"{i}.jpg").write_bytes(make_image(i))
        lines.append(f"P{i},Photo {i},files/{i}.jpg,Holder {i}:author:1,,,,,allow,,,,,\n")
    rng = np.random.default_rng(5)
    for i in range(2):
        t = np.arange(8 * 11_025) / 11_025
        x = np.sin(2 * np.pi * (220 + 110 * i) * t * (1 + 0.1 * np.sin(t))) + 0.1 * rng.standard_normal(len(t))
        with wave.open(str(files / f"{i}.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(11_025)
            w.writeframes((x / 1.2 * 32767).astype("<i2").tobytes())
        lines.append(f"S{i},Sound {i},files/{i}.wav,Holder {i}:author:1,,,,,allow,,,,,\n")
    (tmp_path / "media.csv").write_text("".join(lines), "utf-8")
    monkeypatch.setattr(csv_import, "_FILE_PARALLEL_BYTES", 0)
    monkeypatch.setattr(csv_import, "_FILE_CHUNK_BYTES", 64)  # a row or two a chunk, over two workers
    monkeypatch.setattr(csv_import, "FILE_WORKERS", 2)
    report = import_csv(registry, tmp_path / "media.csv", org_id=org)
    assert report.created == 8, report.to_dict()
    with registry.engine.connect() as c:
        stored = {
            r.work_ref: r
            for r in c.execute(
                select(Work.work_ref, Work.media_type, Work.iscc, Fingerprint.payload.label("fingerprint")).join(
                    Fingerprint, Fingerprint.work_id == Work.id
                )
            )
        }
    for ref, name, media in [*((f"P{i}", f"{i}.jpg", "image") for i in range(6)), ("S0", "0.wav", "audio")]:
        row = stored[ref]
        assert row.media_type == media
        assert (row.fingerprint, row.iscc) == register_content(media, (files / name).read_bytes(), f"files/{name}")
    assert stored["S1"].fingerprint != stored["S0"].fingerprint


def test_a_killed_import_with_files_stores_nothing(database_url, tmp_path):
    reg = Registry.open(url=database_url)
    reg.add_org("KOMCA", country="KR")
    reg.engine.dispose()
    sheet = corpus(tmp_path, 20_000)  # several seconds of work at ≈ 3,000 works/s: killed well inside it
    env = cli_env(tmp_path / "data", database_url)
    proc = subprocess.Popen(
        [*FAIRTRAIN, "registry", "import", str(sheet), "--org", "KOMCA", "--skip-invalid"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not _children(proc.pid):
        time.sleep(0.05)
    assert proc.poll() is None, "the import finished before it could be killed"
    time.sleep(1.0)  # workers are fingerprinting, the parent storing
    assert proc.poll() is None, "the import finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reg = Registry.open(url=database_url)
    with reg.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Work)).scalar_one() == 0
    reg.engine.dispose()


def _children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.add(int(d.name))
            except OSError:
                continue
    return out
