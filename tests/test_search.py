"""Public registry search (services/registry/search.py): titles and holder names by substring (3+ characters)
or word prefix (1–2), work_refs and normalised identifiers, keyset pages in work order, on SQLite and
PostgreSQL alike (the suite runs on PostgreSQL when FAIRTRAIN_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from fairtrain.cli.app import app as cli_app
from fairtrain.core.errors import InvalidInput
from fairtrain.core.store.models import Holder, Work
from fairtrain.services.registry import import_csv
from fairtrain.services.registry.search import search_works

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
ROWS = (
    "K-1,아리랑 변주곡,,김작곡:composer:1/2;이작사:lyricist:1/2,T-034.524.680-1,,,deny,,,,,,\n"
    "K-2,Spring Day,,김작곡:composer:100%,,KRA401234567,,,allow,,,,,\n"
    "K-3,Poems of the Sea,,Park Minho:author:1,,,978-3-16-148410-0,,deny,,,,,\n"
    "K-4,나의 사랑 노래,,최가수:author:1,,,,,,,,,,\n"
    "K-5,사랑의 SPRING,,Lee Sarang:author:1,,,,,,,,,,\n"
    "K-6,100% Pure_Love,,Ann O'Neil:author:1,,,,,,,,,,\n"
    "K-7,봄날의 아리랑,,박봄:author:1,,,,,,,,,,\n"
    "사랑,Untitled,,Anon:author:1,,,,,,,,,,\n"
)


@pytest.fixture
def works(registry, tmp_path) -> dict[str, int]:
    """work_ref → work id of a small bilingual registry."""
    org = registry.add_org("KOMCA", country="KR")
    path = tmp_path / "rep.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    report = import_csv(registry, path, org_id=org)
    assert not report.errors, report.errors
    with registry.engine.connect() as c:
        return {ref: wid for wid, ref in c.execute(Work.__table__.select().with_only_columns(Work.id, Work.work_ref))}


def refs(registry, works, query, **kw) -> list[str]:
    by_id = {v: k for k, v in works.items()}
    return [by_id[r["id"]] for r in search_works(registry.engine, query, **kw).results]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("아리랑", ["K-1", "K-7"]),  # a Hangul substring, anywhere in the title
        ("리랑 변", ["K-1"]),  # across a space
        ("spring", ["K-2", "K-5"]),  # case-folded
        ("SEA", ["K-3"]),
        ("김작곡", ["K-1", "K-2"]),  # a holder's name
        ("작곡", []),  # 1–2 characters match the start of a word: 김작곡 starts with 김
        ("사랑", ["K-4", "K-5", "사랑"]),  # a 2-syllable word (사랑, 사랑의) and a work_ref, in work order
        ("봄", ["K-7"]),  # one syllable: 봄날의, but not the holder 박봄
        ("park", ["K-3"]),  # a holder's name
        ("min", ["K-3"]),  # 3+ characters are substrings: Park Minho
        ("O'Neil", ["K-6"]),
        ("100%", ["K-6"]),  # LIKE's wildcards are literal characters
        ("e_L", ["K-6"]),
        ("%", []),
        ("T-034.524.680-1", ["K-1"]),  # ISWC as printed
        ("T0345246801", ["K-1"]),  # and as stored
        ("kra401234567", ["K-2"]),  # ISRC, any case
        ("KR-A40-12-34567", ["K-2"]),
        ("9783161484100", ["K-3"]),  # ISBN without hyphens
        ("978-3-16-148410-0", ["K-3"]),
        ("K-4", ["K-4"]),  # a work_ref
        ("nothing like this", []),
    ],
)
def test_a_query_finds_titles_holders_refs_and_identifiers(registry, works, query, expected):
    assert refs(registry, works, query) == expected


def test_results_say_why_they_matched_and_who_holds_them(registry, works):
    page = search_works(registry.engine, "사랑")
    by = {r["work_ref"]: r for r in page.results}
    assert by["K-4"]["matched"] == ["title"] and by["K-4"]["holders"] == ["최가수"]
    assert by["사랑"]["matched"] == ["work_ref"] and by["사랑"]["organisation"] == "KOMCA"
    hit = search_works(registry.engine, "T-034.524.680-1").results[0]
    assert hit["matched"] == ["iswc"] and hit["holders"] == ["김작곡", "이작사"] and hit["iswc"] == "T0345246801"
    assert search_works(registry.engine, "김작곡").results[0]["matched"] == ["holder"]


def test_pages_follow_work_order_without_gaps_or_repeats(registry, works):
    everything = refs(registry, works, "사랑", limit=100)
    seen, after = [], 0
    while True:
        page = search_works(registry.engine, "사랑", limit=1, after=after)
        seen += [r["id"] for r in page.results]
        assert len(page.results) == 1
        if page.next_after is None:
            break
        assert page.next_after == page.results[-1]["id"]
        after = page.next_after
    assert [works[r] for r in everything] == seen == sorted(seen) and len(seen) == 3


def test_renamed_and_rejected_works_leave_the_results(registry, works):
    with registry.engine.begin() as c:
        c.execute(update(Work).where(Work.id == works["K-2"]).values(title="Autumn Night"))
        c.execute(update(Holder).where(Holder.name == "Park Minho").values(name="Jeong Minho"))
        c.execute(update(Work).where(Work.id == works["K-7"]).values(status="rejected"))
    assert refs(registry, works, "spring") == ["K-5"]
    assert refs(registry, works, "autumn") == ["K-2"]
    assert refs(registry, works, "park") == [] and refs(registry, works, "jeong") == ["K-3"]
    assert refs(registry, works, "아리랑") == ["K-1"]


def test_works_added_after_the_migration_are_found_at_once(registry):
    hid = registry.add_holder("한강 Han Kang")
    from fairtrain.services.registry import ShareSpec

    wid = registry.add_work(title="소년이 온다", shares=[ShareSpec(hid, "author", 1)])["work"]
    assert [r["id"] for r in search_works(registry.engine, "소년").results] == [wid]
    assert [r["id"] for r in search_works(registry.engine, "han k").results] == [wid]


@pytest.mark.parametrize(
    ("kw", "what"),
    [
        ({"query": "  "}, "give part of a title"),
        ({"query": "x" * 301}, "at most 300"),
        ({"query": "x", "limit": 0}, "limit"),
    ],
)
def test_bad_queries_are_refused_naming_the_field(registry, kw, what):
    with pytest.raises(InvalidInput, match=what):
        search_works(registry.engine, **kw)


def test_the_cli_searches_with_json(registry, works, database_url):
    r = CliRunner().invoke(cli_app, ["--database-url", database_url, "works", "search", "아리랑", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [x["work_ref"] for x in out["results"]] == ["K-1", "K-7"] and out["next_after"] is None
    r = CliRunner().invoke(cli_app, ["--database-url", database_url, "works", "search", "a", "--limit", "1"])
    assert r.exit_code == 0 and "--after" in r.output


# -- the web: the public page and the API call the same service -------------------------------------------


@pytest.fixture
def app(tmp_path, database_url):
    from web_helpers import make_app

    return make_app(tmp_path, database_url)


def _import(registry, tmp_path, body: str = ROWS) -> None:
    org = registry.add_org("KOMCA", country="KR")
    path = tmp_path / "rep.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    assert not import_csv(registry, path, org_id=org).errors


def test_the_api_pages_with_a_link_header_and_keeps_the_title_parameter(app, tmp_path):
    from fastapi.testclient import TestClient

    _import(app.state.web.registry, tmp_path)
    client = TestClient(app)
    r = client.get("/api/registry/search", params={"q": "사랑", "limit": 2})
    assert r.status_code == 200 and [h["work_ref"] for h in r.json()] == ["K-4", "K-5"]
    assert r.json()[0]["terms"]["train-ai"] in ("allow", "deny", "licence", "unknown")
    nxt = r.headers["link"].split(">")[0].lstrip("<")
    assert 'rel="next"' in r.headers["link"] and "after=" in nxt
    r = client.get(nxt)
    assert [h["work_ref"] for h in r.json()] == ["사랑"] and "link" not in r.headers
    assert [h["work_ref"] for h in client.get("/api/registry/search", params={"title": "T0345246801"}).json()] == [
        "K-1"
    ]
    r = client.get("/api/registry/search")
    assert r.status_code == 400 and "give part of a title" in r.text  # InvalidInput
    assert client.get("/api/registry/search", params={"q": "x" * 301}).status_code == 422


def test_the_search_page_in_korean_finds_holders_and_pages_on(app, tmp_path):
    from fastapi.testclient import TestClient

    reg = app.state.web.registry
    many = "".join(f"S-{i},봄 노래 {i},,정가수:author:1,,,,,,,,,,\n" for i in range(22))
    _import(reg, tmp_path, ROWS + many)
    client = TestClient(app, headers={"Accept-Language": "ko-KR,ko"})
    page = client.get("/search", params={"q": "정가수"})
    assert page.status_code == 200 and page.text.count("정가수") >= 20
    assert 'id="next-page"' in page.text and "다음 쪽" in page.text
    nxt = page.text.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(nxt)
    assert second.status_code == 200 and "봄 노래 21" in second.text and "봄 노래 0<" not in second.text
    assert 'id="next-page"' not in second.text
    none = client.get("/search", params={"title": "없는 제목입니다"})  # the older parameter name still works
    assert 'id="no-results"' in none.text and "찾는 조건에 맞는 등록 저작물이 없습니다." in none.text
    assert "work_ref" not in client.get("/search").text  # no codes on a Korean page


def test_a_rare_title_far_past_the_first_window_and_a_common_one_page_alike(registry):
    """1,500 works written in bulk (the triggers index them on SQLite): a rare fragment near the end is
    found (PostgreSQL: past the first walk of the ids, through the trigram index), and pages of a common
    word follow work order."""
    from datetime import UTC, datetime

    from fairtrain.core.store.bulk import bulk_insert_tuples, db_time

    with registry.engine.begin() as c:
        now = db_time(c, datetime.now(UTC))
        rows = [(i, f"{'봄날 노래' if i % 3 else 'Autumn leaves'} {i}", "active", now) for i in range(1, 1501)]
        rows[1399] = (1400, "희귀한 제목", "active", now)
        bulk_insert_tuples(c, Work.__table__, ("id", "title", "status", "created_at"), rows)
    assert [r["id"] for r in search_works(registry.engine, "희귀한").results] == [1400]
    assert [r["id"] for r in search_works(registry.engine, "귀한 제").results] == [1400]
    ids, after = [], 0
    while after is not None and len(ids) < 600:
        page = search_works(registry.engine, "autumn", limit=100, after=after)
        ids += [r["id"] for r in page.results]
        after = page.next_after
    assert ids == [i for i in range(1, 1501) if i % 3 == 0 and i != 1400][: len(ids)] and len(ids) == 500
    assert len(search_works(registry.engine, "봄", limit=100).results) == 100


def test_the_migration_indexes_the_works_already_there(database_url):
    """Down to 0012 (no search indexes), works and holders written then, up again: 0013 finds them."""
    from alembic import command
    from sqlalchemy import insert

    from fairtrain.core.store.db import _alembic_config, migrate, open_engine
    from fairtrain.core.store.models import WorkShare, utcnow

    engine = open_engine(database_url)
    command.downgrade(_alembic_config(engine), "0012")
    with engine.begin() as c:
        hid = c.execute(insert(Holder).values(name="윤동주", created_at=utcnow()).returning(Holder.id)).scalar_one()
        wid = c.execute(
            insert(Work).values(title="하늘과 바람과 별과 시", status="active", created_at=utcnow()).returning(Work.id)
        ).scalar_one()
        c.execute(insert(WorkShare).values(work_id=wid, holder_id=hid, role="author", share_num=1, share_den=1))
    migrate(engine)
    assert [r["id"] for r in search_works(engine, "바람과 별").results] == [wid]
    assert [r["id"] for r in search_works(engine, "별과").results] == [wid]  # a 2-syllable word start
    assert [r["id"] for r in search_works(engine, "윤동주").results] == [wid]
    engine.dispose()
