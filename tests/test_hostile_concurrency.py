"""Hostile concurrency (issue 12, item 15): imports by one organisation running at the same time, in two
real processes on the same database (SQLite or PostgreSQL). Holder creation is serialised: one holder
per new name, one mandate, and a second import of the same file reads as unchanged, never as a raw
database error."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlalchemy import func, select

from fairtrain.core.store.models import Holder, Mandate, Work


def _import(url: str, path: str, org_id: int, barrier, results) -> None:
    from fairtrain.services.registry import Registry, RegistryError, import_csv

    reg = Registry.open(url=url)
    try:
        barrier.wait(timeout=60)
        report = import_csv(reg, Path(path), org_id=org_id)
        results.put((path, "ok", report.to_dict()))
    except RegistryError as e:
        results.put((path, "refused", str(e)))
    except BaseException as e:  # noqa: BLE001 - the test reports whatever escaped, by type
        results.put((path, "crashed", f"{type(e).__name__}: {e}"))
    finally:
        reg.engine.dispose()


def _csv(path: Path, prefix: str, rows: int) -> Path:
    # Every row names the same new holder, and each one new holder of its own: a long transaction.
    lines = ["work_ref,title,holders,tdm"]
    lines += [
        f"{prefix}{i},{prefix} song {i},Kim Minji:composer:1/2;{prefix} lyricist {i}:lyricist:1/2,deny"
        for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_together(url: str, org_id: int, paths: list[Path]) -> list[tuple[str, str, object]]:
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared but the database
    barrier = ctx.Barrier(len(paths))
    results = ctx.Queue()
    procs = [ctx.Process(target=_import, args=(url, str(p), org_id, barrier, results)) for p in paths]
    for p in procs:
        p.start()
    out = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    return out


def test_two_imports_naming_the_same_new_holder_create_it_once(tmp_path, registry):
    org = registry.add_org("KOMCA")
    a, b = _csv(tmp_path / "a.csv", "A-", 3000), _csv(tmp_path / "b.csv", "B-", 3000)
    results = _run_together(registry.engine.url.render_as_string(hide_password=False), org, [a, b])
    assert [r[1] for r in results] == ["ok", "ok"], results
    with registry.engine.connect() as c:
        kims = c.execute(select(Holder.id).where(Holder.name == "Kim Minji")).scalars().all()
        assert len(kims) == 1, f"{len(kims)} holders named Kim Minji"
        assert c.execute(select(func.count()).select_from(Mandate).where(Mandate.holder_id == kims[0])).scalar() == 1
        assert c.execute(select(func.count()).select_from(Work)).scalar() == 6000
    assert sum(r[2]["holders_created"] for r in results) == 1 + 6000


def test_the_same_file_imported_twice_at_once_is_stored_once_and_reported_in_words(tmp_path, registry):
    org = registry.add_org("KOMCA")
    a = _csv(tmp_path / "a.csv", "A-", 3000)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(a.read_bytes())
    results = _run_together(registry.engine.url.render_as_string(hide_password=False), org, [a, copy])
    assert not [r for r in results if r[1] == "crashed"], results  # the old code: a raw IntegrityError
    reports = sorted((r[2] for r in results if r[1] == "ok"), key=lambda r: r["created"])
    # Serialised: the second import waits for the first, then finds every row already stored.
    assert [(r["created"], r["unchanged"]) for r in reports] == [(0, 3000), (3000, 0)], results
    with registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Work)).scalar() == 3000
        assert c.execute(select(func.count()).select_from(Holder).where(Holder.name == "Kim Minji")).scalar() == 1


def test_a_holder_key_clash_is_refused_by_the_database_and_named(tmp_path, registry):
    """The unique key is the last line of defence: a stored holder that holds the organisation's key for a
    name the import does not find by that name (here: renamed since) makes the import fail in words,
    storing nothing, instead of creating a second holder for the key."""
    from sqlalchemy import insert

    from fairtrain.core.store.models import utcnow
    from fairtrain.services.registry import RegistryError, import_csv

    org = registry.add_org("KOMCA")
    with registry.engine.begin() as c:
        c.execute(
            insert(Holder).values(
                name="Kim Minji (renamed)", org_key="Kim Minji", created_by_org_id=org, created_at=utcnow()
            )
        )
    path = _csv(tmp_path / "a.csv", "A-", 3)
    try:
        import_csv(registry, path, org_id=org)
    except RegistryError as e:
        message = str(e)
    else:
        message = ""
    assert "nothing was imported" in message and "already one of the organisation's holders" in message, message
    with registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Work)).scalar() == 0
