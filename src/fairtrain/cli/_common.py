"""What every command shares: the root app, global state, the --json option, output and errors."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fairtrain._version import __version__
from fairtrain.core.vocab import Category
from fairtrain.services import registry as registry_service  # lazy: `clear` never loads the database layer

app = typer.Typer(
    help="fairtrain: a permission-first rights clearinghouse for AI training data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def terminal_language() -> str:
    """The catalogue language of the terminal's locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``): ``ko`` for a
    Korean locale, else English."""
    import os

    from fairtrain.core.i18n import DEFAULT, LANGUAGES

    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := os.environ.get(var):
            lang = value.split("_", 1)[0].split(".", 1)[0].lower()
            return lang if lang in LANGUAGES else DEFAULT
    return DEFAULT


out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)  # never hard-wrap file paths in messages


class _State:
    data_dir: Path | None = None
    url: str | None = None
    debug: bool = False


state = _State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _print_version(value: bool) -> None:
    if value:
        out.print(f"fairtrain {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _global(
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="FAIRTRAIN_DATA_DIR", help="Where the embedded SQLite registry lives."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="FAIRTRAIN_DATABASE_URL", help="A PostgreSQL (or other) SQLAlchemy URL."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an unexpected error.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print fairtrain's version and exit."),
    ] = False,
) -> None:
    state.data_dir, state.url, state.debug = data_dir, database_url, debug


def registry() -> registry_service.Registry:
    return registry_service.Registry.open(state.data_dir, state.url)


def progress(as_json: bool, *counter):
    """The bar a long command draws on stderr (not with --json, nor where stderr is no terminal): the task's
    description, a bar, ``counter`` (default: done of total) and the time left."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        *(counter or (MofNCompleteColumn(),)),
        TimeRemainingColumn(),
        console=err,
        disable=as_json or not err.is_terminal,
    )


def emit(data: object, as_json: bool, human: str | Table | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    elif human is not None:
        out.print(human)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def parse_when(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{field}: {text!r} is not an ISO date or date-time (e.g. 2026-03-01 or 2026-03-01T12:00:00+09:00)")
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def read_json_file(path: Path) -> object:
    """A JSON file's content; an unreadable or malformed file fails naming it and the reason."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as e:
        fail(f"{path}: cannot read ({e.strerror or e})")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        fail(f"{path}: not JSON ({e})")


def parse_categories(values: list[str] | None) -> list[Category]:
    try:
        return [Category.parse(v) for raw in values or () for v in raw.split(",") if v.strip()]
    except ValueError as e:
        fail(str(e))


def key_path(name: str) -> Path:
    from fairtrain.core.datadir import resolve_data_dir

    if not name.replace("-", "").replace("_", "").isalnum():
        fail(f"key name {name!r}: use letters, digits, - and _ only")
    return resolve_data_dir(state.data_dir) / "keys" / f"{name}.key"


def trusted_keys(public_key: list[Path] | None) -> list:
    """Keys a snapshot or tree head must be signed by: the given files, else this data directory's keys
    marked as registry keys (never a licensee's or grantor's key that happens to lie beside them)."""
    from fairtrain.core.keys import KeyFileError, PublicKey, registry_keys

    try:
        trusted = [PublicKey.load(p) for p in public_key or ()] or registry_keys(key_path("registry").parent)
    except KeyFileError as e:
        fail(str(e))
    if not trusted:
        fail(
            f"no trusted registry key in {key_path('registry').parent}: pass --public-key FILE (the registry's "
            "published public key), create the registry's key with `fairtrain init` (or `fairtrain keys create`), or mark a key made "
            "before key roles with `fairtrain keys mark --name NAME --registry`"
        )
    return trusted


FilesArg = Annotated[list[Path], typer.Argument(metavar="FILES...")]
SnapshotOpt = Annotated[Path, typer.Option(help="A registry snapshot directory (verified before use)")]


def verified(open_snapshot, directory: Path, public_key: list[Path] | None):
    """``open_snapshot(directory, keys)``: a snapshot (or a matcher, a checker on one) verified against the
    trusted keys (:func:`trusted_keys`); a snapshot that does not verify fails the command with exit 1."""
    from fairtrain.core.snapshot import SnapshotError

    try:
        return open_snapshot(directory, trusted_keys(public_key))
    except SnapshotError as e:
        fail(f"snapshot refused: {e}", code=1)


def read_items(files: list[Path]) -> list[tuple[str, bytes | Path]]:
    """(name, path) per readable file: the matcher reads an item only when it is not a video, so a video of
    any size is fingerprinted from its file, never held in memory. An unreadable file is reported and
    passed on empty, so the batch goes on."""
    items: list[tuple[str, bytes | Path]] = []
    for f in files:
        try:
            with open(f, "rb"):
                pass
            items.append((str(f), f))
        except OSError as e:
            items.append((str(f), b""))
            err.print(f"[red]{f}[/]: cannot read ({e.strerror or e})", highlight=False)
    return items


OrgOpt = Annotated[
    str | None,
    typer.Option(
        "--org", help="The organisation whose work_ref names the work (where two organisations use the same ref)"
    ),
]

PublicKeyOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--public-key", help="Trusted public key file(s) (PEM or base64); default: this data directory's registry keys"
    ),
]
AllowPrivateOpt = Annotated[
    bool, typer.Option(help="Let web checks fetch loopback, private and link-local addresses (refused by default)")
]


def licensing():
    """The ledger's licensing service on this registry."""
    from fairtrain.services.ledger.licensing import Licensing

    return Licensing(registry())


def party_key(party: str, key: str | None):
    from fairtrain.core.keys import SigningKey

    name = key or party.replace(":", "-")
    path = key_path(name)
    if not path.exists():
        fail(f"{party} has no signing key {name!r}: create it with `fairtrain keys create --name {name}`")
    return SigningKey.load(path)


def public_log():
    """The public log of this registry."""
    from fairtrain.services.log import Log

    return Log(registry().engine)


SmtpOpt = Annotated[
    str | None,
    typer.Option(
        help="SMTP server HOST:PORT: e-mail the holder the invitation (else $FAIRTRAIN_SMTP; without one, none is sent)"
    ),
]
SiteOpt = Annotated[
    str | None,
    typer.Option(help="The web app's address the e-mailed link starts with (else $FAIRTRAIN_SITE, else local)"),
]


def mailer_from(reg, smtp: str | None, site: str | None):
    """``(mailer, origin)`` for e-mailed invitations when an SMTP server is given (by option or
    $FAIRTRAIN_SMTP; sender $FAIRTRAIN_MAIL_FROM; links start with ``site``, $FAIRTRAIN_SITE or the local
    address), else None."""
    import os

    from fairtrain.services.notify import Mailer, parse_smtp

    smtp = smtp or os.environ.get("FAIRTRAIN_SMTP")
    if not smtp:
        return None
    host, port = parse_smtp(smtp)
    mailer = Mailer(reg.engine, host, port, os.environ.get("FAIRTRAIN_MAIL_FROM") or "fairtrain@localhost")
    return mailer, (site or os.environ.get("FAIRTRAIN_SITE") or "http://127.0.0.1:8000").rstrip("/")
