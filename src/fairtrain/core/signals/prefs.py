"""Usage-preference strings shared by robots.txt lines and HTTP headers.

- AIPREF ``Content-Usage`` (draft-ietf-aipref-vocab/-attach): an RFC 9651 Dictionary whose values
  are the Tokens ``y`` / ``n``; anything else for a key is unknown, parameters are ignored, the last
  duplicate wins, and a Dictionary that does not parse makes *every* category unknown.
- Cloudflare ``Content-Signal``: ``key=yes|no`` pairs separated by commas. Parsed as a Dictionary too;
  deployed values that are not valid structured fields (upper case, stray spaces) are read leniently
  because the format has no formal grammar of its own.
"""

from __future__ import annotations

import http_sfv
from http_sfv.types import Token


def parse_aipref(text: str) -> dict[str, bool]:
    """``{label: allowed}`` for the labels set to ``y`` or ``n``; ``{}`` if the field does not parse."""
    d = http_sfv.Dictionary()
    try:
        d.parse(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return {}
    out: dict[str, bool] = {}
    for key, member in d.items():
        value = getattr(member, "value", None)
        if isinstance(value, Token) and str(value) in ("y", "n"):
            out[key] = str(value) == "y"
    return out


def parse_content_signal(text: str) -> dict[str, bool]:
    """``{signal: allowed}`` for the signals set to ``yes`` or ``no``."""
    d = http_sfv.Dictionary()
    out: dict[str, bool] = {}
    try:
        d.parse(text.strip().encode("ascii"))
        pairs = [(k, str(getattr(m, "value", ""))) for k, m in d.items()]
    except (ValueError, UnicodeEncodeError):
        pairs = []
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if sep:
                pairs.append((key.strip().lower(), value.strip().strip('"').lower()))
    for key, value in pairs:
        if value in ("yes", "no"):
            out[key] = value == "yes"
    return out
