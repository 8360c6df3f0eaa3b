"""`fairtrain` commands: the log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import (
    JsonOpt,
    PublicKeyOpt,
    app,
    emit,
    err,
    fail,
    key_path,
    out,
    public_log,
    state,
    trusted_keys,
)

log_app = typer.Typer(help="The public, verifiable log (RFC 9162): heads, proofs, verification.", no_args_is_help=True)
app.add_typer(log_app, name="log")


@log_app.command("sign")
def log_sign(key: Annotated[str, typer.Option(help="Signing key name")] = "registry", as_json: JsonOpt = False) -> None:
    """Sign the current tree head (size and root) with the registry's key."""
    from fairtrain.core.keys import SigningKey

    head = public_log().sign_head(SigningKey.load(key_path(key)))
    _save_head(head)
    emit(head, as_json, f"tree head: size {head['size']}, root {head['root']}, signed by {head['signature']['key_id']}")


def _heads_dir() -> Path:
    """Signed tree heads this data directory holds, outside the database whose log they vouch for."""
    from fairtrain.core.datadir import resolve_data_dir

    return resolve_data_dir(state.data_dir) / "log-heads"


def _save_head(head: dict) -> None:
    from fairtrain.core.files import atomic_file

    with atomic_file(_heads_dir() / f"{head['size']:012d}.json") as tmp:
        tmp.write_text(json.dumps(head, sort_keys=True) + "\n", encoding="utf-8")


@log_app.command("show")
def log_show(
    start: Annotated[int, typer.Option(help="First entry")] = 0,
    limit: Annotated[int, typer.Option(help="How many entries")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The latest signed tree head and a range of entries."""
    lg = public_log()
    head = lg.summary()  # what GET /api/log answers too
    entries = lg.entries(start, start + limit)
    data = {"size": head["size"], "root": head["root"], "latest_head": head["signed_head"], "entries": entries}
    t = Table(
        "idx",
        "kind",
        "at",
        "body",
        title=f"log: {head['size']} entries, root {head['root'][:16]}…, {head['signed_heads']} signed heads",
    )
    for e in entries:
        t.add_row(str(e["idx"]), e["kind"], e["at"], json.dumps(e["body"], ensure_ascii=False)[:80])
    emit(data, as_json, t)


@log_app.command("verify")
def log_verify(
    proof: Annotated[Path | None, typer.Option(help="Check this proof file offline instead of the log")] = None,
    head: Annotated[
        list[Path] | None,
        typer.Option(
            help="A signed tree head you hold (saved from `log sign --json`, GET /api/log or another "
            "verifier; repeatable); the heads `log sign` saved in this data directory count too"
        ),
    ] = None,
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the log from its entries and check it against signed tree heads you hold, or check one
    proof file offline."""
    from fairtrain.services.log import LogError, held_heads, verify_proof

    trusted = trusted_keys(public_key)
    if proof is not None:
        from fairtrain.services.transparency.lookup import verify_membership_proof

        doc = json.loads(proof.read_text(encoding="utf-8"))
        try:  # a "was my work used?" proof carries a set proof too: check both halves
            result = verify_membership_proof(doc, trusted) if "membership" in doc else verify_proof(doc, trusted)
        except (LogError, ValueError) as e:
            fail(f"proof refused: {e}", code=1)
        emit(result, as_json, f"[green]valid[/] {proof}")
        return
    held = []
    for p in [*(head or ()), *sorted(_heads_dir().glob("*.json"))]:
        try:
            held.extend(held_heads(json.loads(p.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as e:
            fail(f"{p}: not a signed tree head ({e})")
    result = public_log().verify(trusted, held)
    if as_json:
        emit(result, True)
    elif result["valid"]:
        out.print(
            f"[green]log valid[/]: {result['size']} entries, {result['tree_heads']} signed tree heads, "
            f"root {result['root']}"
        )
    else:
        for p in result["problems"]:
            err.print(f"[red]{p}[/]", highlight=False)
    if not result["valid"]:
        raise typer.Exit(1)


@log_app.command("prove")
def log_prove(
    index: Annotated[int, typer.Argument(help="Entry index")],
    size: Annotated[int | None, typer.Option(help="Tree head size (default: latest)")] = None,
    consistency_from: Annotated[
        int | None, typer.Option("--from", help="Instead: a consistency proof from this earlier head size")
    ] = None,
    as_json: JsonOpt = True,
) -> None:
    """Print an inclusion proof for an entry (or a consistency proof between heads), checkable offline."""
    lg = public_log()
    proof = (
        lg.consistency_proof(consistency_from, size)
        if consistency_from is not None
        else lg.inclusion_proof(index, size)
    )
    emit(proof, True)


@log_app.command("record-clearance")
def log_record_clearance(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Publish to this fairtrain registry (its base URL): the "
            "manifest and its leaves, so its lookups answer for them",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="FAIRTRAIN_API_KEY", help="A developer API key of that registry", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Publish a clearance manifest (signed by its licensee) in the log: this data directory's, or with
    ``--to URL`` a registry's, which checks it, keeps the leaves and logs it."""
    from fairtrain.core.keys import verify_document
    from fairtrain.services.log import Entry

    if to is not None:
        _publish_to(out_dir, to, api_key, as_json)
        return
    doc = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    signer = verify_document(doc)
    body = {"manifest": doc, "licensee_key_id": signer.key_id}
    (idx,) = public_log().append([Entry("clearance", body, subject=f"licensee:{doc.get('licensee')}")])
    emit(
        {"index": idx, "licensee": doc.get("licensee"), "key_id": signer.key_id},
        as_json,
        f"clearance manifest of {doc.get('licensee')} recorded as log entry {idx}",
    )


def _publish_to(out_dir: Path, url: str, api_key: str | None, as_json: bool) -> None:
    """POST the clearance OUT's manifest and leaves to ``URL/api/clearances`` with the API key."""
    import httpx

    if not api_key:
        fail("--to needs a developer API key: --api-key KEY or FAIRTRAIN_API_KEY")
    if not url.startswith(("http://", "https://")):
        fail(f"--to {url!r}: give the registry's base URL, e.g. https://registry.example")
    names = {
        "manifest": "manifest.json",
        "leaves_works": "leaves-works.parquet",
        "leaves_items": "leaves-items.parquet",
        "decisions": "decisions.parquet",
    }
    files = {}
    for field, name in names.items():
        path = out_dir / name
        if not path.is_file():
            if field == "decisions":
                continue
            fail(f"{path}: missing (OUT must be the directory `fairtrain clear --out` wrote)")
        files[field] = (name, path.read_bytes())
    try:
        r = httpx.post(
            url.rstrip("/") + "/api/clearances",
            files=files,
            timeout=120,
            headers={"Authorization": f"Bearer {api_key}"},
        )
    except httpx.HTTPError as e:
        fail(f"{url}: cannot reach the registry ({e})", code=1)
    try:
        body = r.json()
    except ValueError:
        body = {"detail": r.text[:300]}
    if r.status_code != 201:
        detail = body.get("detail") if isinstance(body, dict) else body
        fail(f"{url} refused the clearance ({r.status_code}): {detail}", code=1)
    emit(
        body,
        as_json,
        f"clearance manifest of {body.get('licensee')} published to {url} as log entry {body['index']}"
        + ("" if body.get("new") else " (already published)"),
    )
