"""Ed25519 signing keys: registries sign snapshots, licensees sign clearance manifests, grantors sign grants."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fairtrain.core.errors import IntegrityFailure, InvalidInput
from fairtrain.core.files import write_atomic


class KeyFileError(InvalidInput):
    """A key file is missing, unreadable or of the wrong kind."""


class SignatureError(IntegrityFailure):
    """A signature does not verify, or was made by a key nobody trusts."""


def canonical_json(data: object) -> bytes:
    """The bytes that get signed: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 over the raw key: short, stable, printable."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def __reduce__(self):  # by its base64 form: trusted keys travel to the web's worker processes
        return (PublicKey.from_b64, (self.b64(),))

    def pem(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(self, signature_b64: str, message: bytes) -> None:
        try:
            self.key.verify(base64.b64decode(signature_b64, validate=True), message)
        except (InvalidSignature, ValueError):
            raise SignatureError(f"signature does not verify with key {self.key_id}") from None

    @classmethod
    def from_b64(cls, text: str) -> PublicKey:
        try:
            return cls(Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True)))
        except ValueError:
            raise KeyFileError("not a base64 Ed25519 public key") from None

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise KeyFileError(f"{path}: cannot read ({e.strerror or e})") from None
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            try:
                return cls.from_b64(data.decode().strip())
            except (KeyFileError, UnicodeDecodeError):
                raise KeyFileError(f"{path}: not a PEM or base64 Ed25519 public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{path}: not an Ed25519 key")
        return cls(key)


REGISTRY = "registry"  # signs snapshots and tree heads: what verifiers trust by default
PARTY = "party"  # a licensee's, holder's or organisation's key: never trusted as the registry's
KEY_ROLES = (REGISTRY, PARTY)
KEY_ROLE_FORMAT = "fairtrain-key-role/1"


def role_file(key_path: Path) -> Path:
    """Where a key's role mark lives: ``<name>.key.json`` beside ``<name>.key``."""
    return key_path.with_name(key_path.name + ".json")


@dataclass(frozen=True)
class SigningKey:
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.key.sign(message)).decode()

    def save(self, path: Path, *, role: str = PARTY) -> None:
        """Write the private key (mode 0600), ``<path>.pub`` and the role mark ``<path>.json`` beside it,
        atomically. Only a ``registry`` key is trusted by default to sign snapshots and tree heads."""
        if role not in KEY_ROLES:
            raise ValueError(f"key role {role!r}: expected one of {', '.join(KEY_ROLES)}")
        path.parent.mkdir(parents=True, exist_ok=True)
        role_file(path).unlink(missing_ok=True)  # never leave an old mark beside a new key
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        write_atomic(path, pem, mode=0o600)
        write_atomic(path.with_name(path.name + ".pub"), self.public.pem())
        mark = {"format": KEY_ROLE_FORMAT, "role": role, "key_id": self.public.key_id}
        write_atomic(role_file(path), (json.dumps(mark) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise KeyFileError(
                f"{path}: cannot read ({e.strerror or e}); create one with `fairtrain keys create`"
            ) from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise KeyFileError(f"{path}: not an unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path}: not an Ed25519 key")
        return cls(key)


def key_role(key_path: Path) -> str | None:
    """The role a key was created with, or None for a key without a mark (never trusted by default).

    The mark names the key id it was written for: a key file replaced by another key loses its role."""
    mark = role_file(key_path)
    try:
        doc = json.loads(mark.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise KeyFileError(f"{mark}: unreadable key role mark ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_ROLE_FORMAT or doc.get("role") not in KEY_ROLES:
        raise KeyFileError(f"{mark}: not a {KEY_ROLE_FORMAT} mark")
    actual = _public_of(key_path).key_id
    if doc.get("key_id") != actual:
        raise KeyFileError(
            f"{mark}: marks key {doc.get('key_id')} as a {doc['role']} key, but {key_path.name} "
            f"is key {actual} (replaced?): nothing is trusted from it"
        )
    return doc["role"]


def _public_of(key_path: Path) -> PublicKey:
    if key_path.exists():
        return SigningKey.load(key_path).public
    return PublicKey.load(key_path.with_name(key_path.name + ".pub"))


def registry_keys(keys_dir: Path) -> list[PublicKey]:
    """The keys in ``keys_dir`` marked as registry keys (``fairtrain keys create --registry``).

    A licensee's or grantor's key lying in the same directory is not among them: whoever holds it
    could otherwise re-seal a snapshot or sign a tree head that verifiers here would trust."""
    if not keys_dir.is_dir():
        return []
    out = []
    for mark in sorted(keys_dir.glob("*.key.json")):
        key_path = mark.with_name(mark.name[: -len(".json")])
        if key_role(key_path) == REGISTRY:
            out.append(_public_of(key_path))
    return out


def sign_document(doc: dict, key: SigningKey) -> dict:
    """Return ``doc`` with a ``signature`` block over its canonical JSON (without that block)."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    return {
        **body,
        "signature": {
            "alg": "Ed25519",
            "key_id": key.public.key_id,
            "public_key": key.public.b64(),
            "value": key.sign(canonical_json(body)),
        },
    }


def verify_document(doc: dict, trusted: list[PublicKey] | None = None) -> PublicKey:
    """Check a signed document; with ``trusted``, the signer must be one of them. Returns the signer."""
    sig = doc.get("signature")
    if not isinstance(sig, dict) or sig.get("alg") != "Ed25519" or "value" not in sig or "public_key" not in sig:
        raise SignatureError("document is not signed (no Ed25519 signature block)")
    signer = PublicKey.from_b64(sig["public_key"])
    if trusted is not None and signer.raw not in {k.raw for k in trusted}:
        raise SignatureError(
            f"signed by key {signer.key_id}, which is not among the trusted keys "
            f"({', '.join(k.key_id for k in trusted) or 'none'})"
        )
    body = {k: v for k, v in doc.items() if k != "signature"}
    signer.verify(sig["value"], canonical_json(body))
    return signer
