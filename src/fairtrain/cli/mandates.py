"""`fairtrain` commands: mandates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import (
    JsonOpt,
    SiteOpt,
    SmtpOpt,
    app,
    emit,
    fail,
    mailer_from,
    parse_categories,
    parse_when,
    registry,
    state,
)
from fairtrain.core.vocab import Category

mandates_app = typer.Typer(help="Members' mandates to organisations.", no_args_is_help=True)
app.add_typer(mandates_app, name="mandates")


def _deliver(reg, mandate_id: int, smtp: str | None, site: str | None) -> dict | None:
    """Send mandate ``mandate_id``'s invitation when an SMTP server is given (by option or environment):
    the same service the web's "send the invitation" uses. None: no server, nothing sent or issued."""
    from fairtrain.services.registry.mandate_invites import send_invitation

    if (got := mailer_from(reg, smtp, site)) is None:
        return None
    mailer, origin = got
    return send_invitation(reg, mandate_id, party=None, origin=origin, mailer=mailer)


def _delivered(sent: dict | None) -> str:
    if sent is None:
        return ""
    if sent["sent"]:
        return f"\ninvitation e-mailed to {sent['to']}"
    why = {"no-address": "the holder has no e-mail address"}.get(sent["reason"], "the SMTP server refused it")
    return f"\ninvitation NOT sent: {why}; pass on the link by hand: {sent['link']}"


@mandates_app.command("add")
def mandates_add(
    holder: Annotated[str, typer.Option(help="Holder id or name")],
    org: Annotated[str, typer.Option(help="Organisation id or name")],
    category: Annotated[
        list[str] | None, typer.Option(help="Categories (repeat or comma-separate); default all")
    ] = None,
    valid_from: Annotated[str | None, typer.Option("--from")] = None,
    valid_until: Annotated[str | None, typer.Option("--until")] = None,
    pending: Annotated[
        bool,
        typer.Option(
            help="Await the holder's consent (confirm or signed paper) before it "
            "counts; default: the holder consented, it counts now"
        ),
    ] = False,
    smtp: SmtpOpt = None,
    site: SiteOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that a member mandates an organisation to act for them; a pending one's invitation is e-mailed
    to the holder when an SMTP server is given."""
    reg = registry()
    h, o = reg.find_holder(holder), reg.find_org(org)
    cats = parse_categories(category) or list(Category)
    mid = reg.add_mandate(
        h["id"],
        o["id"],
        cats,
        valid_from=parse_when(valid_from, "--from"),
        valid_until=parse_when(valid_until, "--until"),
        pending=pending,
    )
    sent = _deliver(reg, mid, smtp, site) if pending else None
    emit(
        {
            "id": mid,
            "holder": h["ref"],
            "org": o["ref"],
            "categories": [c.value for c in cats],
            "status": "pending" if pending else "confirmed",
            **({"invitation": sent} if sent else {}),
        },
        as_json,
        f"mandate {mid}: {h['name']} → {o['name']} for {', '.join(c.value for c in cats)}"
        + (" (pending the holder's consent)" if pending else "")
        + _delivered(sent),
    )


@mandates_app.command("list")
def mandates_list(org: Annotated[str | None, typer.Option()] = None, as_json: JsonOpt = False) -> None:
    reg = registry()
    rows = reg.mandates(org_id=reg.find_org(org)["id"] if org else None)
    t = Table("id", "holder", "org", "categories", "status", "in force", "from", "until", "ends")
    for m in rows:
        t.add_row(
            str(m["id"]),
            m["holder"],
            m["org"],
            ",".join(m["categories"]),
            m["status"],
            "yes" if m["in_force"] else "no",
            m["valid_from"],
            m["valid_until"] or "",
            m["ends_at"] or "",
        )
    emit(rows, as_json, t)


def _show(m: dict, as_json: bool, what: str) -> None:
    emit(
        m,
        as_json,
        f"mandate {m['id']} ({m['holder']} → {m['org']}): {what}; {'in force' if m['in_force'] else 'not in force'}",
    )


@mandates_app.command("invite")
def mandates_invite(
    mandate_id: Annotated[int, typer.Argument(metavar="ID")],
    smtp: SmtpOpt = None,
    site: SiteOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a single-use confirmation token for a pending mandate (an earlier one stops working), e-mailed
    to the holder when an SMTP server is given. The holder confirms with `mandates confirm ID --token TOKEN`
    or the web link."""
    if sent := _deliver(registry(), mandate_id, smtp, site):
        token = sent["link"].split("token=", 1)[1]
        emit(
            {"id": mandate_id, "token": token, "link": sent["link"], "invitation": sent},
            as_json,
            f"mandate {mandate_id}: confirmation token {token}" + _delivered(sent),
        )
        return
    token = registry().mandate_invitation(mandate_id)
    link = f"/mandates/{mandate_id}/confirm?token={token}"
    emit(
        {"id": mandate_id, "token": token, "link": link},
        as_json,
        f"mandate {mandate_id}: confirmation token {token}\nlink (on the web app): {link}",
    )


@mandates_app.command("confirm")
def mandates_confirm(
    mandate_id: Annotated[int, typer.Argument(metavar="ID")],
    token: Annotated[str | None, typer.Option(help="The single-use token of the holder's invitation")] = None,
    holder: Annotated[str | None, typer.Option(help="Confirm as this holder (id or name), without a token")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The holder consents to a pending mandate: it counts from now on."""
    reg = registry()
    if (token is None) == (holder is None):
        fail("give exactly one of --token (the invitation's) or --holder (confirming as the holder)")
    m = reg.confirm_mandate(mandate_id, token=token, holder=reg.find_holder(holder)["ref"] if holder else None)
    _show(m, as_json, "confirmed")


@mandates_app.command("attach")
def mandates_attach(
    mandate_id: Annotated[int, typer.Argument(metavar="ID")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The signed paper mandate (scan or PDF)")],
    as_json: JsonOpt = False,
) -> None:
    """Attach the holder's signed paper mandate: stored by its SHA-256 under the data directory, the hash
    logged; the mandate counts from now on."""
    from fairtrain.core.datadir import resolve_data_dir

    try:
        f = file.open("rb")
    except OSError as e:
        fail(f"{file}: cannot read ({e.strerror or e})")
    with f:
        m = registry().attach_mandate_paper(mandate_id, f, resolve_data_dir(state.data_dir))
    _show(m, as_json, f"signed paper attached (sha256 {m['paper_sha256']})")


@mandates_app.command("revoke")
def mandates_revoke(
    mandate_id: Annotated[int, typer.Argument(metavar="ID")],
    end: Annotated[
        str | None, typer.Option(help="When it ends (ISO date or date-time; default now, never past)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a mandate from an end date; the mandate and its history stay."""
    m = registry().revoke_mandate(mandate_id, end=parse_when(end, "--end"))
    _show(m, as_json, f"revoked, ends {m['ends_at']}")
