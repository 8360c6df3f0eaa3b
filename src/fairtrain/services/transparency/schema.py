"""JSON Schema (draft 2020-12) of the training-data summary: every section of the European Commission's
template for the public summary of training content (AI Act Art. 53(1)(d), July 2025; the field map in
reference/licensing-compensation.md §4.1), plus the creators' section the template does not ask for.

A field the clearance evidence cannot answer is ``null`` with a note saying so, never a guess: the schema
allows ``null`` exactly where the evidence may be silent, and requires every section and field.
"""

from __future__ import annotations

SECTIONS = ("1.1", "1.2", "1.3", "2.1", "2.2.1", "2.2.2", "2.3", "2.4", "2.5", "2.6", "3.1", "3.2", "3.3", "creators")
MODALITIES = ("text", "image", "audio", "video", "other")
TEXT_TOKEN_RANGES = ("<1B", "1B-10T", ">10T")

_str = {"type": "string"}
_nstr = {"type": ["string", "null"]}
_nbool = {"type": ["boolean", "null"]}
_count = {"type": "integer", "minimum": 0}
_mods = {"type": "array", "items": {"enum": list(MODALITIES)}, "uniqueItems": True}
_date = {"type": ["string", "null"], "pattern": r"^\d{4}-\d{2}-\d{2}"}


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": props,
        "required": required if required is not None else list(props),
        "additionalProperties": False,
    }


def _section(number: str, props: dict) -> dict:
    return _obj({"section": {"const": number}, "title": _str, "note": _nstr, **props})


_size = _obj(
    {
        "range": {"enum": [*TEXT_TOKEN_RANGES, None]},
        "approximate": _obj({"value": _count, "unit": _str}),
        "hours": {"type": "number", "minimum": 0},  # video: how long the items used run, together
    },
    required=["range", "approximate"],
)

SUMMARY_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://fairtrain.example/schemas/training-summary/1",
    "title": "Public summary of training content (EU AI Act Art. 53(1)(d)) with creators' additions",
    "type": "object",
    "required": ["format", "template", "generated_at", "lang", "sections"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": "fairtrain-training-summary/1"},
        "template": _str,
        "generated_at": _str,
        "lang": {"enum": ["en", "ko"]},
        "sections": _obj(
            {
                "1.1": _section(
                    "1.1",
                    {
                        "provider_name": _str,
                        "provider_contact": _nstr,
                        "authorised_representative": _nstr,
                        "authorised_representative_contact": _nstr,
                    },
                ),
                "1.2": _section(
                    "1.2",
                    {
                        "versioned_model_names": {"type": "array", "items": _str, "minItems": 1},
                        "model_dependencies": {
                            "oneOf": [{"type": "null"}, _obj({"base_model": _str, "base_model_summary": _nstr})]
                        },
                        "placed_on_market": _date,
                    },
                ),
                "1.3": _section(
                    "1.3",
                    {
                        "modalities": _obj({m: {"type": "boolean"} for m in MODALITIES}),
                        "size": {
                            "type": "object",
                            "propertyNames": {"enum": list(MODALITIES)},
                            "additionalProperties": _size,
                        },
                        "content_types": {
                            "type": "object",
                            "propertyNames": {"enum": list(MODALITIES)},
                            "additionalProperties": {"type": "array", "items": _str},
                        },
                        "latest_acquisition_date": _date,
                        "collection_ongoing": _nbool,
                        "linguistic_characteristics": _nstr,
                        "other_characteristics": _nstr,
                        "comments": _nstr,
                    },
                ),
                "2.1": _section(
                    "2.1",
                    {
                        "used": {"type": "boolean"},
                        "modalities": _mods,
                        "large_datasets": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "identifier": _str,
                                    "link": _nstr,
                                    "collection_dates": _nstr,
                                    "items": _count,
                                    "items_used": _count,
                                    "modalities": _mods,
                                }
                            ),
                        },
                        "other_description": _nstr,
                    },
                ),
                "2.2.1": _section(
                    "2.2.1", {"used": {"type": "boolean"}, "modalities": _mods, "works_licensed": _count}
                ),
                "2.2.2": _section(
                    "2.2.2",
                    {
                        "used": _nbool,
                        "modalities": _mods,
                        "datasets": {"type": "array", "items": _str},
                        "description": _nstr,
                    },
                ),
                "2.3": _section(
                    "2.3",
                    {
                        "used": {"type": "boolean"},
                        "crawlers": {"type": "array", "items": _str},
                        "purposes": _nstr,
                        "crawler_behaviour": _nstr,
                        "collection_period": _nstr,
                        "content_description": _nstr,
                        "modalities": _mods,
                        "top_domains": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "domain": _str,
                                    "items": _count,
                                    "share": {"type": "number", "minimum": 0, "maximum": 1},
                                }
                            ),
                        },
                        "domains_rule": _str,
                    },
                ),
                "2.4": _section(
                    "2.4", {"from_model_interactions": _nbool, "from_other_services": _nbool, "description": _nstr}
                ),
                "2.5": _section(
                    "2.5",
                    {
                        "used": _nbool,
                        "modalities": _mods,
                        "models": {"type": "array", "items": _str},
                        "description": _nstr,
                    },
                ),
                "2.6": _section("2.6", {"description": _nstr}),
                "3.1": _section(
                    "3.1",
                    {
                        "code_of_practice_signatory": _nbool,
                        "measures": {"type": "array", "items": _str, "minItems": 1},
                        "opt_out_protocols": {"type": "array", "items": _str},
                        "items_excluded": _count,
                        "items_excluded_by_reservation": _count,
                    },
                ),
                "3.2": _section("3.2", {"description": _nstr}),
                "3.3": _section("3.3", {"description": _nstr}),
                "creators": _section(
                    "creators",
                    {
                        "registries": {
                            "type": "array",
                            "minItems": 1,
                            "items": _obj(
                                {
                                    "registry": _nstr,
                                    "snapshot_id": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                    "key_id": _str,
                                    "created_at": _nstr,
                                }
                            ),
                        },
                        "clearances": {
                            "type": "array",
                            "minItems": 1,
                            "items": _obj(
                                {
                                    "job_id": _str,
                                    "licensee": _str,
                                    "purpose": _str,
                                    "mode": {"enum": ["permission", "reservation"]},
                                    "items": _count,
                                    "items_used": _count,
                                    "log_index": {"type": ["integer", "null"]},
                                    "manifest_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                    "cleared_works_root": _str,
                                    "cleared_items_root": _str,
                                }
                            ),
                        },
                        "works": _obj(
                            {
                                "matched": _count,
                                "excluded": _count,
                                "licensed": _count,
                                "allowed": _count,
                                "paid": {"type": ["integer", "null"]},
                            }
                        ),
                        "licence_offers_declined": {"type": "object", "additionalProperties": _str},
                        "retroactive_licences": {
                            "type": "array",
                            "items": _obj({"licence": _count, "organisation": _str, "works": _count, "price": _str}),
                        },
                        "by_organisation": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "organisation": _str,
                                    "matched": _count,
                                    "excluded": _count,
                                    "licensed": _count,
                                    "allowed": _count,
                                }
                            ),
                        },
                    },
                ),
            }
        ),
    },
}
