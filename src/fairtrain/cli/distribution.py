"""`fairtrain` commands: distribution and statements."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from fairtrain.cli._common import JsonOpt, app, emit, err, fail, registry


@app.command()
def distribute(
    period: Annotated[str, typer.Option(help="START..END, e.g. 2026-01-01..2026-06-30")],
    fee: Annotated[list[str] | None, typer.Option(help="Organisation admin fee, ORG=PERCENT (repeatable)")] = None,
    threshold: Annotated[list[str] | None, typer.Option(help="Minimum payout, CUR=AMOUNT (repeatable)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Split the period's licence money among rights holders by the published formula; logged."""
    from fairtrain.core.distribution import DistributionError, Formula
    from fairtrain.core.errors import FairtrainError
    from fairtrain.services.ledger import distribution as dist

    start, sep, end = period.partition("..")
    try:
        p = dist.parse_period(start, end)
    except DistributionError:
        fail(f"--period {period!r}: expected START..END as ISO dates")
    reg = registry()
    fees = {}  # the organisations named here; the others' fees follow the service's one fee rule
    for spec in fee or ():
        name, _, pct = spec.rpartition("=")
        try:
            fees[reg.find_org(name)["ref"]] = dist.parse_fee(pct)
        except FairtrainError as e:  # not a percentage, or no such organisation
            fail(f"--fee {spec!r}: {e}")
    try:
        thresholds = dist.parse_thresholds(dict(spec.partition("=")[::2] for spec in threshold or ()))
    except DistributionError as e:
        fail(f"--threshold: {e}")
    try:
        r = dist.run_distribution(reg, p, Formula(fee_bp=fees, thresholds=thresholds))
    except DistributionError as e:
        fail(f"distribution {period}: {e}")
    emit(
        r,
        as_json,
        f"distribution run {r['run']}: {r['lines']} lines, {r['holders']} holder totals, sha256 {r['sha256'][:16]}…",
    )


@app.command()
def statements(
    run: Annotated[int, typer.Option(help="Distribution run id")],
    holder: Annotated[str, typer.Option(help="Holder id or name")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv or html")] = "json",
    lang: Annotated[str, typer.Option(help="en or ko")] = "en",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to a file")] = None,
    recompute: Annotated[bool, typer.Option(help="Also re-compute the run from its inputs and compare")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A rights holder's statement for a run: per work and licensee, gross, deductions, net, carried forward.

    With --json the statement itself is printed as JSON, or, with --out, what was written where."""
    from fairtrain.services.ledger import distribution as dist

    reg = registry()
    st = dist.statement(reg, run, reg.find_holder(holder)["id"])
    if recompute:
        st["recomputed"] = dist.recompute(reg, run)
    text = {
        "json": lambda: json.dumps(st, ensure_ascii=False, indent=2) + "\n",
        "csv": lambda: dist.statement_csv(st),
        "html": lambda: dist.statement_html(st, lang),
    }.get("json" if as_json and not out_file else fmt)
    if text is None:
        fail(f"--format {fmt!r}: expected json, csv or html")
    if out_file:
        body = text()
        out_file.write_text(body, encoding="utf-8")
        emit(
            {"run": run, "holder": st.get("holder"), "format": fmt, "path": str(out_file), "bytes": len(body.encode())},
            as_json,
        )
        if not as_json:
            err.print(f"statement written to {out_file}")
    else:
        sys.stdout.write(text())
