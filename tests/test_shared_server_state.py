"""What several server processes on one registry must agree on (``serve --workers N``, issue 17 item 5), each
held in the database rather than in one process's memory: an e-mail notice is sent by one mailer, an
interrupted import job is resumed by one server, a rate limit counts every process's attempts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

from sqlalchemy import insert, select, update

from fairtrain.core.store.models import ImportJob, Notification, utcnow
from fairtrain.services.registry import Registry
from web_helpers import FAST_HASHER, PASSWORD


def test_two_mailers_on_one_database_send_each_notice_once(database_url, smtp):
    from fairtrain.services.notify import Mailer, notify
    from fairtrain.web.accounts import Accounts

    reg = Registry.open(url=database_url)
    accounts = Accounts(reg.engine, FAST_HASHER)
    holders = [
        accounts.sign_up(email=f"c{i}@example.org", password=PASSWORD, role="creator", name=f"Creator {i}").holder_id
        for i in range(6)
    ]
    params = {"title": "Song", "party": "Someone", "other_title": "Song", "date": "2026-12-01", "key": "identical"}
    with reg.engine.begin() as c:
        for _ in range(3):
            notify(c, holders, "dispute", "opened-existing", params)
    # two servers' mailers, each on an engine of its own, passing over the same due notices at once
    mailers = [Mailer(Registry.open(url=database_url).engine, "127.0.0.1", smtp.port, "r@fairtrain.test") for _ in "ab"]
    start, counts = threading.Barrier(2), []

    def run(m):
        start.wait()
        counts.append(m.send_pending())

    threads = [threading.Thread(target=run, args=(m,)) for m in mailers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(c["sent"] for c in counts) == 18, counts
    assert len(smtp.wait(19, timeout=2)) == 18  # none twice
    with reg.engine.connect() as c:
        assert set(c.execute(select(Notification.email_status)).scalars()) == {"sent"}
    # a notice whose sender died after taking it (its lease not yet run out) waits for the lease, then goes
    with reg.engine.begin() as c:
        c.execute(
            update(Notification)
            .where(Notification.id == 1)
            .values(email_status="pending", email_next_at=utcnow() + timedelta(seconds=60))
        )
    assert mailers[0].send_pending()["sent"] == 0
    with reg.engine.begin() as c:
        c.execute(update(Notification).where(Notification.id == 1).values(email_next_at=utcnow()))
    assert mailers[1].send_pending()["sent"] == 1


_CLAIM = """
import sys
from fairtrain.services.registry import Registry
from fairtrain.services.registry import repertoire
reg = Registry.open(url=sys.argv[1])
print(repertoire.claim_interrupted_jobs(reg), repertoire.claim_job(reg, int(sys.argv[2])))
"""


def _job(reg: Registry, pid: int | None) -> int:
    org = reg.add_org("KOMCA test")
    with reg.engine.begin() as c:
        return c.execute(
            insert(ImportJob)
            .values(
                org_id=org,
                status="running",
                source="rep.csv",
                sheet="/nonexistent/sheet.csv",
                files_root="/nonexistent",
                encoding="UTF-8",
                rows_total=10,
                pid=pid,
            )
            .returning(ImportJob.id)
        ).scalar_one()


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_an_interrupted_import_job_is_resumed_by_one_server(database_url):
    from fairtrain.services.registry import repertoire

    reg = Registry.open(url=database_url)
    job = _job(reg, _dead_pid())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    assert repertoire.interrupted_jobs(reg) == [job]
    # the first server to start claims it (its pid on the job, compare-and-set on the dead one)
    assert repertoire.claim_interrupted_jobs(reg) == [job]
    with reg.engine.connect() as c:
        assert c.execute(select(ImportJob.pid).where(ImportJob.id == job)).scalar_one() == os.getpid()
    # a second server starting meanwhile finds it taken; the job child the first one starts (its child) may run it
    other = subprocess.run(
        [sys.executable, "-c", _CLAIM, database_url, str(job)], env=env, capture_output=True, text=True, timeout=120
    )
    assert other.stdout.split() == ["[]", "True"], other.stderr
    # a process that is neither the claimer nor its child does not run a job a live process holds
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with reg.engine.begin() as c:
            c.execute(update(ImportJob).where(ImportJob.id == job).values(pid=holder.pid))
        other = subprocess.run(
            [sys.executable, "-c", _CLAIM, database_url, str(job)], env=env, capture_output=True, text=True, timeout=120
        )
        assert other.stdout.split() == ["[]", "False"], other.stderr
        assert repertoire.run_job(reg, job)["status"] == "running"  # left to its runner, nothing read
    finally:
        holder.kill()
        holder.wait()
    assert repertoire.claim_interrupted_jobs(reg) == [job]  # its runner gone: claimed again


def test_a_rate_limit_counts_the_attempts_of_every_process(database_url):
    from fairtrain.web.security import RateLimiter

    a = RateLimiter(Registry.open(url=database_url).engine, "sign_in_per_email", 3, 60.0)
    b = RateLimiter(Registry.open(url=database_url).engine, "sign_in_per_email", 3, 60.0)
    assert [a.hit("x@example.org"), b.hit("x@example.org"), a.hit("x@example.org")] == [0.0] * 3
    assert 59 < b.hit("x@example.org") <= 60  # the fourth, through the other: refused until the first expires
    assert b.hit("y@example.org") == 0.0  # per key
    short = RateLimiter(a.engine, "uploads_per_account", 1, 0.2)
    assert short.hit("k") == 0.0 and short.hit("k") > 0
    import time

    time.sleep(0.25)
    assert short.hit("k") == 0.0  # the window slid past it
