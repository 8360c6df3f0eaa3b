"""Who is asking, on the money side: a signed-in account as the party the ledger knows (``developer:N``,
``holder:N``, ``org:N``), and the few calls that the routes in :mod:`fairtrain.web.routes` (``licences``,
``distributions``, ``lookups``) share with other pages (``org_office``, ``pages``). No rule lives here: each
function names the caller's party and calls :mod:`fairtrain.services.ledger` or the transparency service."""

from __future__ import annotations

from fairtrain.services.ledger import distribution as dist
from fairtrain.services.log import Log
from fairtrain.web.security import Principal


def licensee_of(p: Principal) -> str:
    """A developer account's licensee identity: assigned by the server, so a licence or report can be
    tied to the account that asked for it (a quote's own ``licensee`` field is not trusted)."""
    return f"developer:{p.account.id}"


def party_of(p: Principal) -> str:
    """The caller on the money side: a developer as licensee, a creator as holder, an organisation admin as
    the organisation."""
    return licensee_of(p) if p.role == "developer" else p.holder_ref or p.org_ref


def member_of(state, p: Principal, holder_id: int) -> str:
    """``holder:ID`` when that holder is (or was) a consenting member of the caller's organisation."""
    return dist.member(state.registry, p.account.org_id, holder_id)


def statements_for(state, p: Principal, holder: str | None = None) -> list[dict]:
    """A creator's statements, or (``holder`` from :func:`member_of`) an organisation's member's."""
    return dist.statements_of(state.registry, holder or p.holder_ref)


def statement_for(state, p: Principal, run_id: int, holder: str | None = None) -> dict:
    return dist.statement_of(state.registry, run_id, holder or p.holder_ref)


def record_clearance(state, manifest: bytes, leaves: dict[str, bytes], decisions: bytes | None) -> dict:
    """A developer publishes a clearance (manifest and leaves): verified, stored under ``clearances/`` and
    logged (:func:`fairtrain.services.transparency.lookup.record_published_clearance`)."""
    from fairtrain.services.transparency.lookup import record_published_clearance  # pyarrow: on first use

    return record_published_clearance(Log(state.registry.engine), state.data_dir, manifest, leaves, decisions)
