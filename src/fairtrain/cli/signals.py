"""`fairtrain` commands: signals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import AllowPrivateOpt, JsonOpt, app, emit, err, fail, out, registry
from fairtrain.core.vocab import Category, Level

signals_app = typer.Typer(
    help="Machine-readable signals: render them from declarations, read them from the web.", no_args_is_help=True
)
app.add_typer(signals_app, name="signals")


@signals_app.command("render")
def signals_render(
    site: Annotated[str, typer.Option(help="The site the signals are published on, e.g. https://creator.example")],
    out_dir: Annotated[Path, typer.Option("--out", help="Where to write the kit")],
    holder: Annotated[str | None, typer.Option(help="A holder's catalogue (id or name)")] = None,
    org: Annotated[str | None, typer.Option(help="An organisation's repertoire (id or name)")] = None,
    work: Annotated[int | None, typer.Option(help="One work")] = None,
    contact: Annotated[str | None, typer.Option(help="Contact email written into the signals")] = None,
    licence_url: Annotated[list[str] | None, typer.Option(help="Where licences are offered (repeatable)")] = None,
    embed: Annotated[
        list[Path] | None,
        typer.Option(
            help="Image files to copy into OUT/embedded/ with XMP "
            "(plus:DataMining) and, given --c2pa-cert, a signed C2PA "
            "manifest (repeatable)"
        ),
    ] = None,
    c2pa_cert: Annotated[Path | None, typer.Option(help="C2PA signing certificate chain (PEM)")] = None,
    c2pa_key: Annotated[Path | None, typer.Option(help="C2PA private key (PEM, PKCS#8)")] = None,
    c2pa_alg: Annotated[str, typer.Option(help="es256, ps256, ed25519 …")] = "es256",
    as_json: JsonOpt = False,
) -> None:
    """Render every machine-readable signal from one stored declaration: robots.txt, TDMRep, headers, RSL…"""
    from fairtrain.core.signals.render import Party, PartyKind, SignalRenderError, write_kit
    from fairtrain.services.registry.signal_kit import kit_policy

    reg = registry()
    if sum(x is not None for x in (holder, org, work)) != 1:
        fail("give exactly one of --holder, --org, --work")
    if holder is not None:
        h = reg.find_holder(holder)
        level, target, who, kind = Level.CATALOGUE, h["id"], h, PartyKind.HOLDER
    elif org is not None:
        o = reg.find_org(org)
        level, target, who, kind = Level.REPERTOIRE, o["id"], o, PartyKind.ORGANISATION
    else:
        w = reg.work(work)
        first = w["holders"][0]["holder"] if w["holders"] else None
        who = reg.find_holder(int(first.split(":")[1])) if first else {"name": w["title"], "email": None}
        level, target, kind = Level.WORK, work, PartyKind.HOLDER
    email = contact or who.get("email")
    if not email:
        fail(f"{who['name']} has no email on record: give --contact EMAIL (signals must name a contact)")
    decisions = reg.policy_decisions(level, target)
    site = site.strip().rstrip("/")
    try:
        policy, _ = kit_policy(
            reg, level, target, Party(who["name"], kind, email, website=site), site, licence_urls=licence_url
        )
        written = write_kit(policy, out_dir)
    except SignalRenderError as e:
        fail(str(e))
    embedded = []
    if embed:
        from fairtrain.core.signals.embed import C2paCredentials, embed_files

        creds = None
        if c2pa_cert or c2pa_key:
            if not (c2pa_cert and c2pa_key):
                fail("--c2pa-cert and --c2pa-key go together")
            creds = C2paCredentials(c2pa_cert.read_bytes(), c2pa_key.read_bytes(), algorithm=c2pa_alg)
        embedded = embed_files(embed, out_dir / "embedded", policy, creds)
        for r in embedded:
            if not r.ok:
                err.print(f"[red]{r.source}[/]: {r.error}", highlight=False)
    web = policy.web_values()
    coarser = {c.value: web[c].value for c in Category if web[c] is not policy.value(c)}
    data = {
        "out": str(out_dir),
        "files": sorted(str(p.relative_to(out_dir)) for p in written),
        "embedded": [
            {"source": str(r.source), "dest": str(r.dest) if r.dest else None, "error": r.error} for r in embedded
        ],
        "values": {c.value: d.value.value for c, d in decisions.items()},
        "web_values": {c.value: v.value for c, v in web.items()},
        "coarser": coarser,
    }
    t = Table("file", title=f"signal kit for {who['name']} → {out_dir}")
    for f in data["files"]:
        t.add_row(f)
    for r in embedded:
        t.add_row(f"embedded/{r.dest.name}" if r.ok else f"[red]{r.source}: {r.error}[/]")
    emit(data, as_json, t)
    if any(not r.ok for r in embedded):
        raise typer.Exit(1)
    if coarser and not as_json:
        out.print(
            "[yellow]note:[/] the web formats cannot say this exactly; readers will decide "
            + ", ".join(f"{c}={v} (declared {policy.value(Category(c)).value})" for c, v in coarser.items()),
            highlight=False,
        )


@signals_app.command("check")
def signals_check(
    urls: Annotated[list[str], typer.Argument(metavar="URL...")],
    user_agent: Annotated[str | None, typer.Option(help="User agent to fetch and evaluate robots.txt as")] = None,
    allow_private_urls: AllowPrivateOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Read every signal that applies to URLs (robots.txt, TDMRep, headers, HTML, RSL, embedded metadata)."""
    from fairtrain.core.signals.check import DEFAULT_USER_AGENT, check_urls

    reports = check_urls(urls, user_agent=user_agent or DEFAULT_USER_AGENT, allow_private=allow_private_urls)
    rows = []
    t = Table("url", "status", "robots", *(c.value for c in Category), "errors")
    for r in reports:
        ds = {c: r.decide(c) for c in Category}
        rows.append(
            {
                "url": r.url,
                "status": r.status,
                "final_url": r.final_url,
                "robots_allowed": r.robots_allowed,
                "reserved": r.reserved,
                "errors": list(r.errors),
                "decisions": {c.value: d.to_dict() for c, d in ds.items()},
            }
        )
        t.add_row(
            r.url,
            str(r.status or "-"),
            {True: "allowed", False: "disallowed", None: "-"}[r.robots_allowed],
            *(d.value.value for d in ds.values()),
            "; ".join(r.errors),
        )
    emit(rows, as_json, t)
