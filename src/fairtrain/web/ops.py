"""What the API and the pages do, once: each operation takes the caller and checks its standing first."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

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
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Purpose, Value
from fairtrain.services.log import Log
from fairtrain.services.registry import RegistryError, disputes, portfolio, repertoire, repertoire_uploads
from fairtrain.services.registry.search import search_works
from fairtrain.services.transparency import published
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


def wake_mailer(state) -> None:
    """A new notice (a colliding upload, a resolved dispute) is mailed now rather than at the next tick."""
    if state.mailer is not None:
        state.mailer.wake()


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
            r = portfolio.register_own(
                state.registry, p.account.holder_id, title=title, data=data, file_name=name or title, registered=content
            )
            if r["created"]:  # a small preview for her work page (never the file itself)
                keep_preview(state, r["work"], data, name or title)
            results.append(
                {**uploaded_work(state, name, r), "notice": disputes.upload_notice(state.registry, r["disputes"], lang)}
            )
            if r["disputes"]:
                wake_mailer(state)
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
        return portfolio.works(state.registry, holder_id=p.account.holder_id, limit=limit, offset=offset)
    if p.org_ref:
        return portfolio.works(state.registry, org_id=p.account.org_id, limit=limit, offset=offset)
    raise forbidden("works: only creators and organisation admins have works")


def holder_works(state, holder_id: int, *, limit: int = 200, offset: int = 0) -> list[dict]:
    """The works a holder has a share in (public: the registry's work pages list them too)."""
    return portfolio.works(state.registry, holder_id=holder_id, limit=limit, offset=offset)


def search(state, query: str, *, limit: int = 20, after: int = 0) -> dict:
    """Public search (services.registry.search: titles, holders, work_refs, identifiers), one page of
    works with each one's current terms, and the ``after`` of the next page."""
    page = search_works(state.registry.engine, query, limit=limit, after=after)
    for r in page.results:
        r["terms"] = state.registry.terms(r["id"])
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
    return portfolio.declaring_party(
        state.registry,
        level,
        target_id,
        holder_id=p.account.holder_id if p.holder_ref else None,
        org_id=p.account.org_id if p.org_ref else None,
    )


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
    return [{k: o[k] for k in ("id", "ref", "name", "country")} for o in state.registry.list_orgs()]


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
    """Validate (and, if clean or ``skip_invalid``, store) an uploaded repertoire CSV (no ``file`` column)."""
    return repertoire_uploads.import_csv_upload(
        state.registry, state.uploads_dir, state.data_dir, p.account.org_id, file_name, data, skip_invalid
    )


def disputes_for(state, p: Principal) -> list[dict]:
    if p.holder_ref:
        return portfolio.disputes(state.registry, holder_id=p.account.holder_id)
    return portfolio.disputes(state.registry, org_id=p.account.org_id)


def resolve_dispute(state, p: Principal, dispute_id: int, keep: str, note: str) -> dict:
    """An organisation resolves disputes between works of its own repertoire; others go to the registry."""
    if portfolio.dispute_orgs(state.registry, dispute_id) is None:
        raise WebError(404, f"no dispute {dispute_id}")
    r = portfolio.resolve_within_repertoire(
        state.registry, p.account.org_id, p.org_ref, dispute_id, keep=keep, note=note
    )
    wake_mailer(state)
    return r


# -- snapshots and the log ------------------------------------------------------------------------------


def snapshots(state) -> list[dict]:
    return published.snapshots(state.snapshots_dir)


def snapshot_file(state, name: str, rel: str) -> Path:
    """A file of a published snapshot, only if the manifest lists it (or is the manifest)."""
    return published.snapshot_file(state.snapshots_dir, name, rel)


def verify_published(state, name: str) -> dict:
    return published.verify_published(state.snapshots_dir, name, state.registry_keys)


def log_head(state) -> dict:
    return Log(state.registry.engine).summary()


def log_entries(state, start: int, limit: int) -> list[dict]:
    return Log(state.registry.engine).entries(start, start + limit)


def log_proof(state, idx: int, size: int | None) -> dict:
    return Log(state.registry.engine).inclusion_proof(idx, size)


def log_consistency(state, old: int, new: int | None) -> dict:
    return Log(state.registry.engine).consistency_proof(old, new)


# -- repertoire uploads (a ZIP of a sheet and files, or a sheet and a selection of files) ---------------


def repertoire_upload(state, p: Principal, got) -> dict:
    """Check a streamed upload (:func:`fairtrain.web.uploads.receive_repertoire`) and preview what storing it
    would do; nothing is stored. The answer's ``upload`` names the staged upload for :func:`repertoire_store`."""
    report = repertoire_uploads.check_upload(
        state.registry, p.account.org_id, got.folder, got.source, got.sheet, selection=got.selection
    )
    return {**report, "files_received": len(got.files)}


def repertoire_store(state, p: Principal, upload: str, *, origin: str | None = None) -> dict:
    """Store a checked upload as a background job (a process of its own); the job's state. With SMTP
    configured, the holders it first names with an address are e-mailed invitations (links from ``origin``)."""
    return repertoire_uploads.store_upload(
        state.registry, state.uploads_dir, p.account.org_id, upload, mailer=state.mailer, origin=origin
    )


def import_job(state, p: Principal, job_id: int) -> dict:
    return repertoire.job(state.registry, job_id, org_id=p.account.org_id)


def import_jobs(state, p: Principal) -> list[dict]:
    return repertoire.jobs(state.registry, p.account.org_id)
