"""What the API and the pages do, once: each operation takes the caller and checks its standing first."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import zipfile
from fractions import Fraction
from pathlib import Path

from sqlalchemy import or_, select

from fairtrain.core.errors import InvalidInput, localised
from fairtrain.core.money import Money, normalise_currency
from fairtrain.core.numbers import PriceError, parse_price
from fairtrain.core.signals.render import (
    HTML_HEAD,
    STATEMENT_EN,
    STATEMENT_KO,
    Party,
    PartyKind,
    SignalPolicy,
    SignalRenderError,
    render_kit,
)
from fairtrain.core.signals.reservation import platform_for, site_scope
from fairtrain.core.snapshot import SnapshotError, verify_snapshot
from fairtrain.core.store.models import Dispute, MandateRow, Organisation, Work, WorkShare
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Purpose, Value
from fairtrain.services.log import Log
from fairtrain.services.registry import RegistryError, ShareSpec, import_csv
from fairtrain.services.registry.search import search_works
from fairtrain.web import dispute_ops
from fairtrain.web.errors import WebError, forbidden, refusal
from fairtrain.web.security import Principal

KIT_PASTE_ONLY = (STATEMENT_EN, STATEMENT_KO)  # what a kit for a blog platform holds besides the head snippet

INHERIT = "inherit"
# The plain-words default of a first declaration: deny everything, but let search engines index.
DEFAULT_POLICY = {c.value: ("allow" if c is Category.SEARCH else "deny") for c in Category}


# -- works -------------------------------------------------------------------------------------------


async def register_upload(
    state, name: str, data: bytes, lang: str = "en"
) -> tuple[str, bytes, str | None] | str | None:
    """An uploaded work's (media type, registered fingerprint, ISCC), computed in the application's worker
    processes within the upload budget; the reason as text when that fails; None when there is nothing to
    fingerprint (empty or not text, image or audio: ``add_work`` says so). Reasons in ``lang``."""
    from fairtrain.core.media import detect_media_type
    from fairtrain.web.cpu import CpuError

    media = detect_media_type(data[:8192], name) if data else None
    if media is None:
        return None
    try:
        fingerprint, iscc = await state.cpu.run(name, len(data), _register, media, data, name, lang)
    except CpuError as e:
        return str(e)
    return media, fingerprint, iscc


def _register(media: str, data: bytes, name: str, lang: str) -> tuple[bytes, str | None]:
    """:func:`register_content` in a worker process: a document that cannot be read says why in ``lang``
    (errors cross the process boundary as text)."""
    from fairtrain.core.extract import DocumentError
    from fairtrain.services.registry.registry import register_content

    try:
        return register_content(media, data, name)
    except DocumentError as e:
        raise RegistryError(localised(e, lang)) from None


def uploaded_work(state, name: str, registered: dict) -> dict:
    """One uploaded file's result as the upload pages show it: the work it became, as stored."""
    w = state.registry.work(registered["work"])
    return {
        "file": name,
        "ok": True,
        "work": registered["work"],
        "created": registered["created"],
        "disputes": registered["disputes"],
        "title": w["title"],
        "media_type": w["media_type"],
        "iscc": w["iscc"],
        "status": w["status"],
    }


def add_works(
    state,
    p: Principal,
    files: list[tuple[str, bytes]],
    titles: list[str] | None = None,
    registered: list | None = None,
    lang: str = "en",
) -> list[dict]:
    """Register each file as a work of the calling creator (sole holder); a bad file is reported (in
    ``lang`` where the reason is in the catalogue), the others go on. ``registered``: per file, what
    :func:`register_upload` computed."""
    titles = titles or []
    results = []
    for i, (name, data) in enumerate(files):
        title = (titles[i] if i < len(titles) and titles[i].strip() else Path(name or "work").stem) or "work"
        content = registered[i] if registered else None
        try:
            if not data:
                raise RegistryError(f"{name}: file is empty")
            if isinstance(content, str):
                raise RegistryError(content)
            r = state.registry.add_work(
                title=title,
                shares=[ShareSpec(p.account.holder_id, "author", Fraction(1))],
                data=data,
                file_name=name or title,
                registered=content,
            )
            if r["created"]:  # a small preview for her work page (never the file itself)
                keep_preview(state, r["work"], data, name or title)
            results.append(
                {**uploaded_work(state, name, r), "notice": dispute_ops.upload_notice(state, r["disputes"], lang)}
            )
            if r["disputes"]:
                dispute_ops.wake_mailer(state)
        except (RegistryError, ValueError) as e:
            results.append({"file": name, "ok": False, "error": localised(e, lang)})
    return results


def keep_preview(state, work_id: int, data: bytes, name: str) -> None:
    from fairtrain.services.registry import work_editing

    media = state.registry.work(work_id)["media_type"]
    work_editing.keep_preview(state.registry, state.data_dir, work_id, work_editing.make_preview(media, data, name))


def works_of(state, p: Principal, *, limit: int = 200, offset: int = 0) -> list[dict]:
    """A creator's own works; an organisation's repertoire and its members' works (within mandates)."""
    if p.holder_ref:
        return holder_works(state, p.account.holder_id, limit=limit, offset=offset)
    if p.org_ref:
        members = select(MandateRow.holder_id).where(MandateRow.org_id == p.account.org_id)
        cond = or_(
            Work.org_id == p.account.org_id,
            Work.id.in_(select(WorkShare.work_id).where(WorkShare.holder_id.in_(members))),
        )
    else:
        raise forbidden("works: only creators and organisation admins have works")
    return _works_where(state, cond, limit, offset)


def holder_works(state, holder_id: int, *, limit: int = 200, offset: int = 0) -> list[dict]:
    """The works a holder has a share in (public: the registry's work pages list them too)."""
    return _works_where(
        state, Work.id.in_(select(WorkShare.work_id).where(WorkShare.holder_id == holder_id)), limit, offset
    )


def _works_where(state, cond, limit: int, offset: int) -> list[dict]:
    with state.registry.engine.connect() as c:
        rows = c.execute(
            select(Work.id, Work.title, Work.media_type, Work.status, Work.iscc, Work.work_ref)
            .where(cond)
            .order_by(Work.id)
            .limit(limit)
            .offset(offset)
        ).all()
    return [
        {
            "id": r.id,
            "title": r.title,
            "media_type": r.media_type,
            "status": r.status,
            "iscc": r.iscc,
            "work_ref": r.work_ref,
        }
        for r in rows
    ]


def search(state, query: str, *, limit: int = 20, after: int = 0) -> dict:
    """Public search (services.registry.search: titles, holders, work_refs, identifiers), one page of
    works with each one's current terms, and the ``after`` of the next page."""
    page = search_works(state.registry.engine, query, limit=limit, after=after)
    for r in page.results:
        r["terms"] = {c.value: state.registry.decide(r["id"], c).value.value for c in Category}
    return page.to_dict()


def decision(state, work_id: int, category: str, licensee: str | None, purpose: str) -> dict:
    try:
        cat = Category.parse(category)
        purp = Purpose(purpose)
    except ValueError as e:
        raise WebError(422, f"decision: {e}") from None
    d = state.registry.decide(work_id, cat, licensee=licensee or None, purpose=purp)
    return {"work": work_id, **d.to_dict()}


# -- standing ----------------------------------------------------------------------------------------


def party_for(state, p: Principal, level: Level, target_id: int | None) -> tuple[Level, int, str]:
    """(level, target, declaring party) for the caller; refuses what is not theirs."""
    if level is Level.WORK:
        facts = state.registry.facts(target_id)
        if p.holder_ref:
            if p.holder_ref not in facts.holders:
                raise forbidden(f"work {target_id}: you are not one of its holders")
            return level, target_id, p.holder_ref
        if p.org_ref:
            if not any(m.org == p.org_ref for m in facts.mandates):
                raise forbidden(f"work {target_id}: no holder of it gave {p.org_ref} a mandate")
            return level, target_id, p.org_ref
        raise forbidden(f"work {target_id}: only its holders or their organisations declare for it")
    if p.holder_ref:
        return Level.CATALOGUE, p.account.holder_id, p.holder_ref
    if p.org_ref:
        return Level.REPERTOIRE, p.account.org_id, p.org_ref
    raise forbidden("policy: only creators and organisation admins declare")


def policy_view(state, level: Level, target_id: int) -> dict:
    decisions = state.registry.policy_decisions(level, target_id)
    return {c.value: {"value": d.value.value, "offers": [o.to_dict() for o in d.offers]} for c, d in decisions.items()}


def has_declared(state, level: Level, target_id: int) -> bool:
    ref = {Level.WORK: "work", Level.CATALOGUE: "holder", Level.REPERTOIRE: "org"}[level]
    return bool(state.registry.declarations(f"{ref}:{target_id}"))


def parse_offer(price: str | None, currency: str | None, price_model: str | None) -> Offer | None:
    if not price and not currency:
        return None
    if not price or not currency:
        raise refusal(422, "Price: write both a price and a currency (for example 30000 and KRW).")
    try:
        model = PriceModel(price_model or PriceModel.PER_WORK.value)
    except ValueError:
        raise refusal(
            422, "Price: {model!r} is not a way to charge (per work or flat fee).", model=price_model
        ) from None
    try:
        currency = normalise_currency(currency)
    except InvalidInput:
        raise refusal(
            422, "Currency {currency!r}: write a three-letter code such as KRW or EUR.", currency=currency
        ) from None
    try:
        amount = Money.parse(price, currency)
    except InvalidInput:
        # 3 man won, 3 man 5 cheon won, 30,000 won: how a Korean reader writes a price; PriceError says how
        try:
            amount = Money.parse(str(parse_price(price)), currency)
        except PriceError:
            raise
        except InvalidInput:
            raise PriceError(price) from None
    return Offer(price_model=model, price=amount, purposes=frozenset((Purpose.COMMERCIAL, Purpose.RESEARCH)))


def declare(
    state, p: Principal, level: Level, target_id: int | None, values: dict[str, str], offer: Offer | None
) -> dict:
    level, target, party = party_for(state, p, level, target_id)
    parsed: dict[Category, Value | None] = {}
    for k, v in values.items():
        try:
            cat = Category.parse(k)
            parsed[cat] = None if (v or "").strip().lower() == INHERIT else Value.parse(v)
        except ValueError as e:
            raise WebError(422, f"policy {k}: {e}") from None
    if offer is not None and not any(v is Value.LICENCE for v in parsed.values()):
        offer = None  # a price typed in but no category set to licence: nothing to offer
    ids = state.registry.declare(level=level, target_id=target, party=party, values=parsed, offer=offer)
    return {
        "declarations": ids,
        "level": level.value,
        "target": target,
        "party": party,
        "policy": policy_view(state, level, target),
    }


# -- signal kit ---------------------------------------------------------------------------------------


def kit(
    state,
    p: Principal,
    level: Level,
    target_id: int | None,
    site: str,
    contact: str | None,
    registry_url: str | None = None,
) -> tuple[SignalPolicy, dict[str, bytes]]:
    """The signal kit for ``site``: an origin, a folder of one (its path scopes the kit and its robots.txt
    rules), or a blog or profile on a platform (``reservation.platform_for``), whose files are the
    registry's reservation page at ``registry_url``: what such a platform allows is only pasting."""
    level, target, party = party_for(state, p, level, target_id)
    if p.holder_ref:
        who = state.registry.find_holder(p.account.holder_id)
        kind = PartyKind.HOLDER
    else:
        who = state.registry.find_org(p.account.org_id)
        kind = PartyKind.ORGANISATION
    site = (site or "").strip().rstrip("/")
    try:
        platform = platform_for(site)
        if platform.hosted:
            if kind is not PartyKind.HOLDER or not registry_url:
                raise SignalRenderError(
                    f"site {site!r}: {platform.name} has no files of yours; an organisation "
                    "publishes its signals from its own website"
                )
            base, scope = registry_url.rstrip("/"), f"/r/{'w' if level is Level.WORK else 'h'}/{target}"
            policy_url = licence_url = base + scope
        else:
            base, scope = site_scope(site)
            policy_url, licence_url = f"{base}{scope}/ai-reservation", f"{base}{scope}/license.xml"
        policy = SignalPolicy.from_decisions(
            Party(who["name"], kind, (contact or who.get("email") or p.account.email), website=site),
            base,
            state.registry.policy_decisions(level, target).values(),
            policy_url=policy_url,
            licence_urls=(licence_url,),
            scope=scope,
        )
    except SignalRenderError as e:
        raise WebError(422, f"signal kit: {e}") from None
    files = render_kit(policy)
    if platform.hosted:  # nothing to upload: what can be pasted, and the statement
        files = {k: v for k, v in files.items() if k in KIT_PASTE_ONLY or (platform.head and k == HTML_HEAD)}
    return policy, files


def kit_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), files[path])
    return buf.getvalue()


# -- organisations: members, mandates, imports, disputes ------------------------------------------------


def orgs(state) -> list[dict]:
    with state.registry.engine.connect() as c:
        return [
            {"id": o.id, "ref": f"org:{o.id}", "name": o.name, "country": o.country}
            for o in c.execute(select(Organisation.__table__).order_by(Organisation.id))
        ]


def grant_mandate(state, p: Principal, org_id: int, categories: list[str]) -> dict:
    try:
        cats = [Category.parse(c) for c in categories]
    except ValueError as e:
        raise WebError(422, f"mandate: {e}") from None
    mid = state.registry.add_mandate(p.account.holder_id, org_id, cats)
    return next(m for m in state.registry.mandates(holder_id=p.account.holder_id) if m["id"] == mid)


def members(state, p: Principal) -> list[dict]:
    out: dict[str, dict] = {}
    for m in state.registry.mandates(org_id=p.account.org_id):
        h = out.setdefault(m["holder"], {**state.registry.find_holder(int(m["holder"].split(":")[1])), "mandates": []})
        h["mandates"].append(m)
    return list(out.values())


def import_upload(state, p: Principal, file_name: str, data: bytes, skip_invalid: bool) -> dict:
    """Validate (and, if clean or ``skip_invalid``, store) an uploaded repertoire CSV.

    Web imports carry no files: a ``file`` column naming one is refused for every row that uses it, so
    that an upload can never make the server read a path of its choosing.
    """
    refused = _file_column_rows(data)
    if refused:
        return {
            "file": file_name,
            "rows": None,
            "imported": False,
            "invalid": len(refused),
            "errors": [
                {
                    "line": n,
                    "column": "file",
                    "reason": "a web import cannot reference files; leave the column empty and upload "
                    "the works' files separately",
                }
                for n in refused
            ],
        }
    staging = state.uploads_dir / secrets.token_hex(8)
    staging.mkdir(parents=True, exist_ok=True)
    path = (staging / "repertoire.csv").resolve()
    if not path.is_relative_to(state.data_dir):
        raise WebError(500, "upload staging is outside the data directory")
    try:
        path.write_bytes(data)
        report = import_csv(state.registry, path, org_id=p.account.org_id, skip_invalid=skip_invalid).to_dict()
    finally:
        path.unlink(missing_ok=True)
        staging.rmdir()
    report["file"] = file_name
    return report


def _file_column_rows(data: bytes) -> list[int]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []  # the importer reports the encoding error with its line
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        return []
    if "file" not in header:
        return []
    col = header.index("file")
    try:
        return [n for n, row in enumerate(reader, start=2) if len(row) > col and row[col].strip()]
    except csv.Error:
        return []


def disputes_for(state, p: Principal) -> list[dict]:
    mine = _own_work_ids(p)
    q = select(Dispute.id).where(or_(Dispute.work_id.in_(mine), Dispute.claim_work_id.in_(mine))).order_by(Dispute.id)
    with state.registry.engine.connect() as c:
        ids = set(c.execute(q).scalars())
    out = []
    for d in state.registry.disputes(status=None):
        if d["id"] in ids:
            full = state.registry.dispute(d["id"])
            out.append(
                {
                    **d,
                    "existing_title": full["existing"]["title"],
                    "claim_title": full["claim"]["title"],
                    "existing_parties": full["existing"]["parties"],
                    "claim_parties": full["claim"]["parties"],
                    "age_days": full["age_days"],
                    "answers": len(full["answers"]),
                }
            )
    return out


def resolve_dispute(state, p: Principal, dispute_id: int, keep: str, note: str) -> dict:
    """An organisation resolves disputes between works of its own repertoire; others go to the registry."""
    with state.registry.engine.connect() as c:
        d = c.execute(select(Dispute.work_id, Dispute.claim_work_id).where(Dispute.id == dispute_id)).first()
        if d is None:
            raise WebError(404, f"no dispute {dispute_id}")
        owners = set(c.execute(select(Work.org_id).where(Work.id.in_((d.work_id, d.claim_work_id)))).scalars())
    if owners != {p.account.org_id}:
        raise forbidden(
            f"dispute {dispute_id}: involves works outside {p.org_ref}'s repertoire; the registry operator resolves it"
        )
    r = state.registry.resolve_dispute(dispute_id, keep=keep, note=note)
    dispute_ops.wake_mailer(state)
    return r


def _own_work_ids(p: Principal):
    if p.holder_ref:
        return select(WorkShare.work_id).where(WorkShare.holder_id == p.account.holder_id)
    members_ = select(MandateRow.holder_id).where(MandateRow.org_id == p.account.org_id)
    return select(Work.id).where(
        or_(
            Work.org_id == p.account.org_id,
            Work.id.in_(select(WorkShare.work_id).where(WorkShare.holder_id.in_(members_))),
        )
    )


# -- snapshots and the log ------------------------------------------------------------------------------


def snapshots(state) -> list[dict]:
    out = []
    root = state.snapshots_dir
    for d in sorted(root.iterdir()) if root.is_dir() else ():
        manifest = d / "manifest.json"
        if not manifest.is_file():
            continue
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append(
            {
                "name": d.name,
                "kind": m.get("kind", "full"),  # or "delta" (core/snapshot_delta.py)
                "registry": m.get("registry"),
                "created_at": m.get("created_at"),
                "counts": m.get("counts", {}),
                "files": len(m.get("files", [])),
                "bytes": sum(f.get("bytes", 0) for f in m.get("files", [])),
                "key_id": (m.get("signature") or {}).get("key_id"),
            }
        )
    return out


def snapshot_file(state, name: str, rel: str) -> Path:
    """A file of a published snapshot, only if the manifest lists it (or is the manifest)."""
    root = state.snapshots_dir.resolve()
    snap = (root / name).resolve()
    if snap.parent != root or not (snap / "manifest.json").is_file():
        raise WebError(404, f"no snapshot {name!r}")
    if rel != "manifest.json":
        listed = {f["path"] for f in json.loads((snap / "manifest.json").read_text(encoding="utf-8")).get("files", [])}
        if rel not in listed:
            raise WebError(404, f"snapshot {name!r} has no file {rel!r}")
    path = (snap / rel).resolve()
    if not path.is_relative_to(snap) or not path.is_file():
        raise WebError(404, f"snapshot {name!r} has no file {rel!r}")
    return path


def verify_published(state, name: str) -> dict:
    path = snapshot_file(state, name, "manifest.json").parent
    try:
        snap = verify_snapshot(path, _required(state.registry_keys))
    except SnapshotError as e:
        return {"name": name, "valid": False, "problem": str(e)}
    return {"name": name, "valid": True, "key_id": snap.signer.key_id, "snapshot_id": snap.snapshot_id}


def _required(keys: list) -> list:
    """Trusted keys, or a refusal: with no registry key there is nothing a snapshot could be checked against
    (an empty list would trust any signer)."""
    if not keys:
        raise WebError(
            409,
            "this registry has no registry key yet: create it with `fairtrain init` or "
            "`fairtrain keys create --registry`",
        )
    return keys


def check_outputs(snapshot_dir: Path, items: list[tuple[str, bytes]], trusted: list) -> dict:
    from fairtrain.services.transparency.outputs import OutputChecker, attribution_weights

    try:
        checker = OutputChecker.open(snapshot_dir, _required(trusted))  # verified before anything is read
    except SnapshotError as e:
        raise WebError(409, f"snapshot refused: {e}") from None
    checks = checker.check(items)
    return {
        "results": [c.to_dict() for c in checks],
        "flagged": sum(c.flagged for c in checks),
        "attribution_weights": {str(k): v for k, v in attribution_weights(checks).items()},
    }


def log_head(state) -> dict:
    lg = Log(state.registry.engine)
    size, root = lg.size_and_root()
    heads = lg.heads()
    return {"size": size, "root": root.hex(), "signed_head": heads[-1] if heads else None, "signed_heads": len(heads)}


def log_entries(state, start: int, limit: int) -> list[dict]:
    return Log(state.registry.engine).entries(start, start + limit)


def log_proof(state, idx: int, size: int | None) -> dict:
    return Log(state.registry.engine).inclusion_proof(idx, size)


def log_consistency(state, old: int, new: int | None) -> dict:
    return Log(state.registry.engine).consistency_proof(old, new)


# -- repertoire uploads (a ZIP of a sheet and files, or a sheet and a selection of files) ---------------

_UPLOAD_TOKEN = re.compile(r"[0-9a-f]{24}")


def repertoire_upload(state, p: Principal, got) -> dict:
    """Stage a streamed upload (:mod:`fairtrain.web.uploads`), check all of it and preview what storing it
    would do; nothing is stored. The answer's ``upload`` names the staged upload for :func:`repertoire_store`."""
    import shutil

    from fairtrain.services.registry import repertoire

    sheet = got.file("file")
    try:
        if sheet is None:
            raise WebError(422, "repertoire upload: choose a ZIP, a CSV, a tab-separated text or an XLSX")
        client, path = sheet
        selection = [f for f in got.files if f[0] == "files"]
        prepared = repertoire.prepare(
            path, got.folder, source=client, files=got.folder / "parts" if selection else None, flat=bool(selection)
        )
        report = repertoire.validate(state.registry, prepared, p.account.org_id)
    except BaseException:
        shutil.rmtree(got.folder, ignore_errors=True)
        raise
    repertoire.save_checked(got.folder, p.account.org_id, prepared, report)
    return {**report, "upload": got.folder.name, "files_received": len(got.files)}


def repertoire_store(state, p: Principal, upload: str, *, origin: str | None = None) -> dict:
    """Store a checked upload as a background job (a process of its own); the job's state. With SMTP
    configured, the holders it first names with an address are e-mailed invitations (links from ``origin``)."""
    from fairtrain.services.registry import repertoire

    if not _UPLOAD_TOKEN.fullmatch(upload):
        raise WebError(404, f"upload {upload[:40]!r} not found")
    meta_path = state.uploads_dir / upload / "upload.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WebError(404, f"upload {upload!r} not found (already stored, or never checked)") from None
    if meta["org_id"] != p.account.org_id:
        raise WebError(404, f"upload {upload!r} not found")
    pr = meta["prepared"]
    prepared = repertoire.Prepared(
        source=pr["source"],
        sheet=Path(pr["sheet"]),
        files_root=Path(pr["files_root"]),
        encoding=pr["encoding"],
        staging=Path(pr["staging"]),
    )
    job_id = repertoire.create_job(state.registry, prepared, p.account.org_id, meta["report"])
    meta_path.unlink()  # stored once: a second press of the button finds nothing to store
    (meta_path.parent / repertoire.CHECK_FILE).unlink(missing_ok=True)  # nor does the check's page
    repertoire.start_job_process(state.registry, job_id, mailer=state.mailer, origin=origin)
    return repertoire.job(state.registry, job_id)


def import_job(state, p: Principal, job_id: int) -> dict:
    from fairtrain.services.registry import repertoire

    return repertoire.job(state.registry, job_id, org_id=p.account.org_id)


def import_jobs(state, p: Principal) -> list[dict]:
    from fairtrain.services.registry import repertoire

    return repertoire.jobs(state.registry, p.account.org_id)


def resume_import_jobs(state) -> list[int]:
    """At start-up: jobs whose process is gone (a restart, a kill) go on where they stopped."""
    from fairtrain.services.registry import repertoire

    ids = repertoire.interrupted_jobs(state.registry)
    for job_id in ids:  # links in its invitations start with $FAIRTRAIN_SITE (no request to take it from)
        repertoire.start_job_process(
            state.registry, job_id, mailer=state.mailer, origin=os.environ.get("FAIRTRAIN_SITE")
        )
    return ids
