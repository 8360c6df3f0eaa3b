"""A pending mandate's invitation, delivered: a fresh single-use confirmation token (an earlier link stops
working, only its hash is kept), an e-mail to the holder's address naming the organisation and the mandated
uses in the holder's language (Korean unless she chose), and, where the holder has an account, a notice in
the app that leads to the confirm page signed in (the notice never holds the token). The web's /org button
and the API call this; the caller rate-limits re-sends."""

from __future__ import annotations

from sqlalchemy import select

from fairtrain.core.store.models import NotificationPreference, User
from fairtrain.services.notify import notify, words
from fairtrain.services.registry.registry import Registry


def send_invitation(registry: Registry, mandate_id: int, *, party: str | None, origin: str, mailer) -> dict:
    """Issue and deliver mandate ``mandate_id``'s invitation. ``party`` (if given) must be its organisation;
    ``origin`` is the site's address the link starts with; ``mailer`` a :class:`~fairtrain.services.notify.Mailer`
    or None (no SMTP: nothing is mailed and the answer says so). Returns ``{"id", "link", "to", "sent",
    "noticed", "reason"}``; ``reason`` (why no e-mail went) is None when it was sent."""
    token = registry.mandate_invitation(mandate_id, party=party)
    m = registry.mandate(mandate_id)
    holder_id = int(m["holder"].split(":")[1])
    holder = registry.find_holder(holder_id)
    org = registry.find_org(int(m["org"].split(":")[1]))
    path = f"/mandates/{mandate_id}/confirm"
    link = f"{origin}{path}?token={token}"
    with registry.engine.connect() as c:
        account_email = c.execute(select(User.email).where(User.holder_id == holder_id).limit(1)).scalar()
        lang = c.execute(
            select(NotificationPreference.language).where(NotificationPreference.holder_id == holder_id)
        ).scalar()
    params = {"org": org["name"], "categories": list(m["categories"])}
    noticed = False
    if account_email:  # in the app: she confirms signed in; the token stays out of the stored notice
        with registry.engine.begin() as c:
            noticed = bool(
                notify(
                    c,
                    [holder_id],
                    "mandate-invitation",
                    "invited",
                    {**params, "path": path},
                    subject=f"mandate:{mandate_id}",
                    email=False,
                )
            )
    to = holder["email"] or account_email
    out = {"id": mandate_id, "link": link, "to": to, "sent": False, "noticed": noticed, "reason": None}
    if not to:
        return out | {"reason": "no-address"}
    if mailer is None:
        return out | {"reason": "no-smtp"}
    title, text = words("mandate-invitation", "invited", {**params, "path": link}, lang or "ko")
    try:
        mailer.send_message(to, title, text)
    except OSError:  # smtplib's errors are OSErrors: the link still works; the page says it was not sent
        return out | {"reason": "smtp-failed"}
    return out | {"sent": True}


def invite_imported(
    registry: Registry, org_id: int, holder_ids: list[int], *, origin: str, mailer, on_each=None
) -> dict:
    """After an import has committed: e-mail each holder it first named with an address the invitation to
    her pending mandate with organisation ``org_id`` (one :func:`send_invitation` each; never inside the
    import's transaction). A failure is recorded and the others go on. Returns ``{"sent", "failed",
    "failures": [{"holder", "mandate", "reason"}]}`` (the first 100 failures). Holders go in id order;
    ``on_each(holder_id, mandate_id, reason)`` (given) hears each outcome as it comes (``reason`` None:
    sent), so an import job records how far it got and a resumed one sends only the rest."""
    from fairtrain.core.store.models import Mandate

    out: dict = {"sent": 0, "failed": 0, "failures": []}
    if not holder_ids:
        return out
    mandates: dict[int, int] = {}
    ids = sorted(set(holder_ids))
    with registry.engine.connect() as c:
        for i in range(0, len(ids), 900):
            for mid, hid in c.execute(
                select(Mandate.id, Mandate.holder_id)
                .where(
                    Mandate.org_id == org_id,
                    Mandate.holder_id.in_(ids[i : i + 900]),
                    Mandate.confirmed_at.is_(None),
                    Mandate.revoked_at.is_(None),
                )
                .order_by(Mandate.id)
            ):
                mandates.setdefault(hid, mid)
    for hid in ids:
        mid = mandates.get(hid)
        try:
            if mid is None:
                raise LookupError("no pending mandate (confirmed or revoked meanwhile)")
            got = send_invitation(registry, mid, party=None, origin=origin, mailer=mailer)
            reason = got["reason"]
        except Exception as e:  # noqa: BLE001 (recorded; the other holders are still invited)
            reason = str(e)[:300] or type(e).__name__
        if on_each is not None:
            on_each(hid, mid, reason)
        if reason is None:
            out["sent"] += 1
        else:
            out["failed"] += 1
            if len(out["failures"]) < 100:
                out["failures"].append({"holder": hid, "mandate": mid, "reason": reason})
    return out
