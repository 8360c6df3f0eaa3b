"""What a party holds: a creator's works, an organisation's repertoire (and its members' works within
mandates), the disputes over them, and who may resolve one. The web's work lists, /org office and
dispute pages read them here, so one rule says what is whose."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path

from sqlalchemy import or_, select

from fairtrain.core.errors import localised
from fairtrain.core.store.models import Dispute, Mandate, Work, WorkShare
from fairtrain.core.vocab import Category, Level, Offer, Value, declared_value
from fairtrain.services.registry import disputes as disputes_
from fairtrain.services.registry import work_editing
from fairtrain.services.registry.errors import NotAllowed, NotFound, RegistryError, Unprocessable
from fairtrain.services.registry.registry import ShareSpec, register_content


def _holder_work_ids(holder_id: int):
    return select(WorkShare.work_id).where(WorkShare.holder_id == holder_id)


def _org_work_ids(org_id: int):
    """An organisation's repertoire and the works of the holders who gave it a mandate."""
    members = select(Mandate.holder_id).where(Mandate.org_id == org_id)
    return select(Work.id).where(
        or_(Work.org_id == org_id, Work.id.in_(select(WorkShare.work_id).where(WorkShare.holder_id.in_(members))))
    )


def _own(holder_id: int | None, org_id: int | None):
    if holder_id is not None:
        return _holder_work_ids(holder_id)
    if org_id is not None:
        return _org_work_ids(org_id)
    raise ValueError("portfolio: name a holder or an organisation")


def works(registry, *, holder_id: int | None = None, org_id: int | None = None, limit: int = 200, offset: int = 0):
    """The works of a holder (a share in them) or of an organisation (its repertoire and its members'
    works), by id: each one's id, title, media type, status, ISCC and work_ref."""
    with registry.engine.connect() as c:
        rows = c.execute(
            select(Work.id, Work.title, Work.media_type, Work.status, Work.iscc, Work.work_ref)
            .where(Work.id.in_(_own(holder_id, org_id)))
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


def disputes(registry, *, holder_id: int | None = None, org_id: int | None = None) -> list[dict]:
    """The disputes over a party's works (either side), each with both titles, parties, age and answers."""
    mine = _own(holder_id, org_id)
    q = select(Dispute.id).where(or_(Dispute.work_id.in_(mine), Dispute.claim_work_id.in_(mine)))
    with registry.engine.connect() as c:
        ids = set(c.execute(q).scalars())
    out = []
    for d in registry.disputes(status=None):
        if d["id"] in ids:
            full = registry.dispute(d["id"])
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


def dispute_orgs(registry, dispute_id: int) -> set[int | None] | None:
    """The organisations whose repertoire the two works of a dispute belong to; None: no such dispute."""
    with registry.engine.connect() as c:
        d = c.execute(select(Dispute.work_id, Dispute.claim_work_id).where(Dispute.id == dispute_id)).first()
        if d is None:
            return None
        return set(c.execute(select(Work.org_id).where(Work.id.in_((d.work_id, d.claim_work_id)))).scalars())


def resolve_within_repertoire(registry, org_id: int, org: str, dispute_id: int, *, keep: str, note: str) -> dict:
    """An organisation resolves a dispute between works of its own repertoire; any other goes to the
    registry operator (:class:`NotAllowed`); :class:`NotFound` where there is no such dispute."""
    orgs = dispute_orgs(registry, dispute_id)
    if orgs is None:
        raise NotFound("dispute", dispute_id)
    if orgs != {org_id}:
        raise NotAllowed(
            f"dispute {dispute_id}: involves works outside {org}'s repertoire; the registry operator resolves it"
        )
    return registry.resolve_dispute(dispute_id, keep=keep, note=note)


def declaring_party(
    registry, level: Level, target_id: int | None, *, holder_id: int | None = None, org_id: int | None = None
) -> tuple[Level, int, str]:
    """(level, target, declaring party) for a creator (``holder_id``) or an organisation (``org_id``): a
    work only for its holders or an organisation one of them gave a mandate; otherwise her catalogue or its
    repertoire. :class:`NotAllowed` for anything else."""
    holder = f"holder:{holder_id}" if holder_id is not None else None
    org = f"org:{org_id}" if org_id is not None else None
    if level is Level.WORK:
        facts = registry.facts(target_id)
        if holder:
            if holder not in facts.holders:
                raise NotAllowed(f"work {target_id}: you are not one of its holders")
            return level, target_id, holder
        if org:
            if not any(m.org == org for m in facts.mandates):
                raise NotAllowed(f"work {target_id}: no holder of it gave {org} a mandate")
            return level, target_id, org
        raise NotAllowed(f"work {target_id}: only its holders or their organisations declare for it")
    if holder:
        return Level.CATALOGUE, holder_id, holder
    if org:
        return Level.REPERTOIRE, org_id, org
    raise NotAllowed("policy: only creators and organisation admins declare")


def register_own(registry, holder_id: int, *, title: str, data, file_name: str, registered=None) -> dict:
    """A creator registers a work of her own, as its sole author (co-holders join later by invitation):
    :meth:`Registry.add_work`'s answer. ``registered``: the (media type, fingerprint, ISCC) a worker computed."""
    return registry.add_work(
        title=title,
        shares=[ShareSpec(holder_id, "author", Fraction(1))],
        data=data,
        file_name=file_name,
        registered=registered,
    )


def members(registry, org_id: int) -> list[dict]:
    """An organisation's members: each holder who gave it a mandate, with those mandates."""
    out: dict[str, dict] = {}
    for m in registry.mandates(org_id=org_id):
        h = out.setdefault(m["holder"], {**registry.find_holder(int(m["holder"].split(":")[1])), "mandates": []})
        h["mandates"].append(m)
    return list(out.values())


def give_mandate(registry, holder_id: int, org_id: int, categories: Iterable[str]) -> dict:
    """A creator mandates an organisation for the named uses (as typed); the mandate as stored."""
    try:
        cats = [Category.parse(c) for c in categories]
    except ValueError as e:
        raise Unprocessable(f"mandate: {e}") from None
    mid = registry.add_mandate(holder_id, org_id, cats)
    return next(m for m in registry.mandates(holder_id=holder_id) if m["id"] == mid)


# -- declarations ------------------------------------------------------------------------------------------

# The plain-words default of a first declaration: deny everything, but let search engines index.
DEFAULT_POLICY = {c.value: ("allow" if c is Category.SEARCH else "deny") for c in Category}


def policy(registry, level: Level, target_id: int) -> dict:
    """What applies at a level now, per category: the value and the offers (what pages and the API show)."""
    decisions = registry.policy_decisions(level, target_id)
    return {c.value: {"value": d.value.value, "offers": [o.to_dict() for o in d.offers]} for c, d in decisions.items()}


def has_declared(registry, level: Level, target_id: int) -> bool:
    """Whether the work, catalogue or repertoire has a declaration of its own."""
    ref = {Level.WORK: "work", Level.CATALOGUE: "holder", Level.REPERTOIRE: "org"}[level]
    return bool(registry.declarations(f"{ref}:{target_id}"))


def parse_values(values: Mapping[str, str]) -> dict[Category, Value | None]:
    """Declared values as typed, per category name: allow, deny, licence, or inherit (None)."""
    parsed: dict[Category, Value | None] = {}
    for k, v in values.items():
        try:
            parsed[Category.parse(k)] = declared_value(v)
        except ValueError as e:
            raise Unprocessable(f"policy {k}: {e}") from None
    return parsed


def declare(
    registry, *, level: Level, target_id: int, party: str, values: Mapping[Category, Value | None], offer, **when
) -> list[int]:
    """:meth:`Registry.declare`, where an offer counts only beside a ``licence`` value (a price typed in with
    no category set to licence offers nothing). ``when``: ``purpose``, ``valid_from``, ``valid_until``."""
    if offer is not None and not any(v is Value.LICENCE for v in values.values()):
        offer = None
    return registry.declare(level=level, target_id=target_id, party=party, values=values, offer=offer, **when)


def declare_policy(registry, level: Level, target_id: int, party: str, values: Mapping[str, str], offer: Offer | None):
    """The policy form or ``PUT /api/…policy``: values as typed, declared, and the policy that now applies."""
    ids = declare(registry, level=level, target_id=target_id, party=party, values=parse_values(values), offer=offer)
    return {
        "declarations": ids,
        "level": level.value,
        "target": target_id,
        "party": party,
        "policy": policy(registry, level, target_id),
    }


# -- a creator's uploads ------------------------------------------------------------------------------------


def content_of(media: str, data: bytes, name: str, lang: str) -> tuple[bytes, str | None]:
    """:func:`~fairtrain.services.registry.registry.register_content` (the registered fingerprint and ISCC) as
    an upload's worker process computes it: a document that cannot be read says why in ``lang`` (errors cross
    the process boundary as text)."""
    from fairtrain.core.extract import DocumentError  # the document readers load only where one is read

    try:
        return register_content(media, data, name)
    except DocumentError as e:
        raise RegistryError(localised(e, lang)) from None


def uploaded(registry, name: str, registered: dict) -> dict:
    """One uploaded file's result as the upload pages show it: the work it became, as stored."""
    w = registry.work(registered["work"])
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


def register_files(
    registry,
    data_dir: Path,
    holder_id: int,
    files: list[tuple[str, bytes]],
    titles: list[str] | None = None,
    registered: list | None = None,
    lang: str = "en",
) -> list[dict]:
    """Register each file as a work of the creator (sole holder), with a small preview for her work page
    (never the file itself); a bad file is reported (in ``lang`` where the reason is in the catalogue), the
    others go on. ``registered``: per file, the (media type, fingerprint, ISCC) a worker computed, or the
    reason it could not, as text."""
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
            r = register_own(registry, holder_id, title=title, data=data, file_name=name or title, registered=content)
            if r["created"]:
                media = registry.work(r["work"])["media_type"]
                preview = work_editing.make_preview(media, data, name or title)
                work_editing.keep_preview(registry, data_dir, r["work"], preview)
            results.append(
                {**uploaded(registry, name, r), "notice": disputes_.upload_notice(registry, r["disputes"], lang)}
            )
        except (RegistryError, ValueError) as e:
            results.append({"file": name, "ok": False, "error": localised(e, lang)})
    return results
