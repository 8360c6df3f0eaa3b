"""Embedded signals in copies of a creator's files, read back with c2pa-python's Reader and Pillow."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from fairtrain.core.money import Money
from fairtrain.core.signals import crosswalk
from fairtrain.core.signals import embed as E
from fairtrain.core.signals import render as R
from fairtrain.core.vocab import Category, Offer, PriceModel, Value
from worlds import signal_policy

C = Category
A, D, L = Value.ALLOW, Value.DENY, Value.LICENCE
BASE = "https://creator.example"
PARTY = R.Party("김작가", R.PartyKind.HOLDER, "kim@creator.example", BASE)
OFFER = Offer(PriceModel.PER_WORK, Money.parse("50000", "KRW"))


def _policy(values: dict, offers: dict | None = None) -> R.SignalPolicy:
    return signal_policy(PARTY, values, offers, BASE)


# (name, policy, expected plus:DataMining code, expected CAWG use per category)
CASES = [
    ("all-deny", _policy({"tdm": "deny"}), "DMI-PROHIBITED", {c: D for c in C if c in crosswalk.CAWG_WRITE}),
    (
        "deny-training-allow-search",
        _policy({"tdm": "deny", "search": "allow"}),
        "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
        {C.TDM: D, C.TRAIN_AI: D, C.TRAIN_GENAI: D, C.AI_INPUT: D},
    ),
    (
        "licence-training",
        _policy({"tdm": "deny", "train-ai": "licence", "search": "allow"}, {"train-ai": OFFER}),
        "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
        {C.TDM: D, C.TRAIN_AI: L, C.TRAIN_GENAI: L, C.AI_INPUT: D},
    ),
    ("allow-all", _policy({"tdm": "allow"}), "DMI-ALLOWED", {c: A for c in C if c in crosswalk.CAWG_WRITE}),
    (
        "deny-genai-only",
        _policy({"tdm": "allow", "train-genai": "deny"}),
        "DMI-PROHIBITED-GENAIMLTRAINING",
        {C.TDM: A, C.TRAIN_AI: A, C.TRAIN_GENAI: D, C.AI_INPUT: A},
    ),
    (
        "deny-training-only",
        _policy({"tdm": "allow", "train-ai": "deny"}),
        "DMI-PROHIBITED-AIMLTRAINING",
        {C.TDM: A, C.TRAIN_AI: D, C.TRAIN_GENAI: D, C.AI_INPUT: A},
    ),
    (
        "deny-ai-input-only",
        _policy({"tdm": "allow", "ai-input": "deny"}),
        "DMI-PROHIBITED-SEECONSTRAINT",
        {C.TDM: A, C.TRAIN_AI: A, C.TRAIN_GENAI: A, C.AI_INPUT: D},
    ),
]
IDS = [c[0] for c in CASES]
CAWG_USE = {A: "allowed", D: "notAllowed", L: "constrained"}


# ---------------------------------------------------------------------------------------------------
# A self-signed certificate chain, as the registry's would be


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fairtrain test")]
    )


def _chain(kind: str) -> tuple[E.C2paCredentials, bytes]:
    now = datetime.datetime.now(datetime.UTC)
    if kind == "ed25519":
        ca_key, ee_key, digest = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate(), None
    else:
        ca_key, ee_key, digest = (
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
            hashes.SHA256(),
        )
    usage = dict(
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("fairtrain test root"))
        .issuer_name(_name("fairtrain test root"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, digest)
    )
    ee = (
        x509.CertificateBuilder()
        .subject_name(_name("fairtrain test registry"))
        .issuer_name(ca.subject)
        .public_key(ee_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ee_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, digest)
    )
    pem = serialization.Encoding.PEM
    creds = E.C2paCredentials(
        certificate_chain_pem=ee.public_bytes(pem) + ca.public_bytes(pem),
        private_key_pem=ee_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        algorithm=kind,
    )
    return creds, ca.public_bytes(pem)


@pytest.fixture(scope="module")
def es256():
    return _chain("es256")


# ---------------------------------------------------------------------------------------------------
# Creator files


def _image(tmp: Path, fmt: str) -> Path:
    im = Image.new("RGB", (96, 64))
    im.putdata([((x * 7) % 256, (y * 5) % 256, (x * y) % 256) for y in range(64) for x in range(96)])
    path = tmp / f"work.{fmt}"
    im.save(path, {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}[fmt], **({"quality": 90} if fmt == "jpg" else {}))
    return path


def _pixels(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("RGB").tobytes()


_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_PLUS = "{" + E.XMP_PLUS_NS + "}"


def _xmp_via_pillow(data: bytes) -> dict[str, object]:
    """plus:DataMining and the lang-alt plus:OtherConstraints, from the XMP packet Pillow finds."""
    im = Image.open(io.BytesIO(data))
    raw = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    assert raw, f"no XMP found by Pillow in {im.format}"
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    root = ET.fromstring(text[text.index("<x:xmpmeta") : text.index("</x:xmpmeta>") + len("</x:xmpmeta>")])
    out: dict[str, object] = {}
    for desc in root.iter(f"{_RDF}Description"):
        if f"{_PLUS}DataMining" in desc.attrib:
            out["DataMining"] = desc.attrib[f"{_PLUS}DataMining"]
        for el in desc:
            if el.tag == f"{_PLUS}DataMining":
                out["DataMining"] = el.text
            if el.tag == f"{_PLUS}OtherConstraints":
                out["OtherConstraints"] = {
                    li.get("{http://www.w3.org/XML/1998/namespace}lang"): li.text for li in el.iter(f"{_RDF}li")
                }
    return out


def _read_c2pa(data: bytes, mime: str, trust_anchor: bytes | None = None) -> dict:
    if trust_anchor is None:
        reader = c2pa.Reader(mime, io.BytesIO(data))
    else:
        settings = c2pa.Settings.from_dict(
            {"verify": {"verify_trust": True}, "trust": {"trust_anchors": trust_anchor.decode()}}
        )
        reader = c2pa.Reader(mime, io.BytesIO(data), context=c2pa.Context(settings=settings))
    with reader:
        return json.loads(reader.json())


def _training_entries(report: dict) -> dict[str, dict]:
    manifest = report["manifests"][report["active_manifest"]]
    [assertion] = [a for a in manifest["assertions"] if a["label"] == "cawg.training-mining"]
    return assertion["data"]["entries"]


# ---------------------------------------------------------------------------------------------------
# What is said


@pytest.mark.parametrize("name, policy, dmi, cawg", CASES, ids=IDS)
def test_iptc_value_is_exact_or_spelled_out(name, policy, dmi, cawg):
    value = E.data_mining_value(policy)
    assert value == crosswalk.IPTC_DMI_PREFIX + dmi
    code = dmi
    if code in crosswalk.IPTC_DMI:  # what a reader using the crosswalk will conclude is reserved
        prohibited = set(crosswalk.IPTC_DMI[code])
        for c in C:
            said = any(p.covers(c) for p in prohibited)
            if code != "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING" or c is not C.TDM:
                assert said is policy.reserved(c), (name, c)


@pytest.mark.parametrize("name, policy, dmi, cawg", CASES, ids=IDS)
def test_cawg_assertion_says_each_category(name, policy, dmi, cawg):
    entries = E.training_mining_assertion(policy)["entries"]
    assert set(entries) == {f"cawg.{k}" for k in crosswalk.CAWG}
    for c, v in cawg.items():
        entry = entries[f"cawg.{crosswalk.CAWG_WRITE[c]}"]
        assert entry["use"] == CAWG_USE[v]
        assert ("constraint_info" in entry) is (v is L)
        if v is L:
            assert "₩50,000" in entry["constraint_info"] and f"{BASE}/licence" in entry["constraint_info"]


# ---------------------------------------------------------------------------------------------------
# Written into files and read back


@pytest.mark.parametrize("fmt, mime", [("jpg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")])
def test_xmp_and_c2pa_round_trip_through_independent_readers(fmt, mime, tmp_path, es256):
    creds, root = es256
    name, policy, dmi, cawg = CASES[2]
    src = _image(tmp_path, fmt)
    original = src.read_bytes()
    out = E.embed_file(src, tmp_path / "out" / src.name, policy, creds)
    data = out.read_bytes()

    assert src.read_bytes() == original  # the original is untouched
    assert _pixels(data) == _pixels(original)  # metadata only: the image data is not re-encoded
    assert E.sniff_mime(data) == mime

    xmp = _xmp_via_pillow(data)
    assert xmp["DataMining"] == crosswalk.IPTC_DMI_PREFIX + dmi
    alt = xmp["OtherConstraints"]
    assert set(alt) == {"x-default", "en", "ko"}
    assert "Only under a paid licence" in alt["en"] and "₩50,000" in alt["en"]
    assert "유료 이용허락 필요" in alt["ko"] and PARTY.email in alt["ko"]

    report = _read_c2pa(data, mime)
    assert report["validation_state"] == "Valid"  # signature and hashes check out; the root is not trusted
    failures = report["validation_results"]["activeManifest"]["failure"]
    assert [f["code"] for f in failures] == ["signingCredential.untrusted"]
    entries = _training_entries(report)
    for c, v in cawg.items():
        assert entries[f"cawg.{crosswalk.CAWG_WRITE[c]}"]["use"] == CAWG_USE[v]

    manifest = report["manifests"][report["active_manifest"]]
    assert "thumbnail" not in manifest and all("thumbnail" not in i for i in manifest.get("ingredients", []))
    assert len(data) - len(original) < 20_000  # a manifest and XMP, not a second copy of the work

    trusted = _read_c2pa(data, mime, trust_anchor=root)
    assert trusted["validation_state"] == "Trusted"


@pytest.mark.parametrize("name, policy, dmi, cawg", CASES[:4], ids=IDS[:4])
def test_policy_matrix_in_jpeg(name, policy, dmi, cawg, tmp_path, es256):
    creds, _ = es256
    src = _image(tmp_path, "jpg")
    data = E.embed_file(src, tmp_path / "copy.jpg", policy, creds).read_bytes()
    assert _xmp_via_pillow(data)["DataMining"] == crosswalk.IPTC_DMI_PREFIX + dmi
    entries = _training_entries(_read_c2pa(data, "image/jpeg"))
    assert {k: e["use"] for k, e in entries.items()} == {
        f"cawg.{crosswalk.CAWG_WRITE[c]}": CAWG_USE[v] for c, v in cawg.items()
    }


def test_ed25519_chain_signs_too(tmp_path):
    creds, root = _chain("ed25519")
    src = _image(tmp_path, "png")
    data = E.embed_file(src, tmp_path / "copy.png", CASES[0][1], creds).read_bytes()
    assert _read_c2pa(data, "image/png", trust_anchor=root)["validation_state"] == "Trusted"


def test_tampering_after_signing_is_detected(tmp_path, es256):
    creds, _ = es256
    src = _image(tmp_path, "png")
    data = bytearray(E.embed_file(src, tmp_path / "copy.png", CASES[0][1], creds).read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF  # flip a byte of image data after the manifest was signed
    report = _read_c2pa(bytes(data), "image/png")
    assert report["validation_state"] == "Invalid"


def test_existing_xmp_is_kept(tmp_path):
    src = tmp_path / "tagged.jpg"
    Image.new("RGB", (32, 32), (10, 200, 10)).save(src, "JPEG")
    import pyexiv2

    with pyexiv2.Image(str(src)) as img:
        img.modify_xmp({"Xmp.dc.creator": ["김작가"], "Xmp.dc.title": {'lang="x-default"': "Morning"}})
    data = E.embed_file(src, tmp_path / "copy.jpg", CASES[0][1]).read_bytes()
    with pyexiv2.ImageData(data) as img:
        xmp = img.read_xmp()
    assert xmp["Xmp.dc.creator"] == ["김작가"]
    assert xmp["Xmp.plus.DataMining"] == crosswalk.IPTC_DMI_PREFIX + "DMI-PROHIBITED"


# ---------------------------------------------------------------------------------------------------
# Bad input


def test_batch_records_failures_and_goes_on(tmp_path, es256):
    creds, _ = es256
    good = _image(tmp_path, "jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(_image(tmp_path, "png").read_bytes()[:60])
    missing = tmp_path / "missing.webp"
    sub = tmp_path / "sub"
    sub.mkdir()
    same_name = _image(sub, "jpg")
    results = E.embed_files([good, text, truncated, missing, same_name], tmp_path / "out", CASES[0][1], creds)
    by_src = {r.source: r for r in results}
    assert by_src[good].ok and by_src[same_name].ok
    assert by_src[good].dest != by_src[same_name].dest  # two works named alike keep two copies
    assert "notes.jpg" in by_src[text].error and "not a JPEG, PNG or WebP" in by_src[text].error
    assert "cut.png" in by_src[truncated].error
    assert "missing.webp" in by_src[missing].error and "cannot read" in by_src[missing].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["work-2.jpg", "work.jpg"]


def test_refuses_to_overwrite_the_original(tmp_path):
    src = _image(tmp_path, "jpg")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    with pytest.raises(E.EmbedError, match="refusing to overwrite the original"):
        E.embed_file(src, src, CASES[0][1])
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before


def test_bad_credentials_are_a_clear_error(tmp_path):
    src = _image(tmp_path, "jpg")
    bad = E.C2paCredentials(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b"nope")
    with pytest.raises(E.EmbedError, match=r"work\.jpg: cannot sign"):
        E.embed_file(src, tmp_path / "copy.jpg", CASES[0][1], bad)
    assert not (tmp_path / "copy.jpg").exists()
    with pytest.raises(E.EmbedError, match="unknown C2PA signing algorithm"):
        E.embed_c2pa(src.read_bytes(), CASES[0][1], E.C2paCredentials(b"", b"", algorithm="rsa1"), name="work.jpg")
