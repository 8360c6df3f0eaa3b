"""kill -9 leaves no orphans (issue 12, item 10): the import's parser process and clearance workers die
with a parent killed by SIGKILL, and on PostgreSQL the killed import's transaction does not stay open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from cli_helpers import FAIRTRAIN, clear_args
from fairtrain.cli.app import app
from fairtrain.core.children import die_with_parent
from process_helpers import children, descendants
from web_helpers import cli_env

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_parent_once_it_has_children(proc: subprocess.Popen, timeout: float = 120) -> set[int]:
    deadline = time.monotonic() + timeout
    kids: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        kids = children(proc.pid)
        if kids:
            break
        time.sleep(0.05)
    assert kids, "the command never started a child process"
    time.sleep(0.5)  # the children are at work (and hold the parent's connection)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return kids


def _gone_within(kids: set[int], seconds: float = 10) -> set[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.05)
    left = {k for k in kids if _alive(k)}
    for k in left:  # do not leave them behind if the test fails
        os.kill(k, signal.SIGKILL)
    return left


def test_a_killed_import_leaves_no_parser_process_and_no_open_transaction(database_url, tmp_path):
    from fairtrain.services.registry import Registry

    reg = Registry.open(url=database_url)
    reg.add_org("KOMCA", country="KR")
    reg.engine.dispose()
    header = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
    big = tmp_path / "big.csv"
    with open(big, "w", encoding="utf-8") as f:
        f.write(header)
        for i in range(300_000):  # ~20 MB: parsed by a worker process while the parent stores
            f.write(
                f"B{i:07d},Big work {i} with a longer title to fill the file,,Member {i % 500}:composer:1,"
                f",,,,{'allow' if i % 2 else ''},,,,,\n"
            )
    env = cli_env(tmp_path / "data", database_url)
    proc = subprocess.Popen(
        [*FAIRTRAIN, "registry", "import", str(big), "--org", "KOMCA"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kids = _kill_parent_once_it_has_children(proc)
    assert not _gone_within(kids), "the parser process outlived its killed parent"
    if database_url.startswith("postgresql"):
        engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as c:
            idle = c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%'"
                )
            ).scalar_one()
        engine.dispose()
        assert idle == 0, "the killed import's transaction is still open"
    small = tmp_path / "small.csv"
    small.write_text(header + "S-1,Small,,Someone:composer:1,,,,,allow,,,,,\n", encoding="utf-8")
    r = subprocess.run(
        [*FAIRTRAIN, "registry", "import", str(small), "--org", "KOMCA"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr


def test_killed_clearance_leaves_no_worker_processes(database_url, tmp_path):
    env = cli_env(tmp_path / "data", database_url)
    runner = CliRunner()
    (tmp_path / "a.txt").write_text("A short registered text about lighthouses and the sea. " * 8, encoding="utf-8")
    for args in (
        ["holders", "add", "Keeper"],
        ["works", "add", str(tmp_path / "a.txt"), "--holder", "1:author"],
        ["keys", "create"],
        ["keys", "create", "--name", "acme-ai"],
        ["snapshot", "export", str(tmp_path / "snap")],
    ):
        r = runner.invoke(app, args, env=env)
        assert r.exit_code == 0, r.output
    data = tmp_path / "parts"
    data.mkdir()
    for i in range(40):
        pq.write_table(
            pa.table({"text": [f"row {i}-{j} of a dataset nobody registered" for j in range(2000)]}),
            data / f"part-{i:03d}.parquet",
        )
    proc = subprocess.Popen(
        [*FAIRTRAIN, *clear_args(data, tmp_path / "snap", tmp_path / "out", "--workers", "2")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kids = _kill_parent_once_it_has_children(proc)
    assert not _gone_within(kids), "clearance workers outlived their killed parent"


def _sleeper(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    time.sleep(60)


def test_a_worker_started_after_its_parent_died_exits_at_once():
    """The race the signal cannot cover: the parent gone before the initializer ran."""
    import multiprocessing

    p = multiprocessing.get_context("fork").Process(target=_sleeper, args=(2**22 + 12345,))  # no such pid
    p.start()
    p.join(10)
    assert p.exitcode == 1


_PARENT = """
import sys, threading, time
from fairtrain.core.children import start_child
box = []
t = threading.Thread(target=lambda: box.append(start_child("timeit", "-n", "1", "import time; time.sleep(120)")))
t.start(); t.join()  # started from a thread that has ended: the child must live on with the process
print(box[0].pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_job_child_outlives_its_starting_thread_but_not_its_parent():
    """Import jobs run as plain ``python -m`` children (core.children.start_child): started from a pooled
    web thread that then ends, the child goes on; its parent killed with SIGKILL, the child dies too."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, env=env)
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child, 1.5), "the child died with the thread that started it"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        assert _gone(child, 10), "the child outlived its parent"
    finally:
        parent.kill()


_SERVER_WITH_A_CPU_POOL = """
import asyncio, sys, time
from fairtrain.web.cpu import CpuPool

pool = CpuPool(2, 60.0, 1 << 20)
print(asyncio.run(pool.run("probe", 3, len, "abc")), flush=True)
time.sleep(120)
"""


def test_a_killed_web_server_leaves_no_cpu_pool_worker(tmp_path):
    """The web server's pool for uploads (web.cpu.CpuPool) starts its workers from request threads that end
    when idle; killed with SIGKILL after the pool has served an upload, the server leaves no process behind
    (its workers had waited on their queue for ever under a fork server)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER_WITH_A_CPU_POOL],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout.readline().strip() == "3"  # a worker ran the work
        kids = descendants(proc.pid)
        assert kids, "the pool started no worker process"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not _gone_within(kids, 20), "CPU pool workers outlived their killed web server"
