"""`fairtrain` commands: registry."""

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
    err,
    key_path,
    mailer_from,
    out,
    progress,
    registry,
    state,
)
from fairtrain.services import registry as registry_service  # lazy: `clear` never loads the database layer

registry_app = typer.Typer(help="Bulk registry operations.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create (or upgrade) the registry database, and the registry's signing key if there is none (marked
    as a registry key: `snapshot export` and `log sign` use it, `verify` trusts it)."""
    from fairtrain.core.keys import REGISTRY, SigningKey

    reg = registry_service.Registry.open(state.data_dir, state.url, create=True)
    where = reg.engine.url.render_as_string(hide_password=True)
    path = key_path("registry")
    created = not path.exists()
    if created:
        SigningKey.generate().save(path, role=REGISTRY)
    key = SigningKey.load(path)
    emit(
        {
            "database": where,
            "ready": True,
            "registry_key": str(path),
            "key_id": key.public.key_id,
            "key_created": created,
        },
        as_json,
        f"registry ready at [bold]{where}[/]; registry key {key.public.key_id} "
        f"{'created' if created else 'kept'} at {path}",
    )


@registry_app.command("import")
def registry_import(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SOURCE",
            help="A CSV, tab-separated text or XLSX sheet, or a "
            "ZIP of one sheet and the works' files (paths relative to the sheet)",
        ),
    ],
    org: Annotated[str, typer.Option(help="The importing organisation (id or name)")],
    skip_invalid: Annotated[bool, typer.Option(help="Import the valid rows and report the rest")] = False,
    files_root: Annotated[
        Path | None, typer.Option(help="Folder the file column is confined to (default: the sheet's)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Report every problem and what would be created, updated and disputed; store nothing")
    ] = False,
    smtp: SmtpOpt = None,
    site: SiteOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a repertoire (see README for the columns; Korean headers, CP949, UTF-16 and XLSX are read).
    Bad rows reject the whole file by default. With an SMTP server, the holders the import first names with
    an e-mail address (holder_email column) are e-mailed the invitation to confirm their mandate, after the
    import has committed."""
    import secrets
    import shutil

    from fairtrain.core.datadir import resolve_data_dir
    from fairtrain.services.registry import repertoire

    reg = registry()
    o = reg.find_org(org)
    staging = resolve_data_dir(state.data_dir) / "uploads" / f"cli-{secrets.token_hex(8)}"
    try:
        prepared = repertoire.prepare(source, staging, source=str(source), files=files_root)
        with progress(as_json) as bar:
            task = bar.add_task("checking rows" if dry_run else "importing rows", total=None)
            report = registry_service.import_csv(
                reg,
                prepared.sheet,
                org_id=o["id"],
                skip_invalid=skip_invalid,
                progress=lambda n: bar.update(task, completed=n),
                files_root=prepared.files_root,
                dry_run=dry_run,
            )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = {**report.to_dict(), "file": str(source), "encoding": prepared.encoding, "dry_run": dry_run}
    if report.imported and report.invite and (got := mailer_from(reg, smtp, site)) is not None:
        from fairtrain.services.registry.mandate_invites import invite_imported

        result["invitations"] = invite_imported(reg, o["id"], report.invite, origin=got[1], mailer=got[0])
    if as_json:
        emit(result, True)
    else:
        t = Table("rows", "created", "updated", "unchanged", "invalid", "new holders", "disputes", "imported")
        t.add_row(
            *(
                str(x)
                for x in (
                    report.rows,
                    report.created,
                    report.updated,
                    report.unchanged,
                    report.invalid,
                    report.holders_created,
                    report.disputes,
                    "yes" if report.imported else "no",
                )
            )
        )
        out.print(t)
        err.print(f"{source}: read as {prepared.encoding}", highlight=False)
        for e in report.errors:
            err.print(f"[red]{source}:{e.line}[/] [bold]{e.column}[/]: {e.reason}", highlight=False)
        if report.emails_kept:
            err.print(f"{report.emails_kept} holder(s) already have another e-mail address: kept, not replaced")
        if sent := result.get("invitations"):
            err.print(f"invitations: sent to {sent['sent']}, {sent['failed']} failed", highlight=False)
            for f in sent["failures"]:
                err.print(f"  holder {f['holder']}: {f['reason']}", highlight=False)
        if dry_run:
            err.print("dry run: nothing was stored; the counts say what an import would do")
        elif report.errors and not report.imported:
            err.print("nothing was imported; fix the rows above or use --skip-invalid")
    if report.errors:
        raise typer.Exit(1)
