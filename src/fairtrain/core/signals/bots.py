"""AI crawler user-agent tokens (ai.robots.txt ``robots.json``), classified by what their use is.

The list's ``function`` field is a category name for most bots ("AI Search Crawlers", "AI Assistants",
…) and free text for the rest. Each bot is mapped to the usage categories its crawling serves, so a
robots.txt group can follow the policy: training crawlers follow ``train-ai``/``train-genai``,
assistants and agents follow ``ai-input``, AI search crawlers follow ``search``. A bot whose text
names several uses serves all of them and is let in only where every one of them is allowed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from fairtrain.core.errors import InvalidInput
from fairtrain.core.vocab import Category

# A copy of ai.robots.txt's robots.json (MIT, see data/ai-robots.LICENSE) ships with the package;
# FAIRTRAIN_AI_BOTS points at a newer list.
DEFAULT_BOTS_PATH = Path(os.environ.get("FAIRTRAIN_AI_BOTS", Path(__file__).parent / "data" / "ai-robots.json"))

TRAINING: frozenset[Category] = frozenset({Category.TRAIN_AI, Category.TRAIN_GENAI})
AI_INPUT: frozenset[Category] = frozenset({Category.AI_INPUT})
SEARCH: frozenset[Category] = frozenset({Category.SEARCH})


class BotListError(InvalidInput):
    """The bot list could not be read: names the file and the reason."""


@dataclass(frozen=True, slots=True)
class AiBot:
    token: str
    operator: str
    function: str
    respects_robots: str  # the list's own words: "Yes", "No", "Unclear at this time."
    categories: frozenset[Category]  # the uses its crawling serves; let in only if all are allowed


# The list's own category names.
_FUNCTION_CATEGORIES: dict[str, frozenset[Category]] = {
    "ai data scrapers": TRAINING,
    "ai data providers": TRAINING,  # resell crawled data, training being the main buyer
    "ai search crawlers": SEARCH,
    "ai assistants": AI_INPUT,
    "ai agents": AI_INPUT,
    "ai coding agents": AI_INPUT,
    "undocumented ai agents": AI_INPUT,
}

# Tokens whose vendor documents a purpose the list's free text hides (optout-standards.md §3.2):
# these are training control tokens, whatever the description says about the products they feed.
_KNOWN_TRAINING = frozenset(
    t.lower()
    for t in (
        "GPTBot",
        "Google-Extended",
        "Applebot-Extended",
        "CCBot",
        "ClaudeBot",
        "anthropic-ai",
        "meta-externalagent",
        "Meta-ExternalAgent",
        "FacebookBot",
        "Bytespider",
        "cohere-training-data-crawler",
    )
)

_TRAIN_WORDS = re.compile(
    r"\btrain|\bllm|language model|machine learning|\bml\b|dataset|data set|scrap|crawl dataset|"
    r"data is sold|data collection|ai model|build(?:ing)? .*models",
    re.I,
)
_SEARCH_WORDS = re.compile(r"\bsearch\b", re.I)
_INPUT_WORDS = re.compile(
    r"user|prompt|assistant|answer|agent|queries|chat|translation|recommendation|action|support", re.I
)


# Vendor-documented search crawlers whose free-text function also mentions users or answers.
_KNOWN_SEARCH = frozenset(t.lower() for t in ("OAI-SearchBot", "Claude-SearchBot", "PerplexityBot", "Applebot"))


def classify(token: str, function: str) -> frozenset[Category]:
    """The usage categories a bot's crawling serves, from its token and the list's ``function``."""
    if token.lower() in _KNOWN_TRAINING:
        return TRAINING
    if token.lower() in _KNOWN_SEARCH:
        return SEARCH
    known = _FUNCTION_CATEGORIES.get(function.strip().lower())
    if known is not None:
        return known
    text = function  # descriptions name every product a vendor has; the function is the use
    cats: set[Category] = set()
    if _TRAIN_WORDS.search(text):
        cats |= TRAINING
    if _SEARCH_WORDS.search(text):
        cats |= SEARCH
    if _INPUT_WORDS.search(text):
        cats |= AI_INPUT
    # An unexplained AI crawler is treated as a training crawler: permission first.
    return frozenset(cats) or TRAINING


def load_bots(path: str | os.PathLike[str] | None = None) -> tuple[AiBot, ...]:
    """Read an ai.robots.txt ``robots.json`` (default :data:`DEFAULT_BOTS_PATH`), in file order."""
    p = Path(path) if path is not None else DEFAULT_BOTS_PATH
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BotListError(f"{p}: cannot read the AI bot list: {e}") from None
    if not isinstance(raw, dict):
        raise BotListError(f"{p}: expected a JSON object of user-agent tokens, got {type(raw).__name__}")
    bots: list[AiBot] = []
    for token, info in raw.items():
        if not isinstance(info, dict) or not _is_token(token):
            raise BotListError(f"{p}: entry {token!r} is not a user-agent token with an object of fields")
        function = str(info.get("function", ""))
        bots.append(
            AiBot(
                token=token,
                operator=str(info.get("operator", "")),
                function=function,
                respects_robots=str(info.get("respect", "")),
                categories=classify(token, function),
            )
        )
    return _merge_by_identifier(bots)


def rfc9309_identifier(token: str) -> str:
    """The product token an RFC 9309 parser reads from a ``User-agent`` line: the leading
    ``[A-Za-z_-]`` run, case-folded (Google's parser reads ``AI2Bot`` as ``ai``)."""
    m = re.match(r"[A-Za-z_-]*", token)
    return (m.group(0) if m else "").lower()


def _merge_by_identifier(bots: list[AiBot]) -> tuple[AiBot, ...]:
    # Bots whose tokens share an RFC 9309 identifier (AI2Bot, AI2Bot-DeepResearchEval) land in one
    # merged group in a strict parser, where "Allow: /" would win over "Disallow: /". Giving them the
    # union of their categories makes every parser reach the same, restrictive, verdict.
    union: dict[str, frozenset[Category]] = {}
    for b in bots:
        key = rfc9309_identifier(b.token)
        union[key] = union.get(key, frozenset()) | b.categories
    return tuple(
        AiBot(b.token, b.operator, b.function, b.respects_robots, union[rfc9309_identifier(b.token)]) for b in bots
    )


def _is_token(token: object) -> bool:
    # RFC 9309 product tokens are [A-Za-z_-]; the list also holds names with digits, dots and spaces
    # ("Brightbot 1.0"), which robots.txt parsers match on their first word. Refuse only what would
    # break the line: empty names and control characters, '#' and ':'.
    return isinstance(token, str) and bool(rfc9309_identifier(token)) and not re.search(r"[\x00-\x1f#:]", token)
