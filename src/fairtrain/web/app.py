"""The web application: ``create_app`` wires the registry, accounts, the JSON API and the HTML pages."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.formparsers import MultiPartParser

from fairtrain._version import __version__
from fairtrain.core.datadir import resolve_data_dir
from fairtrain.core.errors import FairtrainError, localised
from fairtrain.services.notify import Mailer, Notifications, parse_smtp
from fairtrain.services.registry import Registry
from fairtrain.web.accounts import Accounts
from fairtrain.web.cpu import CpuPool
from fairtrain.web.security import BodyLimit, Network, RateLimiter, SecurityHeaders, Sessions, parse_proxies
from fairtrain.web.uploads import STREAMED_PATHS

STATIC_DIR = Path(__file__).parent / "static"


@dataclass(frozen=True)
class WebLimits:
    max_upload_bytes: int = 64 * 1024 * 1024  # one request, all files together
    max_files: int = 20
    # repertoire uploads (a ZIP of a sheet and files, or a sheet and files) stream to disk instead
    max_import_bytes: int = 16 * 1024**3
    max_import_files: int = 10_000
    max_video_bytes: int = 16 * 1024**3  # a resumable video upload (web/video_upload.py), in chunks of:
    video_chunk_bytes: int = 8 * 1024 * 1024
    sign_in_per_email: tuple[int, float] = (10, 300.0)  # attempts per seconds
    sign_in_per_client: tuple[int, float] = (30, 300.0)
    sign_up_per_client: tuple[int, float] = (10, 3600.0)
    uploads_per_account: tuple[int, float] = (60, 60.0)
    mandate_invites_per_mandate: tuple[int, float] = (3, 3600.0)  # invitations (re-)sent for one mandate
    # fingerprinting runs in worker processes (fairtrain.web.cpu), each upload within this budget
    cpu_workers: int = 2
    fingerprint_seconds: float = 120.0
    fingerprint_max_bytes: int = 64 * 1024 * 1024


@dataclass
class WebState:
    registry: Registry
    accounts: Accounts
    sessions: Sessions
    data_dir: Path
    limits: WebLimits
    secure_cookies: bool
    cpu: CpuPool
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For names the client
    notifications: Notifications | None = None
    mailer: Mailer | None = None  # sends notices by e-mail in a background thread, when SMTP is configured

    def limiter(self, name: str) -> RateLimiter:
        return self.limiters[name]

    @property
    def snapshots_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def registry_keys(self) -> list:
        """The keys a snapshot or tree head must be signed by: this data directory's registry keys only
        (a licensee's or grantor's key lying beside them is never trusted for that role)."""
        from fairtrain.core.keys import registry_keys

        return registry_keys(self.data_dir / "keys")

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"


DOCS_ASSETS = "/docs/assets"


def _install_api_docs(app: FastAPI) -> None:
    """``/docs``: the interactive API documentation, offline. Swagger UI comes from the installed
    ``swagger-ui-bundle-v2`` package and starts from ``/static/docs-init.js``, all same-origin, so the page
    works without the internet and under the site's Content-Security-Policy (no inline script)."""
    from fastapi.responses import HTMLResponse
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{app.title} API</title>'
        f'<link rel="stylesheet" href="{DOCS_ASSETS}/swagger-ui.css"></head><body><div id="swagger-ui"></div>'
        f'<script src="{DOCS_ASSETS}/swagger-ui-bundle.js"></script>'
        '<script src="/static/docs-init.js"></script></body></html>'
    )

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(page)


def create_app(
    data_dir: str | os.PathLike | None = None,
    database_url: str | None = None,
    *,
    secret_key: bytes | None = None,
    limits: WebLimits | None = None,
    password_hasher: PasswordHasher | None = None,
    secure_cookies: bool = False,
    trusted_proxies: Sequence[str] = (),
    create: bool = True,
    smtp: str | None = None,
    mail_from: str | None = None,
) -> FastAPI:
    """The application for one registry: SQLite in ``data_dir`` or the database at ``database_url``.

    ``data_dir`` also holds snapshots to publish (``snapshots/NAME/``), upload staging and the session
    secret (``web-secret``, created on first start) unless ``secret_key`` is given. Per-client limits
    read ``X-Forwarded-For`` only from the ``trusted_proxies`` (addresses or networks), else the peer.
    ``smtp`` (``HOST:PORT``, else ``FAIRTRAIN_SMTP``) and ``mail_from`` (else ``FAIRTRAIN_MAIL_FROM``) turn on
    e-mail notices, sent from a background thread.
    """
    directory = resolve_data_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    registry = Registry.open(directory, database_url, create=create)
    limits = limits or WebLimits()
    state = WebState(
        registry=registry,
        accounts=Accounts(registry.engine, password_hasher),
        sessions=Sessions(secret_key or _secret(directory)),
        data_dir=directory.resolve(),
        limits=limits,
        secure_cookies=secure_cookies,
        trusted_proxies=parse_proxies(trusted_proxies),
        cpu=CpuPool(limits.cpu_workers, limits.fingerprint_seconds, limits.fingerprint_max_bytes),
        limiters={
            name: RateLimiter(registry.engine, name, *getattr(limits, name))
            for name in (
                "sign_in_per_email",
                "sign_in_per_client",
                "sign_up_per_client",
                "uploads_per_account",
                "mandate_invites_per_mandate",
            )
        },
    )
    state.notifications = Notifications(registry.engine)
    smtp = smtp or os.environ.get("FAIRTRAIN_SMTP")
    if smtp:
        host, port = parse_smtp(smtp)
        sender = mail_from or os.environ.get("FAIRTRAIN_MAIL_FROM") or "fairtrain@localhost"
        state.mailer = Mailer(registry.engine, host, port, sender)
    # Keep uploaded parts in memory (bounded by BodyLimit) instead of spooling them to the system temp
    # directory: uploads are never written outside the data directory.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, limits.max_upload_bytes + 1)

    from fairtrain.services.ledger.distribution import import_legacy_starters
    from fairtrain.services.registry import repertoire_uploads
    from fairtrain.web.routes import routers

    import_legacy_starters(state.registry, state.data_dir)

    app = FastAPI(
        title="fairtrain",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="A permission-first rights clearinghouse for AI training data: registry, "
        "declarations, signals, imports, disputes, snapshots and the public log.",
    )
    app.state.web = state
    app.router.add_event_handler("shutdown", state.cpu.close)
    app.router.add_event_handler("startup", lambda: repertoire_uploads.resume_jobs(registry, mailer=state.mailer))
    if state.mailer is not None:
        app.router.add_event_handler("startup", state.mailer.start)
        app.router.add_event_handler("shutdown", state.mailer.stop)
    for router in routers():
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_api_docs(app)
    _install_error_handlers(app)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        BodyLimit,
        max_bytes=limits.max_upload_bytes,
        streamed=STREAMED_PATHS,
        streamed_max_bytes=limits.max_import_bytes,
    )
    return app


def _secret(directory: Path) -> bytes:
    env = os.environ.get("FAIRTRAIN_WEB_SECRET")
    if env:
        return env.encode()
    path = directory / "web-secret"
    if not path.exists():
        # Written aside, then linked into place: of several processes starting at once (serve --workers N)
        # one secret wins and every process reads that one whole, so each accepts the others' cookies.
        tmp = directory / f".web-secret.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


def _install_error_handlers(app: FastAPI) -> None:
    from fairtrain.web.deps import language, principal
    from fairtrain.web.i18n import translations
    from fairtrain.web.pages import render_error
    from fairtrain.web.security import PUBLIC

    async def signed_in(request: Request):
        """Who is signed in, for the error page's menu (nobody, where that cannot be told)."""
        try:
            return await principal(request)
        except Exception:  # noqa: BLE001 - an error page must render whatever the session says
            return PUBLIC

    async def handle(request: Request, exc: Exception):
        status = exc.http_status
        if request.url.path.startswith("/api/") or request.url.path == "/openapi.json":
            headers = getattr(exc, "headers", None)
            return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
        return render_error(request, status, localised(exc, language(request)), await signed_in(request))

    app.add_exception_handler(FairtrainError, handle)

    async def invalid(request: Request, exc: RequestValidationError):
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": errors}, status_code=422)
        _ = translations(language(request)).gettext
        fields = ", ".join(sorted({str(e["loc"][-1]) for e in errors if e["loc"]}))
        return render_error(
            request,
            422,
            _(
                "The form is missing something or has a value that cannot be read "
                "({fields}). Go back, check it and send it again."
            ).format(fields=fields),
            await signed_in(request),
        )

    app.add_exception_handler(RequestValidationError, invalid)
