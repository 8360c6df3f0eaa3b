"""JSON from untrusted input with a cap on nesting, checked before the parser recurses.

``json.loads`` recurses once per ``[`` or ``{``: a line nested 5,000 levels deep raises ``RecursionError``
(not a ``ValueError``) and one nested a little less deep than the interpreter's limit parses, only to
blow the stack of whatever walks the result next. :func:`loads` refuses anything nested deeper than
``max_depth`` with a :class:`JsonTooDeep` (an ``InvalidInput``, so a ``ValueError``) that says so. The check costs nothing for
documents with fewer brackets than the cap, and one regular-expression pass plus a vectorised running
sum otherwise.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from fairtrain.core.errors import InvalidInput

MAX_DEPTH = 64  # real records (JSONL rows, sidecars, quotes) nest a handful of levels

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_OPEN = np.frombuffer(b"[{", np.uint8)
_CLOSE = np.frombuffer(b"]}", np.uint8)


class JsonTooDeep(InvalidInput):
    """A JSON document nested deeper than the cap."""


def depth(text: str | bytes) -> int:
    """How deeply ``text``'s arrays and objects nest (brackets inside strings do not count)."""
    s = text.decode("utf-8", "surrogateescape") if isinstance(text, (bytes, bytearray)) else text
    code = _STRING.sub("", s).encode("utf-8", "surrogateescape")
    arr = np.frombuffer(code, np.uint8)
    step = np.isin(arr, _OPEN).astype(np.int64) - np.isin(arr, _CLOSE).astype(np.int64)
    return int(np.cumsum(step).max(initial=0))


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, refusing documents nested deeper than ``max_depth`` before parsing them."""
    if isinstance(text, (bytes, bytearray)):
        brackets = text.count(b"[") + text.count(b"{")
    else:
        brackets = text.count("[") + text.count("{")
    if brackets > max_depth and (d := depth(text)) > max_depth:
        raise JsonTooDeep(f"nested {d} levels deep, more than the {max_depth} allowed")
    try:
        return json.loads(text)
    except RecursionError:  # unbalanced brackets can hide depth from the count; never let it escape
        raise JsonTooDeep(f"nested more than the {max_depth} levels allowed") from None
