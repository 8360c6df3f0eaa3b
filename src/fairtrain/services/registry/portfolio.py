"""What a party holds: a creator's works, an organisation's repertoire (and its members' works within
mandates), the disputes over them, and who may resolve one. The web's work lists, /org office and
dispute pages read them here, so one rule says what is whose."""

from __future__ import annotations

from sqlalchemy import or_, select

from fairtrain.core.store.models import Dispute, MandateRow, Work, WorkShare
from fairtrain.services.registry.errors import NotAllowed


def _holder_work_ids(holder_id: int):
    return select(WorkShare.work_id).where(WorkShare.holder_id == holder_id)


def _org_work_ids(org_id: int):
    """An organisation's repertoire and the works of the holders who gave it a mandate."""
    members = select(MandateRow.holder_id).where(MandateRow.org_id == org_id)
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
