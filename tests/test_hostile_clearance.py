"""Hostile inputs to `fairtrain clear` (issue 12, items 6, 7 and 9): a damaged or oversized item is an
error with item, field and reason, counted in report.json, and the job goes on (its resume too); nothing
is dropped silently; memory stays bounded per item, proven in a subprocess under RLIMIT_AS."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli_helpers import clear as clear_as_acme
from cli_helpers import cli_runner
from fairtrain.cli.app import app
from fairtrain.core.store.db import migrate, open_engine
from http_helpers import Server
from worlds import keys_and_snapshot

FREE = (
    "This public-domain style notice may be used for any purpose, including training machine learning "
    "models, without asking anybody for permission; attribution is appreciated but not required at all. "
) * 2


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A registry whose one work allows every use, its snapshot, and a licensee key. The hostile inputs
    only meet the snapshot, so one SQLite registry serves the module on either database run."""
    tmp = tmp_path_factory.mktemp("hostile")
    run, env = cli_runner(f"sqlite:///{tmp / 'reg.sqlite3'}", tmp / "data")

    (tmp / "free.txt").write_text(FREE, encoding="utf-8")
    engine = open_engine(env["FAIRTRAIN_DATABASE_URL"])  # not `fairtrain init` under CliRunner: alembic would
    migrate(engine)  # bind its default stdout to the runner's stream, closed afterwards, for later tests
    engine.dispose()
    run("holders", "add", "Commons")
    run("works", "add", tmp / "free.txt", "--holder", "1:author")
    run("declare", "--holder", "1", "--category", "tdm=allow")
    keys_and_snapshot(run, tmp / "snap")

    def clear(input_path: Path, out: Path, *extra) -> dict:
        clear_as_acme(run, input_path, tmp / "snap", out, *extra)
        return json.loads((out / "report.json").read_text(encoding="utf-8"))

    return run, clear, env, tmp


def _digest(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "job.json"
    }


def _clear_twice(clear, data: Path, out: Path, *extra) -> dict:
    """Clear, then clear again from a copy of the job's shards with the summaries removed (a resume that
    redoes every shard): the job finishes both times and writes the same bytes."""
    report = clear(data, out, *extra)
    first = _digest(out)
    for marker in (out / "shards").glob("??????.json"):
        marker.unlink()
    assert clear(data, out, *extra) == report
    assert _digest(out) == first
    return report


def _errors(report: dict) -> dict[str, dict]:
    return {e["item"]: e for e in report["error_items"]}


def _add(tf: tarfile.TarFile, name: str, data: bytes | int) -> None:
    """A member holding ``data``, or ``data`` spaces streamed in (never held in memory)."""
    ti = tarfile.TarInfo(name)
    ti.size = data if isinstance(data, int) else len(data)
    tf.addfile(ti, _Spaces(data) if isinstance(data, int) else io.BytesIO(data))


class _Spaces(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.left)
        b[:n] = b" " * n
        self.left -= n
        return n


def _cleared_tar_names(out: Path) -> list[str]:
    (cleared,) = (out / "cleared").iterdir()
    with tarfile.open(cleared) as tf:
        return tf.getnames()


# --- item 6: one bad item does not stop the job ------------------------------------------------------


def test_a_tar_member_cut_inside_its_data_is_an_error_and_the_job_goes_on(world, tmp_path):
    _, clear, _, _ = world
    path = tmp_path / "cut.tar"
    with tarfile.open(path, "w") as tf:
        _add(tf, "000001.txt", FREE.encode())
        _add(tf, "000002.txt", b"x" * 5000)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"x" * 100) + 1000])  # the second member's data is cut off
    report = _clear_twice(clear, path, tmp_path / "out")
    assert report["passed"] == 1 and report["items"] == 2
    (err,) = report["error_items"]
    assert err["field"] == "archive" and "unexpected end of data" in err["reason"] and "000002.txt" in err["reason"]
    assert sum(report["errors"].values()) == 1
    assert _cleared_tar_names(tmp_path / "out") == ["000001.txt"]


def test_a_tar_member_claiming_10_gb_is_refused_and_the_job_goes_on(world, tmp_path):
    _, clear, _, _ = world
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        _add(tf, "000001.txt", FREE.encode())
        huge = tarfile.TarInfo("000002.bin")
        huge.size = 10 << 30  # a header claiming 10 GB, followed by a few bytes
        tf.fileobj.write(huge.tobuf(tarfile.PAX_FORMAT, tf.encoding, tf.errors) + b"\x01" * 4096)
    (tmp_path / "big.tar").write_bytes(buf.getvalue())
    report = _clear_twice(clear, tmp_path / "big.tar", tmp_path / "out")
    errors = _errors(report)
    assert "10737418240 bytes, more than" in errors["big.tar:000002.bin"]["reason"]
    assert errors["big.tar:000002.bin"]["field"] == "000002.bin"
    assert report["passed"] == 1 and sum(report["errors"].values()) == 2  # the refusal and the cut archive


@pytest.mark.parametrize("where", ["jsonl", "sidecar"])
def test_json_nested_5000_levels_is_refused_by_its_depth_and_the_job_goes_on(world, tmp_path, where):
    _, clear, _, _ = world
    deep = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    if where == "jsonl":
        path = tmp_path / "deep.jsonl"
        path.write_text(json.dumps({"text": FREE}) + "\n" + deep + "\n" + json.dumps({"text": FREE}) + "\n")
        item, field = "deep.jsonl:1", "line"
    else:
        path = tmp_path / "deep.tar"
        with tarfile.open(path, "w") as tf:
            _add(tf, "000001.txt", FREE.encode())
            _add(tf, "000002.txt", FREE.encode())
            _add(tf, "000002.json", deep.encode())
        item, field = "deep.tar:000002", "000002.json"
    report = _clear_twice(clear, path, tmp_path / "out")
    err = _errors(report)[item]
    assert err["field"] == field and "nested 5001 levels deep, more than the 64 allowed" in err["reason"]
    assert report["passed"] == report["items"] - 1 and sum(report["errors"].values()) == 1


def _gz_of_one_line(path: Path, size: int) -> None:
    """A .jsonl.gz whose first line is ``size`` bytes: gzip members of one compressed block, concatenated."""
    member = gzip.compress(b"a" * (64 << 20), 9)  # the same 64 MiB member, written size / 64 MiB times
    with open(path, "wb") as f:
        f.write(gzip.compress(b'{"text": "'))
        for _ in range(size // (64 << 20)):
            f.write(member)
        f.write(gzip.compress(b'"}\n' + json.dumps({"text": FREE}).encode() + b"\n"))


def _in_a_capped_process(env: dict, args: list, limit: int = 1 << 30) -> subprocess.CompletedProcess:
    """`fairtrain clear …` in a subprocess whose address space is capped: holding the hostile item in
    memory fails it with MemoryError; the peak resident size is printed last."""
    code = (
        "import atexit, resource, runpy, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
        "atexit.register(lambda: print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
        "sys.argv = ['fairtrain', *sys.argv[1:]]\n"
        "runpy.run_module('fairtrain.cli.app', run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _clear_capped(world, data: Path, out: Path, limit: int = 1 << 30) -> dict:
    _, _, env, tmp = world
    r = _in_a_capped_process(
        env, ["clear", data, "--snapshot", tmp / "snap", "--licensee", "acme-ai", "--out", out, "--json"], limit
    )
    assert r.returncode == 0, r.stderr[-2000:]
    print(r.stderr.strip().splitlines()[-1], "KiB")
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def test_a_jsonl_gz_line_of_256_mib_is_refused_in_bounded_memory(world, tmp_path):
    """The review's line was 4 GiB (MemoryError at 4.4 GB); 256 MiB proves the same under a 1 GiB cap."""
    data = tmp_path / "huge.jsonl.gz"
    _gz_of_one_line(data, 256 << 20)
    assert data.stat().st_size < 1 << 20
    report = _clear_capped(world, data, tmp_path / "out")
    err = _errors(report)["huge.jsonl.gz:0"]
    assert err["field"] == "line" and "more than the 16777216 allowed" in err["reason"]
    assert report["items"] == 2 and report["passed"] == 1


def test_a_csv_line_over_the_cap_ends_its_shard_with_an_error_and_the_job_goes_on(world, tmp_path):
    _, clear, _, _ = world
    d = tmp_path / "sheets"
    d.mkdir()
    with open(d / "a.csv", "w") as f:
        f.write(f'text\n"{FREE}"\n"{"x" * (17 << 20)}"\n"{FREE} again"\n')
    (d / "b.csv").write_text(f'text\n"{FREE}"\n')
    report = _clear_twice(clear, d, tmp_path / "out")
    err = _errors(report)["a.csv:1"]
    assert err["field"] == "shard" and "line 3 is 17825795 bytes long, more than the 16777216 allowed" in err["reason"]
    assert report["passed"] == 2 and report["items"] == 3  # the row after the long line is lost, and said so


def test_a_corrupt_parquet_footer_is_an_error_naming_the_file_and_the_job_goes_on(world, tmp_path):
    _, clear, _, _ = world
    d = tmp_path / "parts"
    d.mkdir()
    for name in ("a.parquet", "b.parquet"):
        pq.write_table(pa.table({"text": [FREE]}), d / name)
    raw = (d / "a.parquet").read_bytes()
    (d / "a.parquet").write_bytes(raw[:-12] + b"\xff" * 8 + raw[-4:])  # the footer's length is garbage
    report = _clear_twice(clear, d, tmp_path / "out")
    err = _errors(report)["a.parquet:0"]
    assert err["field"] == "shard" and "shard unreadable" in err["reason"]
    assert report["items"] == 2 and report["passed"] == 1
    assert pq.read_table(tmp_path / "out" / "cleared" / "000001-b.parquet").num_rows == 1


def _warc(path: Path, bodies: list[bytes]) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=False)
        for i, body in enumerate(bodies):
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            w.write_record(
                w.create_warc_record(
                    f"https://a.example/{i}",
                    "response",
                    payload=io.BytesIO(body),
                    http_headers=StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1"),
                )
            )


def test_junk_between_warc_records_is_an_error_naming_the_file_and_the_job_goes_on(world, tmp_path):
    pytest.importorskip("warcio")
    _, clear, _, _ = world
    path = tmp_path / "crawl.warc"
    _warc(path, [FREE.encode(), b"second page", b"third page"])
    data = path.read_bytes()
    second = data.index(b"WARC/1", data.index(b"https://a.example/1") - 400)
    path.write_bytes(data[:second] + b"junk between records\r\n" + data[second:])
    report = _clear_twice(clear, path, tmp_path / "out")
    (err,) = report["error_items"]
    assert err["item"] == "crawl.warc:1" and err["field"] == "archive" and "WARC unreadable" in err["reason"]
    assert report["passed"] == 1
    (cleared,) = (tmp_path / "out" / "cleared").iterdir()
    assert cleared.read_bytes() == data[:second]  # the kept record, byte for byte


# --- item 7: nothing is dropped silently --------------------------------------------------------------


def test_a_tar_cut_inside_a_member_header_is_a_counted_error(world, tmp_path):
    _, clear, _, _ = world
    path = tmp_path / "hdr.tar"
    with tarfile.open(path, "w") as tf:
        for i in range(1, 7):
            _add(tf, f"00000{i}.txt", (FREE + str(i)).encode())
    with tarfile.open(path) as tf:
        third = tf.getmembers()[2].offset
    path.write_bytes(path.read_bytes()[: third + 300])  # members 3 to 6 are gone
    report = _clear_twice(clear, path, tmp_path / "out")
    (err,) = report["error_items"]
    assert err["field"] == "archive" and "cut inside a header" in err["reason"] and "000002.txt" in err["reason"]
    assert sum(report["errors"].values()) == 1 and report["passed"] == 2


def test_a_truncated_warc_record_is_an_error_not_a_hash_of_its_part(world, tmp_path):
    pytest.importorskip("warcio")
    _, clear, _, _ = world
    path = tmp_path / "cut.warc"
    _warc(path, [FREE.encode(), b"y" * 4000])
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"y" * 100) + 1000])
    report = _clear_twice(clear, path, tmp_path / "out")
    err = _errors(report)["cut.warc:1"]
    assert err["field"] == "payload" and "record cut short" in err["reason"]
    rows = {r["item"]: r for r in pq.read_table(tmp_path / "out" / "decisions.parquet").to_pylist()}
    assert rows["cut.warc:1"]["content_hash"] is None and not rows["cut.warc:1"]["passes"]
    assert rows["cut.warc:0"]["passes"]


def test_role_columns_of_the_wrong_type_are_errors_naming_the_column(world, tmp_path):
    _, clear, _, _ = world
    d = tmp_path / "typed"
    d.mkdir()
    pq.write_table(pa.table({"url": [1, 2], "caption": ["a", "b"]}), d / "ints.parquet")
    pq.write_table(pa.table({"text": [7]}), d / "num.parquet")
    (d / "rows.jsonl").write_text(json.dumps({"text": FREE}) + "\n" + json.dumps({"text": {"nested": 1}}) + "\n")
    report = clear(d, tmp_path / "out", "--format", "parquet")
    errors = _errors(report)
    assert errors["ints.parquet:0"] == {
        "item": "ints.parquet:0",
        "field": "url",
        "reason": "column 'url' holds int, not a string",
    }
    assert errors["num.parquet:0"]["field"] == "text"
    report = clear(d / "rows.jsonl", tmp_path / "out-jsonl")
    assert _errors(report)["rows.jsonl:1"] == {
        "item": "rows.jsonl:1",
        "field": "text",
        "reason": "column 'text' holds dict, not a string",
    }
    assert report["passed"] == 1


# --- item 9: memory stays bounded per item ------------------------------------------------------------


def test_a_50_mb_jsonl_line_is_refused_in_bounded_memory(world, tmp_path):
    data = tmp_path / "big.jsonl"
    with open(data, "w") as f:
        f.write(json.dumps({"text": FREE}) + '\n{"text": "')
        for k in range(50):  # ~50 MB of text in one line, written a megabyte at a time
            f.write(" ".join(f"word{(k * 100_000 + i) % 9973}" for i in range(100_000)))
        f.write('"}\n')
    report = _clear_capped(world, data, tmp_path / "out")
    assert _errors(report)["big.jsonl:1"]["field"] == "line" and report["passed"] == 1


def test_a_tar_gz_bomb_is_refused_in_bounded_memory(world, tmp_path):
    """2.6 MB of .tar.gz that unpacks to gigabytes: text members over the text cap and samples over the
    item cap are refused before they are read."""
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        _add(tf, "000001.txt", FREE.encode())
        _add(tf, "000002.txt", 64 << 20)
        for ext in ("a.bin", "b.bin", "c.bin"):  # 3 x 100 MiB in one sample
            _add(tf, f"000003.{ext}", 100 << 20)
    assert path.stat().st_size < 2 << 20
    report = _clear_capped(world, path, tmp_path / "out", 2 << 30)  # a 256 MiB item is allowed
    errors = _errors(report)
    assert "bytes of text, more than" in errors["bomb.tar.gz:000002.txt"]["reason"]
    assert "hold more than" in errors["bomb.tar.gz:000003"]["reason"]
    assert report["passed"] == 1


def test_a_sparse_10_gb_file_in_a_folder_is_refused_before_it_is_read(world, tmp_path):
    d = tmp_path / "folder"
    d.mkdir()
    (d / "free.txt").write_text(FREE, encoding="utf-8")
    with open(d / "sparse.bin", "wb") as f:
        f.truncate(10 << 30)
    report = _clear_capped(world, d, tmp_path / "out")
    err = _errors(report)["sparse.bin"]
    assert err["field"] == "file" and "is larger than" in err["reason"] and report["passed"] == 1


# --- item 18: --check-web reaches public addresses only, within one deadline per URL --------------------


def _site_answer(path: str):
    """Every page allowed: robots.txt allows all, /.well-known/ is absent, any other path is a page."""
    body = b"User-agent: *\nAllow: /\n" if path == "/robots.txt" else b"<html><body>x</body></html>"
    ctype = "text/plain" if path.endswith(".txt") else "text/html"
    return (404 if path.startswith("/.well-known/") else 200), {"Content-Type": ctype}, body


def _Site(delay: float = 0.0) -> Server:
    """A real HTTP server on 127.0.0.1 that records the paths asked for; ``delay`` slows every answer."""
    return Server(_site_answer, delay=delay)


@pytest.fixture
def site():
    s = _Site()
    yield s
    s.close()


def _url_manifest(path: Path, urls: list[str]) -> Path:
    pq.write_table(pa.table({"url": urls, "caption": [f"c{i}" for i in range(len(urls))]}), path)
    return path


def test_check_web_refuses_loopback_and_link_local_urls_and_counts_them(world, tmp_path, site):
    _, clear, _, _ = world
    metadata = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    data = _url_manifest(tmp_path / "urls.parquet", [f"{site.origin}/secret.jpg", metadata])
    report = clear(data, tmp_path / "out", "--check-web")
    assert site.paths == []  # nothing reached the local server
    errors = _errors(report)
    assert errors["urls.parquet:0"]["field"] == "url" and "a loopback address" in errors["urls.parquet:0"]["reason"]
    assert "a link-local address" in errors["urls.parquet:1"]["reason"]
    assert sum(report["errors"].values()) == 2 and report["passed"] == 0
    # allowed explicitly, the same job reads the local site
    report = clear(data, tmp_path / "allowed", "--check-web", "--allow-private-urls")
    assert "/robots.txt" in site.paths and "urls.parquet:0" not in _errors(report)


def test_a_slow_site_costs_one_deadline_per_url_not_one_per_fetch():
    import asyncio
    import time

    from fairtrain.core.signals.check import SignalChecker
    from fairtrain.core.signals.fetch import FetchLimits

    slow = _Site(delay=0.8)  # robots.txt, HEAD and GET each take 0.8 s, under the 2 s per-request deadline
    limits = FetchLimits(connect_timeout=1.0, read_timeout=2.0, deadline=2.0, url_deadline=1.5)

    async def check():
        async with SignalChecker(limits=limits, allow_private=True) as checker:
            return await checker.check(f"{slow.origin}/page.html")

    started = time.monotonic()
    try:
        report = asyncio.run(check())
    finally:
        slow.close()
    assert time.monotonic() - started < 2.2  # not 3 x 0.8 s
    (err,) = report.errors
    assert "deadline of 1.5 s" in err and report.robots_allowed is None and not report.terms.statements


def test_the_deadline_runs_from_a_urls_turn_not_while_it_queues_behind_its_site():
    import asyncio

    from fairtrain.core.signals.check import SignalChecker
    from fairtrain.core.signals.fetch import FetchLimits

    # Each URL takes ~0.4 s (HEAD, GET); 24 of them, 2 at a time, take ~4.8 s: well past one URL's deadline
    # counted from the start, while each URL's own turn stays far inside it even on a loaded machine.
    slow = _Site(delay=0.2)
    limits = FetchLimits(connect_timeout=2.0, read_timeout=3.0, deadline=3.0, url_deadline=3.0)

    async def check():
        async with SignalChecker(limits=limits, per_host=2, allow_private=True) as checker:
            return await checker.check_many([f"{slow.origin}/{i}.html" for i in range(24)])

    try:
        reports = asyncio.run(check())
    finally:
        slow.close()
    assert [r.errors for r in reports] == [()] * 24 and all(r.status == 200 for r in reports)


# --- item 22: the web step's loop and clients are closed, never built before the fork; engines first ----


def _epoll_fds() -> int:
    fds = Path("/proc/self/fd")
    n = 0
    for fd in fds.iterdir():
        try:
            n += os.readlink(fd) == "anon_inode:[eventpoll]"
        except OSError:
            pass
    return n


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts descriptors in /proc")
@pytest.mark.parametrize(("workers", "purpose"), [("1", "train-genai"), ("2", "train-ai")])  # a new pipeline each
def test_check_web_closes_its_event_loop_and_builds_none_before_the_fork(world, tmp_path, site, workers, purpose):
    _, clear, _, _ = world
    d = tmp_path / "parts"
    d.mkdir()
    for i in range(3):
        _url_manifest(d / f"p{i}.parquet", [f"{site.origin}/{i}-{j}.html" for j in range(3)])
    before = _epoll_fds()
    report = clear(
        d, tmp_path / "out", "--check-web", "--allow-private-urls", "--workers", workers, "--purpose", purpose
    )
    assert report["items"] == 9 and "/robots.txt" in site.paths
    assert _epoll_fds() == before  # old: one event loop left open in this process per job


def test_an_unknown_engine_is_refused_before_anything_is_written(world, tmp_path):
    run, _, _, tmp = world
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": FREE}) + "\n")
    r = CliRunner().invoke(
        app,
        [
            "clear",
            str(tmp_path / "a.jsonl"),
            "--snapshot",
            str(tmp / "snap"),
            "--licensee",
            "acme-ai",
            "--out",
            str(tmp_path / "out"),
            "--engine",
            "bogus",
        ],
        env=world[2],
    )
    assert r.exit_code != 0 and "unknown engine 'bogus'" in (r.output + repr(r.exception))
    assert not (tmp_path / "out").exists()
