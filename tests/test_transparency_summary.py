"""The training-data summary generated from real clearance outputs: every template section passes the JSON
Schema, figures come from the evidence, HTML/Markdown/JSON in English and Korean, entered in the log, and
evidence that does not match its signed manifest is refused."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest

from cli_helpers import clear
from fairtrain.core.keys import SigningKey
from fairtrain.core.snapshot import verify_snapshot
from fairtrain.services.log import Log
from fairtrain.services.registry import Registry
from fairtrain.services.transparency._labels import labels
from fairtrain.services.transparency.schema import SECTIONS, SUMMARY_SCHEMA
from fairtrain.services.transparency.summary import ModelInfo, SummaryError, build_summary, render
from test_transparency_lookup import _grant_and_clear


@pytest.fixture
def cleared(world, database_url):  # noqa: F811
    """Clearance A by the CLI (no licence granted), B with the Keeper's two works licensed, both logged;
    the Keeper (holder 1) is a member of KOSA."""
    run, env, tmp, manifest = world
    run("orgs", "add", "KOSA", "--country", "KR")
    run("mandates", "add", "--holder", "1", "--org", "KOSA", "--category", "train-ai")
    run("snapshot", "export", tmp / "snap2")  # after the mandate: its terms name the organisation
    clear(run, manifest, tmp / "snap2", tmp / "out-a")
    keys = tmp / "data" / "keys"
    snap = verify_snapshot(tmp / "snap2", [SigningKey.load(keys / "registry.key").public])
    _grant_and_clear(run, tmp, manifest, tmp / "out-a", tmp / "snap3", tmp / "out-b")
    for out in ("out-a", "out-b"):
        run("log", "record-clearance", tmp / out)
    snap_b = verify_snapshot(tmp / "snap3", [SigningKey.load(keys / "registry.key").public])
    return run, tmp, (snap.snapshot_id, snap_b.snapshot_id)


def test_summary_from_real_clearances_passes_the_schema_in_every_section(cleared, database_url):
    run, tmp, sid = cleared
    reg = Registry.open(url=database_url)
    info = ModelInfo(model="acme-7b", version="1.0", provider="Acme AI", contact="legal@acme.example")
    doc = build_summary([tmp / "out-a", tmp / "out-b"], info, log=Log(reg.engine), org_names={"org:1": "KOSA"})
    reg.engine.dispose()
    jsonschema.validate(doc, SUMMARY_SCHEMA)
    for number in SECTIONS:  # each section against its own subschema, so a failure names the section
        jsonschema.validate(doc["sections"][number], SUMMARY_SCHEMA["properties"]["sections"]["properties"][number])
    s = doc["sections"]
    assert s["1.3"]["modalities"] == {"text": True, "image": True, "audio": False, "video": False, "other": False}
    # A: free text passes (1 item); B: free text + licensed text + photo pass (3 items)
    assert s["1.3"]["size"]["text"]["approximate"] == {"value": 3, "unit": "items"}
    # the inputs are a local parquet file: not a public dataset, listed in 2.2.2 with their origin left open
    assert s["2.1"]["used"] is False and s["2.1"]["large_datasets"] == []
    assert s["2.2.2"]["datasets"] == ["manifest.parquet"] * 2 and s["2.2.2"]["used"] is None
    assert s["2.2.2"]["note"] == labels("en")["note_local_inputs"] and s["2.2.2"]["modalities"] == ["text", "image"]
    assert s["2.2.1"]["used"] and s["2.2.1"]["works_licensed"] == 2 and s["2.2.1"]["modalities"] == ["text", "image"]
    assert s["3.1"]["items_excluded"] == (7 - 1) + (7 - 3) and s["3.1"]["items_excluded_by_reservation"] == 2
    assert s["2.4"]["from_model_interactions"] is None and s["2.4"]["note"]  # not evidenced: said, not guessed
    c = s["creators"]
    assert sorted(r["snapshot_id"] for r in c["registries"]) == sorted(sid)
    assert [x["log_index"] is not None for x in c["clearances"]] == [True, True]
    assert c["works"] == {"matched": 4, "excluded": 1, "licensed": 2, "allowed": 1, "paid": 0}
    by_org = {o["organisation"]: o for o in c["by_organisation"]}
    assert by_org["KOSA"]["licensed"] == 2 and by_org["(no organisation)"]["excluded"] == 1
    assert c["licence_offers_declined"] == {"KRW": "₩60,000"}  # A's quote: the two works it did not license

    broken = copy.deepcopy(doc)
    del broken["sections"]["2.3"]["top_domains"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SUMMARY_SCHEMA)


def _summary(run, tmp, provider: str, fmt: str, lang: str, out, *more):
    """``fairtrain summary`` of acme-7b 1.0 over both clearances of the world."""
    clearances = ["--clearance", tmp / "out-a", "--clearance", tmp / "out-b"]
    model = ["--model", "acme-7b", "--version", "1.0", "--provider", provider]
    return run("summary", *clearances, *model, "--format", fmt, "--lang", lang, "--out", out, *more)


def test_the_command_writes_every_format_in_both_languages_and_logs_it(cleared):
    run, tmp, _ = cleared
    seen = {}
    for fmt in ("json", "md", "html"):
        for lang in ("en", "ko"):
            out = tmp / f"summary-{lang}.{fmt}"
            r = json.loads(_summary(run, tmp, "Acme AI", fmt, lang, out, "--json").stdout)
            seen[(fmt, lang)] = out.read_text(encoding="utf-8")
            assert r["log_index"] is not None and r["works"]["licensed"] == 2
    doc = json.loads(seen[("json", "ko")])
    jsonschema.validate(doc, SUMMARY_SCHEMA)
    assert doc["lang"] == "ko" and doc["sections"]["2.2.1"]["title"] == labels("ko")["s2.2.1"]
    for lang in ("en", "ko"):
        for number in SECTIONS:
            title = labels(lang)["s" + number]
            assert f"## {title}" in seen[("md", lang)] and f"<h2>{title}</h2>" in seen[("html", lang)]
    assert "허락 우선" in seen[("html", "ko")] and "Permission first" in seen[("md", "en")]
    entries = json.loads(run("log", "show", "--json").stdout)["entries"]
    summaries = [e for e in entries if e["kind"] == "summary"]
    assert len(summaries) == 6 and summaries[0]["body"]["model"] == "acme-7b"
    assert {x["job_id"] for x in summaries[0]["body"]["clearances"]} == {
        json.loads((tmp / o / "manifest.json").read_text())["job_id"] for o in ("out-a", "out-b")
    }


def test_crawled_clearances_give_the_top_domains(cleared):
    run, tmp, _ = cleared
    out = tmp / "s.json"
    run(
        "summary",
        "--crawled",
        tmp / "out-a",
        "--model",
        "m",
        "--version",
        "2",
        "--format",
        "json",
        "--out",
        out,
        "--no-log",
    )
    s = json.loads(out.read_text())["sections"]
    assert s["2.3"]["used"] and not s["2.1"]["used"]
    assert s["2.3"]["top_domains"] == [{"domain": "example.org", "items": 6, "share": 1.0}]


def test_evidence_that_does_not_match_its_manifest_is_refused(cleared):
    run, tmp, _ = cleared
    info = ModelInfo(model="m", version="1", provider="p")
    (tmp / "out-a" / "decisions.parquet").write_bytes((tmp / "out-b" / "decisions.parquet").read_bytes())
    with pytest.raises(SummaryError, match="not the decisions its manifest signed"):
        build_summary([tmp / "out-a"], info)
    with pytest.raises(SummaryError, match="not a finished clearance"):
        build_summary([tmp / "nowhere"], info)
    r = run("summary", "--clearance", tmp / "out-a", "--model", "m", "--version", "1", "--out", tmp / "x.html", code=2)
    assert "not the decisions its manifest signed" in r.output


def test_labels_exist_in_both_languages():
    en, ko = labels("en"), labels("ko")
    assert set(en) == set(ko)
    assert all(ko[k] != en[k] for k in en if k.startswith("s"))
    with pytest.raises(SummaryError, match="format"):
        render({"lang": "en", "sections": {}}, "pdf", "m")


def test_every_field_reads_as_its_label_in_either_language_and_names_are_escaped(cleared):
    """A field inside a field (the base model's name and summary) once read as its key in both languages."""
    _run, tmp, _ = cleared
    info = ModelInfo(model="<script>alert(1)</script>", version="{{7*7}}", provider="<b>Acme</b>", base_model="base-1")
    for lang in ("en", "ko"):
        L = labels(lang)
        doc = build_summary([tmp / "out-a"], info, lang=lang)
        md, page = render(doc, "md", info.model), render(doc, "html", info.model)
        for text in (md, page):
            assert "base_model" not in text and f"{L['base_model']}: base-1" in text
        assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&lt;b&gt;Acme&lt;/b&gt;" in page and "{{7*7}}" in page
        assert f"<h2>{L['s1.1']}</h2>" in page and "http" not in page
    assert labels("ko")["base_model"] == "기반 모델"


def test_only_urls_and_hugging_face_ids_are_public_datasets(tmp_path):
    from fairtrain.services.transparency.summary import public_input

    assert public_input("https://example.org/data.parquet", "parquet") and public_input("hf://datasets/a/b", "hf")
    assert public_input("acme/korean-books", "hf")  # a Hugging Face dataset id
    (tmp_path / "acme").mkdir()
    for local in ("/data/private", "./corpus", str(tmp_path), "file:///data/x.parquet", "manifest.parquet", None):
        assert not public_input(local, "parquet"), local
    assert not public_input(str(tmp_path / "acme"), "hf") and not public_input("/srv/a/b", "hf")


def test_summary_tables_lay_out_without_broken_words_in_a_narrow_window(cleared):
    """Korean words are never split across lines and long ids wrap inside their column: nothing overflows."""
    from browser_helpers import ARGS, CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    run, tmp, _ = cleared
    out = tmp / "summary-ko.html"
    _summary(run, tmp, "에이크미 인공지능 주식회사", "html", "ko", out, "--no-log")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        page = b.new_page(viewport={"width": 420, "height": 800})
        page.goto(out.as_uri())
        split = page.evaluate("""() => {
            const bad = [];
            for (const td of document.querySelectorAll('td, th')) {
                const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
                for (let n = walker.nextNode(); n; n = walker.nextNode()) {
                    const re = /[\\uac00-\\ud7a3]+/g;
                    for (let m = re.exec(n.data); m; m = re.exec(n.data)) {
                        const r = document.createRange();
                        r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
                        const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                        if (tops.size > 1) bad.push(m[0]);
                    }
                }
            }
            return {bad, hangul: document.body.innerText.match(/[\\uac00-\\ud7a3]/g).length,
                    overflow: document.documentElement.scrollWidth - window.innerWidth};
        }""")
        b.close()
    assert split["hangul"] > 100  # the Korean summary, read
    assert split["bad"] == [] and split["overflow"] <= 0, split
