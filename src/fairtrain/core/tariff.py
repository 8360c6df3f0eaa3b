"""An organisation's tariff: the prices its repertoire's ``licence`` terms take, and its retroactive
surcharge for use that already happened ("use first, pay later"). Pure: a JSON document in, offers out.

A tariff document::

    {"currency": "KRW", "model": "per-work",            # or "flat-fee" or "revenue-share"
     "per_work": {"text": "1000", "image": "2000", "audio": "5000", "other": "1000"},
     "flat_fee": "5000000",                             # flat-fee: the whole fee
     "revenue_share_percent": "3", "minimum": "1000000",  # revenue-share: share and minimum
     "model_versions": [], "purposes": ["commercial", "research"]}

A retroactive tariff is ``{"surcharge_percent": "50"}``, optionally with its own prices; without them it
prices from the organisation's licence tariff, plus the surcharge.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from fairtrain.core.errors import InvalidInput
from fairtrain.core.money import Money
from fairtrain.core.vocab import Offer, PriceModel, Purpose

MEDIA = ("text", "image", "audio", "other")
_KEYS = {
    "currency",
    "model",
    "per_work",
    "flat_fee",
    "revenue_share_percent",
    "minimum",
    "model_versions",
    "purposes",
    "surcharge_percent",
    "note",
}


@dataclass(frozen=True, slots=True)
class Tariff:
    currency: str | None
    model: PriceModel
    per_work: dict[str, Money]
    flat_fee: Money | None = None
    revenue_share_bp: int = 0
    minimum: Money | None = None
    model_versions: tuple[str, ...] = ()
    purposes: frozenset[Purpose] = frozenset(Purpose)
    surcharge_bp: int = 0

    @property
    def priced(self) -> bool:
        return bool(self.per_work or self.flat_fee or self.minimum)

    def offer(self, media_type: str | None) -> Offer | None:
        """The offer for one work of ``media_type``; ``None`` where the tariff prices no such work."""
        if self.model is PriceModel.PER_WORK:
            price = self.per_work.get(media_type or "other") or self.per_work.get("other")
        elif self.model is PriceModel.FLAT_FEE:
            price = self.flat_fee
        else:
            price = self.minimum
        if price is None:
            return None
        return Offer(self.model, price, self.revenue_share_bp, self.purposes, self.model_versions)

    def surcharged(self, offer: Offer) -> Offer:
        """``offer`` with this (retroactive) tariff's surcharge, rounded up to the minor unit."""
        minor = -(-offer.price.minor * (10_000 + self.surcharge_bp) // 10_000)
        return Offer(
            offer.price_model,
            Money(offer.price.currency, minor),
            offer.revenue_share_bp,
            offer.purposes,
            offer.model_versions,
        )


def _percent_bp(doc: dict, key: str, *, limit: int) -> int:
    raw = doc.get(key)
    if raw in (None, ""):
        return 0
    try:
        bp = Decimal(str(raw)) * 100
    except InvalidOperation:
        raise InvalidInput(f"tariff {key}: {raw!r} is not a number") from None
    if bp != bp.to_integral_value() or not 0 <= bp <= limit:
        raise InvalidInput(f"tariff {key}: {raw!r} must be 0..{limit // 100} with at most two decimals")
    return int(bp)


def parse_tariff(doc: object, *, retroactive: bool = False) -> Tariff:
    """Validate a tariff document; errors name the field and the reason."""
    if not isinstance(doc, dict):
        raise InvalidInput("tariff: expected a JSON object")
    if unknown := sorted(set(doc) - _KEYS):
        raise InvalidInput(f"tariff: unknown fields {unknown} (known: {sorted(_KEYS)})")
    try:
        model = PriceModel(doc.get("model", "per-work"))
    except ValueError:
        raise InvalidInput(f"tariff model: {doc.get('model')!r} (use per-work, flat-fee or revenue-share)") from None
    currency = doc.get("currency")

    def money(value, field: str) -> Money:
        if not currency:
            raise InvalidInput(f"tariff {field}: a price needs the tariff's currency")
        try:
            m = Money.parse(str(value), currency)
        except (ValueError, InvalidInput) as e:
            raise InvalidInput(f"tariff {field}: {e}") from None
        if m.minor < 0:
            raise InvalidInput(f"tariff {field}: a price cannot be negative")
        return m

    per_work_doc = doc.get("per_work") or {}
    if not isinstance(per_work_doc, dict):
        raise InvalidInput("tariff per_work: expected {media type: price}")
    if bad := sorted(set(per_work_doc) - set(MEDIA)):
        raise InvalidInput(f"tariff per_work: unknown media types {bad} (use {', '.join(MEDIA)})")
    per_work = {k: money(v, f"per_work.{k}") for k, v in per_work_doc.items()}
    flat = money(doc["flat_fee"], "flat_fee") if doc.get("flat_fee") not in (None, "") else None
    minimum = money(doc["minimum"], "minimum") if doc.get("minimum") not in (None, "") else None
    share = _percent_bp(doc, "revenue_share_percent", limit=10_000)
    try:
        purposes = frozenset(Purpose(p) for p in doc.get("purposes") or [p.value for p in Purpose])
    except ValueError as e:
        raise InvalidInput(f"tariff purposes: {e}") from None
    versions = doc.get("model_versions") or []
    if not isinstance(versions, list) or not all(isinstance(v, str) and v for v in versions):
        raise InvalidInput("tariff model_versions: expected a list of version names")
    t = Tariff(
        currency,
        model,
        per_work,
        flat,
        share,
        minimum,
        tuple(versions),
        purposes,
        _percent_bp(doc, "surcharge_percent", limit=1_000_000),
    )
    if retroactive:
        if doc.get("surcharge_percent") in (None, "") and not t.priced:
            raise InvalidInput("retroactive tariff: give surcharge_percent (and optionally its own prices)")
    else:
        if t.surcharge_bp:
            raise InvalidInput("tariff surcharge_percent: only a retroactive tariff has a surcharge")
        need = {
            PriceModel.PER_WORK: ("per_work", per_work),
            PriceModel.FLAT_FEE: ("flat_fee", flat),
            PriceModel.REVENUE_SHARE: ("minimum", minimum),
        }[model]
        if not need[1]:
            raise InvalidInput(f"tariff {need[0]}: a {model.value} tariff needs it")
        if model is PriceModel.REVENUE_SHARE and share == 0:
            raise InvalidInput("tariff revenue_share_percent: a revenue-share tariff needs a share above 0")
    return t


__all__ = ["MEDIA", "Tariff", "parse_tariff"]
