"""`fairtrain` commands: usage reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fairtrain.cli._common import JsonOpt, app, emit, fail, licensing, party_key
from fairtrain.core.money import Money

usage_app = typer.Typer(help="Usage reports after training.", no_args_is_help=True)
app.add_typer(usage_app, name="usage")


@usage_app.command("report")
def usage_report(
    licensee: Annotated[str, typer.Option()],
    model: Annotated[str, typer.Option()],
    version: Annotated[str, typer.Option()],
    idempotency_key: Annotated[str, typer.Option(help="Unique per report: re-sending never double-counts")],
    manifest: Annotated[
        Path | None, typer.Option(help="The clearance's manifest.json (its Merkle roots are cited)")
    ] = None,
    licence: Annotated[list[int] | None, typer.Option(help="Licences this training used (repeatable)")] = None,
    weights: Annotated[Path | None, typer.Option(help="JSON {work_id: integer weight} (tokens, samples …)")] = None,
    minutes: Annotated[
        Path | None,
        typer.Option(help="JSON {work_id: minutes used} (video, audio): distribution splits by them instead"),
    ] = None,
    revenue: Annotated[str | None, typer.Option(help="Revenue for revenue-share licences, major units")] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    key: Annotated[str | None, typer.Option(help="Licensee's signing key (default: the licensee's name)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """File a signed usage report after training."""
    from fairtrain.core.keys import sign_document

    doc = {
        "format": "fairtrain-usage-report/1",
        "licensee": licensee,
        "model": model,
        "version": version,
        "idempotency_key": idempotency_key,
        "licences": list(licence or []),
    }
    if manifest is not None:
        m = json.loads(manifest.read_text(encoding="utf-8"))
        doc["manifest_root"] = {
            "cleared_items": m["cleared_items"]["root"],
            "cleared_works": m["cleared_works"]["root"],
        }
    if weights is not None:
        w = json.loads(weights.read_text(encoding="utf-8"))
        if not all(isinstance(v, int) and v >= 0 for v in w.values()):
            fail(f"{weights}: weights must be non-negative integers")
        doc["weights"] = {str(k): v for k, v in sorted(w.items())}
    if minutes is not None:
        if weights is not None:
            fail("give --weights or --minutes, not both")
        try:
            m = json.loads(minutes.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            fail(f"{minutes}: cannot read ({e})")
        if not isinstance(m, dict):
            fail(f"{minutes}: give a JSON object {{work_id: minutes}}")
        doc["minutes"] = {str(k): str(v) for k, v in sorted(m.items(), key=lambda kv: str(kv[0]))}
    if revenue is not None:
        if not currency:
            fail("--revenue needs --currency")
        doc["revenue"] = Money.parse(revenue, currency).to_dict()
    signer = party_key(licensee, key or "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in licensee))
    r = licensing().usage_report(sign_document(doc, signer))
    emit(r, as_json, f"usage report {r['report']}" + (" (already filed)" if r["duplicate"] else " filed"))
