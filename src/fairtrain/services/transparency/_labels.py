"""Labels of the training-data summary: the English text of each field and heading, keyed by the field's
name in the summary document. Every other language's comes from the catalogue (:mod:`fairtrain.core.i18n`);
:func:`labels` gives the table in one language. Numbers and dates are formatted with Babel.
"""

from __future__ import annotations

from fairtrain.core.i18n import N_, NP_, translations

LABELS: dict[str, str | tuple[str, str]] = {
    "doc_title": N_("Public summary of the content used to train {model}"),
    "not_stated": N_("not stated by the provider"),
    "mod_text": N_("text"),
    "mod_image": N_("image"),
    "mod_audio": N_("audio"),
    "mod_video": N_("video"),
    "mod_other": N_("other"),
    "identifier": N_("Identifier"),
    "link": N_("Link"),
    "collection_dates": N_("Collected"),
    "registry": N_("Registry"),
    "snapshot_id": N_("Snapshot id"),
    "key_id": N_("Signing key"),
    "created_at": NP_("summary", "Created"),
    "job_id": N_("Job"),
    "licensee": N_("Licensee"),
    "purpose": N_("Purpose"),
    "mode": N_("Mode"),
    "log_index": N_("Log entry"),
    "manifest_sha256": N_("Manifest SHA-256"),
    "cleared_works_root": N_("Works root"),
    "cleared_items_root": N_("Items root"),
    "domain": N_("Domain"),
    "share": N_("Share"),
    "template": N_(
        "Structure: European Commission template for the public summary of training content (AI Act "
        "Article 53(1)(d)). Filled from signed clearance evidence, not by hand."
    ),
    "yes": N_("yes"),
    "no": N_("no"),
    "unknown": N_("not covered by the clearance evidence"),
    "none": N_("none"),
    "s1.1": N_("1.1 Provider identification"),
    "s1.2": N_("1.2 Model identification"),
    "s1.3": N_("1.3 Modalities, overall training data size and other characteristics"),
    "s2.1": N_("2.1 Publicly available datasets"),
    "s2.2.1": N_("2.2.1 Datasets commercially licensed by rights holders or their representatives"),
    "s2.2.2": N_("2.2.2 Private datasets obtained from other third parties"),
    "s2.3": N_("2.3 Data crawled and scraped by or on behalf of the provider"),
    "s2.4": N_("2.4 User data"),
    "s2.5": N_("2.5 Synthetic data"),
    "s2.6": N_("2.6 Other sources of data"),
    "s3.1": N_("3.1 Respect of reservations of rights from text and data mining"),
    "s3.2": N_("3.2 Removal of illegal content"),
    "s3.3": N_("3.3 Other information"),
    "screators": N_("For creators: registries, clearances, works excluded, licensed and paid"),
    "provider_name": N_("Provider"),
    "provider_contact": N_("Contact"),
    "authorised_representative": N_("Authorised representative"),
    "authorised_representative_contact": N_("Representative's contact"),
    "versioned_model_names": N_("Versioned model name(s)"),
    "model_dependencies": N_("Model dependencies (base model)"),
    "base_model": N_("Base model"),
    "base_model_summary": N_("Base model summary"),
    "placed_on_market": N_("Date placed on the Union market"),
    "modalities": N_("Modalities"),
    "size": N_("Size"),
    "content_types": N_("Types of content"),
    "latest_acquisition_date": N_("Latest date of data acquisition"),
    "collection_ongoing": N_("Collection ongoing"),
    "linguistic_characteristics": N_("Linguistic characteristics"),
    "other_characteristics": N_("Other characteristics"),
    "comments": N_("Comments"),
    "used": N_("Used"),
    "large_datasets": N_("Datasets"),
    "other_description": N_("Other datasets"),
    "works_licensed": N_("Works licensed"),
    "datasets": N_("Datasets"),
    "description": N_("Description"),
    "crawlers": N_("Crawlers"),
    "purposes": N_("Purposes"),
    "crawler_behaviour": N_("Crawler behaviour"),
    "collection_period": N_("Period of collection"),
    "content_description": N_("Content"),
    "top_domains": N_("Most relevant domains (by volume)"),
    "domains_rule": N_("Rule"),
    "from_model_interactions": N_("From interactions with the model"),
    "from_other_services": N_("From the provider's other services"),
    "models": N_("Models used"),
    "code_of_practice_signatory": N_("Signatory of the GPAI Code of Practice"),
    "measures": N_("Measures"),
    "opt_out_protocols": N_("Opt-out protocols honoured"),
    "items_excluded": N_("Items excluded"),
    "items_excluded_by_reservation": N_("Items excluded by a reservation (deny)"),
    "registries": N_("Registries and snapshots"),
    "clearances": NP_("summary", "Clearances"),
    "works": N_("Works"),
    "licence_offers_declined": N_("Licence offers not taken (works excluded)"),
    "retroactive_licences": N_("Retroactive licences (use declared after training)"),
    "licence": N_("Licence"),
    "price": N_("Price"),
    "by_organisation": N_("By organisation"),
    "matched": N_("recognised"),
    "excluded": N_("excluded"),
    "licensed": N_("licensed"),
    "allowed": N_("allowed by their terms"),
    "paid": NP_("summary", "paid"),
    "items": N_("items"),
    "hours": N_("hours"),
    "items_used": N_("items used"),
    "organisation": N_("Organisation"),
    "independent": N_("(no organisation)"),
    "note_items_unit": N_("items after clearance (tokens are not measured by the clearance)"),
    "note_no_evidence": N_("The clearance evidence does not cover this; the provider must state it."),
    "note_local_inputs": N_(
        "Local inputs (a folder or file on the provider's machine), not public datasets: the "
        "clearance evidence does not show where they came from; the provider must state it."
    ),
    "note_licensed": N_("Licensors and works are not named, as the template allows; creators' figures are below."),
    "note_domains": N_("top 10 % of domains by number of items, at least one"),
    "measure_permission": N_(
        "Permission first: only items whose rights holders allowed the use, or licensed it to the "
        "provider, were used; unregistered items were excluded."
    ),
    "measure_reservation": N_(
        "Reservation mode: items nobody registered or reserved were used; explicit reservations and "
        "registry denials were excluded."
    ),
    "measure_registry": N_(
        "Every item was recognised by content against signed registry snapshots and decided on its rights"
        " holders' declarations."
    ),
    "measure_web": N_("Machine-readable reservations at each item's URL were read and honoured."),
    "measure_log": N_(
        "The signed clearance manifests are published in a public append-only log, so a rights holder can"
        " check whether a work was used."
    ),
}


def labels(lang: str) -> dict[str, str]:
    """Every label of the summary in ``lang``."""
    t = translations(lang)
    return {k: t.pgettext(*v) if isinstance(v, tuple) else t.gettext(v) for k, v in LABELS.items()}
