"""Imported holders are invited (issue 15): a repertoire sheet's optional ``holder_email`` column (Korean
header 권리자 이메일) is validated row by row, stored on holders that have no address (never replacing one;
the preview says so), and the holders an import first names with an address are e-mailed their pending
mandate's invitation after the store job has committed, by the one invitation service; the sender's failures
are recorded on the job and its page says "sent to 2, 1 failed". The CLI import does the same with
``--smtp``. Real SMTP server on 127.0.0.1 (aiosmtpd), SQLite and PostgreSQL when configured."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from fairtrain.core.store.models import Holder, Mandate
from fairtrain.services.notify import Mailer
from fairtrain.services.registry import repertoire as rep
from fairtrain.services.registry import repertoire_uploads
from mail_helpers import Inbox
from web_helpers import Session, free_port, make_app

HEADER = "work_ref,title,holders,train-genai,holder_email\n"
KO_HEADER = "작품코드,제목,권리자,생성형AI학습,권리자 이메일\n"


class Bouncing(Inbox):
    """An SMTP server that refuses mail for bounce@… (the sender's failure, recorded per holder)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd)
        if address.startswith("bounce@"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Bouncing()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def _sheet(tmp_path, text: str, name: str = "sheet.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return rep.prepare(path, tmp_path / "data" / "uploads" / name.replace(".", "-"), source=name)


def _emails(registry) -> dict[str, str | None]:
    with registry.engine.connect() as c:
        return dict(c.execute(select(Holder.name, Holder.email)).all())


def test_bad_addresses_are_row_problems_naming_line_and_column_in_korean_too(registry, tmp_path):
    org = registry.add_org("KOMCA", country="KR")
    text = (
        KO_HEADER + "K-1,하나,김작곡:composer:1,deny,kim@example\n"  # no dot in the domain
        "K-2,둘,김작곡:composer:1/2;이작사:lyricist:1/2,deny,kim@example.kr\n"  # one address, two holders
        "K-3,셋,박작가:author:1,deny,park@example.kr\n"
        "K-4,넷,최작가:author:1/2;정작가:publisher:1/2,deny,;jung@example.kr\n"  # a place left empty: fine
    )
    report = rep.validate(registry, _sheet(tmp_path, text), org)
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(2, "holder_email"), (3, "holder_email")]
    assert "is not an e-mail address" in report["errors"][0]["reason"]
    assert report["errors"][1]["reason"] == "1 addresses for 2 holders"
    assert rep.translate_reason(report["errors"][1]["reason"], "ko") == "권리자는 2명인데 이메일 주소는 1개입니다"
    assert rep.translate_reason(report["errors"][0]["reason"], "ko").endswith("이메일 주소가 아닙니다")
    assert report["emails_added"] == 2 and report["emails_kept"] == 0 and len(report["invite"]) == 2
    assert _emails(registry) == {}  # a check stores nothing


def test_an_address_is_stored_where_a_holder_has_none_and_never_replaces_one(registry, tmp_path):
    org = registry.add_org("KOMCA", country="KR")
    rep_sheet = HEADER + "K-1,One,Kim:composer:1,deny,\nK-2,Two,Lee:lyricist:1,deny,\n"
    rep.run_job(
        registry, rep.create_job(registry, p := _sheet(tmp_path, rep_sheet), org, rep.validate(registry, p, org))
    )
    with registry.engine.begin() as c:  # Kim confirmed her own address meanwhile
        c.execute(Holder.__table__.update().where(Holder.name == "Kim").values(email="kim@home.kr"))
    again = HEADER + "K-1,One,Kim:composer:1,deny,kim@work.kr\nK-2,Two,Lee:lyricist:1,deny,lee@example.kr\n"
    p2 = _sheet(tmp_path, again, "again.csv")
    preview = rep.validate(registry, p2, org)
    assert preview["emails_kept"] == 1 and preview["emails_added"] == 1 and preview["invite"] == []  # not new
    done = rep.run_job(registry, rep.create_job(registry, p2, org, preview), invite=lambda o, ids, **kw: 1 / 0)
    assert _emails(registry) == {"Kim": "kim@home.kr", "Lee": "lee@example.kr"}
    assert done["report"]["emails_kept"] == 1 and "invitations" not in done["report"]  # nobody new to invite


def test_a_store_job_invites_new_holders_after_commit_and_records_failures_on_its_page(tmp_path, database_url, smtp):
    inbox, port = smtp
    app = make_app(tmp_path, database_url)
    reg = app.state.web.registry
    admin = Session(app, "komca@example.org", "org-admin", "KOMCA")
    org = admin.org_id
    text = (
        HEADER + "K-1,One,Kim:composer:1/2;Lee:lyricist:1/2,deny,kim@example.kr;lee@example.kr\n"
        "K-2,Two,Park:author:1,deny,bounce@example.kr\n"
        "K-3,Three,Choi:author:1,deny,\n"
    )
    prepared = _sheet(tmp_path, text)
    job_id = rep.create_job(reg, prepared, org, rep.validate(reg, prepared, org))
    mailer = Mailer(reg.engine, "127.0.0.1", port, "office@fairtrain.example")
    proc = rep.start_job_process(reg, job_id, batch_rows=1, mailer=mailer, origin="https://fairtrain.example")
    assert proc.wait(timeout=240) == 0
    job = rep.job(reg, job_id)
    assert job["status"] == "done" and job["report"]["created"] == 3, job
    inv = job["report"]["invitations"]
    assert (inv["sent"], inv["failed"]) == (2, 1) and inv["failures"][0]["reason"] == "smtp-failed"
    got = {to[0]: msg for to, msg in inbox.wait(2)}
    assert set(got) == {"kim@example.kr", "lee@example.kr"}
    with reg.engine.connect() as c:
        pending = dict(
            c.execute(
                select(Holder.name, Mandate.id)
                .join(Mandate, Mandate.holder_id == Holder.id)
                .where(Mandate.org_id == org, Mandate.confirmed_at.is_(None))
            ).all()
        )
    assert set(pending) == {"Kim", "Lee", "Park", "Choi"}  # Choi has no address: pending, not mailed
    assert f"https://fairtrain.example/mandates/{pending['Kim']}/confirm?token=" in got["kim@example.kr"].get_content()
    page = admin.request("GET", f"/org/jobs/{job_id}", headers={"Accept-Language": "ko"}).text
    assert "초대: 2명에게 발송, 1건 실패." in page and "smtp-failed" in page
    en = admin.request("GET", f"/org/jobs/{job_id}", headers={"Accept-Language": "en"}).text
    assert "Invitations: sent to 2, 1 failed." in en


def test_the_command_line_import_invites_with_smtp(cli, smtp, tmp_path):
    inbox, port = smtp
    cli("orgs", "add", "KOMCA")
    sheet = tmp_path / "목록.csv"
    sheet.write_text(KO_HEADER + "K-1,하나,김작곡:composer:1,deny,kim@example.kr\n", encoding="utf-8")
    out = json.loads(
        cli(
            "registry",
            "import",
            sheet,
            "--org",
            "KOMCA",
            "--smtp",
            f"127.0.0.1:{port}",
            "--site",
            "https://fairtrain.example",
            "--json",
        ).stdout
    )
    assert out["imported"] and out["invitations"]["sent"] == 1 and out["invitations"]["failed"] == 0
    ((to, msg),) = inbox.wait(1)
    assert to == ["kim@example.kr"] and "https://fairtrain.example/mandates/" in msg.get_content()
    # a dry run (or an import without --smtp) sends nothing
    sheet.write_text(KO_HEADER + "K-2,둘,이작사:lyricist:1,deny,lee@example.kr\n", encoding="utf-8")
    dry = json.loads(cli("registry", "import", sheet, "--org", "KOMCA", "--dry-run", "--json").stdout)
    assert "invitations" not in dry and len(dry["invite"]) == 1 and len(inbox.messages) == 1


class Slow(Inbox):
    """An SMTP server that takes its time over each recipient: a job killed meanwhile has not delivered."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd)
        await asyncio.sleep(1.0)
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _poll(what, timeout: float = 120.0):
    end = time.monotonic() + timeout
    while not (got := what()) and time.monotonic() < end:
        time.sleep(0.05)
    return got


def test_a_job_killed_while_inviting_sends_only_the_rest_when_resumed(tmp_path, database_url, monkeypatch):
    inbox = Slow()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app = make_app(tmp_path, database_url)
        reg = app.state.web.registry
        org = Session(app, "komca@example.org", "org-admin", "KOMCA").org_id
        names = ["Kim", "Lee", "Park", "Choi"]
        text = HEADER + "".join(f"K-{i},T{i},{n}:author:1,deny,{n.lower()}@example.kr\n" for i, n in enumerate(names))
        prepared = _sheet(tmp_path, text)
        job_id = rep.create_job(reg, prepared, org, rep.validate(reg, prepared, org))
        mailer = Mailer(reg.engine, "127.0.0.1", controller.port, "office@fairtrain.example")
        proc = rep.start_job_process(reg, job_id, mailer=mailer, origin="https://fairtrain.example")
        # the works are stored and the first invitation is recorded as sent: the second is in the slow RCPT
        assert _poll(lambda: rep.job(reg, job_id)["report"].get("invitations", {}).get("sent") == 1)
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait(timeout=30)
        killed = rep.job(reg, job_id)
        assert killed["status"] == "inviting" and killed["report"]["created"] == 4, killed
        assert rep.interrupted_jobs(reg) == [job_id]
        monkeypatch.setenv("FAIRTRAIN_SITE", "https://fairtrain.example")
        assert repertoire_uploads.resume_jobs(reg, mailer=mailer) == [job_id]
        assert _poll(lambda: rep.job(reg, job_id)["status"] == "done"), rep.job(reg, job_id)
        time.sleep(1.5)  # a duplicate would have had time to arrive
        got = sorted(to[0] for to, _ in inbox.messages)
        assert got == sorted(f"{n.lower()}@example.kr" for n in names)  # each holder exactly once
        done = rep.job(reg, job_id)
        inv = done["report"]["invitations"]
        assert (inv["sent"], inv["failed"], done["report"]["created"]) == (4, 0, 4), done
        with reg.engine.connect() as c:
            assert c.execute(select(Mandate.id).where(Mandate.org_id == org)).all().__len__() == 4
        assert rep.interrupted_jobs(reg) == []
    finally:
        controller.stop()
