"""`fairtrain` commands: works."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from fairtrain.cli._common import JsonOpt, OrgOpt, app, emit, fail, registry, terminal_language
from fairtrain.core.errors import localised
from fairtrain.services import registry as registry_service  # lazy: `clear` never loads the database layer
from fairtrain.services.registry.errors import RegistryError

works_app = typer.Typer(help="Registered works.", no_args_is_help=True)
app.add_typer(works_app, name="works")


@works_app.command("add")
def works_add(
    files: Annotated[list[Path], typer.Argument(help="Text, document, image, audio or video files")],
    holder: Annotated[list[str], typer.Option(help="HOLDER[:role[:share]] (repeat for co-holders); share e.g. 1/2")],
    title: Annotated[str | None, typer.Option(help="Title (default: the file name)")] = None,
    iswc: Annotated[str | None, typer.Option()] = None,
    isrc: Annotated[str | None, typer.Option()] = None,
    isbn: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register works from files. Each file is one work."""
    reg = registry()
    shares = []
    for spec in holder:
        name, role, share = _split_holder(spec)
        shares.append(registry_service.ShareSpec(reg.find_holder(name)["id"], role, share))
    if title and len(files) > 1:
        fail("--title names one work; give one file with it")
    results, errors = [], []
    for f in files:
        try:
            r = reg.add_work_file(f, shares=shares, title=title, iswc=iswc, isrc=isrc, isbn=isbn)
            results.append({"file": str(f), **r})
        except (RegistryError, ValueError) as e:  # KeyFileError, SnapshotError and SignatureError are ValueErrors
            entry = {"file": str(f), "error": str(e)}
            if hasattr(e, "localised"):  # a reason from the catalogue (an unreadable document): Korean too
                entry["error_ko"] = localised(e, "ko")
            errors.append(entry)
    t = Table("file", "work", "status")
    for r in results:
        status = "new" if r["created"] else "already registered"
        if r.get("refreshed"):
            status += ", fingerprint made again by this version"
        if r["disputes"]:
            status += f", disputed ({', '.join(map(str, r['disputes']))})"
        t.add_row(r["file"], str(r["work"]), status)
    lang = terminal_language()
    for e in errors:
        t.add_row(e["file"], "-", Text(e.get(f"error_{lang}", e["error"]), style="red"))
    emit({"works": results, "errors": errors}, as_json, t)
    if errors:
        raise typer.Exit(1)


def _split_holder(spec: str) -> tuple[str, str, object]:
    parts = spec.split(":")
    name = parts[0]
    role = parts[1] if len(parts) > 1 and parts[1] else "author"
    try:
        share = registry_service.parse_share(parts[2]) if len(parts) > 2 else 1
    except ValueError as e:
        fail(f"--holder {spec!r}: {e}")
    return name, role, share


@works_app.command("list")
def works_list(
    title: Annotated[str | None, typer.Option(help="Part of the title")] = None, as_json: JsonOpt = False
) -> None:
    rows = registry().list_works(title=title)
    t = Table("id", "title", "media", "status", "iscc")
    for w in rows:
        t.add_row(str(w["id"]), w["title"], w["media_type"] or "", w["status"], w["iscc"] or "")
    emit(rows, as_json, t)


@works_app.command("show")
def works_show(
    work: Annotated[str, typer.Argument(help="Work id, the organisation's work_ref, or an ISWC/ISRC/ISBN")],
    org: OrgOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a work: holders, shares, declarations and disputes."""
    reg = registry()
    w = reg.work(reg.resolve_work(work, org=org))
    t = Table(title=f"work {w['id']}: {w['title']} ({w['media_type'] or 'metadata only'}, {w['status']})")
    t.add_column("what")
    t.add_column("detail")
    for h in w["holders"]:
        t.add_row("holder", f"{h['name']} ({h['holder']}) {h['role']} {h['share']}")
    for k in ("iswc", "isrc", "isbn", "content_hash", "organisation", "work_ref"):
        if w[k]:
            t.add_row(k, str(w[k]))
    for d in w["declarations"]:
        t.add_row(
            "declaration",
            f"#{d['id']} {d['category']}={d['value'] or 'withdrawn'} by {d['party']} at {d['declared_at']}",
        )
    for d in w["disputes"]:
        t.add_row("dispute", f"#{d['id']} {d['key']} {d['status']} {d['resolution'] or ''}")
    emit(w, as_json, t)


@works_app.command("certificate")
def works_certificate(
    work: Annotated[str, typer.Argument(help="Work id, the organisation's work_ref, or an ISWC/ISRC/ISBN")],
    out: Annotated[Path, typer.Option("--out", help="Where to write it: FILE.pdf for a PDF, else printable HTML")],
    lang: Annotated[str, typer.Option("--lang", help="ko or en")] = "ko",
    url: Annotated[str, typer.Option("--url", help="The registry's public address, for the QR code")] = "",
    org: OrgOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a work's registration certificate (HTML or PDF): holders and shares, hashes, its declarations
    with their digests and inclusion proofs against the newest signed tree head."""
    from fairtrain.cli._common import state
    from fairtrain.core.datadir import resolve_data_dir
    from fairtrain.core.files import write_atomic
    from fairtrain.core.keys import registry_keys
    from fairtrain.services.registry import certificate as cert_

    if lang not in ("ko", "en"):
        fail(f"--lang {lang!r}: choose ko or en")
    reg = registry()
    wid = reg.resolve_work(work, org=org)
    page = f"{url.rstrip('/')}/works/{wid}" if url else ""
    trusted = registry_keys(resolve_data_dir(state.data_dir) / "keys") or None
    cert = cert_.certificate(reg, wid, page_url=page, trusted=trusted)
    data = cert_.render_pdf(cert, lang) if out.suffix.lower() == ".pdf" else cert_.render_html(cert, lang).encode()
    write_atomic(out, data)
    verified = sum(d["verified"] for d in cert["declarations"])
    emit(
        {"out": str(out), **cert},
        as_json,
        f"{out}: certificate of work {wid} ({len(cert['declarations'])} declarations, {verified} with a verified proof)",
    )


@works_app.command("search")
def works_search(
    query: Annotated[str, typer.Argument(help="Part of a title or a holder's name, a work_ref, an ISWC/ISRC/ISBN")],
    limit: Annotated[int, typer.Option(help="Works per page (1-100)")] = 20,
    after: Annotated[int, typer.Option(help="The work id the previous page ended with")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Search the registry as the public search page does, one page at a time in work order."""
    from fairtrain.services.registry.search import search_works

    page = search_works(registry().engine, query, limit=limit, after=after)
    t = Table("id", "title", "holders", "work_ref", "matched", caption=None)
    for r in page.results:
        t.add_row(str(r["id"]), r["title"], ", ".join(r["holders"]), r["work_ref"] or "", ", ".join(r["matched"]))
    if page.next_after is not None:
        t.caption = f"more: --after {page.next_after}"
    emit(page.to_dict(), as_json, t)
