"""The ``fairtrain`` command line. Every command takes ``--json`` for scripts."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fairtrain.core.money import Money
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Purpose, Value
from fairtrain.services import registry as registry_service  # lazy: `clear` never loads the database layer
from fairtrain.services.registry.errors import RegistryError

app = typer.Typer(help="fairtrain: a permission-first rights clearinghouse for AI training data.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
holders_app = typer.Typer(help="Rights holders: creators, publishers, labels.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organisations (CMOs) acting for their members.", no_args_is_help=True)
mandates_app = typer.Typer(help="Members' mandates to organisations.", no_args_is_help=True)
works_app = typer.Typer(help="Registered works.", no_args_is_help=True)
registry_app = typer.Typer(help="Bulk registry operations.", no_args_is_help=True)
disputes_app = typer.Typer(help="Competing claims on the same work.", no_args_is_help=True)
keys_app = typer.Typer(help="Ed25519 signing keys (registry, licensee, grantor).", no_args_is_help=True)
signals_app = typer.Typer(help="Machine-readable signals: render them from declarations, read them from the web.",
                          no_args_is_help=True)
log_app = typer.Typer(help="The public, verifiable log (RFC 9162): heads, proofs, verification.",
                      no_args_is_help=True)
licences_app = typer.Typer(help="Licences before use: request, accept, decline, show.", no_args_is_help=True)
payments_app = typer.Typer(help="Payments against invoices (manual or imported settlement records).",
                           no_args_is_help=True)
usage_app = typer.Typer(help="Usage reports after training.", no_args_is_help=True)
snapshot_app = typer.Typer(help="Signed registry snapshots: fingerprints and terms, never the works.",
                           no_args_is_help=True)
app.add_typer(holders_app, name="holders")
app.add_typer(orgs_app, name="orgs")
app.add_typer(mandates_app, name="mandates")
app.add_typer(works_app, name="works")
app.add_typer(registry_app, name="registry")
app.add_typer(disputes_app, name="disputes")
app.add_typer(keys_app, name="keys")
app.add_typer(signals_app, name="signals")
app.add_typer(log_app, name="log")
app.add_typer(licences_app, name="licences")
app.add_typer(payments_app, name="payments")
app.add_typer(usage_app, name="usage")
app.add_typer(snapshot_app, name="snapshot")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # never hard-wrap file paths in messages


class _State:
    data_dir: Path | None = None
    url: str | None = None


state = _State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.callback()
def _global(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", envvar="FAIRTRAIN_DATA_DIR",
                                                  help="Where the embedded SQLite registry lives.")] = None,
    database_url: Annotated[str | None, typer.Option("--database-url", envvar="FAIRTRAIN_DATABASE_URL",
                                                     help="A PostgreSQL (or other) SQLAlchemy URL.")] = None,
) -> None:
    state.data_dir, state.url = data_dir, database_url


def registry() -> registry_service.Registry:
    return registry_service.Registry.open(state.data_dir, state.url)


def emit(data: object, as_json: bool, human: str | Table | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    elif human is not None:
        out.print(human)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def parse_when(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{field}: {text!r} is not an ISO date or date-time (e.g. 2026-03-01 or 2026-03-01T12:00:00+09:00)")
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def parse_categories(values: list[str] | None) -> list[Category]:
    try:
        return [Category.parse(v) for raw in values or () for v in raw.split(",") if v.strip()]
    except ValueError as e:
        fail(str(e))


# -- init ------------------------------------------------------------------------------------------


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create (or upgrade) the registry database."""
    reg = registry_service.Registry.open(state.data_dir, state.url, create=True)
    where = reg.engine.url.render_as_string(hide_password=True)
    emit({"database": where, "ready": True}, as_json, f"registry ready at [bold]{where}[/]")


# -- holders and organisations ---------------------------------------------------------------------


@holders_app.command("add")
def holders_add(name: str, email: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Register a rights holder."""
    hid = registry().add_holder(name, email=email)
    ref = registry_service.holder_ref(hid)
    emit({"id": hid, "ref": ref, "name": name}, as_json, f"holder [bold]{ref}[/] {name}")


@holders_app.command("list")
def holders_list(name: Annotated[str | None, typer.Option(help="Part of the name")] = None,
                 as_json: JsonOpt = False) -> None:
    rows = registry().list_holders(name=name)
    t = Table("id", "name", "email")
    for h in rows:
        t.add_row(str(h["id"]), h["name"], h["email"] or "")
    emit(rows, as_json, t)


@orgs_app.command("list")
def orgs_list(as_json: JsonOpt = False) -> None:
    rows = registry().list_orgs()
    t = Table("id", "name", "country", "email")
    for o in rows:
        t.add_row(str(o["id"]), o["name"], o["country"] or "", o["email"] or "")
    emit(rows, as_json, t)


@orgs_app.command("add")
def orgs_add(name: str, country: Annotated[str | None, typer.Option(help="ISO 3166 alpha-2")] = None,
             email: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Register an organisation (a CMO)."""
    oid = registry().add_org(name, country=country, email=email)
    ref = registry_service.org_ref(oid)
    emit({"id": oid, "ref": ref, "name": name}, as_json, f"organisation [bold]{ref}[/] {name}")


@mandates_app.command("add")
def mandates_add(
    holder: Annotated[str, typer.Option(help="Holder id or name")],
    org: Annotated[str, typer.Option(help="Organisation id or name")],
    category: Annotated[list[str] | None, typer.Option(help="Categories (repeat or comma-separate); default all")] = None,
    valid_from: Annotated[str | None, typer.Option("--from")] = None,
    valid_until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that a member mandates an organisation to act for them."""
    reg = registry()
    h, o = reg.find_holder(holder), reg.find_org(org)
    cats = parse_categories(category) or list(Category)
    mid = reg.add_mandate(h["id"], o["id"], cats, valid_from=parse_when(valid_from, "--from"),
                          valid_until=parse_when(valid_until, "--until"))
    emit({"id": mid, "holder": h["ref"], "org": o["ref"], "categories": [c.value for c in cats]}, as_json,
         f"mandate {mid}: {h['name']} → {o['name']} for {', '.join(c.value for c in cats)}")


@mandates_app.command("list")
def mandates_list(org: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    reg = registry()
    rows = reg.mandates(org_id=reg.find_org(org)["id"] if org else None)
    t = Table("id", "holder", "org", "categories", "from", "until")
    for m in rows:
        t.add_row(str(m["id"]), m["holder"], m["org"], ",".join(m["categories"]), m["valid_from"], m["valid_until"] or "")
    emit(rows, as_json, t)


# -- works -----------------------------------------------------------------------------------------


@works_app.command("add")
def works_add(
    files: Annotated[list[Path], typer.Argument(help="Text, image, audio or video files")],
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
            errors.append({"file": str(f), "error": str(e)})
    t = Table("file", "work", "status")
    for r in results:
        status = "new" if r["created"] else "already registered"
        if r["disputes"]:
            status += f", disputed ({', '.join(map(str, r['disputes']))})"
        t.add_row(r["file"], str(r["work"]), status)
    for e in errors:
        t.add_row(e["file"], "-", f"[red]{e['error']}[/]")
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
def works_list(title: Annotated[str | None, typer.Option(help="Part of the title")] = None,
               as_json: JsonOpt = False) -> None:
    rows = registry().list_works(title=title)
    t = Table("id", "title", "media", "status", "iscc")
    for w in rows:
        t.add_row(str(w["id"]), w["title"], w["media_type"] or "", w["status"], w["iscc"] or "")
    emit(rows, as_json, t)


@works_app.command("show")
def works_show(work: int, as_json: JsonOpt = False) -> None:
    """Show a work: holders, shares, declarations and disputes."""
    w = registry().work(work)
    t = Table(title=f"work {w['id']}: {w['title']} ({w['media_type'] or 'metadata only'}, {w['status']})")
    t.add_column("what")
    t.add_column("detail")
    for h in w["holders"]:
        t.add_row("holder", f"{h['name']} ({h['holder']}) {h['role']} {h['share']}")
    for k in ("iswc", "isrc", "isbn", "content_hash", "organisation", "work_ref"):
        if w[k]:
            t.add_row(k, str(w[k]))
    for d in w["declarations"]:
        t.add_row("declaration", f"#{d['id']} {d['category']}={d['value'] or 'withdrawn'} by {d['party']} at {d['declared_at']}")
    for d in w["disputes"]:
        t.add_row("dispute", f"#{d['id']} {d['key']} {d['status']} {d['resolution'] or ''}")
    emit(w, as_json, t)


# -- registry import -------------------------------------------------------------------------------


@registry_app.command("import")
def registry_import(
    csv_file: Annotated[Path, typer.Argument(metavar="CSV")],
    org: Annotated[str, typer.Option(help="The importing organisation (id or name)")],
    skip_invalid: Annotated[bool, typer.Option(help="Import the valid rows and report the rest")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a repertoire CSV (see README for the columns). Bad rows reject the whole file by default."""
    reg = registry()
    o = reg.find_org(org)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("validating rows", total=None)
        report = registry_service.import_csv(reg, csv_file, org_id=o["id"], skip_invalid=skip_invalid,
                            progress=lambda n: bar.update(task, completed=n))
    if as_json:
        emit(report.to_dict(), True)
    else:
        t = Table("rows", "created", "updated", "unchanged", "invalid", "new holders", "disputes", "imported")
        t.add_row(*(str(x) for x in (report.rows, report.created, report.updated, report.unchanged, report.invalid,
                                     report.holders_created, report.disputes, "yes" if report.imported else "no")))
        out.print(t)
        for e in report.errors:
            err.print(f"[red]{csv_file}:{e.line}[/] [bold]{e.column}[/]: {e.reason}", highlight=False)
        if report.errors and not report.imported:
            err.print("nothing was imported; fix the rows above or use --skip-invalid")
    if report.errors:
        raise typer.Exit(1)


# -- declarations and decisions --------------------------------------------------------------------


@app.command()
def declare(
    category: Annotated[list[str], typer.Option(help="CATEGORY=VALUE, e.g. train-genai=licence (repeatable); "
                                                     "VALUE 'inherit' withdraws")],
    work: Annotated[int | None, typer.Option(help="Declare for one work")] = None,
    holder: Annotated[str | None, typer.Option(help="Declare for a holder's whole catalogue")] = None,
    org: Annotated[str | None, typer.Option(help="Declare for an organisation's whole repertoire")] = None,
    acting_as: Annotated[str | None, typer.Option("--as", help="Declaring party for --work: holder:ID or org:ID")] = None,
    price: Annotated[str | None, typer.Option(help="Offer price in major units, e.g. 1000 or 12.50")] = None,
    currency: Annotated[str | None, typer.Option(help="ISO 4217 code, e.g. KRW")] = None,
    price_model: Annotated[PriceModel, typer.Option()] = PriceModel.PER_WORK,
    revenue_share: Annotated[str | None, typer.Option(help="Revenue share in percent, for revenue-share offers")] = None,
    offer_purpose: Annotated[list[Purpose] | None, typer.Option(help="Purposes the offer covers (default both)")] = None,
    model_version: Annotated[list[str] | None, typer.Option(help="Model versions the offer covers (default any)")] = None,
    purpose: Annotated[Purpose | None, typer.Option(help="Declare only for this purpose (default any)")] = None,
    valid_from: Annotated[str | None, typer.Option("--from")] = None,
    valid_until: Annotated[str | None, typer.Option("--until")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare allow, deny or licence per usage category, for a work, a catalogue or a repertoire."""
    reg = registry()
    if sum(x is not None for x in (work, holder, org)) != 1:
        fail("give exactly one of --work, --holder, --org")
    values: dict[Category, Value | None] = {}
    for spec in category:
        cat, sep, val = spec.partition("=")
        if not sep:
            fail(f"--category {spec!r}: expected CATEGORY=VALUE, e.g. train-ai=deny")
        try:
            values[Category.parse(cat)] = None if val.strip().lower() == "inherit" else Value.parse(val)
        except ValueError as e:
            fail(f"--category {spec!r}: {e}")
    offer = None
    if price is not None or currency is not None:
        if price is None or currency is None:
            fail("--price and --currency go together")
        try:
            bp = 0
            if revenue_share is not None:
                from decimal import Decimal
                bp = int(Decimal(revenue_share) * 100)
            offer = Offer(price_model=price_model, price=Money.parse(price, currency), revenue_share_bp=bp,
                          purposes=frozenset(offer_purpose or (Purpose.COMMERCIAL, Purpose.RESEARCH)),
                          model_versions=tuple(model_version or ()))
        except ValueError as e:
            fail(f"offer: {e}")
    if work is not None:
        level, target = Level.WORK, work
        party = acting_as or _sole_holder(reg, work)
    elif holder is not None:
        h = reg.find_holder(holder)
        level, target, party = Level.CATALOGUE, h["id"], acting_as or h["ref"]
    else:
        o = reg.find_org(org)
        level, target, party = Level.REPERTOIRE, o["id"], acting_as or o["ref"]
    registry_service.parse_party(party)
    ids = reg.declare(level=level, target_id=target, party=party, values=values, offer=offer, purpose=purpose,
                      valid_from=parse_when(valid_from, "--from"), valid_until=parse_when(valid_until, "--until"))
    summary = ", ".join(f"{c.value}={v.value if v else 'inherit'}" for c, v in values.items())
    emit({"declarations": ids, "level": level.value, "target": target, "party": party,
          "values": {c.value: v.value if v else None for c, v in values.items()}}, as_json,
         f"declared {summary} "
         f"at {level.value} level by {party} (declarations {', '.join(map(str, ids))})")


def _sole_holder(reg: registry_service.Registry, work: int) -> str:
    holders = sorted(reg.facts(work).holders)
    if len(holders) != 1:
        fail(f"work {work} has {len(holders)} holders: say who declares with --as holder:ID or --as org:ID")
    return holders[0]


@app.command()
def decide(
    work: int,
    category: Annotated[str, typer.Option(help="Usage category")],
    licensee: Annotated[str | None, typer.Option(help="Who wants to use it (grants to them count)")] = None,
    at: Annotated[str | None, typer.Option(help="Decide as of this date or time (default now)")] = None,
    purpose: Annotated[Purpose, typer.Option()] = Purpose.COMMERCIAL,
    model_version: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """May WORK be used for CATEGORY? Prints the value, the offer where a licence is needed, and why."""
    try:
        cat = Category.parse(category)
    except ValueError as e:
        fail(str(e))
    d = registry().decide(work, cat, licensee=licensee, at=parse_when(at, "--at"), purpose=purpose,
                          model_version=model_version)
    data = {"work": work, "licensee": licensee, "purpose": purpose.value, **d.to_dict()}
    colour = {"allow": "green", "licence": "yellow", "deny": "red"}.get(d.value.value, "white")
    t = Table("counted", "level", "category", "value", "by", "source", "note", title=f"work {work}: {cat.value} → "
              f"[bold {colour}]{d.value.value}[/]")
    for r in d.reasons:
        p = r.statement.provenance
        t.add_row("yes" if r.counted else "no", r.statement.level.value, r.statement.category.value,
                  r.statement.value.value, p.party or "", p.source, r.note)
    for o in d.offers:
        t.caption = (t.caption or "") + f"offer: {o.price_model.value} {o.price} "
    emit(data, as_json, t)


# -- disputes --------------------------------------------------------------------------------------


@disputes_app.command("list")
def disputes_list(all_: Annotated[bool, typer.Option("--all", help="Include resolved disputes")] = False,
                  as_json: JsonOpt = False) -> None:
    rows = registry().disputes(status=None if all_ else "open")
    t = Table("id", "work", "claim", "key", "value", "status", "resolution")
    for d in rows:
        t.add_row(str(d["id"]), str(d["work"]), str(d["claim"]), d["key"], d["value"], d["status"], d["resolution"] or "")
    emit(rows, as_json, t)


@disputes_app.command("resolve")
def disputes_resolve(
    dispute: int,
    keep: Annotated[str, typer.Option(help="existing | claim | both")],
    note: Annotated[str, typer.Option()] = "",
    as_json: JsonOpt = False,
) -> None:
    r = registry().resolve_dispute(dispute, keep=keep, note=note)
    emit(r, as_json, f"dispute {dispute} resolved: {r['resolution']}")


# -- keys and snapshots ----------------------------------------------------------------------------


def key_path(name: str) -> Path:
    from fairtrain.core.datadir import resolve_data_dir

    if not name.replace("-", "").replace("_", "").isalnum():
        fail(f"key name {name!r}: use letters, digits, - and _ only")
    return resolve_data_dir(state.data_dir) / "keys" / f"{name}.key"


def trusted_keys(public_key: list[Path] | None) -> list:
    """Keys a snapshot must be signed by: the given files, else this data directory's own keys."""
    from fairtrain.core.keys import PublicKey, SigningKey

    trusted = [PublicKey.load(p) for p in public_key or ()]
    if not trusted:
        keys_dir = key_path("registry").parent
        trusted = [SigningKey.load(p).public for p in sorted(keys_dir.glob("*.key"))] if keys_dir.exists() else []
    if not trusted:
        fail("no trusted key: pass --public-key FILE (the registry's published public key)")
    return trusted


def read_items(files: list[Path]) -> list[tuple[str, bytes]]:
    """(name, bytes) per file; an unreadable file is reported and passed on empty, so the batch goes on."""
    items = []
    for f in files:
        try:
            items.append((str(f), f.read_bytes()))
        except OSError as e:
            items.append((str(f), b""))
            err.print(f"[red]{f}[/]: cannot read ({e.strerror or e})", highlight=False)
    return items


PublicKeyOpt = Annotated[list[Path] | None, typer.Option(
    "--public-key", help="Trusted public key file(s) (PEM or base64); default: this data directory's keys")]


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="Key name, e.g. registry or the licensee's name")] = "registry",
                force: Annotated[bool, typer.Option(help="Replace an existing key")] = False,
                as_json: JsonOpt = False) -> None:
    """Create an Ed25519 key in the data directory (private key mode 0600, public key beside it)."""
    from fairtrain.core.keys import SigningKey

    path = key_path(name)
    if path.exists() and not force:
        fail(f"{path} exists; use --force to replace it (anything it signed will no longer verify with the new key)")
    key = SigningKey.generate()
    key.save(path)
    data = {"name": name, "key_id": key.public.key_id, "public_key": key.public.b64(), "path": str(path),
            "public_key_file": str(path) + ".pub"}
    emit(data, as_json, f"key [bold]{name}[/] {key.public.key_id} → {path} (public: {path}.pub)")


@keys_app.command("show")
def keys_show(name: Annotated[str, typer.Option()] = "registry", as_json: JsonOpt = False) -> None:
    """Print a key's public part (share it so others can verify what you sign)."""
    from fairtrain.core.keys import SigningKey

    pub = SigningKey.load(key_path(name)).public
    emit({"name": name, "key_id": pub.key_id, "public_key": pub.b64(), "pem": pub.pem().decode()}, as_json,
         pub.pem().decode() + f"key id {pub.key_id}")


@snapshot_app.command("export")
def snapshot_export(out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR")],
                    key: Annotated[str, typer.Option(help="Signing key name")] = "registry",
                    name: Annotated[str, typer.Option(help="Registry name written into the manifest")] = "fairtrain registry",
                    as_json: JsonOpt = False) -> None:
    """Write a signed snapshot of the registry: effective terms and fingerprints as Parquet shards."""
    from fairtrain.core.keys import SigningKey
    from fairtrain.services.registry.snapshot_export import export_snapshot

    signing = SigningKey.load(key_path(key))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("exporting works", total=None)
        manifest = export_snapshot(registry(), out_dir, signing, name=name,
                                   progress=lambda n, total: bar.update(task, completed=n, total=total))
    summary = {"path": str(out_dir), "key_id": manifest["signature"]["key_id"], "counts": manifest["counts"],
               "files": len(manifest["files"]), "bytes": sum(f["bytes"] for f in manifest["files"])}
    emit(summary, as_json, f"snapshot {out_dir}: {manifest['counts']['works']} works, {summary['files']} files, "
                           f"{summary['bytes']:,} bytes, signed by {summary['key_id']}")


@snapshot_app.command("verify")
def snapshot_verify(directory: Annotated[Path, typer.Argument(metavar="DIR")],
                    public_key: PublicKeyOpt = None,
                    as_json: JsonOpt = False) -> None:
    """Check a snapshot's signature against trusted keys and every shard's hash; refuse tampering."""
    from fairtrain.core.snapshot import SnapshotError, verify_snapshot

    try:
        snap = verify_snapshot(directory, trusted_keys(public_key))
    except SnapshotError as e:
        fail(f"snapshot refused: {e}", code=1)
    data = {"path": str(directory), "valid": True, "key_id": snap.signer.key_id, "snapshot_id": snap.snapshot_id,
            "registry": snap.manifest.get("registry"), "created_at": snap.manifest.get("created_at"),
            "files": len(snap.manifest["files"]), "counts": snap.manifest.get("counts", {})}
    emit(data, as_json, f"[green]valid[/]: {len(snap.manifest['files'])} files, signed by {snap.signer.key_id}, "
                        f"snapshot id {snap.snapshot_id[:16]}…")


@app.command()
def match(
    files: Annotated[list[Path], typer.Argument(metavar="FILES...")],
    snapshot: Annotated[Path, typer.Option(help="A registry snapshot directory (verified before use)")],
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which registered works are in these files? Score, evidence and the works' terms, or no match."""
    from fairtrain.core.matcher import SnapshotMatcher
    from fairtrain.core.snapshot import SnapshotError

    try:
        matcher = SnapshotMatcher.open(snapshot, trusted_keys(public_key))
    except SnapshotError as e:
        fail(f"snapshot refused: {e}", code=1)
    items = read_items(files)
    results = matcher.match(items)
    t = Table("file", "modality", "work", "score", "stage", "evidence / error")
    for r in results:
        if r.error:
            t.add_row(r.item, r.modality or "-", "-", "-", "-", f"[red]{r.error}[/]")
        elif not r.matches:
            t.add_row(r.item, r.modality or "-", "no match", "", "", "")
        for m, terms in r.matches:
            title = f"{m.work_id}" + (f" ({terms['train-genai']} for train-genai)" if terms else "")
            t.add_row(r.item, r.modality or "-", title, f"{m.score:.3f}", m.stage,
                      ", ".join(f"{k}={v}" for k, v in list(m.evidence.items())[:4]))
    emit([r.to_dict() for r in results], as_json, t)
    if any(r.error for r in results):
        raise typer.Exit(1)


# -- clearance -------------------------------------------------------------------------------------


@app.command()
def clear(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Parquet/JSONL/CSV manifest, WebDataset tars, "
                                                                    "a folder, a saved HF dataset or WARC files")],
    snapshot: Annotated[list[Path], typer.Option(help="Registry snapshot directory (repeatable)")],
    licensee: Annotated[str, typer.Option(help="Who will train on the data")],
    out: Annotated[Path, typer.Option(help="Output directory (re-run the same command to resume)")],
    purpose: Annotated[str, typer.Option(help="Usage category the data is cleared for")] = "train-genai",
    mode: Annotated[str, typer.Option(help="permission (only explicit allow passes) or reservation "
                                           "(unknown passes too)")] = "permission",
    engine: Annotated[str, typer.Option(help="local (process pool) or ray")] = "local",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (local) or actors (ray)")] = 1,
    check_web: Annotated[bool, typer.Option(help="Also read web signals for items with a URL")] = False,
    research: Annotated[bool, typer.Option(help="Clear for research, not commercial, use")] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="Input format when the extension does not tell")] = None,
    key: Annotated[str | None, typer.Option(help="Licensee signing key name (default: the licensee's name)")] = None,
    public_key: PublicKeyOpt = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (engine ray), e.g. ray://head:10001")] = None,
    force: Annotated[bool, typer.Option(help="Start over even if OUT holds another clearance")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Clear a dataset against registry snapshots before training: decisions, cleared data, quote, report."""
    import time

    from fairtrain.core.keys import SigningKey
    from fairtrain.services.clearance.pipeline import ClearanceConfig
    from fairtrain.services.clearance.run import clear as run_clear
    from fairtrain.services.clearance.run import pending_shards

    try:
        cat = Category.parse(purpose)
    except ValueError as e:
        fail(str(e))
    key_name = key or "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in licensee)
    kp = key_path(key_name)
    if not kp.exists():
        fail(f"no signing key {key_name!r} for the clearance manifest: create it with "
             f"`fairtrain keys create --name {key_name}`")
    signing = SigningKey.load(kp)
    trusted = tuple(k.b64() for k in trusted_keys(public_key))
    config = ClearanceConfig(snapshots=tuple(p.resolve() for p in snapshot), purpose=cat, licensee=licensee,
                             mode=mode, research=research, check_web=check_web, trusted_keys=trusted)
    started = time.perf_counter()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[items]:,} items · {task.fields[rate]:,.0f} items/s"), TimeRemainingColumn(),
                  console=err, disable=as_json or not err.is_terminal) as bar:
        task = bar.add_task("clearing shards", total=None, items=0, rate=0.0)
        seen = {"items": 0}

        def on_plan(job):
            done = len(job["shards"]) - len(pending_shards(out, job))
            bar.update(task, total=len(job["shards"]), completed=done)

        def on_shard(summary):
            seen["items"] += summary["items"]
            bar.update(task, advance=1, items=seen["items"],
                       rate=seen["items"] / max(time.perf_counter() - started, 1e-9))

        report = run_clear(input_path, out, config, signing, fmt=fmt, engine=engine, workers=workers,
                           batch_size=batch_size, force=force, ray_address=address, on_shard=on_shard,
                           on_plan=on_plan)
    if as_json:
        emit(report, True)
        return
    t = Table("decision", "items", title=f"clearance of {input_path} for {licensee} ({cat.value}, {mode} mode)")
    for k, v in report["by_decision"].items():
        t.add_row(k, f"{v:,}")
    t.add_row("[bold]cleared[/]", f"[bold]{report['passed']:,}[/] of {report['items']:,}")
    emit(report, False, t)
    if mode == "reservation":
        err.print("[bold yellow]reservation mode: unknown items passed; this is not permission[/]")
    totals = ", ".join(v["display"] for v in report["licence_quote"]["totals"].values())
    if report["licence_quote"]["works"]:
        err.print(f"{report['licence_quote']['works']} works need a licence: {totals} (see licence-quote.json)")
    err.print(f"outputs in {out}: decisions.parquet, cleared/, licence-quote.json, report.html, manifest.json")


# -- signals ---------------------------------------------------------------------------------------


@signals_app.command("render")
def signals_render(
    site: Annotated[str, typer.Option(help="The site the signals are published on, e.g. https://creator.example")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the kit")],
    holder: Annotated[str | None, typer.Option(help="A holder's catalogue (id or name)")] = None,
    org: Annotated[str | None, typer.Option(help="An organisation's repertoire (id or name)")] = None,
    work: Annotated[int | None, typer.Option(help="One work")] = None,
    contact: Annotated[str | None, typer.Option(help="Contact email written into the signals")] = None,
    licence_url: Annotated[list[str] | None, typer.Option(help="Where licences are offered (repeatable)")] = None,
    embed: Annotated[list[Path] | None, typer.Option(help="Image files to copy into OUT/embedded/ with XMP "
                                                          "(plus:DataMining) and, given --c2pa-cert, a signed C2PA "
                                                          "manifest (repeatable)")] = None,
    c2pa_cert: Annotated[Path | None, typer.Option(help="C2PA signing certificate chain (PEM)")] = None,
    c2pa_key: Annotated[Path | None, typer.Option(help="C2PA private key (PEM, PKCS#8)")] = None,
    c2pa_alg: Annotated[str, typer.Option(help="es256, ps256, ed25519 …")] = "es256",
    as_json: JsonOpt = False,
) -> None:
    """Render every machine-readable signal from one stored declaration: robots.txt, TDMRep, headers, RSL…"""
    from fairtrain.core.signals.render import Party, PartyKind, SignalPolicy, SignalRenderError, write_kit

    reg = registry()
    if sum(x is not None for x in (holder, org, work)) != 1:
        fail("give exactly one of --holder, --org, --work")
    if holder is not None:
        h = reg.find_holder(holder)
        level, target, who, kind = Level.CATALOGUE, h["id"], h, PartyKind.HOLDER
    elif org is not None:
        o = reg.find_org(org)
        level, target, who, kind = Level.REPERTOIRE, o["id"], o, PartyKind.ORGANISATION
    else:
        w = reg.work(work)
        first = w["holders"][0]["holder"] if w["holders"] else None
        who = reg.find_holder(int(first.split(":")[1])) if first else {"name": w["title"], "email": None}
        level, target, kind = Level.WORK, work, PartyKind.HOLDER
    email = contact or who.get("email")
    if not email:
        fail(f"{who['name']} has no email on record: give --contact EMAIL (signals must name a contact)")
    decisions = reg.policy_decisions(level, target)
    base = site.rstrip("/")
    try:
        policy = SignalPolicy.from_decisions(Party(who["name"], kind, email, website=base), base,
                                             decisions.values(), policy_url=f"{base}/ai-reservation",
                                             licence_urls=tuple(licence_url or (f"{base}/license.xml",)))
        written = write_kit(policy, out_dir)
    except SignalRenderError as e:
        fail(str(e))
    embedded = []
    if embed:
        from fairtrain.core.signals.embed import C2paCredentials, embed_files

        creds = None
        if c2pa_cert or c2pa_key:
            if not (c2pa_cert and c2pa_key):
                fail("--c2pa-cert and --c2pa-key go together")
            creds = C2paCredentials(c2pa_cert.read_bytes(), c2pa_key.read_bytes(), algorithm=c2pa_alg)
        embedded = embed_files(embed, out_dir / "embedded", policy, creds)
        for r in embedded:
            if not r.ok:
                err.print(f"[red]{r.source}[/]: {r.error}", highlight=False)
    web = policy.web_values()
    coarser = {c.value: web[c].value for c in Category if web[c] is not policy.value(c)}
    data = {"out": str(out_dir), "files": sorted(str(p.relative_to(out_dir)) for p in written),
            "embedded": [{"source": str(r.source), "dest": str(r.dest) if r.dest else None, "error": r.error}
                         for r in embedded],
            "values": {c.value: d.value.value for c, d in decisions.items()},
            "web_values": {c.value: v.value for c, v in web.items()}, "coarser": coarser}
    t = Table("file", title=f"signal kit for {who['name']} → {out_dir}")
    for f in data["files"]:
        t.add_row(f)
    for r in embedded:
        t.add_row(f"embedded/{r.dest.name}" if r.ok else f"[red]{r.source}: {r.error}[/]")
    emit(data, as_json, t)
    if any(not r.ok for r in embedded):
        raise typer.Exit(1)
    if coarser and not as_json:
        out.print("[yellow]note:[/] the web formats cannot say this exactly; readers will decide "
                  + ", ".join(f"{c}={v} (declared {policy.value(Category(c)).value})" for c, v in coarser.items()),
                  highlight=False)


@signals_app.command("check")
def signals_check(
    urls: Annotated[list[str], typer.Argument(metavar="URL...")],
    user_agent: Annotated[str | None, typer.Option(help="User agent to fetch and evaluate robots.txt as")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read every signal that applies to URLs (robots.txt, TDMRep, headers, HTML, RSL, embedded metadata)."""
    from fairtrain.core.signals.check import DEFAULT_USER_AGENT, check_urls

    reports = check_urls(urls, user_agent=user_agent or DEFAULT_USER_AGENT)
    rows = []
    t = Table("url", "status", "robots", *(c.value for c in Category), "errors")
    for r in reports:
        ds = {c: r.decide(c) for c in Category}
        rows.append({"url": r.url, "status": r.status, "final_url": r.final_url, "robots_allowed": r.robots_allowed,
                     "reserved": r.reserved, "errors": list(r.errors),
                     "decisions": {c.value: d.to_dict() for c, d in ds.items()}})
        t.add_row(r.url, str(r.status or "-"), {True: "allowed", False: "disallowed", None: "-"}[r.robots_allowed],
                  *(d.value.value for d in ds.values()), "; ".join(r.errors))
    emit(rows, as_json, t)


# -- licences, invoices, payments, usage ----------------------------------------------------------


def _licensing():
    from fairtrain.services.ledger.licensing import Licensing

    return Licensing(registry())


def _party_key(party: str, key: str | None):
    from fairtrain.core.keys import SigningKey

    name = key or party.replace(":", "-")
    path = key_path(name)
    if not path.exists():
        fail(f"{party} has no signing key {name!r}: create it with `fairtrain keys create --name {name}`")
    return SigningKey.load(path)


@licences_app.command("request")
def licences_request(
    quote: Annotated[Path, typer.Argument(metavar="QUOTE", help="A clearance's licence-quote.json")],
    licensee: Annotated[str | None, typer.Option()] = None,
    category: Annotated[list[str] | None, typer.Option(help="Categories to licence (default: the quote's purpose)")] = None,
    until: Annotated[str | None, typer.Option(help="Licence end date")] = None,
    model_version: Annotated[list[str] | None, typer.Option(help="Model versions covered (default any)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask every party in a quote for a licence (one request per party)."""
    data = json.loads(quote.read_text(encoding="utf-8"))
    ids = _licensing().request(data, licensee=licensee, categories=parse_categories(category) or None,
                               valid_until=parse_when(until, "--until"), model_versions=tuple(model_version or ()))
    emit({"licences": ids}, as_json, f"requested licences {', '.join(map(str, ids))}")


@licences_app.command("accept")
def licences_accept(
    licence: int,
    acting_as: Annotated[str, typer.Option("--as", help="The grantor answering: holder:ID or org:ID")],
    key: Annotated[str | None, typer.Option(help="Grantor's signing key name (default: holder-ID / org-ID)")] = None,
    collective: Annotated[bool, typer.Option(help="An organisation's collective licence on its own terms")] = False,
    price: Annotated[str | None, typer.Option(help="Collective terms: flat fee or minimum, major units")] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    revenue_share: Annotated[str | None, typer.Option(help="Collective terms: revenue share in percent")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Grant a requested licence: signed by the grantor, works covered, invoice issued."""
    from decimal import Decimal

    amount = None
    if price is not None or currency is not None:
        if not (price and currency):
            fail("--price and --currency go together")
        amount = Money.parse(price, currency)
    bp = int(Decimal(revenue_share) * 100) if revenue_share is not None else None
    lic = _licensing()
    lic.authorise(licence, acting_as)  # before asking for a key: say who may answer first
    r = lic.accept(licence, party=acting_as, key=_party_key(acting_as, key), collective=collective,
                   price=amount, revenue_share_bp=bp)
    emit(r, as_json, f"licence {licence} granted by {acting_as}; invoice {r['invoice']} for {r['grant']['price']['display']}")


@licences_app.command("decline")
def licences_decline(licence: int, acting_as: Annotated[str, typer.Option("--as")],
                     note: Annotated[str, typer.Option()] = "", as_json: JsonOpt = False) -> None:
    r = _licensing().decline(licence, party=acting_as, note=note)
    emit(r, as_json, f"licence {licence} declined")


@licences_app.command("show")
def licences_show(licence: int, as_json: JsonOpt = False) -> None:
    lic = _licensing().get(licence)
    emit(lic, as_json, json.dumps(lic, ensure_ascii=False, indent=2))


@licences_app.command("list")
def licences_list(licensee: Annotated[str | None, typer.Option()] = None,
                  grantor: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    rows = _licensing().list(licensee=licensee, grantor=grantor)
    t = Table("id", "licensee", "grantor", "status", "works", "price")
    for r in rows:
        t.add_row(str(r["id"]), r["licensee"], r["grantor"], r["status"], str(len(r["request"]["works"])),
                  r["price"]["display"])
    emit(rows, as_json, t)


@app.command()
def invoices(licensee: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    """Invoices and what has been paid on them."""
    rows = _licensing().invoices(licensee=licensee)
    t = Table("id", "licence", "licensee", "grantor", "amount", "paid", "status")
    for r in rows:
        t.add_row(str(r["id"]), str(r["licence"]), r["licensee"], r["grantor"], r["amount"]["display"],
                  r["paid"]["display"], r["status"])
    emit(rows, as_json, t)


@payments_app.command("record")
def payments_record(invoice: int, amount: Annotated[str, typer.Option()], currency: Annotated[str, typer.Option()],
                    reference: Annotated[str, typer.Option(help="Settlement reference (unique)")],
                    as_json: JsonOpt = False) -> None:
    """Confirm a payment by hand (there is no payment processor: this is logged)."""
    r = _licensing().record_payment(invoice, Money.parse(amount, currency), reference=reference)
    emit(r, as_json, f"payment on invoice {invoice}: " + ("already recorded" if r["duplicate"] else r["status"]))


@payments_app.command("import")
def payments_import(csv_file: Annotated[Path, typer.Argument(metavar="CSV")], as_json: JsonOpt = False) -> None:
    """Import settlement records: invoice,amount,currency,reference,received_at."""
    r = _licensing().import_payments(csv_file)
    emit(r, as_json, f"{r['recorded']} recorded, {r['duplicates']} already recorded, {len(r['errors'])} errors")
    for e in r["errors"]:
        err.print(f"[red]{csv_file}:{e['line']}[/] {e['reason']}", highlight=False)
    if r["errors"]:
        raise typer.Exit(1)


@usage_app.command("report")
def usage_report(
    licensee: Annotated[str, typer.Option()],
    model: Annotated[str, typer.Option()],
    version: Annotated[str, typer.Option()],
    idempotency_key: Annotated[str, typer.Option(help="Unique per report: re-sending never double-counts")],
    manifest: Annotated[Path | None, typer.Option(help="The clearance's manifest.json (its Merkle roots are cited)")] = None,
    licence: Annotated[list[int] | None, typer.Option(help="Licences this training used (repeatable)")] = None,
    weights: Annotated[Path | None, typer.Option(help="JSON {work_id: integer weight} (tokens, samples …)")] = None,
    revenue: Annotated[str | None, typer.Option(help="Revenue for revenue-share licences, major units")] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    key: Annotated[str | None, typer.Option(help="Licensee's signing key (default: the licensee's name)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """File a signed usage report after training."""
    from fairtrain.core.keys import sign_document

    doc = {"format": "fairtrain-usage-report/1", "licensee": licensee, "model": model, "version": version,
           "idempotency_key": idempotency_key, "licences": list(licence or [])}
    if manifest is not None:
        m = json.loads(manifest.read_text(encoding="utf-8"))
        doc["manifest_root"] = {"cleared_items": m["cleared_items"]["root"], "cleared_works": m["cleared_works"]["root"]}
    if weights is not None:
        w = json.loads(weights.read_text(encoding="utf-8"))
        if not all(isinstance(v, int) and v >= 0 for v in w.values()):
            fail(f"{weights}: weights must be non-negative integers")
        doc["weights"] = {str(k): v for k, v in sorted(w.items())}
    if revenue is not None:
        if not currency:
            fail("--revenue needs --currency")
        doc["revenue"] = Money.parse(revenue, currency).to_dict()
    signer = _party_key(licensee, key or "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in licensee))
    r = _licensing().usage_report(sign_document(doc, signer))
    emit(r, as_json, f"usage report {r['report']}" + (" (already filed)" if r["duplicate"] else " filed"))


@app.command()
def distribute(
    period: Annotated[str, typer.Option(help="START..END, e.g. 2026-01-01..2026-06-30")],
    fee: Annotated[list[str] | None, typer.Option(help="Organisation admin fee, ORG=PERCENT (repeatable)")] = None,
    threshold: Annotated[list[str] | None, typer.Option(help="Minimum payout, CUR=AMOUNT (repeatable)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Split the period's licence money among rights holders by the published formula; logged."""
    from datetime import date as date_
    from decimal import Decimal

    from fairtrain.core.distribution import Formula, Period
    from fairtrain.services.ledger.distribution import run_distribution

    start, sep, end = period.partition("..")
    try:
        p = Period(date_.fromisoformat(start), date_.fromisoformat(end))
    except ValueError:
        fail(f"--period {period!r}: expected START..END as ISO dates")
    reg = registry()
    fees = {}
    for spec in fee or ():
        name, _, pct = spec.rpartition("=")
        fees[reg.find_org(name)["ref"]] = int(Decimal(pct) * 100)
    thresholds = {}
    for spec in threshold or ():
        cur, _, amount = spec.partition("=")
        thresholds[cur.upper()] = Money.parse(amount, cur).minor
    r = run_distribution(reg, p, Formula(fee_bp=fees, thresholds=thresholds))
    emit(r, as_json, f"distribution run {r['run']}: {r['lines']} lines, {r['holders']} holder totals, "
                     f"sha256 {r['sha256'][:16]}…")


@app.command()
def statements(
    run: Annotated[int, typer.Option(help="Distribution run id")],
    holder: Annotated[str, typer.Option(help="Holder id or name")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv or html")] = "json",
    lang: Annotated[str, typer.Option(help="en or ko")] = "en",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to a file")] = None,
    recompute: Annotated[bool, typer.Option(help="Also re-compute the run from its inputs and compare")] = False,
) -> None:
    """A rights holder's statement for a run: per work and licensee, gross, deductions, net, carried forward."""
    from fairtrain.services.ledger import distribution as dist

    reg = registry()
    st = dist.statement(reg, run, reg.find_holder(holder)["id"])
    if recompute:
        st["recomputed"] = dist.recompute(reg, run)
    text = {"json": lambda: json.dumps(st, ensure_ascii=False, indent=2) + "\n", "csv": lambda: dist.statement_csv(st),
            "html": lambda: dist.statement_html(st, lang)}.get(fmt)
    if text is None:
        fail(f"--format {fmt!r}: expected json, csv or html")
    if out_file:
        out_file.write_text(text(), encoding="utf-8")
        err.print(f"statement written to {out_file}")
    else:
        sys.stdout.write(text())


# -- the log ---------------------------------------------------------------------------------------


def _log():
    from fairtrain.services.ledger.log import Log

    return Log(registry().engine)


@log_app.command("sign")
def log_sign(key: Annotated[str, typer.Option(help="Signing key name")] = "registry", as_json: JsonOpt = False) -> None:
    """Sign the current tree head (size and root) with the registry's key."""
    from fairtrain.core.keys import SigningKey

    head = _log().sign_head(SigningKey.load(key_path(key)))
    emit(head, as_json, f"tree head: size {head['size']}, root {head['root']}, signed by {head['signature']['key_id']}")


@log_app.command("show")
def log_show(start: Annotated[int, typer.Option(help="First entry")] = 0,
             limit: Annotated[int, typer.Option(help="How many entries")] = 50, as_json: JsonOpt = False) -> None:
    """The latest signed tree head and a range of entries."""
    lg = _log()
    size, root = lg.size_and_root()
    heads = lg.heads()
    entries = lg.entries(start, start + limit)
    data = {"size": size, "root": root.hex(), "latest_head": heads[-1] if heads else None, "entries": entries}
    t = Table("idx", "kind", "at", "body", title=f"log: {size} entries, root {root.hex()[:16]}…, "
              f"{len(heads)} signed heads")
    for e in entries:
        t.add_row(str(e["idx"]), e["kind"], e["at"], json.dumps(e["body"], ensure_ascii=False)[:80])
    emit(data, as_json, t)


@log_app.command("verify")
def log_verify(proof: Annotated[Path | None, typer.Option(help="Check this proof file offline instead of the log")] = None,
               public_key: PublicKeyOpt = None, as_json: JsonOpt = False) -> None:
    """Check the whole log (every entry, every signed head), or one proof file offline."""
    from fairtrain.services.ledger.log import LogError, verify_proof

    trusted = trusted_keys(public_key)
    if proof is not None:
        from fairtrain.services.transparency.lookup import verify_membership_proof

        doc = json.loads(proof.read_text(encoding="utf-8"))
        try:  # a "was my work used?" proof carries a set proof too: check both halves
            result = verify_membership_proof(doc, trusted) if "membership" in doc else verify_proof(doc, trusted)
        except (LogError, ValueError) as e:
            fail(f"proof refused: {e}", code=1)
        emit(result, as_json, f"[green]valid[/] {proof}")
        return
    result = _log().verify(trusted)
    if as_json:
        emit(result, True)
    elif result["valid"]:
        out.print(f"[green]log valid[/]: {result['size']} entries, {result['tree_heads']} signed tree heads, "
                  f"root {result['root']}")
    else:
        for p in result["problems"]:
            err.print(f"[red]{p}[/]", highlight=False)
    if not result["valid"]:
        raise typer.Exit(1)


@log_app.command("prove")
def log_prove(index: Annotated[int, typer.Argument(help="Entry index")],
              size: Annotated[int | None, typer.Option(help="Tree head size (default: latest)")] = None,
              consistency_from: Annotated[int | None, typer.Option(
                  "--from", help="Instead: a consistency proof from this earlier head size")] = None,
              as_json: JsonOpt = True) -> None:
    """Print an inclusion proof for an entry (or a consistency proof between heads), checkable offline."""
    lg = _log()
    proof = lg.consistency_proof(consistency_from, size) if consistency_from is not None else lg.inclusion_proof(index, size)
    emit(proof, True)


@log_app.command("record-clearance")
def log_record_clearance(out_dir: Annotated[Path, typer.Argument(metavar="OUT")], as_json: JsonOpt = False) -> None:
    """Publish a clearance manifest (signed by its licensee) in the log."""
    from fairtrain.core.keys import verify_document
    from fairtrain.services.ledger.log import Entry

    doc = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    signer = verify_document(doc)
    body = {"manifest": doc, "licensee_key_id": signer.key_id}
    (idx,) = _log().append([Entry("clearance", body, subject=f"licensee:{doc.get('licensee')}")])
    emit({"index": idx, "licensee": doc.get("licensee"), "key_id": signer.key_id}, as_json,
         f"clearance manifest of {doc.get('licensee')} recorded as log entry {idx}")


# -- transparency: output checks, "was my work used?", training-data summaries (issue 7) -----------

outputs_app = typer.Typer(help="Check model outputs for reproduced registered works.", no_args_is_help=True)
app.add_typer(outputs_app, name="outputs")


@outputs_app.command("check")
def outputs_check(
    files: Annotated[list[Path], typer.Argument(metavar="FILES...")],
    snapshot: Annotated[Path, typer.Option(help="A registry snapshot directory (verified before use)")],
    weights: Annotated[Path | None, typer.Option(help="Write attribution weights {work_id: weight} (JSON)")] = None,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which registered works do these generated texts, images or audio reproduce? Evidence and score."""
    from fairtrain.core.snapshot import SnapshotError
    from fairtrain.services.transparency.outputs import OutputChecker, attribution_weights

    try:
        checker = OutputChecker.open(snapshot, trusted_keys(public_key))
    except SnapshotError as e:
        fail(f"snapshot refused: {e}", code=1)
    items = read_items(files)
    checks = checker.check(items)
    w = attribution_weights(checks)
    if weights is not None:
        weights.write_text(json.dumps({str(k): v for k, v in w.items()}, indent=2) + "\n", encoding="utf-8")
    t = Table("output", "modality", "work", "score", "flagged", "evidence / error")
    for c in checks:
        if c.error:
            t.add_row(c.item, c.modality or "-", "-", "-", "-", f"[red]{c.error}[/]")
        elif not c.reproductions:
            t.add_row(c.item, c.modality or "-", "no match", "", "", "")
        for r in c.reproductions:
            ev = r.evidence
            if "spans" in ev:
                what = "; ".join(f"words {s['query_words'][0]}-{s['query_words'][1]} = work words "
                                 f"{s['work_words'][0]}-{s['work_words'][1]}" for s in ev["spans"][:3])
            else:
                what = ", ".join(f"{k}={v}" for k, v in ev.items() if k != "iscc")
            t.add_row(c.item, c.modality or "-", str(r.work_id), f"{r.score:.3f}",
                      "[bold red]yes[/]" if r.flagged else "no", what)
    emit({"outputs": [c.to_dict() for c in checks], "flagged": sum(c.flagged for c in checks),
          "thresholds": checker.thresholds.to_dict(), "attribution_weights": {str(k): v for k, v in w.items()}},
         as_json, t)
    if any(c.error for c in checks):
        raise typer.Exit(1)


@app.command()
def lookup(
    file: Annotated[Path | None, typer.Argument(metavar="[FILE]", help="A work file: fingerprinted here, never stored")] = None,
    work: Annotated[list[int] | None, typer.Option(help="A registered work id (repeatable)")] = None,
    repertoire: Annotated[str | None, typer.Option(help="An organisation (id or name): all its repertoire works")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="With --repertoire: write the works used, by model")] = None,
    snapshot: Annotated[list[Path] | None, typer.Option(help="Snapshot(s) to recognise FILE with (besides those "
                                                               "the manifests cite)")] = None,
    clearance: Annotated[list[Path] | None, typer.Option(help="Published clearance directories (their leaves)")] = None,
    proofs: Annotated[Path | None, typer.Option(help="Write one proof file per answer into this directory")] = None,
    verify: Annotated[Path | None, typer.Option(help="Instead: check a membership proof file offline")] = None,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Was my work used? For every clearance in the log: included or not, models, licence, and proofs."""
    from fairtrain.core.matcher import SnapshotMatcher
    from fairtrain.core.snapshot import SnapshotError
    from fairtrain.services.transparency.lookup import (
        WorkLookup,
        WorkLookupError,
        membership_proof,
        repertoire_works,
        verify_membership_proof,
        write_repertoire_csv,
    )

    trusted = trusted_keys(public_key)
    if verify is not None:
        try:
            result = verify_membership_proof(json.loads(verify.read_text(encoding="utf-8")), trusted)
        except (WorkLookupError, ValueError, OSError) as e:
            fail(f"proof refused: {e}", code=1)
        emit(result, as_json, f"[green]valid[/]: {result['key']} is {'' if result['included'] else 'NOT '}in the "
                              f"{result['set']} of the clearance by {result['licensee']} (log entry {result['index']})")
        return
    if sum(x is not None and x != [] for x in (file, work, repertoire)) != 1:
        fail("give exactly one of FILE, --work ID or --repertoire ORG")
    if csv_out is not None and repertoire is None:
        fail("--csv goes with --repertoire")
    lg = _log()
    try:
        wl = WorkLookup(lg, clearance or [], trusted)
        query: dict = {}
        if file is not None:
            try:
                data = file.read_bytes()
            except OSError as e:
                fail(f"{file}: cannot read ({e.strerror or e})")
            try:
                matchers = [SnapshotMatcher.open(p, trusted) for p in snapshot or []]
            except SnapshotError as e:
                fail(f"snapshot refused: {e}", code=1)
            query = wl.identify(str(file), data, matchers)
            answers = wl.answer(query["works"], query["content_hash"])
        elif work:
            reg = registry()
            query = {"works": [{"id": w, "title": reg.work(w)["title"]} for w in work]}
            answers = wl.answer(list(work))
        else:
            reg = registry()
            org = reg.find_org(repertoire)
            works = repertoire_works(reg.engine, org)
            rows = wl.repertoire_usage(works)
            if csv_out is not None:
                write_repertoire_csv(rows, csv_out)
            data = {"organisation": org["name"], "works": len(works), "used": len({r["work_id"] for r in rows}),
                    "rows": rows, "csv": str(csv_out) if csv_out else None}
            emit(data, as_json, f"{org['name']}: {data['used']} of {len(works)} repertoire works used "
                                f"in published clearances ({len(rows)} rows" + (f" → {csv_out})" if csv_out else ")"))
            return
    except WorkLookupError as e:
        fail(str(e))
    if proofs is not None:
        proofs.mkdir(parents=True, exist_ok=True)
        for a in answers:
            for which, set_name in [(x, "cleared_works") for x in a["works"]] + (
                    [(a["file"], "cleared_items")] if a["file"] else []):
                name = f"clearance-{a['log_index']}-{'file' if set_name == 'cleared_items' else 'work-' + str(which['work_id'])}"
                try:
                    doc = membership_proof(lg, a, which, set_name=set_name)
                except WorkLookupError as e:
                    which["proof_file"] = None
                    which["proof_error"] = str(e)
                    continue
                path = proofs / f"{name.replace(':', '-')}.json"
                path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                which["proof_file"] = str(path)
    for a in answers:  # the set proofs live in the proof files; keep the answer readable
        for x in a["works"] + ([a["file"]] if a["file"] else []):
            x.pop("set_proof", None)
    t = Table("log entry", "licensee", "models", "included", "works", "licence", "paid")
    for a in answers:
        inc = {None: f"? (leaves {a['leaves']})", True: "[bold]yes[/]", False: "no"}[a["included"]]
        t.add_row(str(a["log_index"]), a["licensee"], ", ".join(a["models"]), inc,
                  ", ".join(f"{x['work_id']}{'✓' if x['included'] else '✗'}" for x in a["works"]),
                  "; ".join(sorted({x["coverage"]["licence"] or "-" for x in a["works"] if x.get("coverage")})),
                  ", ".join({True: "yes", False: "no", None: "-"}[x["paid"]] for x in a["works"] if "paid" in x))
    emit({"query": query, "clearances": answers}, as_json, t)


@app.command()
def summary(
    clearance: Annotated[list[Path] | None, typer.Option(help="Clearance directory (OUT of fairtrain clear; repeatable)")] = None,
    crawled: Annotated[list[Path] | None, typer.Option(help="Clearance of the provider's own crawl (template 2.3)")] = None,
    model: Annotated[str, typer.Option(help="Model name")] = ...,
    version: Annotated[str, typer.Option(help="Model version")] = ...,
    provider: Annotated[str, typer.Option(help="Provider name (default: the clearances' licensee)")] = "",
    contact: Annotated[str | None, typer.Option(help="Provider contact")] = None,
    representative: Annotated[str | None, typer.Option(help="Authorised representative in the EU")] = None,
    representative_contact: Annotated[str | None, typer.Option()] = None,
    base_model: Annotated[str | None, typer.Option(help="Base model, for a fine-tune or modification")] = None,
    base_model_summary: Annotated[str | None, typer.Option(help="Link to the base model's summary")] = None,
    placed_on_market: Annotated[str | None, typer.Option(help="Date placed on the Union market (YYYY-MM-DD)")] = None,
    code_of_practice: Annotated[bool | None, typer.Option("--code-of-practice/--no-code-of-practice",
                                                          help="Signatory of the GPAI Code of Practice")] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, json or md")] = "html",
    lang: Annotated[str, typer.Option(help="en or ko")] = "en",
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the summary")] = ...,
    log_it: Annotated[bool, typer.Option("--log/--no-log", help="Enter the summary in the public log")] = True,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The public training-data summary (EU template, Art. 53(1)(d)) filled from clearance evidence."""
    import hashlib

    from sqlalchemy import select

    from fairtrain.core.store.models import Organisation
    from fairtrain.services.transparency.summary import (
        ModelInfo,
        SummaryError,
        build_summary,
        render,
        summary_log_entry,
    )

    if fmt not in ("html", "json", "md"):
        fail(f"--format {fmt!r}: use html, json or md")
    trusted = trusted_keys(public_key)
    lg = _log() if log_it else None
    org_names = {}
    if lg is not None:
        with lg.engine.connect() as c:
            rows = c.execute(select(Organisation.id, Organisation.name))
            org_names = {registry_service.org_ref(r.id): r.name for r in rows}
    try:
        first = json.loads(((clearance or crawled or [Path(".")])[0] / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        first = {}
    info = ModelInfo(model=model, version=version, provider=provider or first.get("licensee", ""), contact=contact,
                     representative=representative, representative_contact=representative_contact,
                     base_model=base_model, base_model_summary=base_model_summary,
                     placed_on_market=placed_on_market, code_of_practice_signatory=code_of_practice)
    try:
        doc = build_summary(clearance or [], info, crawled=crawled or [], log=lg, trusted=trusted,
                            snapshot_trusted=trusted, org_names=org_names, lang=lang)
        text = render(doc, fmt, f"{model} {version}")
    except SummaryError as e:
        fail(str(e))
    data = text.encode("utf-8")
    out_file.write_bytes(data)
    idx = None
    if lg is not None:
        (idx,) = lg.append([summary_log_entry(doc, info, data, fmt)])
    result = {"out": str(out_file), "format": fmt, "lang": lang, "log_index": idx,
              "sha256": hashlib.sha256(data).hexdigest(), "works": doc["sections"]["creators"]["works"]}
    emit(result, as_json, f"summary of {model} {version} → {out_file}" + (f" (log entry {idx})" if idx is not None else ""))


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
          secure_cookies: Annotated[bool, typer.Option(help="Mark session cookies Secure (behind HTTPS)")] = False,
          ) -> None:
    """Run the web application (pages and JSON API) on HOST:PORT; creates the registry if needed."""
    import uvicorn

    from fairtrain.web import create_app

    web_app = create_app(state.data_dir, state.url, secure_cookies=secure_cookies)
    err.print(f"fairtrain web on http://{host}:{port}/ (OpenAPI document: http://{host}:{port}/openapi.json)")
    uvicorn.run(web_app, host=host, port=port, log_level="warning", access_log=False)


@app.command()
def demo(as_json: JsonOpt = False) -> None:
    """Build a small demo registry (Korean and English works, a CMO repertoire) and show decisions."""
    from fairtrain.cli.demo import build_demo
    from fairtrain.core.datadir import resolve_data_dir

    data_dir = resolve_data_dir(state.data_dir)
    reg, works = build_demo(data_dir)
    cats = list(Category)
    rows = []
    t = Table("work", "title", *(c.value for c in cats), title=f"decisions for licensee 'demo-ai-lab' ({data_dir})")
    colour = {"allow": "green", "licence": "yellow", "deny": "red"}
    for wid, title in works:
        ds = {c.value: reg.decide(wid, c, licensee="demo-ai-lab") for c in cats}
        rows.append({"work": wid, "title": title, **{k: d.value.value for k, d in ds.items()}})
        t.add_row(str(wid), title, *(f"[{colour[d.value.value]}]{d.value.value}[/]" for d in ds.values()))
    emit(rows, as_json, t)
    if not as_json:
        out.print(f"\nTry: [bold]fairtrain --data-dir {data_dir} decide 2 --category train-genai[/]"
                  f"  ·  [bold]fairtrain --data-dir {data_dir} works show 3[/]")


def main() -> None:
    try:
        app()
    except (RegistryError, ValueError) as e:  # KeyFileError, SnapshotError and SignatureError are ValueErrors
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
