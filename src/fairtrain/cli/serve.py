"""`fairtrain` commands: the web application and the demo.

``serve --workers N`` runs N uvicorn worker processes on one socket. uvicorn starts them with
``multiprocessing``'s spawn, so the application is not handed over as an object: each worker imports
:func:`app_from_environment` (an app factory) and reads the settings from ``FAIRTRAIN_SERVE_SETTINGS`` (JSON,
in the environment rather than on the command line, which ``ps`` shows: the database URL may hold a
password). The serving process migrates the database once before the workers start, so they never race to
create the schema. A worker dies with the serving process however that ends: SIGTERM is uvicorn's (it stops
its workers), and against SIGKILL each worker arms the kernel's parent-death signal
(``core.children.die_with_parent``) before it builds the application; its CPU pool's fork server and pool
workers die with it in turn (``web.cpu``).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from fairtrain.cli._common import JsonOpt, app, emit, err, fail, out, state

SETTINGS_ENV = "FAIRTRAIN_SERVE_SETTINGS"
FACTORY = "fairtrain.cli.serve:app_from_environment"


def app_from_environment():
    """The app factory each worker of ``serve --workers N`` runs (``uvicorn --factory``)."""
    from fairtrain.core.children import die_with_parent
    from fairtrain.web import create_app

    settings = json.loads(os.environ[SETTINGS_ENV])
    parent = settings.pop("parent")
    if os.getppid() != parent:  # the serving process ended before this worker got here
        os._exit(1)
    die_with_parent(parent)
    return create_app(**settings)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes sharing the port (each with its own CPU pool); with more than one, put the "
            "registry on PostgreSQL (--database-url), or SQLite serialises their writes",
        ),
    ] = 1,
    secure_cookies: Annotated[bool, typer.Option(help="Mark session cookies Secure (behind HTTPS)")] = False,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            help="A reverse proxy's address or network whose X-Forwarded-For names the client (repeatable); "
            "without one the header is ignored"
        ),
    ] = None,
    smtp: Annotated[
        str | None,
        typer.Option(help="SMTP server HOST:PORT for e-mail notices (else $FAIRTRAIN_SMTP; without one none are sent)"),
    ] = None,
    mail_from: Annotated[
        str | None, typer.Option(help="Sender address of e-mail notices (else $FAIRTRAIN_MAIL_FROM)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the web application (pages and JSON API) on HOST:PORT; creates the registry if needed."""
    import uvicorn

    settings = {
        "secure_cookies": secure_cookies,
        "trusted_proxies": list(trusted_proxy or ()),
        "smtp": smtp,
        "mail_from": mail_from,
    }
    if workers == 1:
        from fairtrain.web import create_app

        target = create_app(state.data_dir, state.url, **settings)
    else:
        from fairtrain.core.datadir import resolve_data_dir
        from fairtrain.core.store.db import database_url
        from fairtrain.services.registry import Registry
        from fairtrain.web.security import parse_proxies

        try:
            parse_proxies(settings["trusted_proxies"])  # refused here, not in each worker
        except ValueError as e:
            fail(str(e))
        data_dir = resolve_data_dir(state.data_dir).resolve()
        db_url = database_url(data_dir, state.url)
        Registry.open(data_dir, db_url, create=True).engine.dispose()  # migrations run once, here
        settings |= {"data_dir": str(data_dir), "database_url": db_url, "parent": os.getpid()}
        os.environ[SETTINGS_ENV] = json.dumps(settings)
        target = FACTORY
    url = f"http://{host}:{port}/"
    if as_json:  # one line a script can read before the server takes over the terminal
        emit({"url": url, "openapi": url + "openapi.json", "docs": url + "docs", "workers": workers}, True)
        sys.stdout.flush()
    else:
        err.print(f"fairtrain web on {url} (OpenAPI document: {url}openapi.json)")
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any peer on 127.0.0.1 as the client;
    # the application reads it itself, from --trusted-proxy peers only.
    uvicorn.run(
        target,
        factory=workers > 1,
        workers=workers,  # explicit: uvicorn would otherwise read $WEB_CONCURRENCY
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )


@app.command()
def demo(as_json: JsonOpt = False) -> None:
    """Play the whole story on generated data: a CMO's repertoire, creators, a developer's clearance, licences,
    payment, distribution, statements, the log and lookups. A finished demo in DATA_DIR is reused."""
    from fairtrain.cli.demo import DemoError, run_demo
    from fairtrain.core.datadir import resolve_data_dir

    data_dir = resolve_data_dir(state.data_dir)
    try:
        s = run_demo(data_dir, state.url)
    except DemoError as e:
        fail(str(e))
    if as_json:
        emit(s, True)
        return
    d, c1, c2, lic, dist = s["dataset"], s["clearance_1"], s["clearance_2"], s["licences"], s["distribution"]
    ft = f"fairtrain --data-dir {data_dir}"
    clears = data_dir / "clearances"
    lines = [
        f"1. KOMCA (demo) imported {s['repertoire']['works']} works from a ZIP (sheet read as "
        f"{s['repertoire']['encoding']}; texts, images, songs) · {ft} works list",
        f"2. {s['creators']['accounts']} creators signed up and registered {s['creators']['works']} works · {ft} holders list",
        f"3. Demo AI Lab cleared {d['items']} items ({d['exact']} copies, {d['edited']} edits, {d['unrelated']} "
        f"unrelated): "
        + ", ".join(f"{k} {v}" for k, v in c1["by_decision"].items())
        + f" · {clears}/clearance-1/report.html",
        f"4. {lic['requested']} licences requested: KOMCA and Jeon Photo accepted ({' + '.join(lic['prices'])}, "
        f"{' and '.join(lic['payments'])}), Yoon Haneul declined · {ft} licences list",
        f"5. Re-cleared on a fresh snapshot: {c2['passed']} of {c2['items']} items cleared (was {c1['passed']}) · "
        f"{clears}/clearance-2/report.html",
        f"6. Usage report {s['usage_report']} filed for model demo-lm 1; demo-lm 0.9's past use of "
        f"{s['retroactive']['works']} works licensed retroactively ({s['retroactive']['price']}, "
        f"+{s['retroactive']['surcharge_percent']:g} %, {s['retroactive']['payment']}) · {ft} invoices",
        f"7. Distribution run {dist['run']}: {dist['lines']} lines, {dist['statements']} statements · "
        f"{ft} statements --run {dist['run']} --holder 1",
        f"8. Clearance published as log entry {s['published']}, model summary as entry {s['summary']['log_index']}; "
        f"the head is signed · {ft} log show",
        "9. Was my work used? "
        + ", ".join(f"{k}: {v}" for k, v in s["lookups"].items())
        + f" · {ft} lookup --work {s['lookup_works']['yes']} --clearance {clears}/clearance-2",
        "10. Sign in (password "
        + s["password"]
        + "): "
        + ", ".join(f"{a['email']} ({a['role']})" for a in s["accounts"]),
    ]
    if s["reused"]:
        out.print(f"[dim]reusing the demo already in {data_dir} (delete it to play the story again)[/]")
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
