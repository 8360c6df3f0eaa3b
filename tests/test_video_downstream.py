"""Issue 18, downstream of the video fingerprint: video works through the CSV/ZIP repertoire import (streamed,
capped with a clear message), output checks of generated video, "was my video used?", the work page's
thumbnail strip and the reservation page, all on small clips made here with the real FFmpeg."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from cli_helpers import clear
from fairtrain.core.store.models import Fingerprint, Work
from fairtrain.services.registry import repertoire as rep
from test_fingerprint_audio import synth_piece
from test_fingerprint_video import FPS, encode, frames_of, write_wav
from test_signals_embed import es256  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """A 20-s programme with its soundtrack; a generated video holding 12 s of it (from 5 s) after 6 s of
    unrelated material, its sound replaced; an unrelated clip."""
    d = tmp_path_factory.mktemp("video-downstream")
    work = frames_of(11, 20.0)
    out = {"work": encode(d / "programme.mp4", work, audio=write_wav(d / "song.wav", synth_piece(3, seconds=21.0)))}
    host = frames_of(55, 10.0)
    noise = write_wav(d / "noise.wav", synth_piece(8, seconds=25.0))
    out["generated"] = encode(
        d / "generated.mp4", np.concatenate([host[: 6 * FPS], work[5 * FPS : 17 * FPS], host[6 * FPS :]]), audio=noise
    )
    out["unrelated"] = encode(d / "unrelated.webm", frames_of(99, 12.0), codec_args=("-c:v", "libvpx", "-b:v", "200k"))
    return out


# --- registration through the CSV/ZIP repertoire import ----------------------------------------------------


EN_HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"


def test_a_zip_with_a_video_registers_it_like_works_add(registry, clips, tmp_path):
    org = registry.add_org("Indie Producers", country="KR")
    upload = tmp_path / "repertoire.zip"
    with zipfile.ZipFile(upload, "w", zipfile.ZIP_STORED) as z:
        z.writestr("sheet.csv", EN_HEADER + "P-1,Rooftop,films/programme.mp4,Kim PD:author:1,,,,,deny,deny,,,,\n")
        z.write(clips["work"], "films/programme.mp4")
    prepared = rep.prepare(upload, tmp_path / "data" / "uploads" / "a", source=upload.name)
    report = rep.validate(registry, prepared, org)
    assert report["errors"] == [] and report["created"] == 1
    job = rep.create_job(registry, prepared, org, report)
    assert rep.run_job(registry, job)["status"] == "done"
    with registry.engine.connect() as c:
        work = c.execute(select(Work.media_type, Work.iscc, Work.content_hash)).one()
        modality = c.execute(select(Fingerprint.modality)).scalar_one()
    assert work.media_type == "video" and modality == "video" and work.iscc.startswith("ISCC:EM")
    from fairtrain.services.registry.registry import content_hash

    assert work.content_hash == content_hash(clips["work"].read_bytes())  # the streamed hash is the same hash


def test_video_size_caps_refuse_with_a_clear_message(registry, clips, tmp_path, monkeypatch):
    # a ZIP member: refused before anything is unpacked, naming the member and the video cap
    upload = tmp_path / "big.zip"
    with zipfile.ZipFile(upload, "w", zipfile.ZIP_STORED) as z:
        z.writestr("sheet.csv", EN_HEADER + "P-1,Rooftop,films/programme.mp4,Kim PD:author:1,,,,,deny,,,,,\n")
        z.write(clips["work"], "films/programme.mp4")
    size = clips["work"].stat().st_size
    with pytest.raises(
        rep.RegistryError, match=rf"'films/programme.mp4' unpacks to {size} bytes.*1000 allowed per video"
    ):
        rep.prepare(upload, tmp_path / "s1", limits=rep.Limits(max_video_bytes=1000))
    from fairtrain.core.errors import localised

    with pytest.raises(rep.RegistryError) as refused:
        rep.prepare(upload, tmp_path / "s1b", limits=rep.Limits(max_video_bytes=1000))
    assert localised(refused.value, "ko") == (
        f"big.zip: 영상 films/programme.mp4은(는) {size:,}바이트로, 영상 하나에 허용되는 1,000바이트를 넘어 "
        "아무것도 읽지 않았습니다"
    )
    # a sheet row (the cap of the importer): a row error, said in Korean for the upload page
    from fairtrain.services.registry import csv_import

    monkeypatch.setattr(csv_import, "MAX_VIDEO_BYTES", 1000)
    org = registry.add_org("Indie Producers", country="KR")
    prepared = rep.prepare(upload, tmp_path / "s2")
    (err,) = rep.validate(registry, prepared, org)["errors"]
    assert err["column"] == "file" and f"{size} bytes, above the 1000 byte limit" in err["reason"]
    ko = rep.translate_reason(err["reason"], "ko")
    assert ko == f"'films/programme.mp4'은(는) {size}바이트로, 파일 하나에 허용되는 1000바이트를 넘습니다"


def test_a_video_is_never_read_whole_into_memory_by_the_import(registry, clips, tmp_path, monkeypatch):
    """The importer hands FFmpeg the file's path and streams the hash: reading it whole would fail here."""
    from fairtrain.core import files
    from fairtrain.services.registry import csv_import

    real = files.head_then_read_confined

    def refuse_video(root, name, **kwargs):
        path, size, head, data = real(root, name, **kwargs)
        assert data is None or not name.endswith(".mp4"), "a video was read whole"
        return path, size, head, data

    monkeypatch.setattr(csv_import, "head_then_read_confined", refuse_video)
    (tmp_path / "films").mkdir()
    shutil.copy(clips["work"], tmp_path / "films" / "programme.mp4")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(EN_HEADER + "P-1,Rooftop,films/programme.mp4,Kim PD:author:1,,,,,deny,,,,,\n", encoding="utf-8")
    org = registry.add_org("Indie Producers", country="KR")
    report = csv_import.import_csv(registry, sheet, org_id=org, files_root=tmp_path)
    assert report.errors == [] and report.created == 1


# --- output checks and "was my video used?" ----------------------------------------------------------------


@pytest.fixture
def published_video(database_url, clips, tmp_path):
    """A creator registers the programme through the upload API; the registry publishes a snapshot."""
    from fairtrain.core.keys import SigningKey
    from fairtrain.services.registry.snapshot_export import export_snapshot
    from web_helpers import Session, make_app

    app = make_app(tmp_path, database_url)
    state = app.state.web
    creator = Session(app, "pd@example.org", "creator", "Kim PD")
    r = creator.request("POST", "/api/works", files=[("files", ("programme.mp4", clips["work"].read_bytes()))])
    assert r.status_code in (200, 201), r.text
    (added,) = r.json()["results"]
    assert added["ok"] and added["media_type"] == "video", added
    key = SigningKey.generate()
    key.save(state.data_dir / "keys" / "registry.key", role="registry")
    export_snapshot(state.registry, state.snapshots_dir / "current", key)
    return app, added["work"], state.snapshots_dir / "current"


def test_a_generated_video_holding_a_registered_work_is_flagged_with_offsets(published_video, clips, cli):
    from web_helpers import Session

    app, work_id, snap = published_video
    dev = Session(app, "dev@example.org", "developer", "Dev Lab")
    r = dev.request(
        "POST",
        "/api/outputs/check",
        data={"snapshot": "current"},
        files=[
            ("files", ("gen-1.mp4", clips["generated"].read_bytes(), "video/mp4")),
            ("files", ("gen-2.webm", clips["unrelated"].read_bytes(), "video/webm")),
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    gen, other = body["results"]
    assert gen["modality"] == "video" and gen["flagged"] and other["modality"] == "video" and not other["flagged"]
    (rep_,) = gen["reproductions"]
    ev = rep_["evidence"]
    assert rep_["work_id"] == work_id and ev["track"] == "visual"
    assert abs(ev["offset_s"] - 5.0) <= 1.0 and abs(ev["query_offset_s"] - 6.0) <= 1.0, ev
    assert rep_["extent"] == ev["duration_s"] >= 8.0
    assert body["attribution_weights"] == {str(work_id): 1_000_000}
    # the command line says the same
    out = json.loads(
        cli("outputs", "check", clips["generated"], clips["unrelated"], "--snapshot", snap, "--json").stdout
    )
    assert [o["flagged"] for o in out["outputs"]] == [True, False]
    assert out["outputs"][0]["reproductions"][0]["evidence"]["offset_s"] == ev["offset_s"]
    assert out["thresholds"]["video_min_overlap_s"] == 8.0


def test_under_eight_aligned_seconds_a_video_match_is_not_flagged():
    from fairtrain.core.fingerprint import Match
    from fairtrain.services.transparency.outputs import OutputChecker

    checker = OutputChecker(lambda _kind: None)
    short = checker._judge("video", Match(1, 0.8, "verified", {"track": "visual", "duration_s": 6.5}), None)
    sound = checker._judge(
        "video", Match(1, 0.8, "verified", {"duration_s": 3.0, "soundtrack": {"overlap_s": 9.0}}), None
    )
    assert (short.flagged, short.extent) == (False, 6.5) and (sound.flagged, sound.extent) == (True, 9.0)


def test_was_my_video_used_through_the_cli_and_the_used_page(published_video, clips, cli, tmp_path):
    from fastapi.testclient import TestClient

    from fairtrain.core.keys import SigningKey
    from fairtrain.services.registry.snapshot_export import export_snapshot
    from test_used import _developer_key, _files
    from web_helpers import Session

    app, work_id, snap = published_video
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    shutil.copy(clips["generated"], dataset / "clip-0001.mp4")
    shutil.copy(clips["unrelated"], dataset / "clip-0002.webm")
    holder = app.state.web.registry.work(work_id)["holders"][0]["holder"].split(":")[1]
    cli("declare", "--holder", holder, "--category", "tdm=allow")  # the creator lets it be used
    snap = snap.with_name("allowed")
    export_snapshot(app.state.web.registry, snap, SigningKey.load(tmp_path / "data" / "keys" / "registry.key"))
    cli("keys", "create", "--name", "acme-ai")
    cli("clear", dataset, "--snapshot", snap, "--licensee", "acme-ai", "--out", tmp_path / "out")
    import pyarrow.parquet as pq

    seconds = {r["item"]: r["seconds"] for r in pq.read_table(tmp_path / "out" / "decisions.parquet").to_pylist()}
    assert abs(seconds["clip-0001.mp4"] - 22.0) <= 0.5 and abs(seconds["clip-0002.webm"] - 12.0) <= 0.5
    # the EU template summary counts the video items used and how many hours they run
    summary = ["summary", "--clearance", tmp_path / "out", "--model", "v", "--version", "1", "--provider", "Acme AI"]
    cli(*summary, "--format", "json", "--out", tmp_path / "summary.json")
    size = json.loads((tmp_path / "summary.json").read_text())["sections"]["1.3"]["size"]
    passed = [r for r in pq.read_table(tmp_path / "out" / "decisions.parquet").to_pylist() if r["passes"]]
    assert size["video"]["approximate"] == {"value": len(passed), "unit": "items"} and passed
    assert size["video"]["hours"] == round(sum(r["seconds"] for r in passed) / 3600, 4)
    cli(*summary, "--format", "md", "--lang", "ko", "--out", tmp_path / "summary.md")
    assert f"비디오: ≈ {len(passed)} 항목 ({size['video']['hours']:.3f} 시간)" in (tmp_path / "summary.md").read_text()
    dev = Session(app, "dev@example.org", "developer", "acme-ai")
    r = dev.client.post(
        "/api/clearances", files=_files(tmp_path / "out"), headers={"Authorization": f"Bearer {_developer_key(dev)}"}
    )
    assert r.status_code == 201, r.text
    cli("log", "sign")
    # the creator asks with the programme itself: recognised, and the clearance holds an excerpt of it
    answer = json.loads(cli("lookup", clips["work"], "--json").stdout)
    assert answer["verdict"] == "yes" and answer["recognised"][0]["work_id"] == work_id, answer
    anyone = TestClient(app)
    anyone.cookies.set("ft_lang", "ko")
    page = anyone.post("/used", files={"file": ("programme.mp4", clips["work"].read_bytes())})
    assert page.status_code == 200 and 'data-verdict="yes"' in page.text
    assert "예: 게시된 권리 확인 중 적어도 하나에 저작물이 들어 있습니다." in page.text and ">programme<" in page.text
    # an unrelated video: not registered, so unknown (never a "no")
    page = anyone.post("/used", files={"file": ("other.webm", clips["unrelated"].read_bytes())})
    assert 'data-verdict="unknown"' in page.text and "등록되지 않은 파일입니다" in page.text


# --- the creator's resumable video upload -------------------------------------------------------------------


def _finished(session, uid: str, timeout: float = 120.0) -> dict:
    """The upload's status once its background registration has ended."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        st = session.request("GET", f"/api/video-uploads/{uid}").json()
        if st["state"] in ("done", "failed") or time.monotonic() > deadline:
            return st
        time.sleep(0.2)


def test_a_resumable_upload_survives_a_dropped_chunk_and_registers_the_video(database_url, clips, tmp_path):
    from web_helpers import Session, make_app

    app = make_app(tmp_path, database_url, video_chunk_bytes=64 * 1024, max_video_bytes=10 * 1024**2)
    creator = Session(app, "pd@example.org", "creator", "Kim PD")
    other = Session(app, "b@example.org", "creator", "Other")
    data = clips["work"].read_bytes()
    r = creator.request(
        "POST", "/api/video-uploads", json={"name": "programme.mp4", "size": len(data), "title": "옥상"}
    )
    assert r.status_code == 201, r.text
    up = r.json()
    uid, chunk = up["id"], up["chunk_bytes"]
    assert up["offset"] == 0 and chunk == 64 * 1024
    put = lambda s, off, body: s.request("PUT", f"/api/video-uploads/{uid}", params={"offset": off}, content=body)  # noqa: E731
    assert put(creator, 0, data[:chunk]).json() == {"offset": chunk}
    assert put(creator, chunk, data[chunk : 2 * chunk]).json() == {"offset": 2 * chunk}
    # the connection drops: the client does not know whether its chunk arrived, and asks
    assert creator.request("GET", f"/api/video-uploads/{uid}").json()["offset"] == 2 * chunk
    again = put(creator, chunk, data[chunk : 2 * chunk])  # a chunk sent twice is refused with where to go on
    assert again.status_code == 409 and again.headers["Upload-Offset"] == str(2 * chunk)
    # nobody else sees or feeds it; nor can a chunk go past the announced size or over the chunk cap
    assert other.request("GET", f"/api/video-uploads/{uid}").status_code == 404
    assert put(other, 2 * chunk, b"x").status_code == 404
    assert put(creator, 2 * chunk, b"x" * (chunk + 1)).status_code == 413
    early = creator.request("POST", f"/api/video-uploads/{uid}/finish")
    assert early.status_code == 409 and "not complete" in early.json()["detail"]
    off = 2 * chunk
    while off < len(data):
        off = put(creator, off, data[off : off + chunk]).json()["offset"]
    assert off == len(data)
    started = creator.request("POST", f"/api/video-uploads/{uid}/finish")
    assert started.status_code == 202 and started.json()["state"] in ("fingerprinting", "done"), started.text
    done = _finished(creator, uid)
    assert done["state"] == "done", done
    w = done["result"]
    assert put(creator, len(data), b"x").status_code == 409  # nothing more goes into a finished upload
    assert w["ok"] and w["media_type"] == "video" and w["title"] == "옥상" and w["iscc"].startswith("ISCC:EM")
    assert not list((tmp_path / "data" / "uploads" / "video").rglob("data.part"))  # the video is not kept
    from fairtrain.services.registry.registry import content_hash

    assert app.state.web.registry.work(w["work"])["media_type"] == "video"
    with app.state.web.registry.engine.connect() as c:
        assert c.execute(select(Work.content_hash).where(Work.id == w["work"])).scalar_one() == content_hash(data)

    # the work page and the public reservation page show the thumbnail strip the registry keeps
    creator.client.cookies.set("ft_lang", "ko")
    page = creator.client.get(f"/works/{w['work']}")
    assert (
        f'<img id="work-strip" class="strip" src="/works/{w["work"]}/strip.jpg" alt="영상의 장면들, 차례대로">'
        in page.text
    )
    strip = creator.client.get(f"/works/{w['work']}/strip.jpg")
    assert strip.status_code == 200 and strip.headers["content-type"] == "image/jpeg"
    from PIL import Image

    im = Image.open(io.BytesIO(strip.content))
    assert im.format == "JPEG" and im.size[0] > 4 * im.size[1]
    reserve = creator.client.get(f"/r/w/{w['work']}")
    assert reserve.status_code == 200 and 'id="r-strip"' in reserve.text and "옥상" in reserve.text
    assert "tdm-reservation" in reserve.text
    text = creator.request("POST", "/api/works", files=[("files", ("poem.txt", "바람 " * 300))]).json()["results"][0]
    assert creator.client.get(f"/works/{text['work']}/strip.jpg").status_code == 404
    assert 'id="work-strip"' not in creator.client.get(f"/works/{text['work']}").text


def test_the_upload_refuses_a_video_over_the_cap_and_a_non_video_in_korean(database_url, tmp_path):
    from web_helpers import Session, make_app

    app = make_app(tmp_path, database_url)
    creator = Session(app, "pd@example.org", "creator", "Kim PD")
    creator.client.cookies.set("ft_lang", "ko")
    r = creator.request("POST", "/api/video-uploads", json={"name": "drama.mkv", "size": 17 * 1024**3})
    assert r.status_code == 413
    assert r.json()["message"] == "drama.mkv 파일은 17 GiB입니다. 영상은 최대 16 GiB까지 올릴 수 있습니다."
    r = creator.request("POST", "/api/video-uploads", json={"name": "notes.txt", "size": 100})
    assert r.status_code == 415 and "영상 파일(MP4, MKV, WebM, MOV, MPEG-TS, AVI)이 아닙니다" in r.json()["message"]
    # a file named .mp4 that is not a video is refused when it is finished, and nothing is registered
    r = creator.request("POST", "/api/video-uploads", json={"name": "fake.mp4", "size": 5})
    uid = r.json()["id"]
    creator.request("PUT", f"/api/video-uploads/{uid}", params={"offset": 0}, content=b"hello")
    assert creator.request("POST", f"/api/video-uploads/{uid}/finish").status_code == 202
    failed = _finished(creator, uid)
    assert failed["state"] == "failed" and not failed["result"]["ok"]
    assert failed["result"]["message"].startswith("fake.mp4: 이 video 파일의 지문을 만들 수 없습니다"), failed
    assert creator.request("DELETE", f"/api/video-uploads/{uid}").status_code == 204
    assert creator.request("GET", f"/api/video-uploads/{uid}").status_code == 404
    # at most three unfinished uploads; one untouched for a week is removed, which makes room again
    ids = [
        creator.request("POST", "/api/video-uploads", json={"name": f"ep{i}.mp4", "size": 10}).json()["id"]
        for i in range(3)
    ]
    r = creator.request("POST", "/api/video-uploads", json={"name": "ep4.mp4", "size": 10})
    assert r.status_code == 409 and r.json()["message"].startswith("끝나지 않은 영상 업로드가 3개 있습니다")
    import os
    import time

    for f in next((tmp_path / "data" / "uploads" / "video").rglob(ids[0])).iterdir():
        os.utime(f, (time.time() - 8 * 24 * 3600,) * 2)
    assert creator.request("POST", "/api/video-uploads", json={"name": "ep4.mp4", "size": 10}).status_code == 201
    assert creator.request("GET", f"/api/video-uploads/{ids[0]}").status_code == 404
    page = creator.client.get("/creator/video")
    assert page.status_code == 200 and "영상 등록" in page.text and 'data-chunk="8388608"' in page.text


def test_browser_resumes_a_video_upload_after_a_dropped_connection_and_a_reload(clips, request):
    """In Korean, in Chromium: the upload starts, the connection drops after two chunks (the page says so),
    the page is reloaded, the same file chosen again continues from the server's offset, and the work is
    registered; axe finds nothing serious on the page."""
    from browser_helpers import AXE, CHROMIUM, axe_findings, shot, sign_up

    if not CHROMIUM.exists() or not AXE.exists():
        pytest.skip("Debian chromium or axe-core not installed")
    base = request.getfixturevalue("server")
    chrome = request.getfixturevalue("browser")
    ctx = chrome.new_context(locale="ko-KR", extra_http_headers={"Accept-Language": "ko"}, bypass_csp=True)
    page = ctx.new_page()
    sign_up(page, base, "creator", "김피디", "pd-video@example.org")
    page.wait_for_url(base + "/creator")
    assert page.inner_text("#video-upload-link") == "영상 등록(큰 파일, 이어 올리기 가능)"
    page.click("#video-upload-link")
    page.wait_for_url(base + "/creator/video")
    page.goto(base + "/creator/video?chunk=65536")  # small chunks, so a 0.5-MB clip takes several

    sent = []

    def drop_after_two(route):
        if len(sent) < 2:
            sent.append(route.request.url)
            route.continue_()
        else:
            route.abort("connectionreset")

    def chunks(url: str) -> bool:
        return "/api/video-uploads/" in url and "offset=" in url

    page.route(chunks, drop_after_two)
    page.fill("#video-title", "옥상 위의 춤")
    page.set_input_files("#video-file", str(clips["work"]))
    page.wait_for_selector("#video-status.error")
    assert (
        page.inner_text("#video-status")
        == "✗ 연결이 끊겼습니다. 같은 파일을 다시 선택하면 멈춘 곳부터 이어서 올립니다."
    )
    shot(page, "ko-video-upload-1-dropped")
    page.unroute(chunks)

    page.reload()
    page.fill("#video-title", "옥상 위의 춤")
    page.set_input_files("#video-file", str(clips["work"]))
    page.wait_for_selector("#video-status.ok", timeout=120_000)
    assert page.evaluate("document.body.dataset.resumedAt") == str(2 * 65536)  # only the rest was sent
    status = page.inner_text("#video-status")
    assert status.startswith("✓ 작품 #") and status.endswith("(으)로 등록되었습니다: 옥상 위의 춤"), status
    shot(page, "ko-video-upload-2-registered")
    assert axe_findings(page) == []
    work = page.get_attribute("#video-status", "data-work")
    page.goto(f"{base}/works/{work}")
    assert "옥상 위의 춤" in page.inner_text("main")
    ctx.close()


# --- signals: XMP (and C2PA) in copies of MP4 and MOV files ------------------------------------------------


def _ffprobe_xmp(path: Path) -> str:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-export_xmp", "1", "-show_entries", "format_tags=xmp", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)["format"].get("tags", {}).get("xmp", "")


def _stream_hash(path: Path) -> str:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0", "-c", "copy", "-f", "streamhash", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return out.stdout.decode()


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_xmp_and_c2pa_go_into_a_copy_of_an_mp4_or_mov_without_touching_the_media(clips, tmp_path, es256, container):  # noqa: F811
    from fairtrain.core.signals import crosswalk
    from fairtrain.core.signals import embed as E
    from test_signals_embed import CASES, _read_c2pa, _training_entries

    creds, _ = es256
    _, policy, dmi, _ = CASES[2]
    src = tmp_path / f"programme.{container}"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(clips["work"]), "-c", "copy", str(src)], check=True, timeout=60)
    original = src.read_bytes()
    out = E.embed_file(src, tmp_path / "out" / src.name, policy, creds)
    data = out.read_bytes()
    assert src.read_bytes() == original  # the original is untouched
    assert _stream_hash(out) == _stream_hash(src)  # every audio and video packet as it was
    xmp = _ffprobe_xmp(out)  # an independent reader: FFmpeg's own MP4/MOV demuxer
    assert crosswalk.IPTC_DMI_PREFIX + dmi in xmp and "유료 이용허락 필요" in xmp and policy.policy_url in xmp
    report = _read_c2pa(data, "video/quicktime" if container == "mov" else "video/mp4")
    assert report["validation_state"] == "Valid"
    assert _training_entries(report)
    # the file-to-file copy (streamed) and the in-memory one write the same bytes
    assert E.embed_file(src, tmp_path / "plain" / src.name, policy).read_bytes() == E.embed_xmp(original, policy)
    # signing again merges: one XMP packet, the same properties, nothing duplicated
    again = E.embed_xmp(E.embed_xmp(original, policy), policy)
    from fairtrain.core.signals import _bmff_xmp

    packet = _bmff_xmp.read_xmp(again)
    assert packet.count("<plus:DataMining>") == 1 and crosswalk.IPTC_DMI_PREFIX + dmi in packet


def test_videos_without_an_xmp_carrier_are_refused_with_the_reason(clips, tmp_path):
    from fairtrain.core.signals import embed as E
    from test_signals_embed import CASES

    with pytest.raises(E.EmbedError, match=r"unrelated.webm: XMP is written into MP4, M4V and MOV videos only"):
        E.embed_file(clips["unrelated"], tmp_path / "copy.webm", CASES[2][1])


# --- distribution weighted by the minutes a usage report gives ---------------------------------------------


def test_a_usage_report_in_minutes_splits_the_licence_money_by_minutes(world):  # noqa: F811
    run, env, tmp, manifest = world
    clear(run, manifest, tmp / "snap", tmp / "c", "--purpose", "train-genai")
    ids = json.loads(run("licences", "request", tmp / "c" / "licence-quote.json", "--json").stdout)["licences"]
    run("keys", "create", "--name", "holder-1")
    run("licences", "accept", ids[0], "--as", "holder:1")
    (inv,) = json.loads(run("invoices", "--json").stdout)
    run("payments", "record", inv["id"], "--amount", "60000", "--currency", "KRW", "--reference", "BANK-1")
    minutes = tmp / "minutes.json"
    minutes.write_text(json.dumps({"1": "12.5", "2": 37.5}))  # 12.5 and 37.5 minutes: a 1:3 split
    base = ["usage", "report", "--licensee", "acme-ai", "--model", "acme-v", "--version", "1", "--licence", ids[0]]
    weights = tmp / "weights.json"
    weights.write_text(json.dumps({"1": 1, "2": 1}))
    r = run(*base, "--idempotency-key", "k0", "--minutes", minutes, "--weights", weights, code=2)
    assert "not both" in r.output
    bad = tmp / "bad.json"
    bad.write_text(json.dumps({"1": "-3"}))
    r = run(*base, "--idempotency-key", "k1", "--minutes", bad, code=1)
    assert "minutes of work 1" in str(r.exception) or "minutes of work 1" in r.output
    filed = json.loads(run(*base, "--idempotency-key", "k2", "--minutes", minutes, "--json").stdout)
    assert not filed["duplicate"]
    run("log", "sign")
    entry = [e for e in json.loads(run("log", "show", "--json").stdout)["entries"] if e["kind"] == "usage-report"][0]
    assert entry["body"]["minutes"] == {"1": "12.5", "2": "37.5"}
    dist = json.loads(run("distribute", "--period", "2026-01-01..2026-12-31", "--json").stdout)
    st = json.loads(run("statements", "--run", dist["run"], "--holder", "Keeper", "--recompute").stdout)
    assert st["recomputed"]["identical"]
    assert {ln["work"]: ln["gross"] for ln in st["lines"]} == {"1": 15000, "2": 45000}  # 750 s : 2250 s
