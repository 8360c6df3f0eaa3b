"""`fairtrain` commands: clearance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import MofNCompleteColumn, TextColumn
from rich.table import Table

from fairtrain.cli._common import (
    AllowPrivateOpt,
    JsonOpt,
    PublicKeyOpt,
    app,
    emit,
    err,
    fail,
    key_path,
    progress,
    trusted_keys,
)
from fairtrain.core.vocab import Category
from fairtrain.services.clearance import ClearanceError
from fairtrain.services.clearance.executors import EXECUTORS, executor_class


def _engine(name: str) -> str:
    try:
        executor_class(name)
    except ClearanceError as e:
        raise typer.BadParameter(str(e)) from None
    return name


@app.command()
def clear(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Parquet/JSONL/CSV manifest, WebDataset tars, a folder, a saved HF dataset or WARC files",
        ),
    ],
    snapshot: Annotated[list[Path], typer.Option(help="Registry snapshot directory (repeatable)")],
    licensee: Annotated[str, typer.Option(help="Who will train on the data")],
    out: Annotated[Path, typer.Option(help="Output directory (re-run the same command to resume)")],
    purpose: Annotated[str, typer.Option(help="Usage category the data is cleared for")] = "train-genai",
    mode: Annotated[
        str, typer.Option(help="permission (only explicit allow passes) or reservation (unknown passes too)")
    ] = "permission",
    engine: Annotated[
        str,
        typer.Option(
            callback=_engine,
            help="Where shards run: " + "; ".join(f"{name} ({cls.help})" for name, cls in EXECUTORS.items()),
        ),
    ] = "local",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (local) or actors (ray)")] = 1,
    check_web: Annotated[bool, typer.Option(help="Also read web signals for items with a URL")] = False,
    allow_private_urls: AllowPrivateOpt = False,
    research: Annotated[bool, typer.Option(help="Clear for research, not commercial, use")] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="Input format when the extension does not tell")] = None,
    key: Annotated[str | None, typer.Option(help="Licensee signing key name (default: the licensee's name)")] = None,
    public_key: PublicKeyOpt = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (engine ray), e.g. ray://head:10001")] = None,
    force: Annotated[bool, typer.Option(help="Start over even if OUT holds another clearance")] = False,
    since: Annotated[
        Path | None,
        typer.Option(
            help="An earlier clearance's output: items it matched keep their matches where the snapshot "
            "deltas (--delta) cannot have changed them; the result is a full clearance's"
        ),
    ] = None,
    delta: Annotated[
        list[Path] | None,
        typer.Option(
            help="A snapshot delta (or a registry's snapshot directory holding deltas) leading from the "
            "snapshots the --since clearance used to these (repeatable)"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Clear a dataset against registry snapshots before training: decisions, cleared data, quote, report."""
    import time

    from fairtrain.core.keys import REGISTRY, SigningKey, key_role
    from fairtrain.services.clearance.pipeline import ClearanceConfig
    from fairtrain.services.clearance.run import clear as run_clear
    from fairtrain.services.clearance.shard import pending_shards

    try:
        cat = Category.parse(purpose)
    except ValueError as e:
        fail(str(e))
    key_name = key or "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in licensee)
    kp = key_path(key_name)
    if not kp.exists():
        fail(
            f"no signing key {key_name!r} for the clearance manifest: create it with "
            f"`fairtrain keys create --name {key_name}`"
        )
    signing = SigningKey.load(kp)
    trusted = tuple(k.b64() for k in trusted_keys(public_key))
    if key_role(kp) == REGISTRY or signing.public.b64() in trusted:  # a licensee key is never a registry key
        fail(
            f"key {key_name!r} ({signing.public.key_id}) is trusted as a registry key here: the licensee signs "
            f"its clearance with a key of its own (`fairtrain keys create --name {key_name} --party`)"
        )
    config = ClearanceConfig(
        snapshots=tuple(p.resolve() for p in snapshot),
        purpose=cat,
        licensee=licensee,
        mode=mode,
        research=research,
        check_web=check_web,
        trusted_keys=trusted,
        allow_private_urls=allow_private_urls,
    )
    started = time.perf_counter()
    with progress(
        as_json, MofNCompleteColumn(), TextColumn("{task.fields[items]:,} items · {task.fields[rate]:,.0f} items/s")
    ) as bar:
        task = bar.add_task("clearing shards", total=None, items=0, rate=0.0)
        seen = {"items": 0}

        def on_plan(job):
            done = len(job["shards"]) - len(pending_shards(out, job))
            bar.update(task, total=len(job["shards"]), completed=done)

        def on_shard(summary):
            seen["items"] += summary["items"]
            bar.update(
                task, advance=1, items=seen["items"], rate=seen["items"] / max(time.perf_counter() - started, 1e-9)
            )

        report = run_clear(
            input_path,
            out,
            config,
            signing,
            fmt=fmt,
            engine=engine,
            workers=workers,
            batch_size=batch_size,
            force=force,
            ray_address=address,
            on_shard=on_shard,
            on_plan=on_plan,
            since=since,
            deltas=tuple(delta or ()),
        )
    if as_json:
        emit(report, True)
        return
    t = Table("decision", "items", title=f"clearance of {input_path} for {licensee} ({cat.value}, {mode} mode)")
    for k, v in report["by_decision"].items():
        t.add_row(k, f"{v:,}")
    t.add_row("[bold]cleared[/]", f"[bold]{report['passed']:,}[/] of {report['items']:,}")
    emit(report, False, t)
    if mode == "reservation":
        err.print("[bold yellow]reservation mode: unknown items passed; this is not permission[/]")
    totals = ", ".join(v["display"] for v in report["licence_quote"]["totals"].values())
    if report["licence_quote"]["works"]:
        err.print(f"{report['licence_quote']['works']} works need a licence: {totals} (see licence-quote.json)")
    if (reuse := report.get("reuse")) is not None:
        if reuse["used"]:
            err.print(
                f"{reuse['items_reused']:,} items reused from {since}, {reuse['items_recleared']:,} cleared again"
            )
        else:
            err.print(f"[bold yellow]nothing reused from {since}: {reuse['reason']}; cleared in full[/]")
    for s in report["snapshots"]:
        err.print(f"snapshot {s['snapshot_id']} ({s['format']}, {s['created_at']})")
    err.print(f"outputs in {out}: decisions.parquet, cleared/, licence-quote.json, report.html, manifest.json")
