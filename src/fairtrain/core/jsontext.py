"""JSON documents from outside (a licence quote, a usage report), read with a bound on nesting.

``json.loads`` of ``[[[[…]]]]`` 5,000 levels deep raises ``RecursionError`` (not a ValueError: callers that
catch bad input miss it), and a document just under the interpreter's limit still breaks whatever walks
it recursively later. :func:`loads` refuses both with a reason.
"""

from __future__ import annotations

import json

from fairtrain.core.errors import InvalidInput

MAX_DEPTH = 64  # quotes and reports nest four or five levels


class JsonRefused(InvalidInput):
    """The text is not JSON, or nests deeper than allowed."""


def loads(text: str | bytes, *, what: str = "JSON document", max_depth: int = MAX_DEPTH) -> object:
    """Parse ``text`` as JSON nested at most ``max_depth`` levels; :class:`JsonRefused` names the reason."""
    try:
        doc = json.loads(text)
    except RecursionError:
        raise JsonRefused(f"{what}: nested deeper than {max_depth} levels") from None
    except (ValueError, TypeError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JsonRefused(f"{what}: not JSON ({e})") from None
    if depth(doc, stop=max_depth + 1) > max_depth:
        raise JsonRefused(f"{what}: nested deeper than {max_depth} levels")
    return doc


def depth(doc: object, *, stop: int | None = None) -> int:
    """How deep ``doc`` nests (a scalar is 0, ``[]`` is 1), without recursion; gives up at ``stop``."""
    deepest = 0
    stack = [(doc, 1)]
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, d)
        if stop is not None and deepest >= stop:
            return deepest
        stack.extend((child, d + 1) for child in node if isinstance(child, dict | list))
    return deepest


__all__ = ["MAX_DEPTH", "JsonRefused", "depth", "loads"]
