"""How each standard's vocabulary maps onto our usage categories (optout-standards.md §13).

One table per standard; renderers and readers both use these, so the two directions cannot drift.
A standard token that covers several of our categories maps to the broadest one it covers.
"""

from __future__ import annotations

from fairtrain.core.vocab import Category

# IETF AIPREF vocabulary (Content-Usage header and robots.txt line).
AIPREF: dict[str, Category] = {
    "train-ai": Category.TRAIN_AI,
    "train-genai": Category.TRAIN_GENAI,  # drafts -02/-03 only; read, never written
    "search": Category.SEARCH,
    "ai-use": Category.AI_INPUT,  # draft -02; read, never written
    "bots": Category.TDM,  # older drafts' "automated processing"
    "all": Category.TDM,
}
AIPREF_WRITE: dict[Category, str] = {Category.TRAIN_AI: "train-ai", Category.SEARCH: "search"}

# Cloudflare Content Signals.
CONTENT_SIGNAL: dict[str, Category] = {
    "ai-train": Category.TRAIN_AI,
    "ai-input": Category.AI_INPUT,
    "search": Category.SEARCH,
}
CONTENT_SIGNAL_WRITE: dict[Category, str] = {v: k for k, v in CONTENT_SIGNAL.items()}

# RSL 1.0 <permits>/<prohibits type="usage"> tokens.
RSL: dict[str, Category] = {
    "all": Category.TDM,
    "ai-all": Category.TRAIN_AI,  # ai-all covers ai-train and ai-input; see rsl_categories()
    "ai-train": Category.TRAIN_AI,
    "ai-input": Category.AI_INPUT,
    "ai-index": Category.AI_INPUT,
    "search": Category.SEARCH,
}
RSL_WRITE: dict[Category, str] = {
    Category.TDM: "all",
    Category.TRAIN_AI: "ai-train",
    Category.TRAIN_GENAI: "ai-train",
    Category.AI_INPUT: "ai-input",
    Category.SEARCH: "search",
}


def rsl_categories(token: str) -> tuple[Category, ...]:
    """Categories an RSL usage token speaks for (``ai-all`` is both training and inference)."""
    if token == "ai-all":
        return (Category.TRAIN_AI, Category.AI_INPUT)
    cat = RSL.get(token)
    return (cat,) if cat else ()


# C2PA / CAWG training-and-data-mining assertion entries (both the c2pa.* and cawg.* prefixes are read).
CAWG: dict[str, Category] = {
    "data_mining": Category.TDM,
    "ai_training": Category.TRAIN_AI,
    "ai_generative_training": Category.TRAIN_GENAI,
    "ai_inference": Category.AI_INPUT,
}
CAWG_WRITE: dict[Category, str] = {v: k for k, v in CAWG.items()}

# IPTC PLUS Data Mining (plus:DataMining) values, without the vocabulary URI prefix.
IPTC_DMI_PREFIX = "http://ns.useplus.org/ldf/vocab/"
IPTC_DMI: dict[str, tuple[Category, ...]] = {
    # each value lists what it prohibits; DMI-ALLOWED prohibits nothing
    "DMI-ALLOWED": (),
    "DMI-UNSPECIFIED": (),
    "DMI-PROHIBITED": (Category.TDM,),
    "DMI-PROHIBITED-AIMLTRAINING": (Category.TRAIN_AI,),
    "DMI-PROHIBITED-GENAIMLTRAINING": (Category.TRAIN_GENAI,),
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING": (
        Category.TRAIN_AI,
        Category.AI_INPUT,  # everything under tdm but search
    ),
}
