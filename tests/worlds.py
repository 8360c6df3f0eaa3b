"""The clearance world many tests start from (a registry with four works, a snapshot, a licensee key, and a
dataset of local files): built once per session by ``build_world`` and copied for each test by the ``world``
fixture in conftest.py, which is cheaper than building it again and leaves each test its own copy to change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fairtrain.core.store.models import Licence, LicensedWork
from media_helpers import make_image

LICENSED_TEXT = (
    "The lighthouse keeper wrote every evening in a leather book: the colour of the sea, the ships that "
    "passed, the gulls that argued on the rail, and the slow turning of the great lamp above his head. "
    "When the storms came he wrote less and listened more, and the book filled with silence. "
) * 2
DENIED_TEXT = (
    "어머니는 새벽마다 시장에 나가 생선을 팔았고, 나는 학교가 끝나면 가게 앞 의자에 앉아 숙제를 했다. "
    "비린내와 소금기 속에서 글자를 배웠고, 손님들의 목소리로 셈을 익혔다. 그 시장은 이제 사라졌지만 "
    "그 목소리들은 아직 내 공책 속에 남아 있다. "
) * 2
FREE_TEXT = (
    "This public-domain style notice may be used for any purpose, including training machine learning "
    "models, without asking anybody for permission; attribution is appreciated but not required at all. "
) * 2


def build_world(run, tmp: Path) -> None:
    """The registry (through the command line ``run``), the registered files under ``tmp/works``, the keys
    under ``tmp/data`` and a snapshot at ``tmp/snap``."""
    files = tmp / "works"
    files.mkdir()
    (files / "licensed.txt").write_text(LICENSED_TEXT, encoding="utf-8")
    (files / "denied.txt").write_text(DENIED_TEXT, encoding="utf-8")
    (files / "free.txt").write_text(FREE_TEXT, encoding="utf-8")
    (files / "photo.jpg").write_bytes(make_image(21))
    run("holders", "add", "Keeper", "--email", "keeper@example.org")
    run("holders", "add", "Fishmonger")
    run("holders", "add", "Commons")
    run("works", "add", files / "licensed.txt", files / "photo.jpg", "--holder", "1:author")
    run("works", "add", files / "denied.txt", "--holder", "2:author")
    run("works", "add", files / "free.txt", "--holder", "3:author")
    run("declare", "--holder", "1", "--category", "train-ai=licence", "--price", "30000", "--currency", "KRW")
    run("declare", "--holder", "3", "--category", "tdm=allow")
    keys_and_snapshot(run, tmp / "snap")


def keys_and_snapshot(run, snap: Path) -> None:
    """The registry's key, the licensee acme-ai's key and a snapshot exported to ``snap``, through ``run``:
    what a world needs after its works and declarations before anything is cleared against it."""
    run("keys", "create")
    run("keys", "create", "--name", "acme-ai")
    run("snapshot", "export", snap)


def write_dataset(tmp: Path) -> Path:
    """Copies of the registered works, two unregistered files and a missing one under ``tmp/dataset``; the
    manifest (``tmp/manifest.parquet``) that lists them."""
    data = tmp / "dataset"
    data.mkdir()
    rows = []
    corpus = {
        "licensed-copy.txt": ("Preface.\n" + LICENSED_TEXT).encode(),
        "denied-copy.txt": DENIED_TEXT.encode(),
        "free-copy.txt": FREE_TEXT.encode(),
        "photo-copy.jpg": make_image(21),
        "own-photo.jpg": make_image(99),
        "own-text.txt": (
            "An unregistered paragraph about compilers, register allocation and "
            "instruction scheduling in a small teaching language. " * 3
        ).encode(),
    }
    for name, body in sorted(corpus.items()):
        (data / name).write_bytes(body)
        rows.append({"url": f"https://example.org/{name}", "caption": name, "path": str(data / name)})
    rows.append({"url": None, "caption": "a missing file", "path": str(data / "missing.jpg")})
    manifest = tmp / "manifest.parquet"
    pq.write_table(pa.Table.from_pylist(rows), manifest)
    return manifest


def three_media_snapshot(registry, tmp: Path, holder: str, text: tuple[str, str], image_seed: int, audio: Path):
    """One holder's text (file name, words), image and audio work in ``registry``, exported as a signed snapshot to
    ``tmp/snap``: (snapshot folder, signing key, {media: work id}, manifest)."""
    from fairtrain.core.keys import SigningKey
    from fairtrain.services.registry import ShareSpec
    from fairtrain.services.registry.snapshot_export import export_snapshot

    share = [ShareSpec(registry.add_holder(holder), "author", 1)]
    (tmp / text[0]).write_text(text[1], encoding="utf-8")
    (tmp / "photo.jpg").write_bytes(make_image(image_seed))
    ids = {
        "text": registry.add_work_file(tmp / text[0], shares=share)["work"],
        "image": registry.add_work_file(tmp / "photo.jpg", shares=share)["work"],
        "audio": registry.add_work_file(audio, shares=share)["work"],
    }
    key = SigningKey.generate()
    manifest = export_snapshot(registry, tmp / "snap", key)
    return tmp / "snap", key, ids, manifest


def signal_policy(party, values: dict, offers: dict | None = None, base: str = "https://creator.example"):
    """What ``party`` declares for its site ``base`` (``values``: category to value, ``offers``: category to
    offer), with its policy page and, where it offers licences, its licence page: the policy the signals are
    rendered from."""
    from fairtrain.core.signals import render

    return render.SignalPolicy.from_values(
        party,
        base,
        values,
        policy_url=f"{base}/ai-policy",
        offers=offers,
        licence_urls=[f"{base}/licence"] if offers else [],
    )


def segmented_snapshots(registry, tmp: Path, at):
    """90 text works (1..30 real texts, 31..90 salted copies of them) exported with one key twice: whole in
    ``tmp/one`` and in segments of 16 works (6 segments) in ``tmp/seg``. Returns (texts, key, manifest of seg)."""
    from snapshot_scale import fill  # benchmarks/ is on sys.path in the tests that call this

    from fairtrain.core.keys import SigningKey
    from fairtrain.services.registry.snapshot_export import export_snapshot

    texts = fill(registry, 90, base=30)
    key = SigningKey.generate()
    export_snapshot(registry, tmp / "one", key, at=at, segment_works=1_000_000)
    manifest = export_snapshot(registry, tmp / "seg", key, at=at, segment_works=16)
    return texts, key, manifest


def excerpt_query(texts: list[str], i: int) -> tuple[str, bytes]:
    """Words 40–130 of text ``i`` between a preface and an ending, as a query item."""
    words = texts[i].split()
    return f"excerpt-{i}.txt", ("some preface " + " ".join(words[40:130]) + " and an ending").encode()


def segment_queries(texts: list[str]) -> list[tuple[str, bytes]]:
    """Queries against :func:`segmented_snapshots`: excerpts of works 1, 8 (segment 0), 19 and 30 (segment 1),
    work 4 whole, and a text nobody registered."""
    return [
        *(excerpt_query(texts, i) for i in (0, 7, 18, 29)),
        ("whole-3.txt", texts[3].encode()),
        ("unrelated.txt", ("a text nobody registered " * 30).encode()),
    ]


def grant_licence(registry, work_id: int, licensee: str = "acme-ai") -> None:
    """A granted licence for one work, as the licensing service stores it."""
    now = datetime.now(UTC)
    with registry.engine.begin() as c:
        lid = c.execute(
            Licence.__table__.insert().values(
                licensee=licensee,
                grantor="holder:1",
                status="granted",
                categories="train-genai",
                model_versions="[]",
                valid_from=now.replace(year=now.year - 1),
                valid_until=None,
                price_model="per-work",
                price_minor=30000,
                currency="KRW",
                request="{}",
                created_at=now,
                decided_at=now,
            )
        ).inserted_primary_key[0]
        c.execute(LicensedWork.__table__.insert().values(licence_id=lid, work_id=work_id))


def text_works_and_a_photo(registry, tmp_path: Path, texts: list[bytes]) -> tuple[int, list, list[int], int]:
    """One holder's text works (``work-I.txt``, titled 작품 I) and a photograph: (the holder's id, the share every
    work has, the text works' ids, the photograph's id)."""
    from fairtrain.services.registry import ShareSpec

    h = registry.add_holder("Creator")
    share = [ShareSpec(h, "author", 1)]
    ids = []
    for i, text in enumerate(texts):
        p = tmp_path / f"work-{i}.txt"
        p.write_bytes(text)
        ids.append(registry.add_work_file(p, shares=share, title=f"작품 {i}")["work"])
    (tmp_path / "photo.jpg").write_bytes(make_image(5))
    photo = registry.add_work_file(tmp_path / "photo.jpg", shares=share)["work"]
    return h, share, ids, photo
