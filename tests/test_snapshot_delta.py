"""Issue 17 item 3: signed snapshot deltas, the published chain, and `fairtrain snapshot pull`.

A delta applied to the full snapshot it names gives, file for file, the full snapshot exported at the
new time; a tampered, foreign or misapplied delta is refused with the file and reason named and the
puller's directory untouched; a pull killed mid-way leaves the previous snapshot usable.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest
from sqlalchemy import text as sql
from sqlalchemy import update

from conftest import make_image
from fairtrain.core.keys import SigningKey
from fairtrain.core.matcher import SnapshotMatcher
from fairtrain.core.snapshot import MANIFEST, SnapshotError, seal_snapshot, verify_delta, verify_snapshot
from fairtrain.core.snapshot_delta import DELETED, RESULT, apply_delta, chain
from fairtrain.core.store.models import Work
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.registry.snapshot_export import export_delta, export_snapshot
from web_helpers import text_file
from worlds import grant_licence, text_works_and_a_photo


def _files(d) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _text(seed: int) -> bytes:
    return text_file(seed)


def _excerpt(seed: int) -> tuple[str, bytes]:
    words = _text(seed).decode().split()
    return (f"excerpt-{seed}.txt", (" ".join(words[50:250])).encode())


@pytest.fixture
def chain_dirs(registry, tmp_path):
    """Full A; then the registry changes (works added, terms changed, a work withdrawn, a grant); full B and
    the delta A→B exported at the same time."""
    h, share, ids, photo = text_works_and_a_photo(registry, tmp_path, [_text(i) for i in range(6)])
    registry.declare(
        level=Level.WORK, target_id=ids[0], party=f"holder:{h}", values={Category.TRAIN_GENAI: Value.ALLOW}
    )
    key = SigningKey.generate()
    snaps = tmp_path / "snapshots"
    export_snapshot(registry, snaps / "a", key)
    # the changes
    for i in (6, 7):
        p = tmp_path / f"work-{i}.txt"
        p.write_bytes(_text(i))
        ids.append(registry.add_work_file(p, shares=share, title=f"작품 {i}")["work"])
    registry.declare(
        level=Level.WORK, target_id=ids[1], party=f"holder:{h}", values={Category.TRAIN_GENAI: Value.ALLOW}
    )
    registry.declare(level=Level.WORK, target_id=ids[0], party=f"holder:{h}", values={Category.TRAIN_GENAI: None})
    with registry.engine.begin() as c:
        c.execute(update(Work).where(Work.id.in_([ids[2], photo])).values(status="rejected"))
    grant_licence(registry, ids[3])
    at = datetime.now(UTC)
    export_snapshot(registry, tmp_path / "b", key, at=at)
    doc = export_delta(registry, snaps / "a", snaps / "d1", key, state_dir=tmp_path / "state-b", at=at)
    return {
        "registry": registry,
        "snaps": snaps,
        "b": tmp_path / "b",
        "key": key,
        "ids": ids,
        "photo": photo,
        "delta": doc,
        "tmp": tmp_path,
    }


def test_a_delta_applied_to_its_base_is_the_full_snapshot_at_the_new_time(chain_dirs):
    d = chain_dirs
    key, ids = d["key"], d["ids"]
    base = verify_snapshot(d["snaps"] / "a", [key.public])
    delta = verify_delta(d["snaps"] / "d1", [key.public])
    full_b = verify_snapshot(d["b"], [key.public])
    assert delta.manifest["applies_to"] == base.snapshot_id
    counts = delta.manifest["counts"]
    assert (counts["added"], counts["withdrawn"], counts["grants_changed"]) == (2, 2, 1)
    assert counts["terms_changed"] == 3  # work 0 withdrew its allow, work 1 allowed, work 3 granted
    assert counts["fingerprints"]["text"] == {"upserted": 2, "removed": 1}
    assert counts["fingerprints"]["image"] == {"upserted": 0, "removed": 1}

    applied = apply_delta(base, delta, d["tmp"] / "applied", [key.public])
    # the same state: the same signed manifest (snapshot id), every file byte for byte
    files_b = _files(d["b"])
    files_applied = _files(applied.path)
    assert files_applied.keys() == files_b.keys()
    assert {p for p in files_b if files_b[p] != files_applied[p] and p != MANIFEST} == set()
    assert delta.manifest["result"] == applied.snapshot_id
    assert json.loads(files_applied[MANIFEST])["files"] == json.loads(files_b[MANIFEST])["files"]
    assert _files(d["tmp"] / "state-b") == files_applied  # the state kept for the next --since is that one
    # the fingerprint rows leave out what is private: the registered file's name
    from fairtrain.core.fingerprint import codec

    with d["registry"].engine.connect() as c:
        stored = c.execute(sql("SELECT payload FROM fingerprints WHERE work_id = :w"), {"w": ids[0]}).scalar_one()
    assert b"work-0.txt" in stored and not any(b"work-0.txt" in blob for blob in files_applied.values())
    assert codec.loads(codec.public_copy(stored)).item == "" and codec.public_copy(stored) == codec.public_copy(stored)

    # the same terms and the same match results
    m_full, m_applied = SnapshotMatcher(full_b), SnapshotMatcher(applied)
    for wid in [*ids, d["photo"], 999]:
        assert m_applied.terms.row(wid) == m_full.terms.row(wid)
    assert m_applied.terms.row(ids[3])["licensees"]["acme-ai"]["commercial"]["train-genai"] == "allow"
    assert m_applied.terms.row(ids[2]) is None  # withdrawn
    queries = [_excerpt(i) for i in range(8)] + [("photo.jpg", (d["tmp"] / "photo.jpg").read_bytes())]
    got = [r.to_dict() for r in m_applied.match(queries)]
    assert got == [r.to_dict() for r in m_full.match(queries)]
    matched = {r["item"]: [m["work_id"] for m in r["matches"]] for r in got}
    assert matched["excerpt-7.txt"] == [ids[7]] and matched["excerpt-2.txt"] == [] and matched["photo.jpg"] == []


def test_a_delta_is_not_a_snapshot_and_an_old_full_snapshot_cannot_be_a_base(chain_dirs, registry):
    d = chain_dirs
    with pytest.raises(SnapshotError, match="a snapshot delta .*apply it with `fairtrain snapshot pull`"):
        SnapshotMatcher.open(d["snaps"] / "d1", [d["key"].public])
    old = d["tmp"] / "old"
    shutil.copytree(d["snaps"] / "a", old)
    shutil.rmtree(old / "fingerprint-rows")
    manifest = json.loads((old / MANIFEST).read_text())
    seal_snapshot(old, d["key"], {k: manifest[k] for k in ("registry", "terms_at", "counts")})
    assert SnapshotMatcher.open(old, [d["key"].public]).terms.row(d["ids"][0])  # still opens and matches
    with pytest.raises(SnapshotError, match="a delta, not a full snapshot: --since takes the full snapshot"):
        export_delta(registry, d["snaps"] / "d1", d["tmp"] / "d-next", d["key"])
    with pytest.raises(SnapshotError, match="exported before snapshot deltas"):
        export_delta(registry, old, d["tmp"] / "d-old", d["key"])
    assert not (d["tmp"] / "d-old").exists()


def _resign(directory, key) -> None:
    m = json.loads((directory / MANIFEST).read_text())
    seal_snapshot(
        directory,
        key,
        {k: v for k, v in m.items() if k not in ("format", "created_at", "files", "signature")},
        fmt=m["format"],
    )


@pytest.mark.parametrize("how", ["byte", "foreign-key", "other-base", "result"])
def test_a_tampered_or_misapplied_delta_is_refused_naming_the_file_and_reason(chain_dirs, how):
    d = chain_dirs
    key, tmp = d["key"], d["tmp"]
    bad = tmp / "bad"
    shutil.copytree(d["snaps"] / "d1", bad)
    base = verify_snapshot(d["snaps"] / "a", [key.public])
    before = _files(d["snaps"] / "a")
    if how == "byte":
        p = bad / DELETED
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0x01
        p.write_bytes(bytes(data))
        with pytest.raises(SnapshotError, match=f"{DELETED}: SHA-256 does not match the manifest"):
            verify_delta(bad, [key.public])
        return
    if how == "foreign-key":
        _resign(bad, SigningKey.generate())  # a licensee's key, say: valid signature, not a registry key
        with pytest.raises(SnapshotError, match="not among the trusted keys"):
            verify_delta(bad, [key.public])
        return
    if how == "other-base":
        m = json.loads((bad / MANIFEST).read_text())
        m["applies_to"] = "0" * 64
        (bad / MANIFEST).write_text(json.dumps(m))
        _resign(bad, key)
        with pytest.raises(SnapshotError, match="applies to snapshot 0000000000000000…, not to"):
            apply_delta(base, verify_delta(bad, [key.public]), tmp / "out", [key.public])
    if how == "result":  # a result manifest signed by someone else, re-sealed by the registry key
        r = json.loads((bad / RESULT).read_text())
        from fairtrain.core.keys import sign_document

        (bad / RESULT).write_text(json.dumps(sign_document(r, SigningKey.generate())))
        m = json.loads((bad / MANIFEST).read_text())
        import hashlib

        m["result"] = hashlib.sha256((bad / RESULT).read_bytes()).hexdigest()
        (bad / MANIFEST).write_text(json.dumps(m))
        _resign(bad, key)
        with pytest.raises(SnapshotError, match=f"{RESULT}: signed by key .* not among the trusted keys"):
            apply_delta(base, verify_delta(bad, [key.public]), tmp / "out", [key.public])
    assert not (tmp / "out").exists() or not (tmp / "out" / MANIFEST).exists()
    assert _files(d["snaps"] / "a") == before


def test_the_chain_is_the_newest_full_snapshot_and_the_deltas_after_it(chain_dirs, registry):
    d = chain_dirs
    key = d["key"]
    c = chain(d["snaps"])
    a_id = verify_snapshot(d["snaps"] / "a", [key.public]).snapshot_id
    assert c["full"]["name"] == "a" and c["full"]["snapshot_id"] == a_id
    assert [x["name"] for x in c["deltas"]] == ["d1"] and c["deltas"][0]["applies_to"] == a_id
    assert c["head"] == d["delta"]["result"]
    # the next delta is exported against the kept state and follows on
    registry.declare(
        level=Level.WORK, target_id=d["ids"][4], party="holder:1", values={Category.TRAIN_GENAI: Value.ALLOW}
    )
    doc = export_delta(registry, d["tmp"] / "state-b", d["snaps"] / "d2", key, state_dir=d["tmp"] / "state-c")
    assert doc["applies_to"] == d["delta"]["result"] and doc["counts"]["terms_changed"] == 1
    c = chain(d["snaps"])
    assert [x["name"] for x in c["deltas"]] == ["d1", "d2"] and c["head"] == doc["result"]


# -- the published chain over real HTTP, and `fairtrain snapshot pull` -----------------------------------


def _cli(env, *args, **kw):
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-c", "from fairtrain.cli.app import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


@pytest.fixture
def served(chain_dirs, database_url):
    """`fairtrain serve` on 127.0.0.1 with the chain's data directory (its snapshots/ holds a and d1)."""

    from web_helpers import cli_env, free_port, wait_until_serving

    port = free_port()
    env = cli_env(chain_dirs["tmp"], database_url)
    proc = _cli(env, "serve", "--host", "127.0.0.1", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, base + "/api/snapshots/chain", 30)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_snapshot_files_are_served_with_ranges_strong_etags_and_304(chain_dirs, served):
    import httpx

    snap = verify_delta(chain_dirs["snaps"] / "d1", [chain_dirs["key"].public])
    entry = next(f for f in snap.manifest["files"] if f["path"] == DELETED)
    url = f"{served}/api/snapshots/d1/files/{DELETED}"
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["etag"] == f'"{entry["sha256"]}"' and len(whole.content) == entry["bytes"]
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole.content[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{entry['bytes']}"
    assert httpx.get(url, headers={"Range": f"bytes={entry['bytes'] + 5}-"}).status_code == 416
    same = httpx.get(url, headers={"If-None-Match": whole.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    assert httpx.get(url, headers={"If-None-Match": '"' + "0" * 64 + '"'}).status_code == 200
    manifest = httpx.get(f"{served}/api/snapshots/d1/files/manifest.json")
    assert manifest.headers["etag"] == f'"{snap.snapshot_id}"' and manifest.json()["applies_to"]
    # confined to the snapshots directory and to the files a manifest lists
    (chain_dirs["tmp"] / "secret.txt").write_text("not public")
    for bad in (
        "/api/snapshots/d1/files/..%2F..%2Fsecret.txt",
        "/api/snapshots/..%2F/files/secret.txt",
        "/api/snapshots/d1/files/%2Fetc%2Fpasswd",
        "/api/snapshots/d1/files/nothing.parquet",
        "/api/snapshots/.d1/files/manifest.json",
    ):
        r = httpx.get(served + bad)
        assert r.status_code == 404 and b"not public" not in r.content, bad
    chain_dirs["key"].save(chain_dirs["tmp"] / "keys" / "registry.key", role="registry")
    checked = httpx.get(f"{served}/api/snapshots/d1/verify").json()
    assert checked["valid"] is True and checked["kind"] == "delta" and checked["manifest_sha256"] == snap.snapshot_id
    assert checked["applies_to"] == snap.manifest["applies_to"] and checked["result"] == snap.manifest["result"]
    assert httpx.get(f"{served}/api/snapshots/a/verify").json()["valid"] is True
    chain_json = httpx.get(f"{served}/api/snapshots/chain").json()
    assert chain_json["full"]["name"] == "a" and [d["name"] for d in chain_json["deltas"]] == ["d1"]
    assert httpx.get(f"{served}/snapshots/").json() == chain_json
    listed = {x["name"]: x["kind"] for x in httpx.get(f"{served}/api/snapshots").json()}
    assert listed == {"a": "full", "d1": "delta"}


def _slow_proxy(upstream: str, delay: float):
    """A proxy on 127.0.0.1 that answers each request after ``delay`` seconds: a slow network to kill a pull in."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            time.sleep(delay)
            r = httpx.get(upstream + self.path, headers={k: v for k, v in self.headers.items() if k.lower() == "range"})
            self.send_response(r.status_code)
            for k in ("content-type", "content-range", "etag", "accept-ranges"):
                if k in r.headers:
                    self.send_header(k, r.headers[k])
            self.send_header("content-length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


def test_pull_fetches_full_then_deltas_refuses_tampering_and_survives_a_kill(
    chain_dirs, served, registry, database_url
):
    import signal
    import time

    from web_helpers import cli_env

    d = chain_dirs
    key, tmp = d["key"], d["tmp"]
    pub = tmp / "registry.pub"
    pub.write_text(key.public.b64())
    env = cli_env(tmp / "client-data", database_url)
    target = tmp / "client" / "snap"
    target.parent.mkdir()

    def pull(url=served):
        p = _cli(env, "snapshot", "pull", url, str(target), "--public-key", str(pub), "--json")
        out, err = p.communicate(timeout=300)
        return p.returncode, out.decode(), err.decode()

    rc, out, err = pull()
    assert rc == 0, err
    first = json.loads(out)
    assert first["full_downloaded"] is True and first["deltas_applied"] == 1 and first["from"] is None
    assert first["snapshot_id"] == d["delta"]["result"]
    assert SnapshotMatcher.open(target, [key.public]).snapshot.snapshot_id == d["delta"]["result"]
    rc, out, _ = pull()
    assert rc == 0 and json.loads(out)["up_to_date"] is True

    # the registry moves on: a second delta, exported against the kept state
    registry.declare(
        level=Level.WORK, target_id=d["ids"][4], party="holder:1", values={Category.TRAIN_GENAI: Value.ALLOW}
    )
    p = tmp / "work-9.txt"
    p.write_bytes(_text(9))
    from fairtrain.services.registry import ShareSpec

    new = registry.add_work_file(p, shares=[ShareSpec(1, "author", 1)])["work"]
    d2 = export_delta(registry, tmp / "state-b", d["snaps"] / "d2", key, state_dir=tmp / "state-c")

    # a tampered file in the published delta: refused, named, the directory unchanged
    before = _files(target)
    good = (d["snaps"] / "d2" / DELETED).read_bytes()
    (d["snaps"] / "d2" / DELETED).write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    rc, _, err = pull()
    assert rc == 1 and "unchanged" in err and DELETED in err and "SHA-256 does not match" in err, err
    assert _files(target) == before
    (d["snaps"] / "d2" / DELETED).write_bytes(good)

    # killed mid-way, through a slow network: the previous snapshot is still there and usable
    proxy, slow = _slow_proxy(served, 0.4)
    try:
        killed = _cli(env, "snapshot", "pull", slow, str(target), "--public-key", str(pub), "--json")
        partial = tmp / "client" / ".snap.pull" / "download" / "d2"
        for _ in range(300):
            if partial.is_dir() and any(p.is_file() for p in partial.rglob("*")):
                break
            time.sleep(0.05)
        else:
            killed.kill()
            raise AssertionError("the pull never started downloading d2")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
    finally:
        proxy.shutdown()
    assert killed.returncode == -signal.SIGKILL
    assert _files(target) == before
    matcher = SnapshotMatcher.open(target, [key.public])
    assert matcher.snapshot.snapshot_id == d["delta"]["result"] and matcher.terms.row(new) is None

    # and the next pull completes with only the new delta
    rc, out, err = pull()
    assert rc == 0, err
    done = json.loads(out)
    assert done["full_downloaded"] is False and done["deltas_applied"] == 1 and done["from"] == d["delta"]["result"]
    assert done["snapshot_id"] == d2["result"]
    after = SnapshotMatcher.open(target, [key.public])
    assert after.terms.row(new)["work_id"] == new
    assert _files(target) == _files(tmp / "state-c")  # the registry's own full snapshot, file for file
    assert not (tmp / "client" / ".snap.pull").exists()
    assert [p.name for p in (tmp / "client" / ".snap.states").iterdir()] == [d2["result"][:32]]


def test_pull_refuses_a_chain_signed_by_a_key_that_is_not_trusted(chain_dirs, served, database_url):
    from web_helpers import cli_env

    tmp = chain_dirs["tmp"]
    other = tmp / "other.pub"
    other.write_text(SigningKey.generate().public.b64())
    p = _cli(
        cli_env(tmp / "client-data", database_url),
        "snapshot",
        "pull",
        served,
        str(tmp / "x"),
        "--public-key",
        str(other),
    )
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1 and "manifest.json" in err.decode() and "not among the trusted keys" in err.decode()
    assert not (tmp / "x").exists()


def test_a_clearance_records_its_snapshot_version_and_will_not_resume_on_another(chain_dirs):
    from fairtrain.services.clearance.pipeline import ClearanceConfig
    from fairtrain.services.clearance.run import ClearanceError, clear

    d = chain_dirs
    key, tmp = d["key"], d["tmp"]
    data = tmp / "dataset"
    data.mkdir()
    for i in (0, 1, 5):
        name, body = _excerpt(i)
        (data / name).write_bytes(body)
    snap = tmp / "pulled"
    shutil.copytree(d["snaps"] / "a", snap)
    config = ClearanceConfig(
        snapshots=(snap,), purpose=Category.TRAIN_GENAI, licensee="acme-ai", trusted_keys=(key.public.b64(),)
    )
    licensee = SigningKey.generate()
    report = clear(data, tmp / "out", config, licensee)
    a_id = verify_snapshot(snap, [key.public]).snapshot_id
    assert json.loads((tmp / "out" / "job.json").read_text())["snapshot_ids"] == [a_id]
    assert [s["snapshot_id"] for s in report["snapshots"]] == [a_id]
    assert [s["snapshot_id"] for s in json.loads((tmp / "out" / "report.json").read_text())["snapshots"]] == [a_id]
    # the same directory now holds the next version (a pull applied a delta): resuming that OUT is refused
    shutil.rmtree(snap)
    shutil.copytree(tmp / "state-b", snap)
    with pytest.raises(ClearanceError, match="other snapshot versions"):
        clear(data, tmp / "out", config, licensee)
    again = clear(data, tmp / "out-2", config, licensee)
    assert [s["snapshot_id"] for s in again["snapshots"]] == [d["delta"]["result"]]


def test_fingerprint_rows_rebuild_every_modalitys_index_exactly_without_private_fields(tmp_path):
    """What a puller rebuilds from the public rows is the index the export built from the stored fingerprint,
    for audio and video too; the rows carry no file name and no video thumbnail strip."""
    from fairtrain.core.fingerprint import codec
    from fairtrain.core.fingerprint.modalities import modality
    from test_fingerprint_audio import synth_piece
    from test_fingerprint_video import encode, frames_of, write_wav

    song = write_wav(tmp_path / "song.wav", synth_piece(5, seconds=12.0))
    items = {
        "audio": ("private-song-name.wav", song.read_bytes()),
        "video": ("private-clip-name.mp4", encode(tmp_path / "clip.mp4", frames_of(1, 10.0), audio=song).read_bytes()),
        "image": ("private-photo-name.jpg", make_image(3)),
        "text": ("private-text-name.txt", _text(3)),
    }
    for name, (item, data) in items.items():
        m = modality(name)
        stored = codec.dumps(m.register(data, item))
        public = codec.public_copy(stored)
        assert item.encode() in stored and item.encode() not in public, name
        if name == "video":
            assert codec.loads(stored).strip and codec.loads(public).strip == b""
        indexes = {}
        for kind, blob in (("stored", stored), ("public", public)):
            b = m.new_builder()
            b.add(7, codec.loads(blob))
            b.build().save(tmp_path / kind / name)
            indexes[kind] = _files(tmp_path / kind / name)
        assert indexes["public"] == indexes["stored"], name


def test_pull_onto_an_exported_directory_fetches_only_the_deltas_and_one_pull_at_a_time(chain_dirs, served):
    from fairtrain.core.snapshot_pull import PullError, _locked, pull

    d = chain_dirs
    key, tmp = d["key"], d["tmp"]
    target = tmp / "mine" / "snap"
    shutil.copytree(d["snaps"] / "a", target)  # a full snapshot copied by hand: already on the chain
    with (
        _locked(target.with_name(".snap.lock")),
        pytest.raises(PullError, match="another `snapshot pull` is updating snap"),
    ):
        pull(served, target, [key.public])
    assert verify_snapshot(target, [key.public]).snapshot_id == d["delta"]["applies_to"]
    seen = []
    done = pull(served, target, [key.public], progress=lambda what, n, total: seen.append(what))
    assert (
        done["full_downloaded"] is False and done["deltas_applied"] == 1 and done["snapshot_id"] == d["delta"]["result"]
    )
    assert done["bytes_downloaded"] == sum(f["bytes"] for f in d["delta"]["files"])  # the delta's files only
    assert "fetching d1" in seen and "fetching a" not in seen
    assert target.is_symlink() and _files(target) == _files(tmp / "state-b")
    with pytest.raises(SnapshotError, match="no trusted registry key"):
        pull(served, target, [])


def test_the_command_line_exports_a_delta_and_refuses_state_without_since(cli, tmp_path):
    (tmp_path / "a.txt").write_bytes(_text(1))
    (tmp_path / "b.txt").write_bytes(_text(2))
    cli("holders", "add", "Keeper")
    cli("works", "add", tmp_path / "a.txt", "--holder", "1:author")
    cli("keys", "create")
    cli("snapshot", "export", tmp_path / "full")
    cli("works", "add", tmp_path / "b.txt", "--holder", "1:author")
    out = json.loads(
        cli(
            "snapshot", "export", tmp_path / "d1", "--since", tmp_path / "full", "--state", tmp_path / "st", "--json"
        ).stdout
    )
    assert out["kind"] == "delta" and out["counts"]["added"] == 1 and out["state"] == str(tmp_path / "st")
    assert out["applies_to"] == json.loads(cli("snapshot", "verify", tmp_path / "full", "--json").stdout)["snapshot_id"]
    assert out["result"] == json.loads(cli("snapshot", "verify", tmp_path / "st", "--json").stdout)["snapshot_id"]
    refused = cli("snapshot", "export", tmp_path / "d2", "--state", tmp_path / "st2", code=2)
    assert "give --since too" in refused.output
    refused = cli("snapshot", "export", tmp_path / "d2", "--since", tmp_path / "d1", code=1)
    assert "a delta, not a full snapshot" in refused.output and not (tmp_path / "d2").exists()


def test_write_and_apply_delta_read_a_batch_at_a_time_and_write_the_same_delta(chain_dirs, monkeypatch):
    """Bounded memory: with batches of 2 rows (the registry has 8 works, 2 of them withdrawn) write_delta
    walks both snapshots side by side and apply_delta merges the base a batch at a time; the delta is the
    one written in one batch, file for file, and applying it gives the registry's snapshot."""
    from fairtrain.core import snapshot_delta
    from fairtrain.core.snapshot_delta import write_delta

    d = chain_dirs
    key = d["key"]
    base = verify_snapshot(d["snaps"] / "a", [key.public])
    new = verify_snapshot(d["tmp"] / "state-b", [key.public])
    seen = []
    batches = snapshot_delta._batches

    def spy(files, schema, batch):
        for t in batches(files, schema, batch):
            seen.append(t.num_rows)
            yield t

    monkeypatch.setattr(snapshot_delta, "_batches", spy)
    small = write_delta(base, new, d["tmp"] / "small", key, {"registry": "fairtrain registry"}, batch=2)
    assert seen and max(seen) <= 2 and sum(seen) > 2 * 4  # many batches, none larger than asked
    whole = verify_delta(d["snaps"] / "d1", [key.public])
    assert small["counts"] == whole.manifest["counts"] and small["applies_to"] == whole.manifest["applies_to"]
    files, want = _files(d["tmp"] / "small"), _files(d["snaps"] / "d1")
    assert files.keys() == want.keys()
    assert {p for p in files if files[p] != want[p]} == {MANIFEST}  # signed at another time
    seen.clear()
    applied = apply_delta(base, verify_delta(d["tmp"] / "small", [key.public]), d["tmp"] / "ap", [key.public], batch=2)
    assert seen and max(seen) <= 2
    assert applied.snapshot_id == whole.manifest["result"]
