"""The README's shell blocks run as written (as datasette checks its documentation): every ```sh or ```bash
block, in order, in one temporary directory, with this checkout's ``fairtrain`` on PATH and a data directory
of its own; a block that must not run here (``make demo`` and its server, ``apt-get``, a cluster, the network)
carries the line ``<!-- not run by tests -->`` just before it. The sample files the commands name (poem.txt,
photo.jpg, repertoire.zip, tariff.json, the dataset folder data/, …) are made by :func:`sample_files`."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cli_helpers import forked_fairtrain
from conftest import make_image

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = "<!-- not run by tests -->"
FENCE = re.compile(r"^```(\w*)\s*$")


def shell_blocks(text: str) -> list[tuple[int, str, bool]]:
    """(first line number, body, runs) of each ```sh/```bash block; ``runs`` is False after the SKIP marker."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or not m[1]:
            i += 1
            continue
        lang, start = m[1], i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if lang in ("sh", "bash"):
            before = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
            out.append((start + 1, "\n".join(lines[start + 1 : j]), before != SKIP))
        i = j + 1
    return out


def test_the_block_reader_sees_fences_languages_and_the_marker():
    text = f"a\n```sh\necho 1\n```\n{SKIP}\n\n```bash\nexit 1\n```\n```json\n{{}}\n```\n```\nplain\n```\n"
    assert shell_blocks(text) == [(2, "echo 1", True), (7, "exit 1", False)]


def _text(seed: int, words: int = 300) -> str:
    import random

    rnd = random.Random(seed)
    pool = ["바람", "노래", "river", "stone", "light", "하늘", "window", "garden", "밤", "letter", "morning", "길"]
    return " ".join(rnd.choice(pool) + str(rnd.randrange(1000)) for _ in range(words)) + "\n"


def sample_files(d: Path) -> None:
    """The files the README's commands read, as a creator, a CMO and a developer would have them."""
    poem = _text(1)
    (d / "poem.txt").write_text(poem, encoding="utf-8")
    (d / "photo.jpg").write_bytes(make_image(1))
    (d / "my-poem.txt").write_text(poem, encoding="utf-8")
    (d / "excerpt.txt").write_text(" ".join(poem.split()[20:200]) + "\n", encoding="utf-8")
    from PIL import Image

    img = Image.open(io.BytesIO(make_image(1)))
    img.resize((400, 300)).save(d / "copy.jpg", quality=80)
    # a CMO's repertoire as the office keeps it: a CP949 sheet with Korean headers beside the works' files
    sheet = (
        "작품코드,제목,파일,권리자,ISWC,ISRC,ISBN,TDM,AI학습,생성형AI학습,AI입력,검색,가격,통화\n"
        "K-1,아리랑 변주곡,files/k1.txt,김작곡:composer:1/2;이작사:lyricist:1/2,T-034.524.680-1,,,,,licence,,allow,,\n"
        "K-2,봄날,files/k2.txt,박가수:composer:1,,,,deny,,,,,,\n"
    )
    with zipfile.ZipFile(d / "repertoire.zip", "w") as z:
        z.writestr("목록.csv", sheet.encode("cp949"))
        z.writestr("files/k1.txt", _text(11))
        z.writestr("files/k2.txt", _text(12))
    (d / "tariff.json").write_text(
        json.dumps({"currency": "KRW", "model": "per-work", "per_work": {"text": "1000", "other": "2000"}}),
        encoding="utf-8",
    )
    (d / "retroactive-tariff.json").write_text(json.dumps({"surcharge_percent": "50"}), encoding="utf-8")
    (d / "signed-mandate.pdf").write_bytes(b"%PDF-1.4\n% a scanned, signed paper mandate\n")
    # a developer's dataset: a copy of the poem and the photo, the CMO's K-1, and unrelated items
    data = d / "data"
    data.mkdir()
    (data / "poem-copy.txt").write_text(poem, encoding="utf-8")
    (data / "photo-copy.jpg").write_bytes(make_image(1))
    (data / "k1.txt").write_text(_text(11), encoding="utf-8")
    for i in range(3):
        (data / f"other-{i}.txt").write_text(_text(100 + i), encoding="utf-8")
    (d / "usage.json").write_text(
        json.dumps({"works": ["K-1"], "model": "acme-7b", "model_versions": ["0.9"], "used_from": "2026-01-01"}),
        encoding="utf-8",
    )
    subprocess.run(  # 20 s of a chord, as an MP3
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=20",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:duration=20",
            "-filter_complex",
            "amix=inputs=2",
            str(d / "clip.mp3"),
        ],
        check=True,
    )
    (d / "settlements.csv").write_text(
        "invoice,amount,currency,reference,received_at\n2,5000000,KRW,BANK-2,2026-01-02T09:00:00+09:00\n",
        encoding="utf-8",
    )
    (d / "weights.json").write_text(json.dumps({"2": 3, "1": 1}), encoding="utf-8")
    gen = d / "generated"
    gen.mkdir()
    (gen / "answer.txt").write_text(" ".join(poem.split()[:120]) + "\n", encoding="utf-8")
    (gen / "picture.png").write_bytes(make_image(7, "PNG"))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_readme_shell_blocks_run_as_written(tmp_path):
    blocks = shell_blocks(README.read_text(encoding="utf-8"))
    runnable = [b for b in blocks if b[2]]
    assert len(runnable) >= 5 and len(blocks) > len(runnable)  # the marker is in use, and most blocks run
    work = tmp_path / "readme"
    work.mkdir()
    sample_files(work)
    bin_dir = tmp_path / "bin"  # `fairtrain` on PATH runs this checkout's sources (cli_helpers.forked_fairtrain)
    bin_dir.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT / "src"),
        "FAIRTRAIN_DATA_DIR": str(tmp_path / "data-dir"),
        "HOME": str(tmp_path / "home"),
        "COLUMNS": "160",
    }
    env.pop("FAIRTRAIN_DATABASE_URL", None)
    with forked_fairtrain(bin_dir, env):
        for line, body, _ in runnable:
            r = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", body],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert r.returncode == 0, (
                f"README.md block at line {line} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            )
