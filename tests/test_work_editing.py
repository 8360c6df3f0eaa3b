"""A work is hers to shape (issue 14, item 2): titles, co-holders by invitation, per-work policy, withdrawal,
preview and the registration certificate, on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import timedelta
from fractions import Fraction

import pytest
from sqlalchemy import update

from conftest import make_image
from fairtrain.core.errors import Conflict, InvalidInput, NotAllowed, localised
from fairtrain.core.keys import SigningKey, canonical_json
from fairtrain.core.money import Money
from fairtrain.core.snapshot import SnapshotTerms, verify_snapshot, work_value
from fairtrain.core.store.models import WorkInvitation, utcnow
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Purpose, Value
from fairtrain.services import log
from fairtrain.services.registry import ShareSpec, holder_ref
from fairtrain.services.registry import certificate as cert_
from fairtrain.services.registry import work_editing as we
from fairtrain.services.registry.snapshot_export import export_snapshot


@pytest.fixture
def poet(registry):
    return registry.add_holder("이시인", email="poet@example.kr")


@pytest.fixture
def work(registry, poet):
    return registry.add_work(
        title="poem-final.txt", shares=[ShareSpec(poet, "author", Fraction(1))], data=b"\xeb\xb0\x94\xeb\x9e\x8c" * 40
    )["work"]


def _log_kinds(registry) -> list[str]:
    return [e["kind"] for e in log.Log(registry.engine).entries()]


def test_only_holders_edit_the_titles_and_every_change_is_logged(registry, poet, work):
    stranger = registry.add_holder("남")
    with pytest.raises(NotAllowed) as e:
        we.edit_titles(registry, work, holder_ref(stranger), title="훔친 제목", title_latin=None)
    assert "관리자만" in localised(e.value, "ko") or "보유자" in localised(e.value, "ko")
    with pytest.raises(InvalidInput) as e:
        we.edit_titles(registry, work, holder_ref(poet), title="  ", title_latin=None)
    assert "제목" in localised(e.value, "ko")
    before = registry.engine.connect().exec_driver_sql("SELECT version FROM facts_version").scalar_one()
    w = we.edit_titles(registry, work, holder_ref(poet), title="바람의 노래", title_latin="Song of the Wind")
    assert (w["title"], w["title_latin"]) == ("바람의 노래", "Song of the Wind")
    after = registry.engine.connect().exec_driver_sql("SELECT version FROM facts_version").scalar_one()
    assert after == before + 1
    entry = log.Log(registry.engine).latest("work-edited", 1)[0]
    assert entry["body"] == {
        "work": f"work:{work}",
        "by": holder_ref(poet),
        "title": "바람의 노래",
        "title_latin": "Song of the Wind",
    }
    assert cert_.title_for(w, "en") == "Song of the Wind" and cert_.title_for(w, "ko") == "바람의 노래"


def test_a_per_work_policy_overrides_the_catalogue_in_decisions_and_snapshot_terms(registry, poet, work, tmp_path):
    registry.declare(
        level=Level.CATALOGUE, target_id=poet, party=holder_ref(poet), values={c: Value.ALLOW for c in Category}
    )
    assert registry.decide(work, Category.TRAIN_GENAI).value is Value.ALLOW
    offer = Offer(PriceModel.PER_WORK, Money.parse("30000", "KRW"))
    registry.declare(
        level=Level.WORK,
        target_id=work,
        party=holder_ref(poet),
        values={Category.TRAIN_AI: Value.DENY, Category.TRAIN_GENAI: Value.LICENCE},
        offer=offer,
    )
    # deny training, but generative training for a paid licence: her narrower choice loosens her broader one
    assert registry.decide(work, Category.TRAIN_AI).value is Value.DENY
    genai = registry.decide(work, Category.TRAIN_GENAI)
    assert genai.value is Value.LICENCE and genai.offers[0].price == Money.parse("30000", "KRW")
    assert registry.decide(work, Category.SEARCH).value is Value.ALLOW  # the catalogue still speaks for the rest
    key = SigningKey.generate()
    export_snapshot(registry, tmp_path / "snap", key)
    row = SnapshotTerms.load(verify_snapshot(tmp_path / "snap", [key.public])).row(work)
    assert work_value(row, Category.TRAIN_AI, Purpose.COMMERCIAL) is Value.DENY
    assert work_value(row, Category.TRAIN_GENAI, Purpose.COMMERCIAL) is Value.LICENCE
    assert work_value(row, Category.SEARCH, Purpose.COMMERCIAL) is Value.ALLOW


def test_a_licence_for_generative_training_alone_is_offered_at_its_price(registry, poet, work):
    offer = Offer(PriceModel.PER_WORK, Money.parse("30000", "KRW"))
    registry.declare(
        level=Level.WORK,
        target_id=work,
        party=holder_ref(poet),
        values={Category.TDM: Value.DENY, Category.TRAIN_GENAI: Value.LICENCE},
        offer=offer,
    )
    d = registry.decide(work, Category.TRAIN_GENAI)
    assert d.value is Value.LICENCE and d.offers[0].price == Money.parse("30000", "KRW")
    assert registry.decide(work, Category.AI_INPUT).value is Value.DENY


def test_coholder_invitation_changes_shares_only_on_confirmation_and_only_once(registry, poet, work):
    friend = registry.add_holder("김친구", email="friend@example.kr")
    inv, token = we.invite(registry, work, holder_ref(poet), email="Friend@Example.kr", role="illustrator", share="1/3")
    assert inv["state"] == "pending" and inv["share"] == "1/3" and inv["keep"] == "2/3"
    assert inv["email"] == "friend@example.kr"
    assert [h["share"] for h in registry.work(work)["holders"]] == ["1"]  # nothing changed yet
    assert we.invitations(registry, work)[0]["id"] == inv["id"]
    with registry.engine.connect() as c:  # only the hash is kept
        stored = c.exec_driver_sql("SELECT token_hash FROM work_invitations").scalar_one()
    assert token not in stored and len(stored) == 64
    w = we.accept(registry, friend, token=token)
    assert {h["holder"]: h["share"] for h in w["holders"]} == {holder_ref(poet): "2/3", holder_ref(friend): "1/3"}
    assert sum(Fraction(h["share"]) for h in w["holders"]) == 1
    assert log.Log(registry.engine).latest("work-holders", 1)[0]["body"]["shares"] == {
        holder_ref(poet): "2/3",
        holder_ref(friend): "1/3",
    }
    other = registry.add_holder("제3자")
    with pytest.raises(NotAllowed) as e:
        we.accept(registry, other, token=token)  # single use
    assert "링크" in localised(e.value, "ko")
    assert we.invitations(registry, work) == []
    # the co-holder is a holder now: she may edit, and declare for the work
    assert we.may_edit(registry, work, holder_ref(friend))


def test_shares_must_sum_to_one_and_the_refusal_names_the_field_in_korean(registry, poet, work):
    with pytest.raises(InvalidInput) as e:
        we.invite(registry, work, holder_ref(poet), email="a@example.kr", role="author", share="1")
    assert localised(e.value, "ko").startswith("지분")
    with pytest.raises(InvalidInput) as e:
        we.invite(registry, work, holder_ref(poet), email="a@example.kr", role="author", share="1/2", keep="1/4")
    said = localised(e.value, "ko")
    assert "지분" in said and "3/4" in said
    with pytest.raises(InvalidInput) as e:
        we.invite(registry, work, holder_ref(poet), email="a@example.kr", role="author", share="반")
    assert "지분" in localised(e.value, "ko")
    with pytest.raises(InvalidInput):
        we.invite(registry, work, holder_ref(poet), email="not-an-address", role="author", share="1/2")
    with pytest.raises(InvalidInput):
        we.invite(registry, work, holder_ref(poet), email="a@example.kr", role="emperor", share="1/2")


def test_an_invitation_expires_can_be_withdrawn_and_refuses_when_shares_moved_on(registry, poet, work):
    friend = registry.add_holder("김친구")
    inv, token = we.invite(registry, work, holder_ref(poet), email="f@example.kr", role="author", share="1/2")
    with registry.engine.begin() as c:
        c.execute(
            update(WorkInvitation)
            .where(WorkInvitation.id == inv["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(NotAllowed) as e:
        we.accept(registry, friend, token=token)
    assert "만료" in localised(e.value, "ko")
    inv2, token2 = we.invite(registry, work, holder_ref(poet), email="f@example.kr", role="author", share="1/2")
    stranger = registry.add_holder("남")
    with pytest.raises(NotAllowed):
        we.withdraw_invitation(registry, inv2["id"], holder_ref(stranger))
    assert we.withdraw_invitation(registry, inv2["id"], holder_ref(poet))["state"] == "withdrawn"
    with pytest.raises(NotAllowed):
        we.accept(registry, friend, token=token2)
    # two invitations out at once: the first confirmed moves the shares, the second no longer adds up
    a, ta = we.invite(registry, work, holder_ref(poet), email="a@example.kr", role="author", share="1/2")
    b, tb = we.invite(registry, work, holder_ref(poet), email="b@example.kr", role="author", share="1/4")
    we.accept(registry, friend, token=ta)
    third = registry.add_holder("셋째")
    with pytest.raises(Conflict) as e:
        we.accept(registry, third, token=tb)
    assert "지분" in localised(e.value, "ko")
    assert {h["holder"]: h["share"] for h in registry.work(work)["holders"]} == {
        holder_ref(poet): "1/2",
        holder_ref(friend): "1/2",
    }
    # an account whose e-mail was invited confirms signed in, without the token; another address cannot
    c_inv, _ = we.invite(registry, work, holder_ref(poet), email="c@example.kr", role="translator", share="1/4")
    with pytest.raises(NotAllowed):
        we.accept(registry, third, invitation_id=c_inv["id"], email="other@example.kr")
    w = we.accept(registry, third, invitation_id=c_inv["id"], email="C@example.kr")
    assert {h["holder"]: h["share"] for h in w["holders"]}[holder_ref(third)] == "1/4"


def test_withdrawal_keeps_history_and_leaves_the_work_denied(registry, poet, work):
    registry.declare(
        level=Level.WORK,
        target_id=work,
        party=holder_ref(poet),
        values={Category.TRAIN_GENAI: Value.LICENCE},
        offer=Offer(PriceModel.PER_WORK, Money.parse("30000", "KRW")),
    )
    registry.declare(
        level=Level.CATALOGUE, target_id=poet, party=holder_ref(poet), values={Category.SEARCH: Value.ALLOW}
    )
    assert registry.decide(work, Category.TRAIN_GENAI).value is Value.LICENCE
    before = len(registry.work(work)["declarations"])
    stranger = registry.add_holder("남")
    with pytest.raises(NotAllowed):
        we.withdraw(registry, work, holder_ref(stranger))
    w = we.withdraw(registry, work, holder_ref(poet))
    assert w["withdrawn_at"] is not None
    # history stays: the old declaration is still there, superseded by newer ones
    assert len(w["declarations"]) == before + len(Category)
    assert w["declarations"][0]["value"] == "licence"
    for cat in (
        Category
    ):  # permission-first: withdrawn is denied, not unknown (and the catalogue's allow is loosened by nobody)
        assert registry.decide(work, cat).value is Value.DENY
    assert "work-withdrawn" in _log_kinds(registry)
    with pytest.raises(Conflict) as e:
        we.edit_titles(registry, work, holder_ref(poet), title="다시", title_latin=None)
    assert "철회" in localised(e.value, "ko")
    with pytest.raises(Conflict):
        we.invite(registry, work, holder_ref(poet), email="a@example.kr", role="author", share="1/2")


def test_previews_are_small_kept_by_hash_and_served_to_holders_only(registry, poet, tmp_path):
    img = make_image(3, size=(1200, 800))
    wid = registry.add_work(title="그림", shares=[ShareSpec(poet, "illustrator", 1)], data=img, file_name="a.jpg")[
        "work"
    ]
    thumb = we.make_preview("image", img, "a.jpg")
    from PIL import Image

    with Image.open(io.BytesIO(thumb)) as im:
        assert max(im.size) <= 256 and im.format == "PNG"
    sha = we.keep_preview(registry, tmp_path, wid, thumb)
    assert (tmp_path / "previews" / sha).read_bytes() == thumb
    data, mime = we.preview(registry, tmp_path, wid, holder_ref(poet))
    assert data == thumb and mime == "image/png"
    with pytest.raises(NotAllowed):
        we.preview(registry, tmp_path, wid, holder_ref(registry.add_holder("남")))
    with pytest.raises(NotAllowed):
        we.preview(registry, tmp_path, wid, None)
    text = ("가나다라마바사 " * 200).encode()
    excerpt = we.make_preview("text", text, "poem.txt").decode()
    assert excerpt.startswith("가나다라마바사") and len(excerpt) == 500


def test_an_audio_preview_is_a_short_clip(tmp_path):
    wav = tmp_path / "long.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=45", str(wav)],
        check=True,
    )
    clip = we.make_preview("audio", wav.read_bytes(), "long.wav")
    assert clip and len(clip) < wav.stat().st_size / 4
    (tmp_path / "clip.mp3").write_bytes(clip)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(tmp_path / "clip.mp3")],
        capture_output=True,
        check=True,
    )
    assert float(probe.stdout) <= 30.5


def test_the_certificate_carries_the_digest_and_an_inclusion_proof_that_verifies(registry, poet, work):
    we.edit_titles(registry, work, holder_ref(poet), title="바람의 노래", title_latin="Song of the Wind")
    registry.declare(
        level=Level.WORK,
        target_id=work,
        party=holder_ref(poet),
        values={Category.TRAIN_AI: Value.DENY, Category.TRAIN_GENAI: Value.LICENCE},
        offer=Offer(PriceModel.PER_WORK, Money.parse("30000", "KRW")),
    )
    key = SigningKey.generate()
    unsigned = cert_.certificate(registry, work)
    assert unsigned["declarations"] and all(not d["verified"] for d in unsigned["declarations"])
    log.Log(registry.engine).sign_head(key)
    c = cert_.certificate(registry, work, page_url="https://registry.example/r/w/1", trusted=[key.public])
    assert c["work"]["title"] == "바람의 노래" and c["holders"][0]["share"] == "1"
    assert c["terms_level"] == "work" and {d["category"] for d in c["declarations"]} == {"train-ai", "train-genai"}
    for d in c["declarations"]:
        assert d["verified"]
        checked = log.verify_proof(d["proof"], [key.public])
        assert checked["valid"] and checked["index"] == d["log_index"]
        import hashlib

        assert hashlib.sha256(canonical_json(checked["entry"]["body"])).hexdigest() == d["digest"]
        assert checked["entry"]["body"]["id"] == d["id"]
    # a tampered proof does not verify
    bad = json.loads(json.dumps(c["declarations"][0]["proof"]))
    bad["leaf"] = bad["leaf"].replace("train-ai", "search")
    with pytest.raises(log.LogError):
        log.verify_proof(bad, [key.public])
    html = cert_.render_html(c, "ko")
    assert "등록 증명서" in html and "바람의 노래" in html and c["declarations"][0]["digest"] in html and "<svg" in html
    assert "Song of the Wind" in cert_.render_html(c, "en")
    from pypdf import PdfReader

    for lang, title in (("ko", "바람의 노래"), ("en", "Song of the Wind")):
        pdf = cert_.render_pdf(c, lang)
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        assert title in text and c["work"]["content_hash"] in text.replace("\n", "")


def test_without_declarations_of_its_own_the_certificate_shows_the_catalogue_terms(registry, poet, work):
    registry.declare(level=Level.CATALOGUE, target_id=poet, party=holder_ref(poet), values={Category.TDM: Value.DENY})
    c = cert_.certificate(registry, work)
    assert c["terms_level"] == "catalogue" and c["declarations"][0]["party"] == holder_ref(poet)


def test_the_cli_writes_the_certificate_as_pdf_and_html(cli, tmp_path):
    from pypdf import PdfReader

    cli.json = lambda *a: json.loads(cli(*a, "--json").stdout)

    cli.json("init")
    h = cli.json("holders", "add", "이시인")
    poem = tmp_path / "바람.txt"
    poem.write_text("바람이 분다 살아야겠다 " * 20, encoding="utf-8")
    wid = cli.json("works", "add", str(poem), "--holder", f"{h['id']}:author")["works"][0]["work"]
    cli.json(
        "declare", "--work", str(wid), "--category", "train-genai=licence", "--price", "30000", "--currency", "KRW"
    )
    cli.json("log", "sign")
    out = cli.json("works", "certificate", str(wid), "--out", str(tmp_path / "c.pdf"), "--url", "https://r.example")
    assert out["declarations"][0]["verified"] and out["page_url"] == f"https://r.example/works/{wid}"
    text = "".join(p.extract_text() for p in PdfReader(tmp_path / "c.pdf").pages)
    assert "바람" in text and "등록 증명서" in text
    cli.json("works", "certificate", str(wid), "--out", str(tmp_path / "c.html"), "--lang", "en")
    html = (tmp_path / "c.html").read_text()
    assert "Registration certificate" in html and out["declarations"][0]["digest"] in html
    cli("works", "certificate", str(wid), "--out", str(tmp_path / "x.pdf"), "--lang", "fr", code=2)
