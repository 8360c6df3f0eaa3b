"""`fairtrain` commands: transparency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import (
    FilesArg,
    JsonOpt,
    PublicKeyOpt,
    SnapshotOpt,
    app,
    emit,
    fail,
    key_path,
    out,
    public_log,
    read_items,
    registry,
    state,
    trusted_keys,
    verified,
)

outputs_app = typer.Typer(help="Check model outputs for reproduced registered works.", no_args_is_help=True)
app.add_typer(outputs_app, name="outputs")


@outputs_app.command("check")
def outputs_check(
    files: FilesArg,
    snapshot: SnapshotOpt,
    weights: Annotated[Path | None, typer.Option(help="Write attribution weights {work_id: weight} (JSON)")] = None,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Which registered works do these generated texts, images, audio or video reproduce? Evidence and score."""
    from fairtrain.services.transparency.outputs import OutputChecker, attribution_weights

    checker = verified(OutputChecker.open, snapshot, public_key)
    items = read_items(files)
    checks = checker.check(items)
    w = attribution_weights(checks)
    if weights is not None:
        weights.write_text(json.dumps({str(k): v for k, v in w.items()}, indent=2) + "\n", encoding="utf-8")
    t = Table("output", "modality", "work", "score", "flagged", "evidence / error")
    for c in checks:
        if c.error:
            t.add_row(c.item, c.modality or "-", "-", "-", "-", f"[red]{c.error}[/]")
        elif not c.reproductions:
            t.add_row(c.item, c.modality or "-", "no match", "", "", "")
        for r in c.reproductions:
            ev = r.evidence
            if "spans" in ev:
                what = "; ".join(
                    f"words {s['query_words'][0]}-{s['query_words'][1]} = work words "
                    f"{s['work_words'][0]}-{s['work_words'][1]}"
                    for s in ev["spans"][:3]
                )
            else:
                what = ", ".join(f"{k}={v}" for k, v in ev.items() if k != "iscc")
            t.add_row(
                c.item,
                c.modality or "-",
                str(r.work_id),
                f"{r.score:.3f}",
                "[bold red]yes[/]" if r.flagged else "no",
                what,
            )
    emit(
        {
            "outputs": [c.to_dict() for c in checks],
            "flagged": sum(c.flagged for c in checks),
            "thresholds": checker.thresholds.to_dict(),
            "attribution_weights": {str(k): v for k, v in w.items()},
        },
        as_json,
        t,
    )
    if any(c.error for c in checks):
        raise typer.Exit(1)


@app.command()
def lookup(
    file: Annotated[
        Path | None, typer.Argument(metavar="[FILE]", help="A work file: fingerprinted here, never stored")
    ] = None,
    work: Annotated[list[int] | None, typer.Option(help="A registered work id (repeatable)")] = None,
    repertoire: Annotated[
        str | None, typer.Option(help="An organisation (id or name): all its repertoire works")
    ] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="With --repertoire: write the works used, by model")
    ] = None,
    snapshot: Annotated[
        list[Path] | None, typer.Option(help="Snapshot(s) to recognise FILE with (besides those the manifests cite)")
    ] = None,
    clearance: Annotated[
        list[Path] | None,
        typer.Option(help="Published clearance directories (their leaves), besides those published to this registry"),
    ] = None,
    proofs: Annotated[Path | None, typer.Option(help="Write one proof file per answer into this directory")] = None,
    verify: Annotated[Path | None, typer.Option(help="Instead: check a membership proof file offline")] = None,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Was my work used? For every clearance in the log: included or not, models, licence, and proofs."""
    from fairtrain.core.datadir import resolve_data_dir
    from fairtrain.core.matcher import SnapshotMatcher
    from fairtrain.core.snapshot import SnapshotError
    from fairtrain.services.transparency.lookup import (
        WorkLookup,
        WorkLookupError,
        drop_set_proofs,
        identify_in,
        lookup_snapshot_dirs,
        published_clearance_dirs,
        repertoire_works,
        verify_membership_proof,
        was_used,
        write_proof_files,
        write_repertoire_csv,
    )

    trusted = trusted_keys(public_key)
    if verify is not None:
        try:
            result = verify_membership_proof(json.loads(verify.read_text(encoding="utf-8")), trusted)
        except (WorkLookupError, ValueError, OSError) as e:
            fail(f"proof refused: {e}", code=1)
        emit(
            result,
            as_json,
            f"[green]valid[/]: {result['key']} is {'' if result['included'] else 'NOT '}in the "
            f"{result['set']} of the clearance by {result['licensee']} (log entry {result['index']})",
        )
        return
    if sum(x is not None and x != [] for x in (file, work, repertoire)) != 1:
        fail("give exactly one of FILE, --work ID or --repertoire ORG")
    if csv_out is not None and repertoire is None:
        fail("--csv goes with --repertoire")
    lg = public_log()
    try:
        data_dir = resolve_data_dir(state.data_dir)
        wl = WorkLookup(lg, [*published_clearance_dirs(data_dir), *(clearance or [])], trusted)
        query: dict = {}
        if file is not None:
            try:
                with open(file, "rb"):  # readable? (a video is fingerprinted from the file, never read whole)
                    pass
            except OSError as e:
                fail(f"{file}: cannot read ({e.strerror or e})")
            try:
                for p in snapshot or []:
                    SnapshotMatcher.open(p, trusted)
            except SnapshotError as e:
                fail(f"snapshot refused: {e}", code=1)
            found = identify_in(
                str(file),
                file,
                lookup_snapshot_dirs(wl, data_dir, snapshot or []),
                None,
                trusted,
                require_snapshot=False,
            )
            used = was_used(wl, found, registry())
            query, answers = found, used["answers"]
            if proofs is not None:  # the answer's proofs, written as files (was_used keeps answers light)
                answers = wl.answer([r["work_id"] for r in used["recognised"]], found["content_hash"])
                write_proof_files(lg, answers, proofs)
                used["answers"] = answers
            t = Table("log entry", "licensee", "models", "included", "licence", "paid")
            for a in answers:
                t.add_row(
                    str(a["log_index"]),
                    a["licensee"],
                    ", ".join(a["models"]),
                    {None: f"? (leaves {a['leaves']})", True: "[bold]yes[/]", False: "no"}[a["included"]],
                    "; ".join(sorted({x["coverage"]["licence"] or "-" for x in a["works"] if x.get("coverage")})),
                    ", ".join({True: "yes", False: "no", None: "-"}[x["paid"]] for x in a["works"] if "paid" in x),
                )
            rec = "; ".join(f"#{r['work_id']} {r['title']} ({r['score']:.0%})" for r in used["recognised"])
            if not as_json:
                out.print(
                    f"{file}: {used['verdict']}"
                    + (f" ({used['reason']})" if used["reason"] else "")
                    + (f" — recognised as {rec}" if rec else " — not recognised as any registered work"),
                    highlight=False,
                    markup=False,
                )
            emit({"query": query, **used, "clearances": answers, "published": used["clearances"]}, as_json, t)
            return
        elif work:
            reg = registry()
            query = {"works": [{"id": w, "title": reg.work(w)["title"]} for w in work]}
            answers = wl.answer(list(work))
        else:
            reg = registry()
            org = reg.find_org(repertoire)
            works = repertoire_works(reg.engine, org)
            rows = wl.repertoire_usage(works)
            if csv_out is not None:
                write_repertoire_csv(rows, csv_out)
            data = {
                "organisation": org["name"],
                "works": len(works),
                "used": len({r["work_id"] for r in rows}),
                "rows": rows,
                "csv": str(csv_out) if csv_out else None,
            }
            emit(
                data,
                as_json,
                f"{org['name']}: {data['used']} of {len(works)} repertoire works used "
                f"in published clearances ({len(rows)} rows" + (f" → {csv_out})" if csv_out else ")"),
            )
            return
    except WorkLookupError as e:
        fail(str(e))
    if proofs is not None:
        write_proof_files(lg, answers, proofs)
    else:
        drop_set_proofs(answers)
    t = Table("log entry", "licensee", "models", "included", "works", "licence", "paid")
    for a in answers:
        inc = {None: f"? (leaves {a['leaves']})", True: "[bold]yes[/]", False: "no"}[a["included"]]
        t.add_row(
            str(a["log_index"]),
            a["licensee"],
            ", ".join(a["models"]),
            inc,
            ", ".join(f"{x['work_id']}{'✓' if x['included'] else '✗'}" for x in a["works"]),
            "; ".join(sorted({x["coverage"]["licence"] or "-" for x in a["works"] if x.get("coverage")})),
            ", ".join({True: "yes", False: "no", None: "-"}[x["paid"]] for x in a["works"] if "paid" in x),
        )
    emit({"query": query, "clearances": answers}, as_json, t)


@app.command()
def summary(
    clearance: Annotated[
        list[Path] | None, typer.Option(help="Clearance directory (OUT of fairtrain clear; repeatable)")
    ] = None,
    crawled: Annotated[
        list[Path] | None, typer.Option(help="Clearance of the provider's own crawl (template 2.3)")
    ] = None,
    model: Annotated[str, typer.Option(help="Model name")] = ...,
    version: Annotated[str, typer.Option(help="Model version")] = ...,
    provider: Annotated[str, typer.Option(help="Provider name (default: the clearances' licensee)")] = "",
    contact: Annotated[str | None, typer.Option(help="Provider contact")] = None,
    representative: Annotated[str | None, typer.Option(help="Authorised representative in the EU")] = None,
    representative_contact: Annotated[str | None, typer.Option()] = None,
    base_model: Annotated[str | None, typer.Option(help="Base model, for a fine-tune or modification")] = None,
    base_model_summary: Annotated[str | None, typer.Option(help="Link to the base model's summary")] = None,
    placed_on_market: Annotated[str | None, typer.Option(help="Date placed on the Union market (YYYY-MM-DD)")] = None,
    code_of_practice: Annotated[
        bool | None,
        typer.Option("--code-of-practice/--no-code-of-practice", help="Signatory of the GPAI Code of Practice"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, json or md")] = "html",
    lang: Annotated[str, typer.Option(help="en or ko")] = "en",
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the summary")] = ...,
    log_it: Annotated[bool, typer.Option("--log/--no-log", help="Enter the summary in the public log")] = True,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The public training-data summary (EU template, Art. 53(1)(d)) filled from clearance evidence."""
    import hashlib

    from fairtrain.core.keys import SigningKey
    from fairtrain.services.transparency.summary import (
        ModelInfo,
        SummaryError,
        build_summary,
        render,
        summary_log_entry,
    )

    if fmt not in ("html", "json", "md"):
        fail(f"--format {fmt!r}: use html, json or md")
    trusted = trusted_keys(public_key)
    # the clearances are the provider's own: signed by a key this data directory holds (any role)
    signers = trusted + [SigningKey.load(p).public for p in sorted(key_path("registry").parent.glob("*.key"))]
    lg = public_log() if log_it else None
    try:
        first = json.loads(((clearance or crawled or [Path(".")])[0] / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        first = {}
    info = ModelInfo(
        model=model,
        version=version,
        provider=provider or first.get("licensee", ""),
        contact=contact,
        representative=representative,
        representative_contact=representative_contact,
        base_model=base_model,
        base_model_summary=base_model_summary,
        placed_on_market=placed_on_market,
        code_of_practice_signatory=code_of_practice,
    )
    try:
        doc = build_summary(
            clearance or [], info, crawled=crawled or [], log=lg, trusted=signers, snapshot_trusted=trusted, lang=lang
        )
        text = render(doc, fmt, f"{model} {version}")
    except SummaryError as e:
        fail(str(e))
    data = text.encode("utf-8")
    out_file.write_bytes(data)
    idx = None
    if lg is not None:
        (idx,) = lg.append([summary_log_entry(doc, info, data, fmt)])
    result = {
        "out": str(out_file),
        "format": fmt,
        "lang": lang,
        "log_index": idx,
        "sha256": hashlib.sha256(data).hexdigest(),
        "works": doc["sections"]["creators"]["works"],
    }
    emit(
        result,
        as_json,
        f"summary of {model} {version} → {out_file}" + (f" (log entry {idx})" if idx is not None else ""),
    )
