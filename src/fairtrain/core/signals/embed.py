"""Embed the declaration into COPIES of a creator's own files (optout-standards.md §8, §14.1).

Two carriers, written in this order so the second seals the first:

1. XMP with IPTC/PLUS ``plus:DataMining`` (+ ``plus:OtherConstraints`` in English and Korean and
   ``xmpRights:WebStatement``), written by Exiv2 (PyPI ``pyexiv2``) into the file's own metadata
   segment, so the image data is never re-encoded;
2. a signed C2PA manifest carrying a ``cawg.training-mining`` assertion (CAWG 1.1), made with
   ``c2pa-python``. The manifest's hash binding covers the XMP written in step 1.

JPEG, PNG and WebP are supported; MP4, M4V and MOV videos get the XMP (in a top-level ``uuid`` box,
``_bmff_xmp``) and, given credentials, the C2PA manifest too (``video/mp4``); Matroska/WebM and MPEG-TS
have no XMP carrier and are refused with that reason. The originals are never modified.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fairtrain.core.errors import InvalidInput
from fairtrain.core.files import atomic_file, write_atomic
from fairtrain.core.i18n import translator
from fairtrain.core.signals import _bmff_xmp, crosswalk
from fairtrain.core.signals.render import SignalPolicy, describe_offer, describe_value
from fairtrain.core.vocab import Category, Value

XMP_PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
TRAINING_MINING_LABEL = "cawg.training-mining"

_MIME_BY_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)


class EmbedError(InvalidInput):
    """A file the signals could not be embedded in: names the file and the reason."""


@dataclass(frozen=True, slots=True)
class C2paCredentials:
    """The signing certificate chain (end-entity first, PEM) and its private key (PEM, PKCS#8).

    In production this is the registry's certificate; tests make a self-signed chain.
    """

    certificate_chain_pem: bytes
    private_key_pem: bytes
    algorithm: str = "es256"  # es256/es384/es512, ps256/ps384/ps512 or ed25519
    tsa_url: str | None = None  # RFC 3161 time-stamp authority; None signs without a time-stamp


@dataclass(frozen=True, slots=True)
class EmbedResult:
    source: Path
    dest: Path | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def sniff_mime(data: bytes) -> str | None:
    """The image type from the bytes themselves (extensions lie)."""
    for magic, mime in _MIME_BY_MAGIC:
        if data.startswith(magic):
            return mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


# ---------------------------------------------------------------------------------------------------
# What each carrier says


def data_mining_value(policy: SignalPolicy) -> str:
    """The IPTC/PLUS ``plus:DataMining`` URI for the policy.

    The PLUS vocabulary has five fixed combinations; a policy matching none of them exactly is written
    as ``DMI-PROHIBITED-SEECONSTRAINT`` and spelled out in ``plus:OtherConstraints``.
    """
    reserved = {c for c in Category if policy.reserved(c)}
    training = {Category.TRAIN_AI, Category.TRAIN_GENAI}
    if not reserved:
        code = "DMI-ALLOWED"
    elif reserved == set(Category):
        code = "DMI-PROHIBITED"
    elif reserved == training:
        code = "DMI-PROHIBITED-AIMLTRAINING"
    elif reserved == {Category.TRAIN_GENAI}:
        code = "DMI-PROHIBITED-GENAIMLTRAINING"
    elif reserved == set(Category) - {Category.SEARCH}:
        code = "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
    else:
        code = "DMI-PROHIBITED-SEECONSTRAINT"
    return crosswalk.IPTC_DMI_PREFIX + code


def constraints_text(policy: SignalPolicy, lang: str) -> str:
    """One paragraph per language for ``plus:OtherConstraints`` and CAWG ``constraint_info``."""
    parts = []
    for c in Category:
        part = describe_value(c, policy.value(c), lang)
        offer = policy.offer(c)
        if offer is not None:
            part += f" ({describe_offer(offer, lang)})"
        parts.append(part)
    _ = translator(lang)
    contact = _("Contact")
    return "; ".join(parts) + f". {contact}: {policy.party.name} <{policy.party.email}>, {policy.policy_url}"


def _licence_info(policy: SignalPolicy, category: Category) -> str:
    offer = policy.offer(category)
    assert offer is not None
    return f"Licence required: {describe_offer(offer, 'en')}. Terms: {', '.join(policy.licence_urls)}; contact {policy.party.email}"


def training_mining_assertion(policy: SignalPolicy) -> dict:
    """The CAWG 1.1 ``cawg.training-mining`` assertion data; licence is ``constrained`` with its terms."""
    entries: dict[str, dict[str, str]] = {}
    for category, key in crosswalk.CAWG_WRITE.items():
        v = policy.value(category)
        entry = {"use": {Value.ALLOW: "allowed", Value.DENY: "notAllowed", Value.LICENCE: "constrained"}[v]}
        if v is Value.LICENCE:
            entry["constraint_info"] = _licence_info(policy, category)
        entries[f"cawg.{key}"] = entry
    return {"entries": entries}


def xmp_properties(policy: SignalPolicy) -> dict[str, object]:
    """Exiv2 keys and values for the XMP written into each file."""
    return {
        "Xmp.plus.DataMining": data_mining_value(policy),
        "Xmp.plus.OtherConstraints": {
            'lang="x-default"': constraints_text(policy, "en"),
            'lang="en"': constraints_text(policy, "en"),
            'lang="ko"': constraints_text(policy, "ko"),
        },
        "Xmp.xmpRights.Marked": "True",
        "Xmp.xmpRights.WebStatement": policy.policy_url,
    }


# ---------------------------------------------------------------------------------------------------
# Writing


def embed_xmp(data: bytes, policy: SignalPolicy, *, name: str = "<bytes>") -> bytes:
    """``data`` with the policy's XMP merged into its existing XMP; pixels are left as they are."""
    import pyexiv2

    if sniff_mime(data) is None:
        return _embed_video_xmp(data, policy, name)
    pyexiv2.set_log_level(4)  # errors come back as exceptions; keep Exiv2's own log quiet
    try:
        with pyexiv2.ImageData(data) as img:
            img.modify_xmp(xmp_properties(policy))
            return img.get_bytes()
    except (RuntimeError, ValueError, UnicodeError) as e:
        raise EmbedError(f"{name}: cannot write XMP: {e}") from None


def _embed_video_xmp(data: bytes, policy: SignalPolicy, name: str) -> bytes:
    """An MP4/M4V/MOV copy with the XMP in its ``uuid`` box (``_bmff_xmp``); other videos are refused with
    the reason: Matroska/WebM and MPEG-TS have no XMP carrier, AVI's is not written."""
    from fairtrain.core.media import detect_media_type

    if _bmff_xmp.is_bmff(data):
        try:
            return _bmff_xmp.embed(data, xmp_properties(policy))
        except _bmff_xmp.BoxError as e:
            raise EmbedError(f"{name}: cannot write XMP: {e}") from None
    if detect_media_type(data[:8192], name) == "video":
        raise EmbedError(
            f"{name}: XMP is written into MP4, M4V and MOV videos only "
            "(Matroska/WebM and MPEG-TS have no place for it; AVI's is not supported)"
        )
    raise EmbedError(f"{name}: not a JPEG, PNG or WebP image, nor an MP4, M4V or MOV video")


def embed_c2pa(data: bytes, policy: SignalPolicy, credentials: C2paCredentials, *, name: str = "<bytes>") -> bytes:
    """``data`` with a signed C2PA manifest holding the ``cawg.training-mining`` assertion."""
    out = io.BytesIO()
    _sign_c2pa(data[:16], io.BytesIO(data), out, policy, credentials, name)
    return out.getvalue()


def _sign_c2pa_stream(head: bytes, source: Path, dest: Path, policy, credentials, name: str) -> None:
    with open(source, "rb") as src, open(dest, "wb") as out:
        _sign_c2pa(head, src, out, policy, credentials, name)


def _sign_c2pa(head: bytes, source, dest, policy: SignalPolicy, credentials: C2paCredentials, name: str) -> None:
    """Sign a manifest holding the ``cawg.training-mining`` assertion from the ``source`` stream into ``dest``."""
    import c2pa

    mime = sniff_mime(head) or (
        ("video/quicktime" if head[8:12] == b"qt  " else "video/mp4") if _bmff_xmp.is_bmff(head) else None
    )
    if mime is None:
        raise EmbedError(f"{name}: not a JPEG, PNG or WebP image, nor an MP4, M4V or MOV video")
    try:
        alg = c2pa.C2paSigningAlg[credentials.algorithm.upper()]
    except KeyError:
        raise EmbedError(f"{name}: unknown C2PA signing algorithm {credentials.algorithm!r}") from None
    manifest = {
        "claim_generator_info": [{"name": "fairtrain", "version": "0.1"}],
        "title": Path(name).name,
        "assertions": [{"label": TRAINING_MINING_LABEL, "data": training_mining_assertion(policy)}],
    }
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(
                alg, credentials.certificate_chain_pem, credentials.private_key_pem, credentials.tsa_url
            )
        )
        # No thumbnails: c2pa-python would embed a re-encoded copy of the work as the parent
        # ingredient's thumbnail (+744 KB and 28x the time on a 1.4 MB JPEG; 10 ms vs 284 ms).
        settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})
        with signer, c2pa.Builder(manifest, context=c2pa.Context(settings=settings)) as builder:
            # The creator's file is the parent: this manifest records a metadata edit of it.
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            builder.sign(signer, mime, source, dest)
    except c2pa.C2paError as e:
        raise EmbedError(f"{name}: cannot sign a C2PA manifest: {e}") from None


def embed_file(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    policy: SignalPolicy,
    credentials: C2paCredentials | None = None,
) -> Path:
    """Write a copy of ``source`` to ``dest`` with XMP and (given credentials) a signed C2PA manifest.

    ``dest`` appears whole or not at all; ``source`` is never written to.
    """
    src, out = Path(source), Path(dest)
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        raise EmbedError(f"{src}: refusing to overwrite the original; give another destination")
    try:
        with open(src, "rb") as f:
            head = f.read(16)
    except OSError as e:
        raise EmbedError(f"{src}: cannot read: {e.strerror or e}") from None
    if sniff_mime(head) is None and _bmff_xmp.is_bmff(head):
        return _embed_video_file(src, out, policy, credentials)
    try:
        data = src.read_bytes()
    except OSError as e:
        raise EmbedError(f"{src}: cannot read: {e.strerror or e}") from None
    data = embed_xmp(data, policy, name=str(src))
    if credentials is not None:
        data = embed_c2pa(data, policy, credentials, name=str(src))
    return write_atomic(out, data, fsync=True)


def _embed_video_file(src: Path, out: Path, policy: SignalPolicy, credentials: C2paCredentials | None) -> Path:
    """An MP4/M4V/MOV copy, streamed from file to file: the XMP box appended, then (given credentials) the
    C2PA manifest signed from one file stream into another; the video is never held in memory."""
    with atomic_file(out) as tmp:
        xmp_done = tmp.with_name(tmp.name + ".xmp") if credentials is not None else tmp
        try:
            _bmff_xmp.embed_file(src, xmp_done, xmp_properties(policy))
            if credentials is not None:
                with open(xmp_done, "rb") as head_file:
                    head = head_file.read(16)
                _sign_c2pa_stream(head, xmp_done, tmp, policy, credentials, str(src))
        except _bmff_xmp.BoxError as e:
            raise EmbedError(f"{src}: cannot write XMP: {e}") from None
        except OSError as e:
            raise EmbedError(f"{src}: cannot write the copy: {e.strerror or e}") from None
        finally:
            if xmp_done != tmp:
                xmp_done.unlink(missing_ok=True)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    return out


def embed_files(
    sources: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    policy: SignalPolicy,
    credentials: C2paCredentials | None = None,
) -> list[EmbedResult]:
    """Embed into copies of many files under ``out_dir`` (same names); a failure is recorded, not raised."""
    results = []
    used: set[str] = set()
    for s in sources:
        src = Path(s)
        name = src.name
        stem, n = src.stem, 1
        while name in used:  # two sources with one name must not overwrite each other's copy
            n += 1
            name = f"{stem}-{n}{src.suffix}"
        used.add(name)
        try:
            results.append(EmbedResult(src, embed_file(src, Path(out_dir) / name, policy, credentials)))
        except EmbedError as e:
            results.append(EmbedResult(src, None, str(e)))
    return results
