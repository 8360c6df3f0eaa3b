"""What the API and the pages do about disputes and notifications, once: each checks the caller's standing,
then calls the registry or the notifications service, where the rules live."""

from __future__ import annotations

from fairtrain.core.i18n import translator
from fairtrain.services.notify import KEYS, OUTCOMES, words
from fairtrain.web.errors import forbidden
from fairtrain.web.security import Principal


def _may_see(state, p: Principal, d: dict) -> str | None:
    """The caller's side (``existing``/``claim``), ``org`` for the organisation that holds either work, or a 403."""
    if p.holder_ref:
        for side in ("existing", "claim"):
            if p.account.holder_id in d[side]["holder_ids"]:
                return side
    if p.org_ref and p.account.org_id in (d["existing"]["org_id"], d["claim"]["org_id"]):
        return "org"
    raise forbidden(f"dispute {d['id']}: only its parties and the organisation holding the works may see it")


def dispute_view(state, p: Principal, dispute_id: int, lang: str = "en") -> dict:
    """A dispute for one of its parties: both claims (title, date, party, never the file), the answers, what
    happens next, in ``lang``; internal holder ids are left out."""
    d = state.registry.dispute(dispute_id)
    me = _may_see(state, p, d)
    _ = translator(lang)
    out = {k: v for k, v in d.items() if k not in ("existing", "claim")}
    for side in ("existing", "claim"):
        out[side] = {k: v for k, v in d[side].items() if k not in ("holder_ids", "org_id")}
    out["me"] = me
    out["reason"] = _(KEYS.get(d["key"], d["key"]))
    if d["status"] == "open":
        out["next"] = _(
            "Both works are marked as disputed until the organisation or the registry decides. "
            "Each side may add evidence: a statement, a publication link, an earlier draft or a "
            "registration certificate from elsewhere."
        )
    else:
        keep = (d["resolution"] or "").removeprefix("kept ").split(":")[0]
        out["next"] = _("Decided: ") + _(OUTCOMES.get(keep, d["resolution"] or ""))
    return out


def answer(state, p: Principal, dispute_id: int, statement: str, link: str, evidence: tuple[str, bytes] | None) -> dict:
    if not p.holder_ref:
        raise forbidden(f"dispute {dispute_id}: only the creators on either side answer it")
    _may_see(state, p, state.registry.dispute(dispute_id))
    r = state.registry.answer_dispute(
        dispute_id,
        holder_id=p.account.holder_id,
        statement=statement,
        link=link,
        evidence=evidence,
        evidence_dir=state.data_dir / "evidence",
    )
    wake_mailer(state)
    return r


def upload_notice(state, dispute_ids: list[int], lang: str) -> str | None:
    """What an upload that collides with an existing registration is told at once, in words."""
    if not dispute_ids:
        return None
    _ = translator(lang)
    parts = []
    for did in dispute_ids:
        d = state.registry.dispute(did)
        title, text = words(
            "dispute",
            "opened-claim",
            {
                "title": d["claim"]["title"],
                "other_title": d["existing"]["title"],
                "party": ", ".join(d["existing"]["parties"]),
                "date": d["existing"]["registered_at"][:10],
                "key": d["key"],
                "path": f"/disputes/{did}",
            },
            lang,
        )
        parts.append(text)
    return " ".join(parts)


def wake_mailer(state) -> None:
    if state.mailer is not None:
        state.mailer.wake()


def bell(state, p: Principal) -> int | None:
    """The unread count shown beside the menu; None for callers without notifications."""
    if not p.holder_ref:
        return None
    return state.notifications.unread(p.account.holder_id)


def require_holder(p: Principal):
    if not p.holder_ref:
        raise forbidden("notifications: only creators receive them")
    return p.account.holder_id
