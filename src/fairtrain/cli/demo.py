"""``fairtrain demo``: the whole value chain on generated data, driven through the CLI's own commands.

A CMO imports a repertoire ZIP (a CP949 sheet with Korean headers, Korean and English texts, images, audio);
two creators sign up and register works; a developer clears a dataset of a few hundred items (exact copies,
edited copies, unrelated items), requests licences (one accepted and paid, one declined), clears again on a
fresh snapshot, reports usage; the money is distributed, statements written, the clearance published in the
log, and lookups answer yes, no and unknown. Every step is a ``fairtrain`` command run in this process (the
same code a person would type), plus the web accounts' own sign-up so each page has someone to show it to.

The story is kept in ``DATA_DIR/demo/story.json``; a second run reuses it. A run that stopped half-way is
rebuilt from an empty directory."""

from __future__ import annotations

import io
import json
import math
import random
import shutil
import struct
import wave
import zipfile
from contextlib import redirect_stdout
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

from fairtrain.core.errors import FairtrainError

DEMO_PASSWORD = "fairtrain-demo"
ORG_NAME = "KOMCA (demo)"
CREATORS = (("윤하늘 Yoon Haneul", "haneul@demo.fairtrain.example"), ("Jeon Photo", "jeon@demo.fairtrain.example"))
CMO_EMAIL = "cmo@demo.fairtrain.example"
DEV_NAME, DEV_EMAIL = "Demo AI Lab", "dev@demo.fairtrain.example"
MODEL = "demo-lm"

_KO = (
    "하늘",
    "바람",
    "별",
    "시",
    "노래",
    "바다",
    "강물",
    "봄날",
    "가을",
    "달빛",
    "마을",
    "기억",
    "꽃잎",
    "새벽",
    "그리움",
    "길",
    "나무",
    "구름",
    "어머니",
    "편지",
    "눈물",
    "햇살",
    "들판",
    "물결",
    "고향",
    "시간",
    "오래된",
    "푸른",
    "조용한",
)
_EN = (
    "river",
    "lantern",
    "harbour",
    "orchard",
    "winter",
    "letters",
    "mountain",
    "quiet",
    "silver",
    "morning",
    "village",
    "memory",
    "garden",
    "thunder",
    "paper",
    "window",
    "distant",
    "golden",
    "stone",
    "evening",
    "salt",
    "bridge",
    "copper",
    "meadow",
    "whisper",
    "candle",
    "northern",
    "tide",
    "ember",
    "hollow",
)


class DemoError(FairtrainError):
    """The demo cannot be built where it was asked to (a directory holding other data)."""


# ---- generated works -------------------------------------------------------------------------------------------


def _text(rng: random.Random, korean: bool, lines: int = 14) -> str:
    words = _KO if korean else _EN
    out = []
    for _ in range(lines):
        line = " ".join(rng.choice(words) for _ in range(rng.randint(7, 12)))
        out.append(line + ("." if not korean else "다."))
    return "\n".join(out) + "\n"


def _image(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randint(30, 200), rng.randint(30, 160)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x, y, x + w, y + h), fill=colour)
    return img


def _jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _song(seed: int, seconds: int = 8, rate: int = 16000) -> bytes:
    rng = random.Random(seed)
    notes = [
        rng.choice((220.0, 246.94, 261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 493.88, 523.25))
        for _ in range(seconds * 2)
    ]
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


# The CMO's repertoire: (kind, korean?, holders, train-genai terms). Licence rows carry a price per work.
_MEMBERS = (
    "박작곡 Park Jakgok:composer",
    "최작사 Choi Jaksa:lyricist",
    "김작가 Kim Jakga:author",
    "이사진 Lee Sajin:photographer",
)


def _repertoire_rows(rng: random.Random) -> list[tuple[str, str, bytes, str, str]]:
    """(work_ref, title, file bytes, file name, terms) for 24 works: 14 texts, 6 images, 4 songs."""
    rows = []
    for i in range(14):
        korean = i % 2 == 0
        body = _text(rng, korean).encode()
        terms = ("licence", "licence", "deny", "allow")[i % 4]
        rows.append(
            (f"KM-T{i + 1:03d}", f"{'시' if korean else 'Poem'} {i + 1}", body, f"texts/t{i + 1:03d}.txt", terms)
        )
    for i in range(6):
        terms = ("licence", "deny", "allow")[i % 3]
        rows.append(
            (f"KM-I{i + 1:03d}", f"사진 Photo {i + 1}", _jpeg(_image(1000 + i)), f"images/i{i + 1:03d}.jpg", terms)
        )
    for i in range(4):
        terms = ("licence", "allow")[i % 2]
        rows.append((f"KM-A{i + 1:03d}", f"노래 Song {i + 1}", _song(2000 + i), f"audio/a{i + 1:03d}.wav", terms))
    return rows


def _repertoire_zip(rows, path: Path) -> None:
    from fairtrain.services.registry.repertoire import COLUMNS, headers

    lines = [",".join(headers("ko"))]
    for n, (ref, title, _body, name, terms) in enumerate(rows):
        holder = _MEMBERS[3] if name.startswith("images/") else _MEMBERS[n % 3]
        price = "15000" if terms == "licence" else ""
        cells = {"work_ref": ref, "title": title, "file": name, "holders": f"{holder}:1", "train-genai": terms}
        cells |= {"search": "allow", "price": price, "currency": "KRW" if price else ""}
        lines.append(",".join(cells.get(column, "") for column in COLUMNS))  # by name: the sheet may gain columns
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("repertoire.csv", ("\r\n".join(lines) + "\r\n").encode("cp949"))  # as Korean Excel saves it
        for _ref, _title, body, name, _terms in rows:
            z.writestr(name, body)


def _edited(name: str, body: bytes, rng: random.Random) -> bytes:
    """An edited copy: a text with a line added and one dropped, an image resized and re-encoded, audio as is
    but for a short fade (kept simple: the bytes of a slightly quieter song)."""
    if name.endswith(".txt"):
        lines = body.decode().splitlines()
        lines.insert(0, "(excerpt, lightly edited)")
        del lines[len(lines) // 2]
        return ("\n".join(lines) + "\n").encode()
    if name.endswith(".jpg"):
        img = Image.open(io.BytesIO(body)).convert("RGB")
        return _jpeg(img.resize((img.width * 3 // 4, img.height * 3 // 4)), quality=70)
    return body


# ---- running the CLI's commands here ---------------------------------------------------------------------------


class _Cli:
    def __init__(self, data_dir: Path, url: str | None):
        self.base = ["--data-dir", str(data_dir)] + (["--database-url", url] if url else [])

    def __call__(self, *args) -> object:
        from fairtrain.cli._common import app

        argv = [*self.base, *(str(a) for a in args), "--json"]
        buf = io.StringIO()
        with redirect_stdout(buf):
            try:
                rc = app(argv, standalone_mode=False)
            except SystemExit as e:
                rc = e.code
        if rc not in (None, 0):
            raise DemoError(f"`fairtrain {' '.join(argv[len(self.base) :])}` failed (exit {rc})")
        return json.loads(buf.getvalue())


# ---- the story -------------------------------------------------------------------------------------------------


def _included(answer: dict, log_index: int) -> bool | None:
    """Whether a lookup found the work in the clearance published at ``log_index``."""
    return next(c["included"] for c in answer["clearances"] if c["log_index"] == log_index)


def _prepare_dir(data_dir: Path, url: str | None) -> dict | None:
    """The stored story when a finished demo is there; None when the directory is ready for a new one."""
    story = data_dir / "demo" / "story.json"
    if story.exists():
        return json.loads(story.read_text(encoding="utf-8"))
    marker = data_dir / "demo" / "building"
    if marker.exists() and url is None:  # an interrupted demo of ours: start over
        shutil.rmtree(data_dir)
    elif data_dir.exists() and any(data_dir.iterdir()):
        raise DemoError(
            f"{data_dir} holds data that is not a finished demo: give the demo an empty directory "
            f"(e.g. --data-dir demo-data after `rm -rf demo-data`)"
        )
    (data_dir / "demo").mkdir(parents=True, exist_ok=True)
    marker.write_text("a demo is being built here; delete the directory to start over\n")
    return None


def run_demo(data_dir: Path, url: str | None = None) -> dict:
    """Play the story into ``data_dir`` (or reuse the one there); return what happened."""
    stored = _prepare_dir(data_dir, url)
    if stored is not None:
        return {**stored, "reused": True}
    story = _play(data_dir, url)
    (data_dir / "demo" / "story.json").write_text(json.dumps(story, ensure_ascii=False, indent=2), encoding="utf-8")
    (data_dir / "demo" / "building").unlink()
    return {**story, "reused": False}


def _play(data_dir: Path, url: str | None) -> dict:
    from fairtrain.core.vocab import Category, Level, Value
    from fairtrain.services.registry import Registry, ShareSpec, holder_ref
    from fairtrain.web.accounts import Accounts

    cli = _Cli(data_dir, url)
    demo = data_dir / "demo"
    rng = random.Random(15)
    story: dict = {"data_dir": str(data_dir)}

    cli("init")  # the database and the registry's key (signs snapshots and the log)
    reg = Registry.open(data_dir, url)
    accounts = Accounts(reg.engine)

    # 1. The CMO's office signs up and imports its repertoire ZIP (CP949 sheet, files beside it).
    cmo = accounts.sign_up(email=CMO_EMAIL, password=DEMO_PASSWORD, role="org-admin", name=ORG_NAME, country="KR")
    rows = _repertoire_rows(rng)
    _repertoire_zip(rows, demo / "repertoire.zip")
    imported = cli("registry", "import", demo / "repertoire.zip", "--org", ORG_NAME)
    if imported["errors"] or not imported["imported"]:
        raise DemoError(f"repertoire import refused: {imported['errors']}")
    story["repertoire"] = {
        "works": imported["created"],
        "encoding": imported["encoding"],
        "holders": imported["holders_created"],
    }
    for m in reg.mandates(org_id=cmo.org_id):  # the new members consent, each following the link they were sent
        if m["status"] == "pending":
            reg.confirm_mandate(m["id"], token=reg.mandate_invitation(m["id"]))

    # 2. Two creators sign up (a holder each) and register works with their own terms.
    creators = []
    creator_files: list[tuple[str, bytes]] = []
    for n, (name, email) in enumerate(CREATORS):
        acc = accounts.sign_up(email=email, password=DEMO_PASSWORD, role="creator", name=name, country="KR")
        creators.append(acc)
        for i in range(4):
            if n == 0:
                fname, body = f"haneul-{i + 1}.txt", _text(rng, korean=True).encode()
                title = f"하늘 연작 {i + 1} (Sky cycle)"
            else:
                fname, body = f"jeon-{i + 1}.jpg", _jpeg(_image(3000 + i))
                title = f"Harbour light {i + 1}"
            path = demo / "creators" / fname
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(body)
            reg.add_work_file(path, shares=[ShareSpec(acc.holder_id, "author", Fraction(1))], title=title)
            creator_files.append((fname, body))
    from fairtrain.core.money import Money
    from fairtrain.core.vocab import Offer, PriceModel

    # Both offer licences for generative training: Yoon at 20,000 won a work, Jeon at 10,000.
    for creator, price in zip(creators[:2], ("20000", "10000"), strict=True):
        reg.declare(
            level=Level.CATALOGUE,
            target_id=creator.holder_id,
            party=holder_ref(creator.holder_id),
            values={Category.TRAIN_GENAI: Value.LICENCE, Category.SEARCH: Value.ALLOW},
            offer=Offer(PriceModel.PER_WORK, Money.parse(price, "KRW")),
        )
    story["creators"] = {"accounts": len(creators), "works": len(creator_files)}

    # 3. The developer's dataset: exact copies, edited copies and unrelated items.
    dev = accounts.sign_up(email=DEV_EMAIL, password=DEMO_PASSWORD, role="developer", name=DEV_NAME)
    licensee = f"developer:{dev.id}"  # the identity the web pages give this account
    dataset = demo / "dataset"
    dataset.mkdir()
    known = [(name.replace("/", "-"), body) for _r, _t, body, name, _terms in rows] + creator_files
    counts = {"exact": 0, "edited": 0, "unrelated": 0}
    for name, body in known:
        (dataset / f"copy-{name}").write_bytes(body)
        counts["exact"] += 1
        if not name.endswith(".wav"):
            (dataset / f"edit-{name}").write_bytes(_edited(name, body, rng))
            counts["edited"] += 1
    for i in range(220):
        if i % 4 == 3:
            (dataset / f"web-{i:03d}.jpg").write_bytes(_jpeg(_image(9000 + i, (240, 180)), quality=80))
        else:
            (dataset / f"web-{i:03d}.txt").write_text(_text(rng, korean=i % 2 == 0, lines=6), encoding="utf-8")
        counts["unrelated"] += 1
    story["dataset"] = {**counts, "items": sum(counts.values())}

    # 4. Clear against a snapshot; ask every party in the quote for a licence.
    key_name = licensee.replace(":", "-")
    cli("keys", "create", "--name", key_name, "--party")
    snaps, clears = data_dir / "snapshots", data_dir / "clearances"  # where the web app looks for them
    cli("snapshot", "export", snaps / "snapshot-1")
    first = cli(
        "clear",
        dataset,
        "--snapshot",
        snaps / "snapshot-1",
        "--licensee",
        licensee,
        "--purpose",
        "train-genai",
        "--out",
        clears / "clearance-1",
    )
    story["clearance_1"] = {"items": first["items"], "passed": first["passed"], "by_decision": first["by_decision"]}
    requested = cli("licences", "request", clears / "clearance-1" / "licence-quote.json")["licences"]
    licences = {lic["grantor"]: lic for lic in (cli("licences", "show", i) for i in requested)}
    org_party = f"org:{cmo.org_id}"
    yoon, jeon = (holder_ref(a.holder_id) for a in creators)
    if not {org_party, yoon, jeon} <= set(licences):
        raise DemoError(f"the quote should ask {org_party}, {yoon} and {jeon}; it asked {sorted(licences)}")

    # 5. The CMO and Jeon accept (signed, invoiced) and are paid; Yoon declines.
    prices, paid = [], []
    for n, grantor in enumerate((org_party, jeon)):
        cli("keys", "create", "--name", grantor.replace(":", "-"), "--party")
        accepted = cli("licences", "accept", licences[grantor]["id"], "--as", grantor)
        price = accepted["grant"]["price"]
        prices.append(price["display"])
        paid.append(
            cli(
                "payments",
                "record",
                accepted["invoice"],
                "--amount",
                Money.from_dict(price).major_str(),
                "--currency",
                price["currency"],
                "--reference",
                f"DEMO-SETTLEMENT-{n + 1}",
            )["status"]
        )
    cli("licences", "decline", licences[yoon]["id"], "--as", yoon, "--note", "not for generative training")
    story["licences"] = {"requested": len(requested), "accepted": 2, "declined": 1, "prices": prices, "payments": paid}

    # 6. Re-clear on a fresh snapshot (the granted licence now covers the CMO's works); report usage.
    cli("snapshot", "export", snaps / "snapshot-2")
    second = cli(
        "clear",
        dataset,
        "--snapshot",
        snaps / "snapshot-2",
        "--licensee",
        licensee,
        "--purpose",
        "train-genai",
        "--out",
        clears / "clearance-2",
    )
    story["clearance_2"] = {"items": second["items"], "passed": second["passed"], "by_decision": second["by_decision"]}
    usage = cli(
        "usage",
        "report",
        "--licensee",
        licensee,
        "--model",
        MODEL,
        "--version",
        "1",
        "--idempotency-key",
        "demo-usage-1",
        "--manifest",
        clears / "clearance-2" / "manifest.json",
        "--licence",
        licences[org_party]["id"],
        "--licence",
        licences[jeon]["id"],
    )
    story["usage_report"] = usage["report"]

    # 6b. Use first, pay later: the lab declares that an earlier model (demo-lm 0.9) already trained on three
    # of KOMCA's works; KOMCA's retroactive tariff (per work, 50 % surcharge) prices it; KOMCA accepts; paid.
    tariff = demo / "retroactive-tariff.json"
    tariff.write_text(
        json.dumps(
            {
                "surcharge_percent": "50",
                "currency": "KRW",
                "model": "per-work",
                "per_work": {"text": "15000", "image": "15000", "audio": "15000", "other": "15000"},
            }
        ),
        encoding="utf-8",
    )
    cli("tariffs", "publish", tariff, "--org", ORG_NAME, "--retroactive")
    past = demo / "past-use.json"
    past.write_text(
        json.dumps(
            {
                "licensee": licensee,
                "works": ["KM-T001", "KM-I001", "KM-A001"],
                "model": MODEL,
                "model_versions": ["0.9"],
                "used_from": (date.today() - timedelta(days=20)).isoformat(),
            }
        ),
        encoding="utf-8",
    )
    declared = cli("licences", "declare-use", past)
    (retro,) = declared["licences"]
    granted = cli("licences", "accept", retro["licence"], "--as", retro["grantor"])
    rprice = granted["grant"]["price"]
    rpaid = cli(
        "payments",
        "record",
        granted["invoice"],
        "--amount",
        Money.from_dict(rprice).major_str(),
        "--currency",
        rprice["currency"],
        "--reference",
        "DEMO-SETTLEMENT-RETRO",
    )["status"]
    story["retroactive"] = {
        "licence": retro["licence"],
        "works": len(retro["works"]),
        "price": rprice["display"],
        "surcharge_percent": retro["surcharge_bp"] / 100,
        "payment": rpaid,
    }

    # 7. Distribute the money; a statement per paid holder.
    today = date.today()
    run = cli(
        "distribute",
        "--period",
        f"{today - timedelta(days=30)}..{today + timedelta(days=1)}",
        "--fee",
        f"{ORG_NAME}=10",
    )  # the CMO keeps 10 % for its costs
    (demo / "statements").mkdir()
    holders = [h for h in cli("holders", "list")]
    written = []
    for h in holders:
        try:
            cli(
                "statements",
                "--run",
                run["run"],
                "--holder",
                h["id"],
                "--out",
                demo / "statements" / f"holder-{h['id']}.html",
                "--format",
                "html",
            )
            written.append(h["id"])
        except DemoError:
            continue
    story["distribution"] = {
        "run": run["run"],
        "lines": run["lines"],
        "holders": run["holders"],
        "statements": len(written),
    }

    # 8. Publish the clearance in the log; lookups.
    published = cli("log", "record-clearance", clears / "clearance-2")
    summary = cli(
        "summary",
        "--clearance",
        clears / "clearance-2",
        "--model",
        MODEL,
        "--version",
        "1",
        "--provider",
        DEV_NAME,
        "--out",
        demo / "summary.html",
    )
    cli("log", "sign")
    story["published"] = published["index"]
    story["summary"] = {"log_index": summary["log_index"], "path": summary["out"]}
    lic_work = licences[org_party]["request"]["works"][0]
    yes = cli("lookup", "--work", lic_work, "--clearance", clears / "clearance-2")
    denied_work = licences[yoon]["request"]["works"][0]
    no = cli("lookup", "--work", denied_work, "--clearance", clears / "clearance-2")
    stranger = demo / "unregistered.txt"  # nobody registered this text: the registry cannot say whose it is
    stranger.write_text(_text(random.Random(99), korean=False), encoding="utf-8")
    unknown = cli("lookup", stranger)
    answer = {True: "yes", False: "no", None: "unknown"}
    story["lookups"] = {
        "licensed work": answer[_included(yes, published["index"])],
        "declined work": answer[_included(no, published["index"])],
        "unregistered file": unknown["verdict"],
    }  # "unknown": no registered work matches it
    story["lookup_works"] = {"yes": lic_work, "no": denied_work}
    story["accounts"] = [
        {"role": "org-admin", "email": CMO_EMAIL, "name": ORG_NAME},
        *({"role": "creator", "email": e, "name": n} for n, e in CREATORS),
        {"role": "developer", "email": DEV_EMAIL, "name": DEV_NAME},
    ]
    story["password"] = DEMO_PASSWORD
    story["licensee"] = licensee
    reg.engine.dispose()
    return story
