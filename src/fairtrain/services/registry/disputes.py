"""Disputes as their parties see them: who may see one (its two sides and the organisations holding either
work), the words that say what happens next, and the notice an upload that collides is told at once. The web
and the CLI call these; the dispute itself lives in :class:`~fairtrain.services.registry.Registry`."""

from __future__ import annotations

from pathlib import Path

from fairtrain.core.i18n import translator
from fairtrain.services.notify import KEYS, OUTCOMES, words
from fairtrain.services.registry.errors import NotAllowed


def standing(d: dict, *, holder_id: int | None = None, org_id: int | None = None) -> str:
    """The asking party's side of dispute ``d`` (``existing``/``claim``), ``org`` for the organisation that
    holds either work, or :class:`NotAllowed`."""
    if holder_id is not None:
        for side in ("existing", "claim"):
            if holder_id in d[side]["holder_ids"]:
                return side
    if org_id is not None and org_id in (d["existing"]["org_id"], d["claim"]["org_id"]):
        return "org"
    raise NotAllowed(f"dispute {d['id']}: only its parties and the organisation holding the works may see it")


def dispute_view(
    registry, dispute_id: int, *, holder_id: int | None = None, org_id: int | None = None, lang: str = "en"
) -> dict:
    """A dispute for one of its parties: both claims (title, date, party, never the file), the answers, what
    happens next, in ``lang``; internal holder ids are left out."""
    d = registry.dispute(dispute_id)
    me = standing(d, holder_id=holder_id, org_id=org_id)
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


def answer(
    registry,
    dispute_id: int,
    *,
    holder_id: int | None,
    org_id: int | None = None,
    statement: str = "",
    link: str = "",
    evidence: tuple[str, bytes] | None = None,
    evidence_dir: Path | None = None,
) -> dict:
    """A creator on either side answers (an organisation sees the dispute but does not answer it)."""
    if holder_id is None:
        raise NotAllowed(f"dispute {dispute_id}: only the creators on either side answer it")
    standing(registry.dispute(dispute_id), holder_id=holder_id, org_id=org_id)
    return registry.answer_dispute(
        dispute_id, holder_id=holder_id, statement=statement, link=link, evidence=evidence, evidence_dir=evidence_dir
    )


def upload_notice(registry, dispute_ids: list[int], lang: str) -> str | None:
    """What an upload that collides with an existing registration is told at once, in words."""
    if not dispute_ids:
        return None
    parts = []
    for did in dispute_ids:
        d = registry.dispute(did)
        _title, text = words(
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
