"""How fast signals are rendered and embedded, against baselines measured in the same run.

    .venv/bin/python benchmarks/signals_render.py [--quick]

Rendering: whole kits per second (11 files, 166-bot robots.txt), against json.dumps of the same
declaration (the cheapest possible "rendering"). Embedding: JPEG copies per second with XMP only and
with XMP + a signed C2PA manifest, against a plain file copy and against re-saving through Pillow
(the lossy way to add XMP, which re-encodes every pixel).
"""

from __future__ import annotations

import argparse
import datetime
import io
import shutil
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from fairtrain.core.money import Money
from fairtrain.core.signals import embed as E
from fairtrain.core.signals import render as R
from fairtrain.core.signals.bots import load_bots
from fairtrain.core.vocab import Offer, PriceModel


def _policy() -> R.SignalPolicy:
    party = R.Party("Korea Music Society", R.PartyKind.ORGANISATION, "ai@cmo.example", "https://cmo.example")
    return R.SignalPolicy.from_values(
        party,
        "https://cmo.example",
        {"tdm": "deny", "train-ai": "licence", "search": "allow"},
        policy_url="https://cmo.example/ai-policy",
        offers={"train-ai": Offer(PriceModel.PER_WORK, Money.parse("50000", "KRW"))},
        licence_urls=["https://cmo.example/licence"],
    )


def _credentials() -> E.C2paCredentials:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = lambda cn: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])  # noqa: E731
    ku = dict(
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("root"))
        .issuer_name(name("root"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **ku), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ee = (
        x509.CertificateBuilder()
        .subject_name(name("signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **ku), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return E.C2paCredentials(
        ee.public_bytes(pem) + ca.public_bytes(pem),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _rate(fn, n: int) -> float:
    fn()  # warm
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small run (a few seconds)")
    args = ap.parse_args()
    n_kits, n_files = (20, 10) if args.quick else (200, 60)

    policy, bots = _policy(), load_bots()
    rows = []
    base = _rate(lambda: policy.canonical_json().encode(), n_kits * 10)
    kit = _rate(lambda: R.render_kit(policy, bots), n_kits)
    rows.append(("render", "json.dumps of the declaration (baseline)", base, 1.0))
    rows.append(("render", "render_kit: 11 files, 166 bots", kit, kit / base))

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        src = tmp / "photo.jpg"
        im = Image.effect_noise((1600, 1200), 64).convert("RGB")
        im.save(src, "JPEG", quality=90)
        data = src.read_bytes()
        creds = _credentials()
        copy = _rate(lambda: shutil.copyfile(src, tmp / "copy.jpg"), n_files)

        def pillow_resave() -> None:
            out = io.BytesIO()
            Image.open(io.BytesIO(data)).save(out, "JPEG", quality=90, xmp=b"<x:xmpmeta/>")

        resave = _rate(pillow_resave, n_files)
        xmp = _rate(lambda: E.embed_file(src, tmp / "x.jpg", policy), n_files)
        full = _rate(lambda: E.embed_file(src, tmp / "c.jpg", policy, creds), n_files)
        mb = len(data) / 1e6
        rows.append(("embed", f"plain file copy, {mb:.1f} MB JPEG (baseline)", copy, 1.0))
        rows.append(("embed", "Pillow re-save with XMP (lossy alternative)", resave, resave / copy))
        rows.append(("embed", "embed_file: XMP via Exiv2 (lossless)", xmp, xmp / copy))
        rows.append(("embed", "embed_file: XMP + signed C2PA (ES256)", full, full / copy))

    print(f"{'what':8} {'measure':52} {'per s':>10} {'vs baseline':>12}")
    for group, what, rate, ratio in rows:
        print(f"{group:8} {what:52} {rate:10.1f} {ratio:12.3f}")


if __name__ == "__main__":
    main()
