"""Which language a request reads: the cookie, else ``Accept-Language``. The catalogues themselves (one per
language, for the web and every document alike) live in :mod:`fairtrain.core.i18n`."""

from __future__ import annotations

from babel import Locale

from fairtrain.core.i18n import DEFAULT, LANGUAGE_NAMES, LANGUAGES, translations

LANG_COOKIE = "ft_lang"


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    prefs: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        prefs.append((-q, i, tag.replace("_", "-")))
    ordered = [t for *_, t in sorted(prefs)]
    found = Locale.negotiate(ordered, list(LANGUAGES), sep="-") if ordered else None
    return str(found) if found else DEFAULT


__all__ = ["DEFAULT", "LANGUAGES", "LANGUAGE_NAMES", "LANG_COOKIE", "negotiate", "translations"]
