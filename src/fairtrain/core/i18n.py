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
# Each language's name in itself (for a language switch), from CLDR.
LANGUAGE_NAMES = {lang: Locale.parse(lang).get_display_name(lang) for lang in LANGUAGES}


def N_(message: str) -> str:
    """Marks ``message`` for the catalogue where it is written down; it is translated where it is used."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """Marks ``message`` for the catalogue in ``context``; ``translations(lang).pgettext(*marked)`` reads it."""
    return context, message


# What ``pybabel extract -k`` needs beyond Babel's defaults (which know ``_``, ``N_``, ``pgettext``, …).
EXTRACT_KEYWORDS = {"NP_": ((1, "c"), 2)}


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


__all__ = ["BABEL_LOCALES", "DEFAULT", "EXTRACT_KEYWORDS", "LANGUAGES", "LANGUAGE_NAMES", "LOCALES_DIR", "NP_", "N_",
           "babel_locale", "catalogue_path", "translations", "translator"]
