"""Every HTML document the product writes comes from a Jinja2 template with autoescape, rendered here.

The documents (the clearance report, distribution statements, model summaries, the signals kit's HTML
head, the bar chart) are templates in ``templates/`` beside this module, shipped as package data. A
value put into a template is escaped unless it is :class:`~markupsafe.Markup` (a chart, say, itself
rendered from a template), so a work title like ``<script>`` reaches the reader as text. The templates get
``_`` and ``pgettext`` for the document's language from :mod:`fairtrain.core.i18n`, and ``lang``. The web
builds its page environment with :func:`environment` too, so both escape alike.

Documents that are opened from a file (report.html, statements) stay self-contained: inline CSS and SVG,
no scripts, nothing fetched.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, select_autoescape

from fairtrain.core.i18n import DEFAULT, translations

TEMPLATES_DIR = Path(__file__).parent / "templates"


def environment(*dirs: Path, undefined: type[Undefined] = Undefined) -> Environment:
    """A Jinja2 environment over ``dirs`` that escapes every ``.html``, ``.svg`` and ``.xml`` template."""
    return Environment(
        loader=FileSystemLoader(list(dirs)),
        autoescape=select_autoescape(["html", "svg", "xml"]),
        auto_reload=False,
        undefined=undefined,
        keep_trailing_newline=True,
    )


_ENV = environment(TEMPLATES_DIR, undefined=StrictUndefined)


def render_document(template: str, lang: str = DEFAULT, **context) -> str:
    """``templates/<template>`` rendered in ``lang`` with ``context``."""
    t = translations(lang)
    return _ENV.get_template(template).render(_=t.gettext, pgettext=t.pgettext, lang=lang, **context)


__all__ = ["TEMPLATES_DIR", "environment", "render_document"]
