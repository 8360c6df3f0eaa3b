"""`fairtrain` commands: the web application and the demo."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from fairtrain.cli._common import (
    JsonOpt,
    app,
    emit,
    err,
    out,
    state,
)
from fairtrain.core.vocab import Category


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
          secure_cookies: Annotated[bool, typer.Option(help="Mark session cookies Secure (behind HTTPS)")] = False,
          trusted_proxy: Annotated[list[str] | None, typer.Option(
              help="A reverse proxy's address or network whose X-Forwarded-For names the client (repeatable); "
                   "without one the header is ignored")] = None,
          smtp: Annotated[str | None, typer.Option(
              help="SMTP server HOST:PORT for e-mail notices (else $FAIRTRAIN_SMTP; without one none are sent)")] = None,
          mail_from: Annotated[str | None, typer.Option(
              help="Sender address of e-mail notices (else $FAIRTRAIN_MAIL_FROM)")] = None,
          as_json: JsonOpt = False) -> None:
    """Run the web application (pages and JSON API) on HOST:PORT; creates the registry if needed."""
    import uvicorn

    from fairtrain.web import create_app

    web_app = create_app(state.data_dir, state.url, secure_cookies=secure_cookies, trusted_proxies=trusted_proxy or (),
                         smtp=smtp, mail_from=mail_from)
    url = f"http://{host}:{port}/"
    if as_json:  # one line a script can read before the server takes over the terminal
        emit({"url": url, "openapi": url + "openapi.json", "docs": url + "docs"}, True)
        sys.stdout.flush()
    else:
        err.print(f"fairtrain web on {url} (OpenAPI document: {url}openapi.json)")
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any peer on 127.0.0.1 as the client;
    # the application reads it itself, from --trusted-proxy peers only.
    uvicorn.run(web_app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)


@app.command()
def demo(as_json: JsonOpt = False) -> None:
    """Build a small demo registry (Korean and English works, a CMO repertoire) and show decisions."""
    from fairtrain.cli.demo import build_demo
    from fairtrain.core.datadir import resolve_data_dir

    data_dir = resolve_data_dir(state.data_dir)
    reg, works = build_demo(data_dir)
    cats = list(Category)
    rows = []
    t = Table("work", "title", *(c.value for c in cats), title=f"decisions for licensee 'demo-ai-lab' ({data_dir})")
    colour = {"allow": "green", "licence": "yellow", "deny": "red"}
    for wid, title in works:
        ds = {c.value: reg.decide(wid, c, licensee="demo-ai-lab") for c in cats}
        rows.append({"work": wid, "title": title, **{k: d.value.value for k, d in ds.items()}})
        t.add_row(str(wid), title, *(f"[{colour[d.value.value]}]{d.value.value}[/]" for d in ds.values()))
    emit(rows, as_json, t)
    if not as_json:
        out.print(f"\nTry: [bold]fairtrain --data-dir {data_dir} decide 2 --category train-genai[/]"
                  f"  ·  [bold]fairtrain --data-dir {data_dir} works show 3[/]")
