"""`fairtrain` commands: snapshots and matching."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import DownloadColumn
from rich.table import Table

from fairtrain.cli._common import (
    FilesArg,
    JsonOpt,
    PublicKeyOpt,
    SnapshotOpt,
    app,
    emit,
    err,
    fail,
    key_path,
    progress,
    read_items,
    registry,
    trusted_keys,
    verified,
)

snapshot_app = typer.Typer(
    help="Signed registry snapshots: fingerprints and terms, never the works.", no_args_is_help=True
)
app.add_typer(snapshot_app, name="snapshot")


def _export_engine(name: str) -> str:
    from fairtrain.core.snapshot import SnapshotError
    from fairtrain.services.registry.snapshot_export import engine_class

    try:
        engine_class(name)
    except SnapshotError as e:
        raise typer.BadParameter(str(e)) from None
    return name


@snapshot_app.command("export")
def snapshot_export(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR")],
    key: Annotated[str, typer.Option(help="Signing key name")] = "registry",
    name: Annotated[str, typer.Option(help="Registry name written into the manifest")] = "fairtrain registry",
    since: Annotated[
        Path | None,
        typer.Option(
            help="Write a signed delta from the full snapshot in this directory (a full export, or the --state "
            "of the last delta) instead of a full snapshot"
        ),
    ] = None,
    state: Annotated[
        Path | None, typer.Option(help="With --since: keep the new full snapshot here (the next delta's --since)")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Index segments built at once: worker processes (local) or Ray tasks (same bytes)"),
    ] = 1,
    engine: Annotated[
        str,
        typer.Option(callback=_export_engine, help="Where index segments are built: local (processes) or ray"),
    ] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (engine ray), e.g. ray://head:10001")] = None,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a signed snapshot of the registry: effective terms and fingerprints as Parquet shards; with
    --since, only what changed since that snapshot (a delta that `snapshot pull` applies)."""
    from fairtrain.core.keys import SigningKey
    from fairtrain.core.snapshot import SnapshotError
    from fairtrain.services.registry.snapshot_export import export_delta, export_snapshot

    if state is not None and since is None:
        fail("--state keeps the new full snapshot of a delta export: give --since too")
    signing = SigningKey.load(key_path(key))
    with progress(as_json) as bar:
        task = bar.add_task("exporting works", total=None)
        tick = lambda n, total: bar.update(task, completed=n, total=total)  # noqa: E731
        if since is None:
            manifest = export_snapshot(
                registry(), out_dir, signing, name=name, progress=tick, workers=workers, engine=engine, address=address
            )
        else:
            trusted = trusted_keys(public_key) if public_key else [signing.public]
            try:
                manifest = export_delta(
                    registry(),
                    since,
                    out_dir,
                    signing,
                    trusted=trusted,
                    state_dir=state,
                    name=name,
                    progress=tick,
                    workers=workers,
                    engine=engine,
                    address=address,
                )
            except SnapshotError as e:
                fail(f"snapshot refused: {e}", code=1)
    summary = {
        "path": str(out_dir),
        "kind": manifest.get("kind", "full"),
        "key_id": manifest["signature"]["key_id"],
        "counts": manifest["counts"],
        "files": len(manifest["files"]),
        "bytes": sum(f["bytes"] for f in manifest["files"]),
    }
    if since is not None:
        summary |= {"applies_to": manifest["applies_to"], "result": manifest["result"], "state": state and str(state)}
        c = manifest["counts"]
        human = (
            f"delta {out_dir}: {c['added']} works added, {c['changed']} changed, {c['withdrawn']} withdrawn "
            f"({c['grants_changed']} grants), {summary['bytes']:,} bytes, applies to {manifest['applies_to'][:16]}…, "
            f"signed by {summary['key_id']}"
        )
    else:
        human = (
            f"snapshot {out_dir}: {manifest['counts']['works']} works, {summary['files']} files, "
            f"{summary['bytes']:,} bytes, signed by {summary['key_id']}"
        )
    emit(summary, as_json, human)


@snapshot_app.command("pull")
def snapshot_pull(
    url: Annotated[
        str, typer.Argument(metavar="URL", help="The registry's web address, e.g. https://registry.example")
    ],
    directory: Annotated[Path, typer.Argument(metavar="DIR")],
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch a registry's newest snapshot into DIR: the full snapshot once, then only the signed deltas after
    what DIR holds; every signature and hash verified, and DIR swapped to the new state in one rename."""
    from fairtrain.core.snapshot import SnapshotError
    from fairtrain.core.snapshot_pull import PullError, pull

    trusted = trusted_keys(public_key)
    with progress(as_json, DownloadColumn()) as bar:
        task = bar.add_task("fetching the chain", total=None)
        try:
            summary = pull(
                url,
                directory,
                trusted,
                progress=lambda what, n, total: bar.update(task, description=what, completed=n, total=total),
            )
        except (SnapshotError, PullError) as e:
            fail(f"pull refused, {directory} unchanged: {e}", code=1)
    if summary["up_to_date"]:
        human = f"{directory}: up to date (snapshot id {summary['snapshot_id'][:16]}…)"
    else:
        human = (
            f"{directory}: snapshot id {summary['snapshot_id'][:16]}…"
            + (" (full snapshot fetched)" if summary["full_downloaded"] else "")
            + f", {summary['deltas_applied']} deltas applied, {summary['bytes_downloaded']:,} bytes fetched"
        )
    emit(summary, as_json, human)


@snapshot_app.command("verify")
def snapshot_verify(
    directory: Annotated[Path, typer.Argument(metavar="DIR")], public_key: PublicKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Check a snapshot's signature against trusted keys and every shard's hash; refuse tampering."""
    from fairtrain.core.snapshot import verify_snapshot

    snap = verified(verify_snapshot, directory, public_key)
    data = {
        "path": str(directory),
        "valid": True,
        "key_id": snap.signer.key_id,
        "snapshot_id": snap.snapshot_id,
        "registry": snap.manifest.get("registry"),
        "created_at": snap.manifest.get("created_at"),
        "files": len(snap.manifest["files"]),
        "counts": snap.manifest.get("counts", {}),
    }
    emit(
        data,
        as_json,
        f"[green]valid[/]: {len(snap.manifest['files'])} files, signed by {snap.signer.key_id}, "
        f"snapshot id {snap.snapshot_id[:16]}…",
    )


@app.command()
def match(
    files: FilesArg,
    snapshot: SnapshotOpt,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which registered works are in these files? Score, evidence and the works' terms, or no match."""
    from fairtrain.core.matcher import SnapshotMatcher

    matcher = verified(SnapshotMatcher.open, snapshot, public_key)
    items = read_items(files)
    results = matcher.match(items)
    t = Table("file", "modality", "work", "score", "stage", "evidence / error")
    for r in results:
        if r.error:
            t.add_row(r.item, r.modality or "-", "-", "-", "-", f"[red]{r.error}[/]")
        elif not r.matches:
            t.add_row(r.item, r.modality or "-", "no match", "", "", "")
        for m, terms in r.matches:
            title = f"{m.work_id}" + (f" ({terms['train-genai']} for train-genai)" if terms else "")
            t.add_row(
                r.item,
                r.modality or "-",
                title,
                f"{m.score:.3f}",
                m.stage,
                ", ".join(f"{k}={v}" for k, v in list(m.evidence.items())[:4]),
            )
    emit([r.to_dict() for r in results], as_json, t)
    for note in matcher.notices:  # an older snapshot still matches; say what a re-export would add
        err.print(f"note: {note}", markup=False)
    if any(r.error for r in results):
        raise typer.Exit(1)
