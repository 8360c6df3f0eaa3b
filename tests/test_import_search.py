"""A bulk import indexes its works and holders for search set-wise, inside its own transaction
(services/registry/search.py ``indexed_in_bulk``): the search answers the import's rows the moment it
commits, nothing of a refused import, and the per-row triggers are back for every later write. On
PostgreSQL (GIN indexes, no triggers) the same answers."""

from __future__ import annotations

from sqlalchemy import text

from fairtrain.core.store.models import Work
from fairtrain.services.registry import csv_import, import_csv
from fairtrain.services.registry.search import search_works

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"


def sheet(path, n: int, prefix: str, bad: bool = False):
    rows = [
        f"{prefix}{i:04d},{prefix}곡 제목 {i:04d} quartz{i:04d},,작가{prefix}{i % 13}:author:1,,,,,allow,,,,,\n"
        for i in range(n)
    ]
    if bad:
        rows.append(f"{prefix}BAD,Broken,,작가:author:1/3,,,,,allow,,,,,\n")
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def found(registry, q: str) -> list[str]:
    return [r["work_ref"] for r in search_works(registry.engine, q, limit=100).results]


def triggers(registry) -> set[str]:
    with registry.engine.connect() as c:
        if c.dialect.name != "sqlite":
            return set()
        return set(c.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())


def test_an_import_in_many_chunks_is_searchable_at_commit_and_keeps_the_triggers(registry, tmp_path, monkeypatch):
    org = registry.add_org("KOMCA", country="KR")
    before = triggers(registry)
    # several chunks parsed by a worker process, so several id ranges are indexed set-wise
    monkeypatch.setattr(csv_import, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(csv_import, "_CHUNK_BYTES", 4096)
    report = import_csv(registry, sheet(tmp_path / "a.csv", 400, "A"), org_id=org)
    assert report.created == 400 and report.holders_created == 13
    assert triggers(registry) == before
    for i in (0, 1, 57, 233, 399):  # a title by substring and by word prefix, a holder by name
        assert found(registry, f"quartz{i:04d}") == [f"A{i:04d}"]
    assert found(registry, "A곡")[:3] == ["A0000", "A0001", "A0002"]
    assert len(found(registry, "작가A7")) == len(range(7, 400, 13))
    with registry.engine.begin() as c:
        if c.dialect.name == "sqlite":  # the FTS tables agree with their content tables
            for name in ("search_works_tri", "search_works_words", "search_holders_tri", "search_holders_words"):
                c.execute(text(f"INSERT INTO {name}({name}, rank) VALUES ('integrity-check', 1)"))
        # a later write, outside any import, is indexed by the trigger again
        c.execute(Work.__table__.insert().values(title="Zyxwv Later", org_id=org, row_hash="x", work_ref="L1"))
    assert found(registry, "zyxwv") == ["L1"]


def test_a_refused_import_leaves_search_and_triggers_as_they_were(registry, tmp_path, monkeypatch):
    org = registry.add_org("KOMCA", country="KR")
    assert import_csv(registry, sheet(tmp_path / "a.csv", 20, "A"), org_id=org).created == 20
    before = triggers(registry)
    monkeypatch.setattr(csv_import, "_PARALLEL_BYTES", 0)
    monkeypatch.setattr(csv_import, "_CHUNK_BYTES", 2048)
    report = import_csv(registry, sheet(tmp_path / "b.csv", 200, "B", bad=True), org_id=org)
    assert not report.imported and report.created == 0 and report.errors
    assert triggers(registry) == before
    assert found(registry, "quartz0011") == ["A0011"]  # B0011 was never committed
    assert found(registry, "작가B") == []
    # a re-import that renames works goes through the update trigger, still in place
    path = tmp_path / "a.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("quartz0005", "garnet0005"), encoding="utf-8")
    assert import_csv(registry, path, org_id=org).updated == 1
    assert found(registry, "garnet0005") == ["A0005"] and found(registry, "quartz0005") == []


def test_an_import_committed_batch_by_batch_is_searchable_after_each_batch(registry, tmp_path):
    org = registry.add_org("KOMCA", country="KR")
    before = triggers(registry)
    seen: list[tuple[int, set[str]]] = []

    def on_commit(c, report, last_line):  # inside the batch's transaction, just before it commits
        names = set()
        if c.dialect.name == "sqlite":  # the insert triggers are back before the batch commits
            names = set(c.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        seen.append((last_line, names))

    report = import_csv(
        registry,
        sheet(tmp_path / "a.csv", 120, "A"),
        org_id=org,
        batches=csv_import.Batches(rows=50, after_line=0, on_commit=on_commit),
    )
    assert report.imported and report.created == 120
    assert [line for line, _ in seen] == [51, 101, 121]
    assert all(names == before for _, names in seen)
    assert triggers(registry) == before
    assert found(registry, "quartz0119") == ["A0119"] and found(registry, "quartz0049") == ["A0049"]
