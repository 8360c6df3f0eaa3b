"""``fairtrain demo``: a small registry built from files the demo generates, and a few decisions on it."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

from PIL import Image, ImageDraw

from fairtrain.core.money import Money
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Value
from fairtrain.services.registry import NotFound, Registry, ShareSpec, holder_ref, import_csv

POEM = """서시 (序詩) — 데모용 창작시

하늘을 우러러 한 점 부끄럼이 없기를,
잎새에 이는 바람에도 나는 괴로워했다.
The sky above, and not a speck of shame;
even the wind among the leaves troubled me.
"""

REPERTOIRE = """work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency
KM-0001,봄날의 노래 (Spring Song),song.wav,박작곡:composer:1/2;최작사:lyricist:1/2,T-034.524.680-1,,,,,licence,,allow,30000,KRW
KM-0002,바다 (The Sea),,박작곡:composer:1,,KRA402600001,,deny,,,,allow,,
KM-0003,Open Lullaby,,최작사:lyricist:1,,,,,allow,,,allow,,
"""


def _image() -> bytes:
    img = Image.new("RGB", (640, 480), (20, 40, 90))
    d = ImageDraw.Draw(img)
    for i in range(12):
        d.ellipse((40 * i, 30 * i, 40 * i + 200, 30 * i + 160), outline=(255, 200 - 10 * i, 40 + 15 * i), width=6)
    d.rectangle((380, 300, 620, 460), fill=(230, 230, 210))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _song(seconds: int = 20, rate: int = 22050) -> bytes:
    notes = [261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 493.88, 523.25]
    frames = bytearray()
    for n in range(seconds * rate):
        t = n / rate
        f = notes[int(t * 2) % len(notes)]
        v = 0.5 * math.sin(2 * math.pi * f * t) + 0.25 * math.sin(2 * math.pi * f * 1.5 * t)
        frames += struct.pack("<h", int(v * 20000 * (1 - (t * 2 % 1) * 0.6)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def build_demo(data_dir: Path) -> tuple[Registry, list[tuple[int, str]]]:
    """Create (or reuse) the demo registry in ``data_dir``; return it and the works to show."""
    files = data_dir / "files"
    files.mkdir(parents=True, exist_ok=True)
    (files / "poem.txt").write_text(POEM, encoding="utf-8")
    (files / "photo.jpg").write_bytes(_image())
    (files / "song.wav").write_bytes(_song())
    (files / "repertoire.csv").write_text(REPERTOIRE, encoding="utf-8")

    reg = Registry.open(data_dir, create=True)
    try:
        poet = reg.find_holder("윤하늘 Yoon Haneul")["id"]
        org = reg.find_org("KOMCA (demo)")["id"]
    except NotFound:  # first run: build it
        poet = reg.add_holder("윤하늘 Yoon Haneul", email="haneul@example.org")
        photographer = reg.add_holder("Jeon Photo")
        org = reg.add_org("KOMCA (demo)", country="KR")
        reg.declare(level=Level.CATALOGUE, target_id=poet, party=holder_ref(poet),
                    values={Category.TDM: Value.DENY, Category.SEARCH: Value.ALLOW})
        reg.add_work_file(files / "poem.txt", shares=[ShareSpec(poet, "author", 1)], title="서시 (Prologue)")
        photo = reg.add_work_file(files / "photo.jpg", shares=[ShareSpec(photographer, "photographer", 1)],
                                  title="Circles at dusk")["work"]
        reg.declare(level=Level.WORK, target_id=photo, party=holder_ref(photographer),
                    values={Category.TRAIN_AI: Value.LICENCE, Category.SEARCH: Value.ALLOW},
                    offer=Offer(PriceModel.PER_WORK, Money.parse("25000", "KRW")))
    report = import_csv(reg, files / "repertoire.csv", org_id=org)
    if report.errors:
        raise RuntimeError("; ".join(map(str, report.errors)))
    for m in reg.mandates(org_id=org):  # the new members consent, each following the link they were sent
        if m["status"] == "pending":
            reg.confirm_mandate(m["id"], token=reg.mandate_invitation(m["id"]))
    works = [(w["id"], w["title"]) for w in (reg.work(i) for i in range(1, 6))]
    return reg, works
