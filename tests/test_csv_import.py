"""The CMO repertoire import: validation reports, atomicity, idempotency, disputes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from fairtrain.core.store.models import Declaration, Holder, Work, WorkShare
from fairtrain.core.vocab import Category, Value
from fairtrain.services.registry import import_csv

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"


def write(tmp_path, body: str, name="rep.csv", encoding="utf-8") -> object:
    p = tmp_path / name
    p.write_bytes((HEADER + body).encode(encoding))
    return p


def count(registry, model) -> int:
    with registry.engine.connect() as c:
        return c.execute(select(func.count()).select_from(model)).scalar_one()


def confirm_all(registry) -> None:
    """Every pending member consents (as the holder, signed in)."""
    for m in registry.mandates():
        if m["status"] == "pending":
            registry.confirm_mandate(m["id"], holder=m["holder"])


@pytest.fixture
def org(registry):
    return registry.add_org("KOMCA", country="KR")


GOOD = (
    "K-1,아리랑 변주곡,,김작곡:composer:1/2;이작사:lyricist:1/2,T-034.524.680-1,,,deny,,licence,,allow,50000,KRW\n"
    "K-2,Spring Day,,김작곡:composer:100%,,KRA401234567,,,allow,,,,,\n"
    "K-3,Poems,,Park:author:0.25;Park Press:publisher:0.75,,,9783161484100,,deny,,,,,\n"
)


def test_a_valid_repertoire_imports_with_holders_mandates_and_declarations(registry, org, tmp_path):
    report = import_csv(registry, write(tmp_path, GOOD), org_id=org)
    assert report.errors == [] and report.imported
    assert (report.rows, report.created, report.holders_created) == (3, 3, 4)
    with registry.engine.connect() as c:
        w1 = c.execute(select(Work.id).where(Work.work_ref == "K-1")).scalar_one()
        w2 = c.execute(select(Work.id).where(Work.work_ref == "K-2")).scalar_one()
    # new members' mandates are pending: the organisation does not speak for them yet
    assert registry.decide(w1, Category.TRAIN_GENAI).value is Value.DENY
    confirm_all(registry)
    # once they consent, the organisation speaks for them: its per-work declarations count
    d = registry.decide(w1, Category.TRAIN_GENAI)
    assert d.value is Value.LICENCE
    assert d.offers[0].price.minor == 50000 and d.offers[0].price.currency == "KRW"
    assert registry.decide(w1, Category.SEARCH).value is Value.ALLOW
    assert registry.decide(w1, Category.AI_INPUT).value is Value.DENY  # tdm=deny covers it
    assert registry.decide(w2, Category.TRAIN_GENAI).value is Value.ALLOW
    assert registry.decide(w2, Category.SEARCH).value is Value.DENY  # empty = inherit = default deny
    shown = registry.work(w1)
    assert {h["name"]: h["share"] for h in shown["holders"]} == {"김작곡": "1/2", "이작사": "1/2"}


def test_reimporting_the_same_file_changes_nothing(registry, org, tmp_path):
    path = write(tmp_path, GOOD)
    import_csv(registry, path, org_id=org)
    before = (count(registry, Work), count(registry, Declaration), count(registry, Holder))
    again = import_csv(registry, path, org_id=org)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert (count(registry, Work), count(registry, Declaration), count(registry, Holder)) == before


def test_a_changed_row_supersedes_its_declarations(registry, org, tmp_path):
    import_csv(registry, write(tmp_path, GOOD), org_id=org)
    changed = GOOD.replace(
        "K-2,Spring Day,,김작곡:composer:100%,,KRA401234567,,,allow,",
        "K-2,Spring Day,,김작곡:composer:100%,,KRA401234567,,,deny,",
    )
    report = import_csv(registry, write(tmp_path, changed, "v2.csv"), org_id=org)
    assert (report.updated, report.unchanged) == (1, 2)
    with registry.engine.connect() as c:
        w2 = c.execute(select(Work.id).where(Work.work_ref == "K-2")).scalar_one()
    assert registry.decide(w2, Category.TRAIN_AI).value is Value.DENY
    assert [d["value"] for d in registry.declarations(f"work:{w2}")] == ["allow", "deny"]


BAD_ROWS = {
    "shares": ("B-1,Bad shares,,A:author:1/2;B:author:1/3,,,,,,,,,,\n", "holders", "sum to 5/6"),
    "category": ("B-2,Bad value,,A:author:1,,,,maybe,,,,,,\n", "tdm", "unknown value 'maybe'"),
    "file": ("B-3,Missing file,missing.jpg,A:author:1,,,,,,,,,,\n", "file", "cannot read 'missing.jpg'"),
    "duplicate": ("K-1,Again,,A:author:1,,,,,,,,,,\n", "work_ref", "duplicate work_ref 'K-1'"),
    "role": ("B-5,Bad role,,A:singer:1,,,,,,,,,,\n", "holders", "unknown role 'singer'"),
    "price": ("B-6,No price,,A:author:1,,,,,,licence,,,,\n", "price", "needs a price"),
    "currency": ("B-7,Bad currency,,A:author:1,,,,,,licence,,,10,XYZ\n", "currency", "unknown currency"),
    "decimals": ("B-8,Too precise,,A:author:1,,,,,,licence,,,10.5,KRW\n", "price", "more decimals than KRW"),
    "iswc": ("B-9,Bad ISWC,,A:author:1,T-12,,,,,,,,,\n", "iswc", "not a valid ISWC"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_rejects_the_whole_file_with_line_column_and_reason(registry, org, tmp_path, case):
    row, column, reason = BAD_ROWS[case]
    report = import_csv(registry, write(tmp_path, GOOD + row), org_id=org)
    assert not report.imported
    (err,) = report.errors
    assert (err.line, err.column) == (5, column)
    assert reason in err.reason
    assert count(registry, Work) == 0 and count(registry, Declaration) == 0 and count(registry, Holder) == 0


def test_skip_invalid_imports_the_valid_rows_and_reports_the_rest(registry, org, tmp_path):
    body = GOOD + BAD_ROWS["shares"][0] + BAD_ROWS["file"][0]
    report = import_csv(registry, write(tmp_path, body), org_id=org, skip_invalid=True)
    assert report.imported and report.created == 3 and report.invalid == 2
    assert [e.line for e in report.errors] == [5, 6]
    assert count(registry, Work) == 3


def test_bad_encoding_is_reported_with_its_line(registry, org, tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(HEADER.encode() + "L-1,Café crème,,Zoé:author:1,,,,,,,,,,\n".encode("latin-1"))
    report = import_csv(registry, p, org_id=org)
    assert not report.imported
    assert report.errors[0].line == 2 and "not UTF-8" in report.errors[0].reason
    assert count(registry, Work) == 0


def test_a_bad_header_is_reported(registry, org, tmp_path):
    p = tmp_path / "h.csv"
    p.write_text("work_ref,title,owner\nX,Y,Z\n")
    report = import_csv(registry, p, org_id=org)
    assert not report.imported
    assert report.errors[0].line == 1 and "missing column(s) holders" in report.errors[0].reason
    assert "unknown column(s) owner" in report.errors[0].reason


def test_files_are_read_hashed_and_clashes_open_disputes(registry, org, tmp_path):
    (tmp_path / "a.txt").write_text("아리랑 아리랑 아라리요\n" * 20, encoding="utf-8")
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 4)
    report = import_csv(registry, write(tmp_path, "F-1,Arirang,a.txt,A:author:1,,,,,,,,,,\n"), org_id=org)
    assert report.imported
    other = registry.add_org("Other CMO")
    report2 = import_csv(
        registry, write(tmp_path, "O-1,Arirang (claimed),a.txt,Z:author:1,,,,,,,,,,\n", "o.csv"), org_id=other
    )
    assert report2.imported and report2.disputes == 1
    (d,) = registry.disputes()
    assert d["key"] == "content_hash"
    bad = import_csv(registry, write(tmp_path, "F-2,Junk,junk.bin,A:author:1,,,,,,,,,,\n", "j.csv"), org_id=org)
    assert not bad.imported and "not a text, image, audio or video file" in bad.errors[0].reason


def test_a_big_file_is_parsed_in_a_worker_and_still_all_or_nothing(registry, org, tmp_path):
    """Above 2 MiB the importer parses in a worker process and stores chunk by chunk in one transaction."""
    rows = "".join(
        f"B{i:06d},Big work {i} with a longer title to fill the file,,Member {i % 500}:composer:1,,,,,"
        f"{'allow' if i % 2 else ''},,,,,\n"
        for i in range(40_000)
    )
    assert len(rows.encode()) > 2 << 20
    bad = write(tmp_path, rows + "B-bad,Bad,,X:composer:1/2,,,,,,,,,,\n", "big-bad.csv")
    report = import_csv(registry, bad, org_id=org)
    assert not report.imported and report.rows == 40_001
    assert [(e.line, e.column) for e in report.errors] == [(40_002, "holders")]
    assert count(registry, Work) == 0 and count(registry, Holder) == 0 and count(registry, Declaration) == 0
    good = import_csv(registry, write(tmp_path, rows, "big.csv"), org_id=org)
    assert good.imported and (good.created, good.holders_created) == (40_000, 500)
    assert count(registry, Declaration) == 20_000
    with registry.engine.connect() as c:
        wid = c.execute(select(Work.id).where(Work.work_ref == "B039999")).scalar_one()
    assert {m["status"] for m in registry.mandates(org_id=org)} == {"pending"}
    confirm_all(registry)
    assert registry.decide(wid, Category.TRAIN_AI).value is Value.ALLOW


def test_a_retitled_row_keeps_its_declarations_and_a_new_owner_is_refused(registry, org, tmp_path):
    import_csv(registry, write(tmp_path, GOOD), org_id=org)
    decls = count(registry, Declaration)
    retitled = GOOD.replace("K-1,아리랑 변주곡,", "K-1,아리랑 변주곡 (개정),")
    report = import_csv(registry, write(tmp_path, retitled, "v2.csv"), org_id=org)
    assert (report.updated, report.unchanged) == (1, 2)
    assert count(registry, Declaration) == decls  # same values and offer: nothing re-declared
    with registry.engine.connect() as c:
        assert c.execute(select(Work.title).where(Work.work_ref == "K-1")).scalar_one() == "아리랑 변주곡 (개정)"
    new_owner = GOOD.replace("Park:author:0.25;Park Press:publisher:0.75", "Kim:author:1")
    refused = import_csv(registry, write(tmp_path, new_owner, "v3.csv"), org_id=org)
    assert not refused.imported
    assert [(e.line, e.column) for e in refused.errors] == [(4, "holders")]


def test_duplicates_across_worker_chunks_name_the_first_line(registry, org, tmp_path):
    rows = [
        f"D{i:06d},Work {i} with a title long enough to fill a few chunks of the file,,M {i % 50}:author:1,"
        f",,,allow,,,,,,\n"
        for i in range(40_000)
    ]
    rows.append("D000007,Again,,M 1:author:1,,,,,,,,,,\n")
    report = import_csv(registry, write(tmp_path, "".join(rows), "dup.csv"), org_id=org, skip_invalid=True)
    assert len("".join(rows).encode()) > 2 << 20
    assert report.imported and report.created == 40_000
    (err,) = report.errors
    assert (err.line, err.column) == (40_002, "work_ref") and "first on line 9" in err.reason
    with registry.engine.connect() as c:
        assert c.execute(select(Work.title).where(Work.work_ref == "D000007")).scalar_one().startswith("Work 7 ")


@pytest.mark.parametrize("enabled", [True, False])
def test_an_import_leaves_the_garbage_collector_as_it_found_it(registry, org, tmp_path, enabled):
    import gc

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        assert import_csv(registry, write(tmp_path, GOOD), org_id=org).imported
        assert gc.isenabled() is enabled
        assert not import_csv(registry, write(tmp_path, GOOD + BAD_ROWS["shares"][0], "bad.csv"), org_id=org).imported
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_bulk_constants_are_quoted_and_bound_values_kept(registry, org):
    from fairtrain.core.store.bulk import bulk_insert_tuples, db_time
    from fairtrain.core.store.models import utcnow

    with registry.engine.begin() as c:
        now = db_time(c, utcnow())
        bulk_insert_tuples(
            c,
            Declaration.__table__,
            ("target", "category", "value"),
            [("work:1", "tdm", "deny"), ("work:2", "search", None)],
            constants={
                "level": "work",
                "party": "org:1'; DROP TABLE works; --",
                "offer": None,
                "valid_from": now,
                "declared_at": now,
            },
        )
    with registry.engine.connect() as c:
        got = c.execute(
            select(Declaration.target, Declaration.value, Declaration.party, Declaration.offer).order_by(Declaration.id)
        ).all()
    assert [tuple(r) for r in got] == [
        ("work:1", "deny", "org:1'; DROP TABLE works; --", None),
        ("work:2", None, "org:1'; DROP TABLE works; --", None),
    ]
    assert count(registry, Work) == 0


@pytest.mark.parametrize("per_statement", [8000, 10, 3])
def test_set_wise_insert_stores_what_executemany_stores_in_the_same_order(registry, org, per_statement, monkeypatch):
    """``bulk_insert_plain`` (multi-row INSERT … VALUES statements on SQLite, COPY on PostgreSQL) against
    ``bulk_insert_tuples``: the same rows in the same id order, text that SQL or JSON escapes kept exactly,
    an empty string and 0 not taken for NULL, a column NULL in every row stored as NULL; also with the
    rows cut into statements of 2 and 1 rows (bound values a statement: 10, 3), a last short one too."""
    from fairtrain.core.store import bulk
    from fairtrain.core.store.bulk import bulk_insert_plain, bulk_insert_tuples, db_time
    from fairtrain.core.store.models import utcnow

    monkeypatch.setattr(bulk, "_PLAIN_VALUES", per_statement)

    awkward = ['quote " back\\slash', "tab\tnew\nline\r", "한국어 제목 \u2028 \U0001f3b5", "", "0", "null", "'; --"]
    rows = [(f"work:{i}", "tdm", "deny" if i % 2 else None, text, None) for i, text in enumerate(awkward)]
    cols = ("target", "category", "value", "offer", "purpose")
    with registry.engine.begin() as c:
        now = db_time(c, utcnow())
        constants = {"level": "work", "party": "org:1", "valid_from": now, "declared_at": now}
        bulk_insert_tuples(c, Declaration.__table__, cols, rows, constants=constants)
        bulk_insert_plain(c, Declaration.__table__, cols, rows, constants=constants)
    with registry.engine.connect() as c:
        got = [
            tuple(r)
            for r in c.execute(
                select(
                    Declaration.target,
                    Declaration.category,
                    Declaration.value,
                    Declaration.offer,
                    Declaration.purpose,
                    Declaration.party,
                    Declaration.valid_from,
                ).order_by(Declaration.id)
            )
        ]
    assert got[: len(rows)] == got[len(rows) :]
    assert [r[:5] for r in got[len(rows) :]] == rows
    with registry.engine.begin() as c:  # shares: integers, and the works they point at
        wid = c.execute(
            Work.__table__.insert().values(title="T", org_id=org, row_hash="x", work_ref="R1")
        ).inserted_primary_key[0]
        hid = c.execute(
            Holder.__table__.insert().values(name="H", org_key="H", created_by_org_id=org)
        ).inserted_primary_key[0]
        bulk_insert_plain(
            c,
            WorkShare.__table__,
            ("work_id", "holder_id", "role", "share_num", "share_den"),
            [(wid, hid, "author", 1, 1)],
        )
    with registry.engine.connect() as c:
        assert c.execute(select(WorkShare.share_num, WorkShare.share_den, WorkShare.role)).all() == [(1, 1, "author")]
