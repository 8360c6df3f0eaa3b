"""A work is its holders' to shape: its titles, its co-holders and their shares, its withdrawal, its preview.

Who may: the work's holders, or the administrators of the organisation it was imported by (``party`` is
``holder:N`` or ``org:N``, as everywhere in the registry). Every change is one transaction that appends a
public log entry and bumps the facts version, like the registry's other writes. A per-work policy is a
work-level declaration (:meth:`Registry.declare`); the engine already lets it override the holder's
catalogue (:mod:`fairtrain.core.decide`).

Withdrawal is permission-first (DESIGN.md, principle 1: absence of permission is not permission): a
withdrawn work is not forgotten and does not fall back to *unknown*, which a reservation-only clearance
could read as allowed. The withdrawing holder declares ``deny`` for every use at the work's level, which
supersedes her earlier per-work terms (and offers) from that moment; licences already granted stay, as
contracts do; the history stays in the log and the work page says since when it is withdrawn.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import subprocess
import tempfile
from datetime import timedelta
from fractions import Fraction
from io import BytesIO
from pathlib import Path

from sqlalchemy import insert, select, update

from fairtrain.core.errors import Conflict, InvalidInput, NotAllowed, NotFound, said_as
from fairtrain.core.i18n import N_
from fairtrain.core.store.limits import check_text
from fairtrain.core.store.models import Holder, Work, WorkInvitation, WorkShare, utcnow
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services import log
from fairtrain.services.registry.registry import (
    SHARE_ROLES,
    Registry,
    bump_facts_version,
    holder_ref,
    keep_hashed,
    parse_party,
    parse_share,
    store_declarations,
    work_ref,
)

INVITATION_DAYS = 14
PREVIEW_PIXELS = 256
PREVIEW_CHARS = 500
PREVIEW_SECONDS = 30
PREVIEW_TYPES = {"image": "image/png", "text": "text/plain; charset=utf-8", "audio": "audio/mpeg"}

MSG_NOT_YOURS = N_("Work {work}: only its holders or its organisation's administrators may change it.")
MSG_WITHDRAWN = N_("Work {work} was withdrawn on {date}: it can no longer be changed.")
MSG_TITLE = N_("Title: write the work's title (at most 1000 characters).")
MSG_ROLE = N_("Role: choose one of the listed roles.")
MSG_EMAIL = N_("E-mail: “{email}” is not an e-mail address (for example name@example.kr).")
MSG_SHARE = N_("Share: “{share}” cannot be read as a share (write 1/2, 0.5 or 50%).")
MSG_KEEP_NOTHING = N_(
    "Share: you hold {held} of this work; giving {share} would leave you nothing. Give less, or keep part."
)
MSG_SUM = N_("Share: after this change the shares would add up to {total}, not 1. Adjust your share or theirs.")
MSG_INVITATION = N_("Invitation: this link is not valid (used, withdrawn or replaced).")
MSG_EXPIRED = N_("Invitation: this link expired on {date}. Ask for a new invitation.")
MSG_CHANGED = N_("Invitation: the shares of this work changed since the invitation was sent. Ask for a new one.")
MSG_ALREADY = N_("Invitation: you already hold a share of this work.")
MSG_NOT_FOR_YOU = N_("Invitation: it was sent to another e-mail address. Open the link from the e-mail instead.")


def _row(c, work_id: int):
    w = c.execute(select(Work.__table__).where(Work.id == work_id)).first()
    if w is None:
        raise NotFound("work", work_id)
    return w


def _holder_ids(c, work_id: int) -> set[int]:
    return set(c.execute(select(WorkShare.holder_id).where(WorkShare.work_id == work_id)).scalars())


def _check_may_edit(c, w, party: str) -> None:
    kind, pid = parse_party(party)
    mine = pid in _holder_ids(c, w.id) if kind == "holder" else w.org_id == pid
    if not mine:
        raise said_as(NotAllowed, MSG_NOT_YOURS, work=w.id)
    if w.withdrawn_at is not None:
        raise said_as(Conflict, MSG_WITHDRAWN, work=w.id, date=w.withdrawn_at.date().isoformat())


def may_edit(registry: Registry, work_id: int, party: str | None) -> bool:
    """Whether ``party`` may shape the work (and see its preview): a holder of it, or its organisation."""
    if not party:
        return False
    with registry.engine.connect() as c:
        w = _row(c, work_id)
        kind, pid = parse_party(party)
        return pid in _holder_ids(c, work_id) if kind == "holder" else w.org_id == pid


def edit_titles(registry: Registry, work_id: int, party: str, *, title: str, title_latin: str | None) -> dict:
    """Set the work's title (in Korean, or whatever script she writes it in) and its Latin-script title."""
    title = (title or "").strip()
    title_latin = (title_latin or "").strip() or None
    if not title:
        raise said_as(InvalidInput, MSG_TITLE)
    for column, value in ((Work.title, title), (Work.title_latin, title_latin)):
        try:
            check_text(column, value, "title", InvalidInput)
        except InvalidInput:
            raise said_as(InvalidInput, MSG_TITLE) from None
    now = utcnow()
    with registry.engine.begin() as c:
        w = _row(c, work_id)
        _check_may_edit(c, w, party)
        c.execute(update(Work).where(Work.id == work_id).values(title=title, title_latin=title_latin))
        log.append(
            c,
            [
                log.Entry(
                    "work-edited",
                    {"work": work_ref(work_id), "by": party, "title": title, "title_latin": title_latin},
                    subject=work_ref(work_id),
                )
            ],
            at=now,
        )
        bump_facts_version(c)
    registry._changed()
    return registry.work(work_id)


def withdraw(registry: Registry, work_id: int, party: str) -> dict:
    """Withdraw the work (see the module's note: ``deny`` for every use, by the withdrawing party)."""
    now = utcnow()
    with registry.engine.begin() as c:
        w = _row(c, work_id)
        _check_may_edit(c, w, party)
        rows = [
            {
                "level": Level.WORK.value,
                "target": work_ref(work_id),
                "party": party,
                "category": cat.value,
                "value": Value.DENY.value,
                "offer": None,
                "purpose": None,
                "valid_from": now,
                "valid_until": None,
                "declared_at": now,
            }
            for cat in Category
        ]
        ids = store_declarations(c, rows, now)
        c.execute(update(Work).where(Work.id == work_id).values(withdrawn_at=now))
        log.append(
            c,
            [
                log.Entry(
                    "work-withdrawn",
                    {"work": work_ref(work_id), "by": party, "declarations": ids},
                    subject=work_ref(work_id),
                )
            ],
            at=now,
        )
        bump_facts_version(c)
    registry._changed()
    return registry.work(work_id)


# -- co-holders ------------------------------------------------------------------------------------


def _share(text: str | Fraction) -> Fraction:
    if isinstance(text, Fraction):
        return text
    try:
        return parse_share(str(text))
    except InvalidInput:
        raise said_as(InvalidInput, MSG_SHARE, share=str(text).strip()[:40]) from None


def _shares(c, work_id: int) -> dict[int, Fraction]:
    return {
        r.holder_id: Fraction(r.share_num, r.share_den)
        for r in c.execute(
            select(WorkShare.holder_id, WorkShare.share_num, WorkShare.share_den).where(WorkShare.work_id == work_id)
        )
    }


def _check_sum(shares: dict[int, Fraction], inviter: int, keep: Fraction, share: Fraction) -> None:
    total = sum((v for h, v in shares.items() if h != inviter), Fraction(0)) + keep + share
    if total != 1:
        raise said_as(InvalidInput, MSG_SUM, total=str(total))


def invite(
    registry: Registry,
    work_id: int,
    party: str,
    *,
    email: str,
    role: str,
    share: str | Fraction,
    keep: str | Fraction | None = None,
    days: int = INVITATION_DAYS,
) -> tuple[dict, str]:
    """Invite a co-holder by e-mail; returns the invitation and its single-use token (only its SHA-256 is
    stored). The shares change only when the invitee confirms (:func:`accept`): ``share`` is hers, taken
    from the inviting holder, who keeps ``keep`` (by default what she holds less ``share``)."""
    kind, inviter = parse_party(party)
    email = (email or "").strip().lower()
    if "@" not in email or " " in email or len(email) > 320 or email.startswith("@") or email.endswith("@"):
        raise said_as(InvalidInput, MSG_EMAIL, email=email[:80])
    if role not in SHARE_ROLES:
        raise said_as(InvalidInput, MSG_ROLE)
    given = _share(share)
    token = secrets.token_urlsafe(24)
    now = utcnow()
    with registry.engine.begin() as c:
        w = _row(c, work_id)
        if kind != "holder":
            raise said_as(NotAllowed, MSG_NOT_YOURS, work=work_id)
        _check_may_edit(c, w, party)
        shares = _shares(c, work_id)
        held = shares[inviter]
        if keep is None or (isinstance(keep, str) and not keep.strip()):
            kept = held - given
            if kept <= 0:
                raise said_as(InvalidInput, MSG_KEEP_NOTHING, held=str(held), share=str(given))
        else:
            kept = _share(keep)
        _check_sum(shares, inviter, kept, given)
        iid = c.execute(
            insert(WorkInvitation)
            .values(
                work_id=work_id,
                inviter_holder_id=inviter,
                email=email,
                role=role,
                share_num=given.numerator,
                share_den=given.denominator,
                keep_num=kept.numerator,
                keep_den=kept.denominator,
                token_hash=_hash(token),
                created_at=now,
                expires_at=now + timedelta(days=days),
            )
            .returning(WorkInvitation.id)
        ).scalar_one()
    return invitation(registry, iid), token


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invitation_dict(r, title: str | None = None) -> dict:
    now = utcnow()
    state = (
        "accepted"
        if r.accepted_at
        else "withdrawn"
        if r.withdrawn_at
        else "expired"
        if r.expires_at <= now
        else "pending"
    )
    return {
        "id": r.id,
        "work": r.work_id,
        "title": title,
        "inviter": holder_ref(r.inviter_holder_id),
        "email": r.email,
        "role": r.role,
        "share": str(Fraction(r.share_num, r.share_den)),
        "keep": str(Fraction(r.keep_num, r.keep_den)),
        "created_at": r.created_at.isoformat(),
        "expires_at": r.expires_at.isoformat(),
        "state": state,
    }


def invitation(registry: Registry, invitation_id: int) -> dict:
    with registry.engine.connect() as c:
        r = c.execute(
            select(WorkInvitation.__table__, Work.title)
            .join(Work, Work.id == WorkInvitation.work_id)
            .where(WorkInvitation.id == invitation_id)
        ).first()
    if r is None:
        raise NotFound("invitation", invitation_id)
    return _invitation_dict(r, r.title)


def invitation_by_token(registry: Registry, token: str) -> dict:
    with registry.engine.connect() as c:
        r = c.execute(select(WorkInvitation.id).where(WorkInvitation.token_hash == _hash(token))).first()
    if r is None:
        raise said_as(NotAllowed, MSG_INVITATION)
    return invitation(registry, r.id)


def invitations(registry: Registry, work_id: int, *, pending_only: bool = True) -> list[dict]:
    with registry.engine.connect() as c:
        rows = c.execute(
            select(WorkInvitation.__table__).where(WorkInvitation.work_id == work_id).order_by(WorkInvitation.id)
        ).all()
    out = [_invitation_dict(r) for r in rows]
    return [i for i in out if i["state"] == "pending"] if pending_only else out


def withdraw_invitation(registry: Registry, invitation_id: int, party: str) -> dict:
    with registry.engine.begin() as c:
        r = c.execute(select(WorkInvitation.__table__).where(WorkInvitation.id == invitation_id)).first()
        if r is None:
            raise NotFound("invitation", invitation_id)
        _check_may_edit(c, _row(c, r.work_id), party)
        if r.accepted_at is None and r.withdrawn_at is None:
            c.execute(
                update(WorkInvitation)
                .where(WorkInvitation.id == invitation_id)
                .values(withdrawn_at=utcnow(), token_hash=None)
            )
    return invitation(registry, invitation_id)


def accept(
    registry: Registry,
    holder_id: int,
    *,
    token: str | None = None,
    invitation_id: int | None = None,
    email: str | None = None,
) -> dict:
    """The invitee confirms, signed in as ``holder_id``: by the e-mail's single-use ``token``, or by the
    invitation's id when her account's ``email`` is the one invited. Only now do the shares change, and only
    if they still add up to 1 (the inviter keeps what the invitation said)."""
    now = utcnow()
    with registry.engine.begin() as c:
        if token is not None:
            r = c.execute(select(WorkInvitation.__table__).where(WorkInvitation.token_hash == _hash(token))).first()
            if r is None or not hmac.compare_digest(r.token_hash or "", _hash(token)):
                raise said_as(NotAllowed, MSG_INVITATION)
        else:
            r = c.execute(select(WorkInvitation.__table__).where(WorkInvitation.id == invitation_id)).first()
            if r is None or r.token_hash is None:
                raise said_as(NotAllowed, MSG_INVITATION)
            if not email or email.strip().lower() != r.email.lower():
                raise said_as(NotAllowed, MSG_NOT_FOR_YOU)
        if r.accepted_at is not None or r.withdrawn_at is not None:
            raise said_as(NotAllowed, MSG_INVITATION)
        if r.expires_at <= now:
            raise said_as(NotAllowed, MSG_EXPIRED, date=r.expires_at.date().isoformat())
        w = _row(c, r.work_id)
        if w.withdrawn_at is not None:
            raise said_as(Conflict, MSG_WITHDRAWN, work=w.id, date=w.withdrawn_at.date().isoformat())
        if c.execute(select(Holder.id).where(Holder.id == holder_id)).first() is None:
            raise NotFound("holder", holder_id)
        shares = _shares(c, r.work_id)
        if holder_id in shares:
            raise said_as(Conflict, MSG_ALREADY)
        given, kept = Fraction(r.share_num, r.share_den), Fraction(r.keep_num, r.keep_den)
        if r.inviter_holder_id not in shares:
            raise said_as(Conflict, MSG_CHANGED)
        try:
            _check_sum(shares, r.inviter_holder_id, kept, given)
        except InvalidInput:
            raise said_as(Conflict, MSG_CHANGED) from None
        # Single use: the token goes first, in the same transaction as the shares.
        taken = c.execute(
            update(WorkInvitation)
            .where(
                WorkInvitation.id == r.id, WorkInvitation.accepted_at.is_(None), WorkInvitation.token_hash.is_not(None)
            )
            .values(accepted_at=now, accepted_holder_id=holder_id, token_hash=None)
        ).rowcount
        if taken != 1:
            raise said_as(NotAllowed, MSG_INVITATION)
        c.execute(
            update(WorkShare)
            .where(WorkShare.work_id == r.work_id, WorkShare.holder_id == r.inviter_holder_id)
            .values(share_num=kept.numerator, share_den=kept.denominator)
        )
        c.execute(
            insert(WorkShare).values(
                work_id=r.work_id,
                holder_id=holder_id,
                role=r.role,
                share_num=given.numerator,
                share_den=given.denominator,
            )
        )
        after = _shares(c, r.work_id)
        log.append(
            c,
            [
                log.Entry(
                    "work-holders",
                    {
                        "work": work_ref(r.work_id),
                        "invitation": r.id,
                        "added": holder_ref(holder_id),
                        "role": r.role,
                        "shares": {holder_ref(h): str(v) for h, v in sorted(after.items())},
                    },
                    subject=work_ref(r.work_id),
                )
            ],
            at=now,
        )
        bump_facts_version(c)
    registry._changed()
    return registry.work(r.work_id)


def holders_with_account_email(registry: Registry, email: str) -> list[int]:
    """The holders whose account has this e-mail address (to tell them in the app too)."""
    from fairtrain.core.store.models import User

    with registry.engine.connect() as c:
        return [
            h
            for h in c.execute(select(User.holder_id).where(User.email == email.strip().lower())).scalars()
            if h is not None
        ]


# -- preview ---------------------------------------------------------------------------------------


def make_preview(media_type: str | None, data: bytes, name: str) -> bytes | None:
    """A small preview of a work's content, never the work: a PNG thumbnail at most 256 px, the first
    500 characters of its text, or a 30-second 48 kbit/s MP3 clip. None where none can be made."""
    try:
        if media_type == "image":
            from PIL import Image

            with Image.open(BytesIO(data)) as im:
                im.thumbnail((PREVIEW_PIXELS, PREVIEW_PIXELS))
                out = BytesIO()
                im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB").save(out, "PNG", optimize=True)
                return out.getvalue()
        if media_type == "text":
            from fairtrain.core.extract import extract_text

            try:
                text = extract_text(data, name)
            except Exception:  # noqa: BLE001 - a plain-text file is not a document format
                text = None
            if text is None:
                text = data[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")
            return " ".join(text.split())[:PREVIEW_CHARS].encode()
        if media_type == "audio":
            with tempfile.TemporaryDirectory() as d:
                src = Path(d) / "in"
                src.write_bytes(data)
                done = subprocess.run(
                    ["ffmpeg", "-nostdin", "-v", "error", "-i", str(src), "-t", str(PREVIEW_SECONDS), "-vn"]
                    + ["-ac", "1", "-b:a", "48k", "-f", "mp3", str(Path(d) / "out.mp3")],
                    capture_output=True,
                    timeout=60,
                )
                out = Path(d) / "out.mp3"
                return out.read_bytes() if done.returncode == 0 and out.exists() else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    except Exception:  # noqa: BLE001 - Pillow's many decoder errors: no preview, the registration stands
        return None
    return None


def keep_preview(registry: Registry, data_dir: Path, work_id: int, preview: bytes | None) -> str | None:
    """Store a preview under ``DATA/previews/<sha256>`` (atomically) and note it on the work."""
    if not preview:
        return None
    sha = keep_hashed(Path(data_dir) / "previews", preview)
    with registry.engine.begin() as c:
        c.execute(update(Work).where(Work.id == work_id).values(preview_sha256=sha))
    return sha


def preview(registry: Registry, data_dir: Path, work_id: int, party: str | None) -> tuple[bytes, str]:
    """The kept preview and its media type, for the work's holders and its organisation only."""
    if not may_edit(registry, work_id, party):
        raise said_as(NotAllowed, MSG_NOT_YOURS, work=work_id)
    with registry.engine.connect() as c:
        w = _row(c, work_id)
    if not w.preview_sha256:
        raise NotFound("preview of work", work_id)
    path = Path(data_dir) / "previews" / w.preview_sha256
    try:
        data = path.read_bytes()
    except OSError:
        raise NotFound("preview of work", work_id) from None
    return data, PREVIEW_TYPES.get(w.media_type or "", "application/octet-stream")


__all__ = [
    "accept",
    "edit_titles",
    "invitation",
    "invitations",
    "invite",
    "keep_preview",
    "make_preview",
    "may_edit",
    "preview",
    "withdraw",
    "withdraw_invitation",
]
