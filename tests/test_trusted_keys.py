"""Which keys are trusted (issue 12, item 4): without ``--public-key`` only the data directory's keys marked
as registry keys are; a licensee's key lying beside them is not, and a licensee never signs as the registry."""

from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fairtrain.core.keys import SigningKey
from fairtrain.core.snapshot import MANIFEST, TERMS_DIR, seal_snapshot
from fairtrain.core.vocab import Category
from test_clearance import _decisions


def _reseal_allowing_everything(snap, key: SigningKey) -> None:
    """The attack: rewrite the terms shard so every work allows everything, then re-seal the manifest."""
    for shard in sorted((snap / TERMS_DIR).glob("*.parquet")):
        t = pq.read_table(shard)
        for name in t.column_names:
            if name.split(":")[-1] in {c.value for c in Category}:
                t = t.set_column(t.column_names.index(name), name, pc.if_else(pc.is_null(t[name]), None, "allow"))
        pq.write_table(t, shard)
    old = json.loads((snap / MANIFEST).read_text())
    meta = {k: v for k, v in old.items() if k not in ("format", "created_at", "files", "signature")}
    seal_snapshot(snap, key, meta)


def test_a_snapshot_resealed_with_the_licensees_key_is_refused(world):  # noqa: F811
    run, env, tmp, manifest = world
    common = [manifest, "--snapshot", tmp / "snap", "--licensee", "acme-ai", "--purpose", "train-genai"]
    run("clear", *common, "--out", tmp / "honest")
    assert _decisions(tmp / "honest")["denied-copy.txt"]["decision"] == "deny"
    assert json.loads(run("snapshot", "verify", tmp / "snap", "--json").stdout)["valid"]

    licensee = SigningKey.load(tmp / "data" / "keys" / "acme-ai.key")
    _reseal_allowing_everything(tmp / "snap", licensee)
    r = run("snapshot", "verify", tmp / "snap", code=1)
    assert "not among the trusted keys" in r.output and licensee.public.key_id in r.output
    r = run("clear", *common, "--out", tmp / "forged", code=1)
    assert "not among the trusted keys" in str(r.exception)
    assert not (tmp / "forged" / "decisions.parquet").exists()


def test_keys_carry_their_role_and_only_registry_keys_are_trusted(world, tmp_path):  # noqa: F811
    from fairtrain.core.keys import REGISTRY, KeyFileError, key_role, registry_keys

    run, env, tmp, manifest = world
    keys = tmp / "data" / "keys"
    assert key_role(keys / "registry.key") == REGISTRY and key_role(keys / "acme-ai.key") == "party"
    assert [k.key_id for k in registry_keys(keys)] == [SigningKey.load(keys / "registry.key").public.key_id]
    run("keys", "create", "--name", "registry-2027", "--registry")
    assert len(registry_keys(keys)) == 2

    # a key file swapped under an old mark loses the mark's trust, with a message naming both keys
    SigningKey.generate().save(tmp_path / "other.key")
    (keys / "registry-2027.key").write_bytes((tmp_path / "other.key").read_bytes())
    with pytest.raises(KeyFileError, match="replaced"):
        registry_keys(keys)


def test_a_licensee_never_signs_a_clearance_with_a_registry_key(world):  # noqa: F811
    run, env, tmp, manifest = world
    common = [manifest, "--snapshot", tmp / "snap", "--purpose", "train-genai"]
    r = run("clear", *common, "--licensee", "acme-ai", "--key", "registry", "--out", tmp / "a", code=2)
    assert "trusted as a registry key" in r.output
    pub = tmp / "data" / "keys" / "acme-ai.key.pub"
    r = run("clear", *common, "--licensee", "acme-ai", "--public-key", pub, "--out", tmp / "b", code=2)
    assert "trusted as a registry key" in r.output


def test_without_a_registry_key_nothing_is_trusted_by_default(world):  # noqa: F811
    run, env, tmp, manifest = world
    (tmp / "data" / "keys" / "registry.key.json").unlink()  # an unmarked key is a party's
    r = run("snapshot", "verify", tmp / "snap", code=2)
    assert "no trusted registry key" in r.output
    pub = tmp / "data" / "keys" / "registry.key.pub"
    assert json.loads(run("snapshot", "verify", tmp / "snap", "--public-key", pub, "--json").stdout)["valid"]
    marked = json.loads(run("keys", "mark", "--name", "registry", "--registry", "--json").stdout)
    assert marked["role"] == "registry"  # the same key, now trusted again without --public-key
    assert json.loads(run("snapshot", "verify", tmp / "snap", "--json").stdout)["key_id"] == marked["key_id"]


def test_a_private_key_is_written_readable_by_its_owner_only_and_atomically(tmp_path):
    import os

    old = os.umask(0)  # even a permissive umask must not open the key to others
    try:
        key = SigningKey.generate()
        key.save(tmp_path / "keys" / "registry.key", role="registry")
    finally:
        os.umask(old)
    assert oct((tmp_path / "keys" / "registry.key").stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == [
        "registry.key",
        "registry.key.json",
        "registry.key.pub",
    ]
    assert SigningKey.load(tmp_path / "keys" / "registry.key").public.key_id == key.public.key_id
