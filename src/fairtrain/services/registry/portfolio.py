"""What a party holds: a creator's works, an organisation's repertoire (and its members' works within
mandates), the disputes over them, and who may resolve one. The web's work lists, /org office and
dispute pages read them here, so one rule says what is whose."""

from __future__ import annotations

from fractions import Fraction

from sqlalchemy import or_, select

from fairtrain.core.store.models import Dispute, Mandate, Work, WorkShare
from fairtrain.core.vocab import Level
from fairtrain.services.registry.errors import NotAllowed
from fairtrain.services.registry.registry import ShareSpec


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
    registry operator (:class:`NotAllowed`). The caller checks the dispute exists (:func:`dispute_orgs`)."""
    if dispute_orgs(registry, dispute_id) != {org_id}:
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
