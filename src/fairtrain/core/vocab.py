"""The shared vocabulary: usage categories, values, offers, terms and decisions.

Registry declarations and every web or file signal are expressed in these types and decided by
:mod:`fairtrain.core.decide`. Everything here is plain, immutable data with no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from fairtrain.core.errors import InvalidInput, said_as
from fairtrain.core.money import Money, normalise_currency
from fairtrain.core.numbers import PriceError, parse_price


class Category(str, enum.Enum):
    """A usage category. ``tdm`` is the root; ``train-genai`` is a kind of ``train-ai``."""

    TDM = "tdm"
    TRAIN_AI = "train-ai"
    TRAIN_GENAI = "train-genai"
    AI_INPUT = "ai-input"
    SEARCH = "search"

    @property
    def parent(self) -> Category | None:
        return _PARENT[self]

    @property
    def lineage(self) -> tuple[Category, ...]:
        """This category and its ancestors, most specific first."""
        return _LINEAGE[self]

    @property
    def depth(self) -> int:
        return len(self.lineage) - 1

    def covers(self, other: Category) -> bool:
        """True if a statement about ``self`` applies to ``other`` (``other`` is ``self`` or below it)."""
        return self in other.lineage

    @classmethod
    def parse(cls, text: str) -> Category:
        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(c.value for c in cls)
            raise InvalidInput(f"unknown usage category {text!r} (expected one of: {allowed})") from None


_PARENT: dict[Category, Category | None] = {
    Category.TDM: None,
    Category.TRAIN_AI: Category.TDM,
    Category.TRAIN_GENAI: Category.TRAIN_AI,
    Category.AI_INPUT: Category.TDM,
    Category.SEARCH: Category.TDM,
}


def _lineage(c: Category) -> tuple[Category, ...]:
    out = [c]
    while (p := _PARENT[out[-1]]) is not None:
        out.append(p)
    return tuple(out)


_LINEAGE: dict[Category, tuple[Category, ...]] = {c: _lineage(c) for c in Category}


class Value(str, enum.Enum):
    """What may be done. ``unknown`` is never declared: it is the verdict on unregistered content."""

    ALLOW = "allow"
    LICENCE = "licence"
    DENY = "deny"
    UNKNOWN = "unknown"

    @property
    def restrictiveness(self) -> int:
        return _RESTRICTIVENESS[self]

    @classmethod
    def parse(cls, text: str, *, declarable: bool = True) -> Value:
        t = text.strip().lower()
        if t == "license":  # accept the US spelling on input; we store one
            t = "licence"
        try:
            v = cls(t)
        except ValueError:
            v = None
        if v is None or (declarable and v is Value.UNKNOWN):
            allowed = "allow, deny, licence" if declarable else "allow, deny, licence, unknown"
            raise InvalidInput(f"unknown value {text!r} (expected one of: {allowed})")
        return v


# ``unknown`` sits between allow and licence: it is not permission, but nobody has reserved anything.
_RESTRICTIVENESS = {Value.ALLOW: 0, Value.UNKNOWN: 1, Value.LICENCE: 2, Value.DENY: 3}


def most_restrictive(values: Iterable[Value]) -> Value | None:
    best: Value | None = None
    for v in values:
        if best is None or v.restrictiveness > best.restrictiveness:
            best = v
    return best


class Purpose(str, enum.Enum):
    COMMERCIAL = "commercial"
    RESEARCH = "research"


class PriceModel(str, enum.Enum):
    PER_WORK = "per-work"
    FLAT_FEE = "flat-fee"
    REVENUE_SHARE = "revenue-share"


@dataclass(frozen=True, slots=True)
class Offer:
    """The terms on which a ``licence`` value may be turned into a grant.

    ``price`` is per work for ``per-work``, the whole fee for ``flat-fee`` and the minimum for
    ``revenue-share`` (whose share is in basis points, 1/100 of a percent).
    """

    price_model: PriceModel
    price: Money
    revenue_share_bp: int = 0
    purposes: frozenset[Purpose] = frozenset({Purpose.COMMERCIAL, Purpose.RESEARCH})
    model_versions: tuple[str, ...] = ()  # empty = any version
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.revenue_share_bp <= 10_000:
            raise InvalidInput(f"revenue share must be 0..10000 basis points, got {self.revenue_share_bp}")
        if self.price_model is PriceModel.REVENUE_SHARE and self.revenue_share_bp == 0:
            raise InvalidInput("a revenue-share offer needs a share above 0 basis points")
        if not self.purposes:
            raise InvalidInput("an offer must cover at least one purpose")

    def to_dict(self) -> dict:
        return {
            "price_model": self.price_model.value,
            "price": self.price.to_dict(),
            "revenue_share_bp": self.revenue_share_bp,
            "purposes": sorted(p.value for p in self.purposes),
            "model_versions": list(self.model_versions),
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> Offer:
        return cls(
            price_model=PriceModel(d["price_model"]),
            price=Money.from_dict(d["price"]),
            revenue_share_bp=int(d.get("revenue_share_bp", 0)),
            purposes=frozenset(Purpose(p) for p in d.get("purposes", ("commercial", "research"))),
            model_versions=tuple(d.get("model_versions", ())),
            valid_from=_parse_iso(d.get("valid_from")),
            valid_until=_parse_iso(d.get("valid_until")),
        )


class OfferError(InvalidInput):
    """A price, currency or way to charge that makes no offer; its reason is a catalogue message."""

    http_status = 422  # like every other refusal of a submitted offer


def parse_offer(
    price: str | None,
    currency: str | None,
    price_model: str | None = None,
    *,
    revenue_share_bp: int = 0,
    purposes: Iterable[Purpose] | None = None,
    model_versions: Iterable[str] = (),
) -> Offer | None:
    """The offer a person typed (the policy form, ``PUT /api/policy``, ``fairtrain declare``): a price in major
    units or as a Korean reader writes it (``30,000``, ``3`` man won: :func:`~fairtrain.core.numbers.parse_price`),
    its currency and the way to charge (default per work); None when neither price nor currency is given."""
    if not price and not currency:
        return None
    if not price or not currency:
        raise said_as(OfferError, "Price: write both a price and a currency (for example 30000 and KRW).")
    try:
        model = PriceModel(price_model or PriceModel.PER_WORK.value)
    except ValueError:
        raise said_as(
            OfferError, "Price: {model!r} is not a way to charge (per work or flat fee).", model=price_model
        ) from None
    try:
        currency = normalise_currency(currency)
    except InvalidInput:
        raise said_as(
            OfferError, "Currency {currency!r}: write a three-letter code such as KRW or EUR.", currency=currency
        ) from None
    try:
        amount = Money.parse(price, currency)
    except InvalidInput:
        # 3 man won, 3 man 5 cheon won, 30,000 won: how a Korean reader writes a price; PriceError says how
        try:
            amount = Money.parse(str(parse_price(price)), currency)
        except PriceError:
            raise
        except InvalidInput:
            raise PriceError(price) from None
    return Offer(
        price_model=model,
        price=amount,
        revenue_share_bp=revenue_share_bp,
        purposes=frozenset(purposes or (Purpose.COMMERCIAL, Purpose.RESEARCH)),
        model_versions=tuple(model_versions),
    )


INHERIT = "inherit"  # a declared value that withdraws the level's own, so the level above decides


def declared_value(text: str | None) -> Value | None:
    """A value as a person declares it: allow, deny or licence, or ``inherit`` (None: withdraw)."""
    return None if (text or "").strip().lower() == INHERIT else Value.parse(text or "")


class Level(str, enum.Enum):
    """Where a statement comes from, most specific first."""

    GRANT = "grant"
    WORK = "work"
    CATALOGUE = "catalogue"
    REPERTOIRE = "repertoire"
    SIGNAL = "signal"  # a machine-readable signal found on the web or in a file
    DEFAULT = "default"

    @property
    def specificity(self) -> int:
        return _SPECIFICITY[self]


_SPECIFICITY = {
    Level.GRANT: 4,
    Level.WORK: 3,
    Level.CATALOGUE: 2,
    Level.REPERTOIRE: 1,
    Level.SIGNAL: 1,
    Level.DEFAULT: 0,
}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who said it, where, when, and the evidence for it."""

    source: str  # e.g. "declaration:12", "grant:3", "robots.txt", "tdmrep.json", "xmp"
    party: str | None = None  # "holder:4", "org:2", or a URL's origin for web signals
    at: datetime | None = None
    evidence: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"source": self.source, "party": self.party, "at": _iso(self.at), "evidence": dict(self.evidence)}


@dataclass(frozen=True, slots=True)
class Statement:
    """One party's value for one category, at one level: the unit the decision engine weighs."""

    category: Category
    value: Value
    level: Level
    provenance: Provenance
    offer: Offer | None = None

    def __post_init__(self) -> None:
        if self.value is Value.LICENCE and self.offer is None and self.level is not Level.SIGNAL:
            raise InvalidInput(f"{self.provenance.source}: a licence value needs an offer")


@dataclass(frozen=True, slots=True)
class Terms:
    """Statements about one item, from any mix of sources (registry levels, web signals, files)."""

    statements: tuple[Statement, ...] = ()

    def __add__(self, other: Terms) -> Terms:
        return Terms(self.statements + other.statements)

    def for_category(self, category: Category) -> tuple[Statement, ...]:
        """Statements that apply to ``category``: made on it or on one of its ancestors."""
        lineage = category.lineage
        return tuple(s for s in self.statements if s.category in lineage)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a statement did or did not count in a decision."""

    statement: Statement
    counted: bool
    note: str

    def to_dict(self) -> dict:
        s = self.statement
        return {
            "level": s.level.value,
            "category": s.category.value,
            "value": s.value.value,
            "counted": self.counted,
            "note": self.note,
            "provenance": s.provenance.to_dict(),
            "offer": s.offer.to_dict() if s.offer else None,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    category: Category
    value: Value
    offers: tuple[Offer, ...] = ()
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict:
        return {
            "category": self.category.value,
            "value": self.value.value,
            "offers": [o.to_dict() for o in self.offers],
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _parse_iso(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None
