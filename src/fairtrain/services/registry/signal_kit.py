"""The signal kit: a work's, a catalogue's or a repertoire's stored terms as every machine-readable signal
for one site. ``fairtrain signals render`` and the web's ``/kit``, ``/api/kit`` and ``/api/works/{work}/kit``
build it here, so a site's scope and a platform's limits read the same from both."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable

from fairtrain.core.signals.render import (
    HTML_HEAD,
    STATEMENT_EN,
    STATEMENT_KO,
    Party,
    PartyKind,
    SignalPolicy,
    SignalRenderError,
    render_kit,
)
from fairtrain.core.signals.reservation import Platform, platform_for, site_scope
from fairtrain.core.vocab import Level

PASTE_ONLY = (STATEMENT_EN, STATEMENT_KO)  # what a kit for a blog platform holds besides the head snippet


def kit_policy(
    registry,
    level: Level,
    target_id: int,
    party: Party,
    site: str,
    *,
    reservation: tuple[str, str] | None = None,
    licence_urls: Iterable[str] | None = None,
) -> tuple[SignalPolicy, Platform]:
    """The policy a kit for ``site`` renders: an origin, a folder of one (its path scopes the kit and its
    robots.txt rules), or a blog or profile on a platform (``reservation.platform_for``), whose policy is the
    registry's reservation page ``reservation`` (its origin and path), since what such a platform allows is
    only pasting. ``licence_urls``: where licences are offered (default the site's ``license.xml``).
    :class:`SignalRenderError` for a site that cannot carry the kit."""
    site = (site or "").strip().rstrip("/")
    platform = platform_for(site)
    if platform.hosted:
        if party.kind is not PartyKind.HOLDER:
            raise SignalRenderError(
                f"site {site!r}: {platform.name} has no files of yours; an organisation "
                "publishes its signals from its own website"
            )
        if reservation is None:
            raise SignalRenderError(
                f"site {site!r}: {platform.name} has no files of yours; paste the registry's reservation "
                "page there instead (the web app's signal kit page gives it)"
            )
        base, scope = reservation[0].rstrip("/"), reservation[1]
        policy_url = base + scope
        licences = (policy_url,)
    else:
        base, scope = site_scope(site)
        policy_url = f"{base}{scope}/ai-reservation"
        licences = tuple(licence_urls or (f"{base}{scope}/license.xml",))
    policy = SignalPolicy.from_decisions(
        party,
        base,
        registry.policy_decisions(level, target_id).values(),
        policy_url=policy_url,
        licence_urls=licences,
        scope=scope,
    )
    return policy, platform


def kit_files(policy: SignalPolicy, platform: Platform) -> dict[str, bytes]:
    """The kit's files by path; for a platform, nothing to upload: what can be pasted, and the statement."""
    files = render_kit(policy)
    if platform.hosted:
        files = {k: v for k, v in files.items() if k in PASTE_ONLY or (platform.head and k == HTML_HEAD)}
    return files


def kit_zip(files: dict[str, bytes]) -> bytes:
    """The kit as a ZIP, byte-identical for the same files (fixed member times, sorted)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(files):
            z.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), files[path])
    return buf.getvalue()
