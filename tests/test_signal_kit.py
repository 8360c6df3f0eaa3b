"""The signal kit and typed offers are one service each: the web (``/api/kit``, ``PUT /api/policy``) and the CLI
(``fairtrain signals render``, ``fairtrain declare``) give the same answer for the same input."""

from __future__ import annotations

import io
import json
import zipfile

from cli_helpers import cli_runner
from web_helpers import Session, make_app

SITE = "https://minji.example/blog"  # a folder of her own site: the path scopes the kit


def test_the_cli_and_the_web_render_one_kit_for_a_folder_of_a_site(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    s = Session(app, "minji@example.org", "creator", "Minji")
    body = {"values": {"train-genai": "licence", "search": "allow"}, "price": "3\ub9cc", "currency": "KRW"}
    r = s.request("PUT", "/api/policy", json=body)  # 3 man (30,000) won, as a Korean reader writes it
    assert r.status_code == 200, r.text
    assert r.json()["policy"]["train-genai"]["offers"][0]["price"]["minor"] == 30000
    r = s.client.get("/api/kit", params={"site": SITE, "contact": "minji@example.org"})
    assert r.status_code == 200, r.text
    web_kit = zipfile.ZipFile(io.BytesIO(r.content))

    run, _ = cli_runner(database_url, tmp_path / "data")
    out = tmp_path / "kit"
    rendered = json.loads(
        run(
            "signals", "render", "--holder", s.holder_id, "--site", SITE + "/", "--contact", "minji@example.org",
            "--out", out, "--json",
        ).output
    )  # fmt: skip
    assert sorted(rendered["files"]) == sorted(web_kit.namelist())
    robots = (out / "robots.txt").read_text(encoding="utf-8")
    assert robots == web_kit.read("robots.txt").decode()
    assert "Disallow: /blog/" in robots  # scoped to the folder, not the whole origin
    tdmrep = json.loads((out / ".well-known" / "tdmrep.json").read_text(encoding="utf-8"))
    assert tdmrep == json.loads(web_kit.read(".well-known/tdmrep.json"))


def test_a_blog_platform_has_no_files_from_the_cli(tmp_path, database_url):
    """A platform blog's kit is the registry's reservation page, which only the web app serves."""
    app = make_app(tmp_path, database_url)
    s = Session(app, "poet@example.org", "creator", "Poet")
    assert s.request("PUT", "/api/policy", json={"values": {"tdm": "deny"}}).status_code == 200
    run, _ = cli_runner(database_url, tmp_path / "data")
    r = run(
        "signals",
        "render",
        "--holder",
        s.holder_id,
        "--site",
        "https://blog.naver.com/poet",
        "--out",
        tmp_path / "k",
        code=2,
    )
    assert "reservation page" in r.output and not (tmp_path / "k" / "robots.txt").exists()


def test_declare_reads_a_price_as_the_policy_form_does(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    s = Session(app, "jeon@example.org", "creator", "Jeon")
    run, _ = cli_runner(database_url, tmp_path / "data")
    args = ("declare", "--holder", s.holder_id, "--category", "train-ai=licence", "--currency", "KRW", "--json")
    run(*args, "--price", "3\ub9cc 5\ucc9c\uc6d0")  # 3 man 5 cheon won
    offers = s.request("GET", "/api/policy").json()["policy"]["train-ai"]["offers"]
    assert [(o["price"]["currency"], o["price"]["minor"]) for o in offers] == [("KRW", 35000)]
    r = run(*args, "--price", "3.5\ub9cc", code=2)  # not an amount: refused with the form's words
    assert "is not an amount" in r.output
    # a price beside no licence offers nothing, from the CLI as from the form: the declaration stores none
    r = run(
        "declare", "--holder", s.holder_id, "--category", "tdm=deny", "--price", "1000", "--currency", "KRW", "--json"
    )
    (new,) = json.loads(r.output)["declarations"]
    stored = {d["id"]: d for d in app.state.web.registry.declarations(f"holder:{s.holder_id}")}
    assert stored[new]["value"] == "deny" and stored[new]["offer"] is None
