"""The public log on a real database: appends in the writer's transaction, signed heads, proofs checked
offline, and tampering with any stored entry detected with the entry's index."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text, update

from fairtrain.core.keys import SigningKey
from fairtrain.core.merkle import MerkleTree, leaf_hash
from fairtrain.core.store.models import LogEntry
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.ledger.log import Entry, Log, LogError, verify_proof
from fairtrain.services.registry import ShareSpec, holder_ref


@pytest.fixture
def log(registry):
    return Log(registry.engine)


def _fill(log: Log, n: int, key: SigningKey, sign_every: int = 7) -> None:
    for i in range(n):
        log.append([Entry("usage-report", {"n": i, "model": "demo-model", "tokens": i * 1000})])
        if (i + 1) % sign_every == 0:
            log.sign_head(key)
    log.sign_head(key)


def test_the_running_root_is_the_rfc_9162_root_of_the_entries(log):
    for n in (1, 2, 3, 5, 8, 13):
        log.append([Entry("payment", {"k": i}) for i in range(n)])
        hashes = [leaf_hash(e_leaf.encode()) for e_leaf in
                  (json.dumps({k: e[k] for k in ("at", "body", "idx", "kind")}, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False) for e in log.entries())]
        size, root = log.size_and_root()
        assert size == len(hashes) and root == MerkleTree(hashes).root()


def test_a_declaration_is_logged_in_the_same_transaction(registry, log):
    h = registry.add_holder("Poet")
    wid = registry.add_work(title="Poem", shares=[ShareSpec(h, "author", 1)])["work"]
    (decl_id,) = registry.declare(level=Level.WORK, target_id=wid, party=holder_ref(h),
                                  values={Category.TRAIN_AI: Value.DENY})
    (entry,) = log.entries()
    assert entry["kind"] == "declaration" and entry["body"]["id"] == decl_id and entry["body"]["value"] == "deny"


def test_inclusion_and_consistency_proofs_verify_offline_and_forgeries_do_not(log):
    key = SigningKey.generate()
    _fill(log, 30, key)
    proof = log.inclusion_proof(17)
    assert verify_proof(json.loads(json.dumps(proof)), [key.public])["entry"]["body"]["n"] == 17
    forged = {**proof, "leaf": proof["leaf"].replace('"tokens":17000', '"tokens":1')}
    with pytest.raises(LogError, match="not in the tree head"):
        verify_proof(forged, [key.public])
    with pytest.raises(ValueError, match="not among the trusted keys"):
        verify_proof(proof, [SigningKey.generate().public])
    cons = log.consistency_proof(14, 30)
    assert verify_proof(cons, [key.public]) == {"valid": True, "old_size": 14, "new_size": 30}
    bad = {**cons, "path": cons["path"][:-1]}
    with pytest.raises(LogError, match="does not extend"):
        verify_proof(bad, [key.public])


def test_tampering_with_an_entry_is_reported_with_its_index(log, registry):
    key = SigningKey.generate()
    _fill(log, 20, key)
    assert log.verify([key.public])["valid"]
    with registry.engine.begin() as c:  # edit the stored content only
        leaf = c.execute(text("SELECT leaf FROM log_entries WHERE idx = 11")).scalar_one()
        c.execute(update(LogEntry).where(LogEntry.idx == 11).values(leaf=leaf.replace('"tokens":11000', '"tokens":0')))
    result = log.verify([key.public])
    assert not result["valid"]
    assert "entry 11: its content does not match its leaf hash (tampered)" in result["problems"]


def test_rewriting_content_and_hash_together_is_caught_by_the_signed_heads(log, registry):
    key = SigningKey.generate()
    _fill(log, 20, key)
    with registry.engine.begin() as c:
        leaf = c.execute(text("SELECT leaf FROM log_entries WHERE idx = 9")).scalar_one()
        new = leaf.replace('"tokens":9000', '"tokens":1')
        c.execute(update(LogEntry).where(LogEntry.idx == 9).values(leaf=new, leaf_hash=leaf_hash(new.encode()).hex()))
    problems = log.verify([key.public])["problems"]
    assert any(p.startswith("tree head at size 14: root does not match entries 7..13") for p in problems), problems
    assert not any("size 7:" in p for p in problems)  # heads before the edit still verify


def test_deleting_an_entry_is_detected(log, registry):
    key = SigningKey.generate()
    _fill(log, 10, key)
    with registry.engine.begin() as c:
        c.execute(text("DELETE FROM log_entries WHERE idx = 4"))
    problems = log.verify([key.public])["problems"]
    assert "entry 4: missing (next stored entry is 5)" in problems


def test_log_commands(cli, tmp_path):
    run = cli
    run("keys", "create")
    run("holders", "add", "Poet")
    (tmp_path / "p.txt").write_text("A short poem about the sea and the salt wind in the harbour town.\n" * 3)
    run("works", "add", tmp_path / "p.txt", "--holder", "1")
    run("declare", "--work", "1", "--category", "tdm=deny")
    run("snapshot", "export", tmp_path / "snap")
    head = json.loads(run("log", "sign", "--json").stdout)
    assert head["size"] == 2
    shown = json.loads(run("log", "show", "--json").stdout)
    assert [e["kind"] for e in shown["entries"]] == ["declaration", "snapshot"]
    proof = tmp_path / "proof.json"
    proof.write_text(run("log", "prove", "1").stdout)
    assert json.loads(run("log", "verify", "--proof", proof, "--json").stdout)["valid"]
    assert json.loads(run("log", "verify", "--json").stdout)["valid"]
