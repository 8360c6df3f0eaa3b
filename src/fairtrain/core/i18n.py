"""Every language string the product writes, in one place: the Babel catalogue of each language.

English is the source language: a message's id is its English text, so English needs no catalogue and a
message without a translation reads in English. The other languages have
``locales/<lang>/LC_MESSAGES/messages.po``, compiled to MO in memory on first use, so a fresh checkout
needs no build step. Core, services and the web all translate through :func:`translations`
(``fairtrain.web.i18n`` adds only how a request chooses its language).

Where a message is written down apart from where it is translated (a table of labels, say), ``N_`` marks it
so that ``pybabel extract`` and the catalogue test find it; where one English text needs two translations,
``pgettext`` gives it a context. Numbers, money and dates use the Babel locale in :data:`BABEL_LOCALES`.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "ko")
DEFAULT = "en"
LOCALES_DIR = Path(__file__).parent / "locales"
BABEL_LOCALES = {"en": "en_US", "ko": "ko_KR"}
# The time zone a reader of each language sees times in (the stored times are UTC).
TIME_ZONES = {"en": "UTC", "ko": "Asia/Seoul"}
# Each language's name in itself (for a language switch), from CLDR.
LANGUAGE_NAMES = {lang: Locale.parse(lang).get_display_name(lang) for lang in LANGUAGES}


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is written down; it is translated where it is used."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """Marks ``message`` for the catalogue in ``context``; ``translations(lang).pgettext(*marked)`` reads it."""
    return context, message


# What ``pybabel extract -k`` needs beyond Babel's defaults (which know ``_``, ``N_``, ``pgettext``, …).
# ``said(exc, "…")``, ``said_as(Cls, "…")`` (core.errors) and ``refusal(status, "…")`` (web.errors) carry a
# catalogue message as their second argument.
EXTRACT_KEYWORDS = {"NP_": ((1, "c"), 2), "said": (2,), "said_as": (2,), "refusal": (2,)}


def catalogue_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "LC_MESSAGES" / "messages.po"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang``; English (and a language without a catalogue) reads the ids."""
    po = catalogue_path(lang)
    if lang == DEFAULT or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def translator(lang: str) -> Callable[[str], str]:
    """``_ = translator(lang)``: the gettext function of ``lang``."""
    return translations(lang).gettext


def babel_locale(lang: str) -> str:
    """The Babel locale that formats numbers, money and dates for ``lang`` (English for any other)."""
    return BABEL_LOCALES.get(lang, BABEL_LOCALES[DEFAULT])


# How a time reads: a Babel pattern and the zone's name after it, both catalogue messages (Korean reads
# the date in its own order, the zone as "Korean time")
TIME_PATTERN = NP_("time pattern", "d MMM y, HH:mm")
TIME_ZONE_NAME = NP_("time zone", " UTC")
# How an amount of won reads, a catalogue message: "₩30,000" in English, the won sign after it in Korean.
WON_PATTERN = NP_("money", "₩{amount}")


def format_when(value: object, lang: str) -> str:
    """A stored UTC time (a ``datetime`` or an ISO 8601 string) as the reader of ``lang`` reads it, in the
    reader's time zone (:data:`TIME_ZONES`), written as :data:`TIME_PATTERN` says. Anything else reads as itself."""
    from datetime import UTC, datetime

    from babel.dates import format_datetime, get_timezone

    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    zone = get_timezone(TIME_ZONES.get(lang, "UTC"))
    t = translations(lang)
    return format_datetime(value, t.pgettext(*TIME_PATTERN), tzinfo=zone, locale=babel_locale(lang)) + t.pgettext(
        *TIME_ZONE_NAME
    )


def format_money(amount: object, currency: str, lang: str) -> str:
    """``amount`` (major units: a Decimal, an int or its text) in ``currency`` with the separators and symbol of
    ``lang`` (won as :data:`WON_PATTERN` says)."""
    from decimal import Decimal, InvalidOperation

    from babel.numbers import format_currency, format_decimal

    try:
        d = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {currency}"
    if currency == "KRW":  # CLDR writes ₩30,000 in Korean too; a Korean reader writes the won sign after
        return translations(lang).pgettext(*WON_PATTERN).format(amount=format_decimal(d, locale=babel_locale(lang)))
    return format_currency(d, currency, locale=babel_locale(lang))


def format_share(share: object, lang: str) -> str:
    """A holder's share (an exact fraction such as ``"1/3"``) as a percentage a reader knows: ``33.33%``."""
    from fractions import Fraction

    from babel.numbers import format_percent

    try:
        f = Fraction(str(share))
    except (ValueError, ZeroDivisionError):
        return str(share)
    return format_percent(f.numerator / f.denominator, "#,##0.##%", locale=babel_locale(lang))


__all__ = [
    "BABEL_LOCALES",
    "DEFAULT",
    "EXTRACT_KEYWORDS",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LOCALES_DIR",
    "NP_",
    "N_",
    "TIME_PATTERN",
    "TIME_ZONES",
    "TIME_ZONE_NAME",
    "WON_PATTERN",
    "babel_locale",
    "catalogue_path",
    "format_money",
    "format_share",
    "format_when",
    "translations",
    "translator",
]
