"""Embedded signals: XMP plus:DataMining and TDMRep, C2PA/CAWG training-mining (real fixtures)."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from PIL import Image, PngImagePlugin

from conftest import TESTDATA
from fairtrain.core.signals.evidence import Retrieval
from fairtrain.core.signals.files import (
    read_c2pa,
    read_file,
    read_xmp,
    terms_from_file,
    training_mining_from_store,
    xmp_packets,
)
from fairtrain.core.vocab import Category, Value

C2PA = TESTDATA / "c2pa"
TDMREP = TESTDATA / "tdmrep"
EXPECTED = json.loads((C2PA / "expected_training_mining.json").read_text())["files"]

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/">
<plus:DataMining rdf:resource="http://ns.useplus.org/ldf/vocab/{code}"/>
<plus:OtherConstraints><rdf:Alt><rdf:li xml:lang="x-default">Ask the society first</rdf:li></rdf:Alt>
</plus:OtherConstraints>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"""


def _jpeg_with_xmp(xmp: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "JPEG", xmp=xmp.encode("utf-8"))
    return buf.getvalue()


def _png_with_xmp(xmp: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_plus_datamining_in_a_real_jpeg():
    data = _jpeg_with_xmp(XMP.format(code="DMI-PROHIBITED-AIMLTRAINING"))
    s = read_file(data, media_type="image/jpeg")
    assert s.data_mining == ("DMI-PROHIBITED-AIMLTRAINING",)
    assert s.other_constraints == ("Ask the society first",)
    terms = terms_from_file(s, retrieval=Retrieval.of(data, url="https://x/a.jpg", status=200))
    (st,) = terms.statements
    assert (st.category, st.value, st.provenance.source) == (Category.TRAIN_AI, Value.DENY, "xmp:plus")
    assert st.provenance.evidence["sha256"] == hashlib.sha256(data).hexdigest()


def test_plus_datamining_in_a_real_png_element_form_and_draft_value():
    xmp = XMP.replace(
        '<plus:DataMining rdf:resource="http://ns.useplus.org/ldf/vocab/{code}"/>',
        "<plus:DataMining>DMI-ALLOWED-noaitraining</plus:DataMining>",
    )
    s = read_file(_png_with_xmp(xmp), media_type="image/png")
    assert s.data_mining == ("DMI-PROHIBITED-AIMLTRAINING",)


@pytest.mark.parametrize(
    "code,want",
    [
        ("DMI-PROHIBITED", {(Category.TDM, Value.DENY)}),
        ("DMI-ALLOWED", {(Category.TDM, Value.ALLOW)}),
        ("DMI-UNSPECIFIED", set()),
        ("DMI-PROHIBITED-GENAIMLTRAINING", {(Category.TRAIN_GENAI, Value.DENY)}),
        (
            "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
            {(Category.TRAIN_AI, Value.DENY), (Category.AI_INPUT, Value.DENY), (Category.SEARCH, Value.ALLOW)},
        ),
        ("DMI-PROHIBITED-SEECONSTRAINT", {(Category.TDM, Value.DENY)}),
    ],
)
def test_dmi_values(code, want):
    codes, _, _ = read_xmp(XMP.format(code=code))
    from fairtrain.core.signals.files import FileSignals

    got = {(s.category, s.value) for s in terms_from_file(FileSignals(data_mining=codes)).statements}
    assert got == want


def test_tdmrep_spec_example_08_xmp_in_file_bytes():
    data = b"%PDF-1.7\n...stream\n" + (TDMREP / "spec-example-08-xmp.xml").read_bytes() + b"\nendstream"
    assert len(xmp_packets(data)) == 1
    s = read_file(data, with_c2pa=False)
    assert (s.tdm.reservation, s.tdm.policy) == (1, "https://publisher.com/policies/policy.json")
    (st,) = terms_from_file(s).statements
    assert (st.category, st.value, st.provenance.source) == (Category.TDM, Value.LICENCE, "tdmrep:xmp")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_c2pa_fixtures_match_expected(name):
    data = (C2PA / name).read_bytes()
    want = EXPECTED[name]
    assert hashlib.sha256(data).hexdigest() == want["sha256"]
    got = read_c2pa(data)
    assert [(a.manifest, a.label, dict(a.entries)) for a in got] == [
        (w["manifest"], w["label"], w["entries"]) for w in want["training_mining_assertions"]
    ]
    assert all(a.validation_state == want["validation_state"] for a in got)
    terms = terms_from_file(read_file(data))
    denied = {s.category for s in terms.statements if s.value is Value.DENY}
    from fairtrain.core.signals import crosswalk

    expected_denied = {
        crosswalk.CAWG[k.split(".", 1)[1]]
        for w in want["training_mining_assertions"]
        for k, v in w["entries"].items()
        if v == "notAllowed"
    }
    assert denied == expected_denied


def test_c2pa_label_and_constrained_semantics():
    store = {
        "validation_state": "Invalid",
        "manifests": {
            "m1": {
                "assertions": [
                    {
                        "label": "c2pa.training-mining",
                        "data": {
                            "entries": {
                                "c2pa.ai_training": {"use": "constrained", "constraint_info": "ask"},
                                "c2pa.data_mining": {"use": "allowed"},
                                "c2pa.custom_thing": {"use": "notAllowed"},
                            }
                        },
                    },
                    {"label": "c2pa.actions", "data": {}},
                ]
            }
        },
    }
    from fairtrain.core.signals.files import FileSignals

    got = training_mining_from_store(store)
    assert [a.label for a in got] == ["c2pa.training-mining"]
    terms = terms_from_file(FileSignals(c2pa=got))
    assert {(s.category, s.value) for s in terms.statements} == {
        (Category.TRAIN_AI, Value.DENY),
        (Category.TDM, Value.ALLOW),
    }
    assert all(s.provenance.evidence["verified"] is False for s in terms.statements)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 1000,
        b"\xff\xd8\xff\xe0garbage",
        b"<x:xmpmeta never closed",
        (C2PA / "C_with_CAWG_data.jpg").read_bytes()[:5000],
    ],
)
def test_hostile_bytes_do_not_raise(data):
    s = read_file(data, item="https://x/f")
    assert s.c2pa == () and s.data_mining == ()
    if data.startswith(b"\xff\xd8"):  # a broken JPEG is reported, not silently passed
        assert s.errors and "C2PA" in s.errors[0]
