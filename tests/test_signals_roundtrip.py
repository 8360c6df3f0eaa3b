"""Round trip: a declaration in the registry → the rendered kit served by a real local HTTP server →
the signal reader → the decision engine decides exactly what the declaration says, for every category.

Where the standards are coarser than the declaration the reader decides the documented coarser value
(``_web_reading``), and never anything less restrictive than what was declared:

- no web format writes ``train-genai`` apart from ``train-ai`` (AIPREF, Content-Signal and RSL have one
  training token), so both read as the stricter of the two;
- TDMRep has one bit for all mining, set whenever anything is reserved, so an allowed ``tdm`` with a
  reserved part reads as the strictest value under it.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fairtrain.cli.app import app
from fairtrain.core.decide import decide_unregistered
from fairtrain.core.money import Money
from fairtrain.core.signals import render as R
from fairtrain.core.signals.bots import load_bots
from fairtrain.core.signals.check import check_urls
from fairtrain.core.signals.combine import combine_signals, decide_signals
from fairtrain.core.signals.evidence import Retrieval, statement
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Terms, Value
from fairtrain.services.registry import holder_ref
from http_helpers import Server

C = Category
A, L, D = Value.ALLOW, Value.LICENCE, Value.DENY
POLICIES = {
    "deny-all": {C.TDM: D},
    "deny-training-allow-search": {C.TDM: D, C.SEARCH: A},
    "allow-all": {C.TDM: A},
    "licence-training": {C.TDM: D, C.SEARCH: A, C.TRAIN_AI: L},
    "allow-search-and-input": {C.TDM: D, C.SEARCH: A, C.AI_INPUT: A},
    "licence-everything": {C.TDM: L},
    "licence-mining-allow-search": {C.TDM: L, C.SEARCH: A},
    "licence-mining-deny-search": {C.TDM: L, C.SEARCH: D},  # nobody may fetch the pages
    "licence-search-only": {C.TDM: D, C.SEARCH: L},
    "allow-training-deny-rest": {C.TDM: D, C.TRAIN_AI: A},  # the robots.txt * group shuts the reader out
    # coarser on the web: no format writes train-genai apart from train-ai
    "licence-genai-only-train-ai-deny": {C.TDM: D, C.TRAIN_AI: D, C.TRAIN_GENAI: L, C.SEARCH: A},
    "deny-genai-only": {C.TDM: A, C.TRAIN_GENAI: D},
}
PAGE = "/works/poem.html"
OFFER = Offer(PriceModel.PER_WORK, Money.parse("30000", "KRW"))
PARTY = R.Party("김시인 Kim Poet", R.PartyKind.HOLDER, "poet@example.org")


def _strictest(*values: Value) -> Value:
    return max(values, key=lambda v: v.restrictiveness)


def _web_reading(declared: dict[Category, Value]) -> dict[Category, Value]:
    """The value each category reads as on the web (the module docstring says why)."""
    out = dict(declared)
    out[C.TRAIN_AI] = out[C.TRAIN_GENAI] = _strictest(declared[C.TRAIN_AI], declared[C.TRAIN_GENAI])
    if declared[C.TDM] is A:
        out[C.TDM] = _strictest(*declared.values())
    return out


def _headers_from_nginx(conf: str) -> list[tuple[str, str]]:
    """``add_header NAME 'VALUE' always;`` lines (either quote, backslash escapes) as nginx reads them."""
    found = re.finditer(r"""add_header\s+([\w-]+)\s+(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""", conf)
    return [(m.group(1), re.sub(r"\\(.)", r"\1", m.group(2) if m.group(2) is not None else m.group(3))) for m in found]


class _KitServer(Server):
    """Serves a kit the way its nginx snippet says: files at the site root, headers on every response,
    the HTML head snippet in a page.

    ``kit`` is a directory, read per request (so the server can start, and know its URL, before the kit
    exists), or a ``render_kit`` mapping set later through ``files``.
    """

    def __init__(self, kit: Path | None = None):
        self.kit = kit
        self.files: dict[str, bytes] = {}
        super().__init__(self._answer, poll_interval=0.05)

    def _read(self, rel: str) -> bytes | None:
        if self.kit is None:
            return self.files.get(rel)
        p = self.kit / rel
        return p.read_bytes() if ".." not in rel and p.is_file() else None

    def _answer(self, path: str):
        headers = _headers_from_nginx((self._read(R.NGINX_CONF) or b"").decode("utf-8"))
        if path == PAGE:
            head = (self._read(R.HTML_HEAD) or b"").decode("utf-8")
            body = f"<!doctype html><html><head>{head}</head><body><p>A poem.</p></body></html>".encode()
            ctype = "text/html; charset=utf-8"
        elif (body := self._read(path.lstrip("/"))) is not None:
            ctype = (
                "application/json"
                if path.endswith(".json")
                else ("application/xml" if path.endswith(".xml") else "text/plain; charset=utf-8")
            )
        else:
            return 404, [], b""
        return 200, [("Content-Type", ctype), *headers], body


def _assert_reads_back(name: str, declared: dict[Category, Value], report) -> None:
    # The kit's "User-agent: *" group follows search: where search is reserved the reader may not fetch
    # the page (RFC 9309), reads no headers or HTML, and decides from robots.txt, TDMRep and RSL alone.
    fetchable = declared[C.SEARCH] is A
    assert report.robots_allowed is fetchable and not report.errors, (name, report.errors)
    assert report.status == (200 if fetchable else None), name
    want = _web_reading(declared)
    for cat in C:
        decision = report.decide(cat)
        assert decision.value is want[cat], (
            f"{name}: {cat.value} declared {declared[cat].value}, expected {want[cat].value} on the web, "
            f"the web says {decision.value.value}: "
            + "; ".join(
                f"{r.statement.provenance.source} {r.statement.category.value}={r.statement.value.value} ({r.note})"
                for r in decision.reasons
            )
        )
        # the engine without refinement is stricter still, and so never below the declaration either
        strict = decide_unregistered(cat, report.terms).value
        assert strict.restrictiveness >= want[cat].restrictiveness >= declared[cat].restrictiveness, (name, cat)


def _poet(registry, policy: str) -> int:
    """A holder whose catalogue declares ``POLICIES[policy]`` (with the offer where it licenses)."""
    holder = registry.add_holder("김시인 Kim Poet", email="poet@example.org")
    values = POLICIES[policy]
    offer = OFFER if Value.LICENCE in values.values() else None
    registry.declare(level=Level.CATALOGUE, target_id=holder, party=holder_ref(holder), values=values, offer=offer)
    return holder


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_what_is_declared_is_what_the_web_reader_decides(name, registry, database_url, tmp_path):
    holder = _poet(registry, name)
    declared = {c: d.value for c, d in registry.policy_decisions(Level.CATALOGUE, holder).items()}

    kit = tmp_path / "kit"
    with _KitServer(kit) as server:
        r = _render(database_url, holder, server.url, kit, "--json")
        assert r.exit_code == 0, r.output
        rendered = json.loads(r.output)
        (report,) = check_urls([server.url + PAGE], allow_private=True)
    assert rendered["web_values"] == {c.value: v.value for c, v in _web_reading(declared).items()}
    assert rendered["coarser"] == {c.value: v.value for c, v in _web_reading(declared).items() if v is not declared[c]}
    _assert_reads_back(name, declared, report)


def _render(database_url: str, holder: int, site: str, out, *more: str):
    """``fairtrain signals render --holder HOLDER --site SITE --out OUT MORE…`` on the test's database."""
    return CliRunner().invoke(
        app,
        ["--database-url", database_url, "signals", "render", "--holder", str(holder), "--site", site]
        + ["--out", str(out), *more],
    )


def test_every_combination_the_renderer_accepts_reads_back(tmp_path):
    """All 3^5 value vectors, each served by its own origin and checked in one batch."""
    bots = load_bots()
    combos = [dict(zip(C, vs)) for vs in itertools.product((A, L, D), repeat=len(C))]
    servers = [_KitServer() for _ in combos]
    try:
        for server, values in zip(servers, combos):
            policy = R.SignalPolicy.from_values(
                PARTY,
                server.url,
                values,
                policy_url=f"{server.url}/ai-reservation",
                offers={c: OFFER for c, v in values.items() if v is L},
                licence_urls=(f"{server.url}/license.xml",),
            )
            assert policy.web_values() == _web_reading(values)
            server.files = R.render_kit(policy, bots)
        reports = check_urls([s.url + PAGE for s in servers], per_host=2, allow_private=True)
    finally:
        _KitServer.close_all(servers)
    exact = 0
    for values, report in zip(combos, reports):
        _assert_reads_back(" ".join(v.value for v in values.values()), values, report)
        exact += _web_reading(values) == values
    # exact wherever genai equals train-ai (81) and tdm is reserved or nothing under it is (54 + 1)
    assert exact == 55


def test_signals_check_cli_prints_the_same_decisions(registry, database_url, tmp_path):
    holder = _poet(registry, "licence-training")
    kit = tmp_path / "kit"
    with _KitServer(kit) as server:
        r = _render(database_url, holder, server.url, kit)
        assert r.exit_code == 0 and "note:" not in r.output, r.output
        r = CliRunner().invoke(app, ["signals", "check", server.url + PAGE, "--allow-private-urls", "--json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert {c: d["value"] for c, d in row["decisions"].items()} == {
        "tdm": "deny",
        "train-ai": "licence",
        "train-genai": "licence",
        "ai-input": "deny",
        "search": "allow",
    }
    reasons = row["decisions"]["train-ai"]["reasons"]
    read_as = [x for x in reasons if x["provenance"]["evidence"].get("read_as") == "licence"]
    assert read_as and all(x["provenance"]["evidence"]["signal_value"] == "deny" for x in read_as)
    assert any(x["provenance"]["source"] == "http:content-usage" for x in read_as)


def test_cli_render_says_where_the_web_is_coarser(registry, database_url, tmp_path):
    holder = _poet(registry, "licence-genai-only-train-ai-deny")
    r = _render(database_url, holder, "https://poet.example", tmp_path / "kit")
    assert r.exit_code == 0, r.output
    assert "train-genai=deny (declared licence)" in r.output
    assert not (tmp_path / "kit" / R.TDM_POLICY_JSON).exists()  # nothing licensable as a whole


# ---------------------------------------------------------------------------------------------------
# The combination rules, one at a time, on statements made here

SITE, OTHER = "https://site.example", "https://cmo.example"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _s(cat: Category, value: Value, source: str, origin: str = SITE, **detail):
    return statement(
        cat,
        value,
        source=source,
        retrieval=Retrieval.of(b"x", url=origin + "/f", fetched_at=NOW),
        parser="test",
        detail=detail or None,
    )


def test_a_no_is_a_licence_only_where_the_same_origin_offers_one():
    cu = _s(C.TRAIN_AI, D, "http:content-usage", label="train-ai")
    cs_search = _s(C.SEARCH, D, "robots.txt:content-signal", label="search")
    rsl = [_s(C.TRAIN_AI, L, "rsl:link"), _s(C.SEARCH, D, "rsl:link")]
    combined = combine_signals(Terms((cu, cs_search, *rsl)))
    by = {(s.provenance.source, s.category): s for s in combined.terms.statements}
    got = by[("http:content-usage", C.TRAIN_AI)]
    assert got.value is L and got.provenance.evidence["signal_value"] == "deny"
    assert "rsl:link" in got.provenance.evidence["because"] and got.provenance.evidence["label"] == "train-ai"
    assert by[("robots.txt:content-signal", C.SEARCH)].value is D  # the licence document denies search
    assert by[("rsl:link", C.SEARCH)].value is D  # an RSL prohibition is never rewritten
    # an offer from another origin does not turn this origin's "no" into a licence
    elsewhere = combine_signals(Terms((cu, _s(C.TRAIN_AI, L, "rsl:link", OTHER))))
    assert elsewhere.terms.statements[0].value is D
    # nor does a TDMRep reservation without a policy, which is a "no" itself
    assert combine_signals(Terms((cu, _s(C.TDM, D, "tdmrep:tdmrep.json")))).terms.statements[0].value is D
    # a TDMRep policy offers all mining, unless a more specific licence document says otherwise
    policy = _s(C.TDM, L, "tdmrep:tdmrep.json")
    assert combine_signals(Terms((cu, policy))).terms.statements[0].value is L
    assert combine_signals(Terms((cu, policy, _s(C.TRAIN_AI, D, "rsl:link")))).terms.statements[0].value is D
    # combining twice changes nothing
    assert combine_signals(combined.terms).terms == combined.terms


def test_an_inferred_reading_yields_to_an_explicit_one_of_the_same_origin():
    noai = _s(C.AI_INPUT, D, "http:x-robots-tag", directive="noai", inferred="noai read as ai-input")
    heuristic = _s(C.TRAIN_AI, D, "robots.txt", heuristic="training crawlers disallowed")
    explicit = [_s(C.AI_INPUT, A, "robots.txt:content-signal"), _s(C.TRAIN_AI, A, "http:content-usage")]
    combined = combine_signals(Terms((noai, heuristic, *explicit)))
    assert combined.terms.statements == tuple(explicit)
    assert [r.statement for r in combined.set_aside] == [noai, heuristic]
    assert all(not r.counted and "explicitly" in r.note for r in combined.set_aside)
    assert decide_signals(C.AI_INPUT, Terms((noai, *explicit))).value is A
    # without an explicit statement, or with one from another origin only, the inferred reading counts
    assert decide_signals(C.AI_INPUT, Terms((noai,))).value is D
    assert decide_signals(C.AI_INPUT, Terms((noai, _s(C.AI_INPUT, A, "rsl:link", OTHER)))).value is D


def test_a_specific_statement_refines_its_origins_broader_one_only():
    tdm = _s(C.TDM, D, "tdmrep:tdmrep.json")
    search = _s(C.SEARCH, A, "robots.txt:content-signal")
    terms = Terms((tdm, search))
    assert decide_signals(C.SEARCH, terms).value is A
    assert decide_signals(C.TDM, terms).value is D and decide_signals(C.TRAIN_AI, terms).value is D
    assert decide_unregistered(C.SEARCH, terms).value is A  # the engine weighs one site like one party
    other = Terms((tdm, _s(C.SEARCH, A, "robots.txt:content-signal", OTHER)))
    assert decide_signals(C.SEARCH, other).value is D  # most restrictive across origins
    assert decide_signals(C.SEARCH, Terms()).value is Value.UNKNOWN


def test_render_embeds_the_declaration_into_copies_of_the_creators_images(registry, database_url, tmp_path):
    from PIL import Image

    from conftest import make_image
    from fairtrain.core.signals.files import read_file, terms_from_file

    holder = registry.add_holder("Photographer", email="photo@example.org")
    registry.declare(
        level=Level.CATALOGUE,
        target_id=holder,
        party=holder_ref(holder),
        values={Category.TDM: Value.DENY, Category.SEARCH: Value.ALLOW},
    )
    original = tmp_path / "photo.jpg"
    original.write_bytes(make_image(3))
    before = original.read_bytes()
    r = _render(
        database_url,
        holder,
        "https://photo.example",
        tmp_path / "kit",
        "--embed",
        str(original),
        "--embed",
        str(tmp_path / "missing.jpg"),
    )
    assert r.exit_code == 1  # the missing file is reported, the photo is still embedded
    copy = tmp_path / "kit" / "embedded" / "photo.jpg"
    assert original.read_bytes() == before  # never the creator's own file
    xmp = Image.open(copy).info.get("xmp", b"")
    assert b"DataMining" in (xmp if isinstance(xmp, bytes) else xmp.encode())
    terms = terms_from_file(read_file(copy.read_bytes(), media_type="image/jpeg", item="photo.jpg", with_c2pa=False))
    assert decide_signals(Category.TRAIN_GENAI, terms).value is Value.DENY  # the reader finds the reservation
    assert not terms_from_file(read_file(before, media_type="image/jpeg", item="orig", with_c2pa=False)).statements
