"""robots.txt per RFC 9309, with the AI extension lines, read the way Google's reference parser reads it.

Written here rather than wrapping protego or ``jwm.robotstxt``: protego disagrees with Google's verdicts
on 77 of 93,082 corpus verdicts and drops unknown lines, and the Google binding exposes neither the
extension lines nor the group structure. This parser follows Google's ``robots.cc`` line for line
(line splitting, BOM skipping, 16,663-byte lines, colon-less ``key value`` lines, typo-tolerant keys,
percent-escaping of patterns, longest match with allow on a tie, the ``index.htm`` rule) so that it
passes all 142 cases of Google's ``robots_test.cc`` and agrees with Google on the protego corpus.

Extension lines, kept without disturbing group parsing (RFC 9309 §2.2.4):

- ``Content-Usage: [path] prefs`` (IETF AIPREF attach): path-scoped usage preferences, longest path
  wins, conflicts on the same path combine to the most restrictive, and only crawlable paths carry any.
- ``Content-Signal: [path] search=yes, ai-train=no`` (Cloudflare).
- ``License: <url>`` (RSL 1.0): a group's own ``License`` lines beat the file's global ones.
- ``DisallowAITraining`` / ``AllowAITraining`` (draft-canel-robots-ai-control, legacy): read as
  path-scoped ``train-ai`` preferences, never as access rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from fairtrain.core.signals import crosswalk
from fairtrain.core.signals.evidence import Retrieval, parser_id, statement, yes_no_statements
from fairtrain.core.signals.prefs import parse_aipref, parse_content_signal
from fairtrain.core.vocab import Category, Terms, Value

MAX_BYTES = 500 * 1024  # RFC 9309 §2.5: parse at least 500 KiB; we parse exactly that much
_MAX_LINE = 2083 * 8 - 1  # Google: bytes of a line beyond this are dropped
_BOM = b"\xef\xbb\xbf"
_WS = " \t\n\v\f\r"  # C isspace()
_UA_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_")
_HEX = frozenset("0123456789abcdefABCDEF")
_LINE_SPLIT = re.compile(rb"\r\n|\r|\n")
PARSER = parser_id("robots")

# Major training crawlers: a site that shuts them out is expressing a training reservation even when it
# never names us (optout-standards.md §14.2). Reported as a heuristic, separately from our own verdict.
TRAINING_TOKENS: tuple[str, ...] = (
    "GPTBot",
    "CCBot",
    "ClaudeBot",
    "Google-Extended",
    "Applebot-Extended",
    "meta-externalagent",
    "Bytespider",
    "cohere-training-data-crawler",
    "Ai2Bot-Dolma",
    "anthropic-ai",
)


@dataclass(frozen=True, slots=True)
class AccessRule:
    allow: bool
    pattern: str  # percent-escaped as Google escapes it; its length is the rule's priority
    line: int


@dataclass(frozen=True, slots=True)
class PathPreference:
    """A path-scoped extension line (Content-Usage, Content-Signal, legacy AI-training rules)."""

    path: str | None  # None: the whole site
    prefs: Mapping[str, bool]
    raw: str
    line: int

    @property
    def priority(self) -> int:
        return len(self.path) if self.path is not None else 0


@dataclass(frozen=True, slots=True)
class RobotsGroup:
    agents: tuple[str, ...]  # as written
    rules: tuple[AccessRule, ...] = ()
    content_usage: tuple[PathPreference, ...] = ()
    content_signal: tuple[PathPreference, ...] = ()
    ai_training: tuple[PathPreference, ...] = ()
    licenses: tuple[str, ...] = ()
    line: int = 0
    tokens: frozenset[str] = field(default=frozenset(), repr=False, compare=False)  # lower-cased
    is_global: bool = field(default=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    allowed: bool
    rule: AccessRule | None  # the deciding rule; None when no rule matched
    specific: bool  # True when a group names the agent; False when the '*' group (or nothing) applied
    agents: tuple[str, ...]  # the agent lines of the groups that applied


@dataclass(frozen=True, slots=True)
class RobotsTxt:
    groups: tuple[RobotsGroup, ...]
    sitemaps: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()  # global License lines (before any group)
    site_content_usage: tuple[PathPreference, ...] = ()  # extension lines before any group: apply to all
    site_content_signal: tuple[PathPreference, ...] = ()
    size: int = 0  # bytes received
    truncated: bool = False  # True when only the first MAX_BYTES were parsed

    # -- parsing ---------------------------------------------------------------------------------
    @classmethod
    def parse(cls, body: bytes | str, *, max_bytes: int = MAX_BYTES) -> RobotsTxt:
        """Parse a robots.txt body. Never raises: anything that is not a directive is skipped."""
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        size = len(body)
        data = body[:max_bytes]
        skip = 0
        while skip < 3 and skip < len(data) and data[skip] == _BOM[skip]:
            skip += 1
        return _build(_LINE_SPLIT.split(data[skip:]), size=size, truncated=size > max_bytes)

    # -- matching --------------------------------------------------------------------------------
    def groups_for(self, user_agent: str) -> tuple[tuple[RobotsGroup, ...], bool]:
        """The groups that apply to a product token, and whether they name it (vs. the ``*`` group)."""
        token = user_agent.lower()
        specific = tuple(g for g in self.groups if token in g.tokens)
        if specific:
            return specific, True
        return tuple(g for g in self.groups if g.is_global), False

    def verdict(self, url: str, user_agent: str) -> RobotsVerdict:
        """May ``user_agent`` (a product token, e.g. ``GPTBot``) fetch ``url`` (already %-encoded)?"""
        path = _to_octets(path_of(url))
        groups, specific = self.groups_for(user_agent)
        agents = tuple(a for g in groups for a in g.agents)
        if path == "/robots.txt":  # RFC 9309 §2.2.2: implicitly allowed
            return RobotsVerdict(True, None, specific, agents)
        best_allow: AccessRule | None = None
        best_disallow: AccessRule | None = None
        for g in groups:
            for rule in g.rules:
                if not _matcher(rule.pattern)(path):
                    continue
                if rule.allow:
                    if best_allow is None or len(rule.pattern) > len(best_allow.pattern):
                        best_allow = rule
                elif best_disallow is None or len(rule.pattern) > len(best_disallow.pattern):
                    best_disallow = rule
        allow_p = len(best_allow.pattern) if best_allow else -1
        disallow_p = len(best_disallow.pattern) if best_disallow else -1
        if disallow_p > 0 and disallow_p > allow_p:
            return RobotsVerdict(False, best_disallow, specific, agents)
        return RobotsVerdict(True, best_allow if allow_p > 0 else None, specific, agents)

    def allowed(self, url: str, user_agent: str) -> bool:
        return self.verdict(url, user_agent).allowed

    def content_usage(self, url: str, user_agent: str) -> dict[str, bool]:
        """AIPREF preferences for ``url``; empty where the path is not crawlable (attach draft §4)."""
        if not self.allowed(url, user_agent):
            return {}
        groups, _ = self.groups_for(user_agent)
        lines = list(self.site_content_usage) + [p for g in groups for p in g.content_usage]
        return _longest_prefs(lines, _to_octets(path_of(url)))

    def content_signals(self, url: str, user_agent: str) -> dict[str, bool]:
        groups, _ = self.groups_for(user_agent)
        lines = list(self.site_content_signal) + [p for g in groups for p in g.content_signal]
        return _longest_prefs(lines, _to_octets(path_of(url)))

    def ai_training(self, url: str, user_agent: str) -> dict[str, bool]:
        """Legacy ``DisallowAITraining``/``AllowAITraining``, as ``{"train-ai": allowed}``."""
        groups, _ = self.groups_for(user_agent)
        return _longest_prefs([p for g in groups for p in g.ai_training], _to_octets(path_of(url)))

    def license_urls(self, user_agent: str) -> tuple[str, ...]:
        """RSL licence documents: the applying groups' own ``License`` lines beat the global ones."""
        groups, _ = self.groups_for(user_agent)
        scoped = tuple(u for g in groups for u in g.licenses)
        return scoped or self.licenses


def product_token(user_agent: str) -> str:
    """The matchable part of a user-agent string: ``fairtrain/0.1 (+https://…)`` -> ``fairtrain``."""
    end = 0
    while end < len(user_agent) and user_agent[end] in _UA_CHARS:
        end += 1
    return user_agent[:end]


def pattern_matches(pattern: str, path: str) -> bool:
    """Does a robots.txt-style pattern (``*``, final ``$``) match ``path``? Both are Unicode text; both are
    escaped as robots.txt patterns are (TDMRep locations and RSL content URLs reuse these semantics)."""
    return _matcher(_escape_pattern(_to_octets(pattern)))(_escape_pattern(_to_octets(path)))


def path_of(url: str) -> str:
    """Path, params and query of a URL, as Google's ``GetPathParamsQuery`` cuts them."""
    start = 2 if url.startswith("//") else 0
    early = _find_first_of(url, "/?;", start)
    proto = url.find("://", start)
    if proto < 0 or (early >= 0 and early < proto):
        proto_end = start
    else:
        proto_end = proto + 3
    path_start = _find_first_of(url, "/?;", proto_end)
    if path_start < 0:
        return "/"
    hash_pos = url.find("#", start)
    if 0 <= hash_pos < path_start:
        return "/"
    path = url[path_start:hash_pos] if hash_pos >= 0 else url[path_start:]
    return path if path.startswith("/") else "/" + path


def terms_from_robots(
    robots: RobotsTxt,
    url: str,
    *,
    user_agent: str,
    retrieval: Retrieval | None = None,
    training_tokens: Sequence[str] = TRAINING_TOKENS,
) -> Terms:
    """Statements robots.txt makes about ``url``.

    - our own token disallowed: ``tdm`` deny (we may not even fetch it);
    - a major training crawler disallowed while we are allowed: ``train-ai`` deny, marked heuristic;
    - ``Content-Usage``, ``Content-Signal`` and legacy AI-training lines: their categories, allow/deny.
    ``License`` lines carry no value by themselves: the RSL document they point to does.
    """
    token = product_token(user_agent) or user_agent
    out: list = []
    v = robots.verdict(url, token)
    if not v.allowed:
        out.append(
            statement(
                Category.TDM,
                Value.DENY,
                source="robots.txt",
                retrieval=retrieval,
                parser=PARSER,
                detail={
                    "user_agent": token,
                    "rule": _rule_text(v.rule),
                    "line": v.rule.line if v.rule else None,
                    "agents": list(v.agents),
                },
            )
        )
    else:
        shut_out = [t for t in training_tokens if not robots.allowed(url, t)]
        if shut_out:
            out.append(
                statement(
                    Category.TRAIN_AI,
                    Value.DENY,
                    source="robots.txt",
                    retrieval=retrieval,
                    parser=PARSER,
                    detail={"heuristic": "training crawlers disallowed", "tokens": shut_out},
                )
            )
    terms = Terms(tuple(out))
    # the yes/no vocabularies robots.txt may carry for this agent and path, each read through its crosswalk
    for said, vocabulary, source, detail in (
        (robots.content_usage(url, token), crosswalk.AIPREF, "content-usage", None),
        (robots.content_signals(url, token), crosswalk.CONTENT_SIGNAL, "content-signal", None),
        (robots.ai_training(url, token), crosswalk.AIPREF, "ai-training", {"legacy": "draft-canel-robots-ai-control"}),
    ):
        terms += yes_no_statements(
            said, vocabulary, source=f"robots.txt:{source}", retrieval=retrieval, parser=PARSER, detail=detail
        )
    return terms


# -- internals -----------------------------------------------------------------------------------


def _rule_text(rule: AccessRule | None) -> str | None:
    if rule is None:
        return None
    return f"{'Allow' if rule.allow else 'Disallow'}: {rule.pattern}"


def _find_first_of(s: str, chars: str, start: int) -> int:
    best = -1
    for c in chars:
        i = s.find(c, start)
        if i >= 0 and (best < 0 or i < best):
            best = i
    return best


def _to_octets(path: str) -> str:
    """One character per UTF-8 octet, so lengths and comparisons are in octets as RFC 9309 says."""
    return path if path.isascii() else path.encode("utf-8", "surrogateescape").decode("latin-1")


def _escape_pattern(value: str) -> str:
    """Google's MaybeEscapePattern on a latin-1 view of the bytes: %xx upper-cased, octets >= 0x80 escaped."""
    if value.isascii() and "%" not in value:
        return value
    out = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "%" and i + 2 < n and value[i + 1] in _HEX and value[i + 2] in _HEX:
            out.append("%" + value[i + 1 : i + 3].upper())
            i += 3
            continue
        if ord(c) >= 0x80:
            out.append(f"%{ord(c):02X}")
        else:
            out.append(c)
        i += 1
    return "".join(out)


_MATCHERS: dict[str, object] = {}


def _matcher(pattern: str):
    """A prefix matcher for a robots.txt pattern with ``*`` and a final ``$``.

    Leftmost-greedy segment search instead of a regex: equivalent for ``*``-only globs, linear per
    segment, and immune to the catastrophic backtracking a hostile ``/*a*a*a*…`` pattern causes in ``re``.
    """
    m = _MATCHERS.get(pattern)
    if m is not None:
        return m
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    parts = body.split("*")
    if len(parts) == 1:
        m = (lambda p, b=body: p == b) if anchored else (lambda p, b=body: p.startswith(b))
    else:
        first, middle, last = parts[0], parts[1:-1], parts[-1]

        def m(path: str) -> bool:
            if not path.startswith(first):
                return False
            pos = len(first)
            for seg in middle:
                if seg:
                    i = path.find(seg, pos)
                    if i < 0:
                        return False
                    pos = i + len(seg)
            if anchored:
                return len(path) - len(last) >= pos and path.endswith(last)
            return path.find(last, pos) >= 0

    if len(_MATCHERS) > 100_000:
        _MATCHERS.clear()
    _MATCHERS[pattern] = m
    return m


def _longest_prefs(lines: Iterable[PathPreference], path: str) -> dict[str, bool]:
    """Longest matching path wins; equally long matches combine per label, the most restrictive winning."""
    best = -1
    chosen: list[PathPreference] = []
    for p in lines:
        if p.path is not None and not _matcher(p.path)(path):
            continue
        if p.priority > best:
            best, chosen = p.priority, [p]
        elif p.priority == best:
            chosen.append(p)
    out: dict[str, bool] = {}
    for p in chosen:
        for label, allowed in p.prefs.items():
            out[label] = out.get(label, True) and allowed
    return out


def _key_value(line: str) -> tuple[str, str, bool] | None:
    """Google's GetKeyAndValueFrom: ``key: value``, or ``key value`` when exactly two words."""
    hash_pos = line.find("#")
    if hash_pos >= 0:
        line = line[:hash_pos]
    line = line.strip(_WS)
    sep = line.find(":")
    colon = sep >= 0
    if not colon:
        m = re.search(r"[ \t]", line)
        if m is None:
            return None
        sep = m.start()
        if re.search(r"[ \t]", line[sep:].lstrip(" \t")):
            return None
    key = line[:sep].strip(_WS)
    if not key:
        return None
    return key, line[sep + 1 :].strip(_WS), colon


def _kind(key: str) -> str:
    k = key.lower()
    # extensions first: "DisallowAITraining" must not be taken for a Disallow by the prefix test below
    if k in ("content-usage", "content-signal", "license", "disallowaitraining", "allowaitraining"):
        return k
    if k.startswith(("user-agent", "useragent", "user agent")):
        return "user-agent"
    if k.startswith("allow"):
        return "allow"
    if k.startswith(("disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw")):
        return "disallow"
    if k.startswith(("sitemap", "site-map")):
        return "sitemap"
    return "unknown"


def _utf8(latin: str) -> str:
    return latin.encode("latin-1").decode("utf-8", "replace")


def _path_pref(value: str, line: int, parse) -> PathPreference:
    path = None
    if value.startswith("/"):
        cut = re.search(r"[ \t]", value)
        if cut is not None:
            path, value = _escape_pattern(value[: cut.start()]), value[cut.end() :].strip(_WS)
    text = _utf8(value)
    return PathPreference(path=path, prefs=parse(text), raw=text, line=line)


class _GroupBuilder:
    __slots__ = ("agents", "rules", "usage", "signal", "training", "licenses", "line", "tokens", "is_global")

    def __init__(self, line: int):
        self.agents: list[str] = []
        self.rules: list[AccessRule] = []
        self.usage: list[PathPreference] = []
        self.signal: list[PathPreference] = []
        self.training: list[PathPreference] = []
        self.licenses: list[str] = []
        self.line = line
        self.tokens: set[str] = set()
        self.is_global = False

    def add_agent(self, value: str) -> None:
        self.agents.append(_utf8(value))
        # Google: "*" followed by nothing or whitespace is the global agent; otherwise the product token
        if value.startswith("*") and (len(value) == 1 or value[1] in _WS):
            self.is_global = True
        else:
            self.tokens.add(product_token(value).lower())

    def freeze(self) -> RobotsGroup:
        return RobotsGroup(
            agents=tuple(self.agents),
            rules=tuple(self.rules),
            content_usage=tuple(self.usage),
            content_signal=tuple(self.signal),
            ai_training=tuple(self.training),
            licenses=tuple(self.licenses),
            line=self.line,
            tokens=frozenset(self.tokens),
            is_global=self.is_global,
        )


def _build(raw_lines: list[bytes], *, size: int, truncated: bool) -> RobotsTxt:
    groups: list[RobotsGroup] = []
    current: _GroupBuilder | None = None
    seen_rule = False  # Google's seen_separator_: a rule since the last user-agent line
    sitemaps: list[str] = []
    licenses: list[str] = []
    usage: list[PathPreference] = []
    signal: list[PathPreference] = []
    for num, raw in enumerate(raw_lines, start=1):
        if not raw:
            continue
        kv = _key_value(raw[:_MAX_LINE].decode("latin-1"))
        if kv is None:
            continue
        key, value, _ = kv
        kind = _kind(key)
        if kind == "user-agent":
            if current is None or seen_rule:
                if current is not None:
                    groups.append(current.freeze())
                current = _GroupBuilder(num)
                seen_rule = False
            current.add_agent(value)
        elif kind in ("allow", "disallow"):
            if current is None:
                continue  # rules before any user-agent line belong to no group
            seen_rule = True
            pattern = _escape_pattern(value)
            allow = kind == "allow"
            current.rules.append(AccessRule(allow, pattern, num))
            if allow:
                slash = pattern.rfind("/")
                if slash >= 0 and pattern[slash:].startswith("/index.htm"):
                    # Google: "Allow: /dir/index.html" also allows "/dir/" itself
                    current.rules.append(AccessRule(True, pattern[: slash + 1] + "$", num))
        elif kind == "sitemap":
            sitemaps.append(_utf8(value))
        elif kind == "license":
            (current.licenses if current is not None else licenses).append(_utf8(value))
        elif kind == "content-usage":
            pref = _path_pref(value, num, parse_aipref)
            (current.usage if current is not None else usage).append(pref)
        elif kind == "content-signal":
            pref = _path_pref(value, num, parse_content_signal)
            (current.signal if current is not None else signal).append(pref)
        elif kind in ("disallowaitraining", "allowaitraining") and current is not None and value:
            current.training.append(
                PathPreference(
                    path=_escape_pattern(value),
                    prefs={"train-ai": kind == "allowaitraining"},
                    raw=_utf8(value),
                    line=num,
                )
            )
    if current is not None:
        groups.append(current.freeze())
    return RobotsTxt(
        groups=tuple(groups),
        sitemaps=tuple(sitemaps),
        licenses=tuple(licenses),
        site_content_usage=tuple(usage),
        site_content_signal=tuple(signal),
        size=size,
        truncated=truncated,
    )
