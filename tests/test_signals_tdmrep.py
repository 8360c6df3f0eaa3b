"""TDMRep: the spec's own examples, first-match rules, layering, and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import TESTDATA
from fairtrain.core.signals.evidence import Retrieval, SignalError
from fairtrain.core.signals.tdmrep import (
    TdmRepFile,
    TdmSignal,
    from_headers,
    from_html,
    from_opf,
    from_xmp,
    resolve,
    terms_from_tdmrep,
)
from fairtrain.core.vocab import Category, Level, Value

DATA = TESTDATA / "tdmrep"
POLICY = "https://provider.com/policies/policy.json"


def _headers(path: Path) -> list[tuple[str, str]]:
    lines = path.read_text().splitlines()[1:]
    return [tuple(part.strip() for part in line.split(":", 1)) for line in lines if ":" in line]


def test_spec_example_01_whole_site():
    f = TdmRepFile.parse((DATA / "spec-example-01-tdmrep.json").read_bytes())
    assert f.signal("https://x.org/anything").reservation == 1
    assert f.signal("https://x.org/").reservation == 1


def test_spec_example_02_first_match():
    f = TdmRepFile.parse((DATA / "spec-example-02-tdmrep.json").read_bytes())
    assert f.signal("https://x.org/directory-a/page.html").reservation == 1
    s = f.signal("https://x.org/directory-b/html/p.html")
    assert (s.reservation, s.policy) == (1, POLICY)
    s = f.signal("https://x.org/directory-b/images/cat.jpg")
    assert (s.reservation, s.rule.index) == (0, 2)
    assert f.signal("https://x.org/directory-b/images/cat.png").reservation is None
    assert f.signal("https://x.org/elsewhere").reservation is None


def test_first_match_is_not_longest_match():
    f = TdmRepFile.parse('[{"location": "/", "tdm-reservation": 1}, {"location": "/open/", "tdm-reservation": 0}]')
    assert f.signal("https://x.org/open/a").reservation == 1  # the first rule wins, though shorter


def test_unreserved_escapes_are_decoded():
    f = TdmRepFile.parse('[{"location": "/%7Euser/", "tdm-reservation": 1}]')
    assert f.signal("https://x.org/~user/a").reservation == 1
    assert f.signal("https://x.org/%7euser/a").reservation == 1


def test_spec_examples_03_04_headers():
    s3 = from_headers(_headers(DATA / "spec-example-03-http-response.txt"))
    assert (s3.reservation, s3.policy) == (1, None)
    s4 = from_headers(_headers(DATA / "spec-example-04-http-response.txt"))
    assert (s4.reservation, s4.policy) == (1, POLICY)


def test_spec_example_05_html():
    s = from_html((DATA / "spec-example-05-html-meta.html").read_bytes())
    assert (s.layer, s.reservation, s.policy) == ("html-meta", 1, POLICY)


@pytest.mark.parametrize("name", ["spec-example-06-epub2-opf.xml", "spec-example-07-epub3-opf.xml"])
def test_spec_examples_06_07_epub(name):
    s = from_opf((DATA / name).read_bytes())
    assert (s.layer, s.reservation, s.policy) == ("epub-opf", 1, POLICY)


def test_spec_example_08_xmp():
    s = from_xmp((DATA / "spec-example-08-xmp.xml").read_bytes())
    assert (s.reservation, s.policy) == (1, "https://publisher.com/policies/policy.json")


def test_xmp_other_prefix_and_attribute_form():
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:t="http://www.w3.org/ns/tdmrep#" t:reservation="0"/></rdf:RDF></x:xmpmeta>'
    )
    assert from_xmp(xmp).reservation == 0


def test_layering_more_embedded_wins_even_if_permissive():
    file = TdmSignal("tdmrep.json", 1, POLICY)
    header = from_headers({"tdm-reservation": "0"})
    html = from_html("<meta name='robots' content='noai'>")  # no TDMRep property: resets nothing
    got = resolve([html, header, file])
    assert (got.layer, got.reservation, got.policy) == ("http-header", 0, POLICY)
    got = resolve([file, from_html("<meta name='tdm-reservation' content='1'>")])
    assert (got.layer, got.reservation) == ("html-meta", 1)
    assert resolve([html]) is None


def test_protocol_errors_count_as_unset():
    s = from_headers({"tdm-reservation": "yes"})
    assert s.reservation is None and s.errors
    f = TdmRepFile.parse(
        '[{"location": "/", "tdm-reservation": "1"}, {"tdm-reservation": 1},'
        ' {"location": "/b", "tdm-reservation": true}, {"location": "/", "tdm-reservation": 0}]'
    )
    assert len(f.errors) == 3 and len(f.rules) == 1
    assert f.signal("https://x.org/a").reservation == 0


@pytest.mark.parametrize("body", [b"{not json", b'{"location": "/"}', b"[" * 100_000, b"x" * (2 * 1024 * 1024)])
def test_bad_files_raise_signal_error(body):
    with pytest.raises(SignalError) as e:
        TdmRepFile.parse(body, item="https://x.org/.well-known/tdmrep.json")
    assert e.value.item == "https://x.org/.well-known/tdmrep.json" and e.value.reason


def test_terms():
    r = Retrieval.of(b"[]", url="https://x.org/.well-known/tdmrep.json", status=200)
    (s,) = terms_from_tdmrep(TdmSignal("tdmrep.json", 1, POLICY), retrieval=r).statements
    assert (s.category, s.value, s.level) == (Category.TDM, Value.LICENCE, Level.SIGNAL)
    assert s.provenance.evidence["tdm-policy"] == POLICY and s.provenance.evidence["status"] == 200
    (s,) = terms_from_tdmrep(TdmSignal("http-header", 1, None)).statements
    assert s.value is Value.DENY and s.provenance.source == "tdmrep:http-header"
    (s,) = terms_from_tdmrep(TdmSignal("html-meta", 0, POLICY)).statements
    assert s.value is Value.ALLOW and "tdm-policy" not in s.provenance.evidence
    assert terms_from_tdmrep(None).statements == ()
