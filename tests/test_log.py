"""The public log on a real database: appends in the writer's transaction, signed heads, proofs checked
offline, and tampering with any stored entry detected with the entry's index."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import text, update

from cli_helpers import cli_runner
from fairtrain.core.keys import SigningKey
from fairtrain.core.merkle import MerkleTree, leaf_hash
from fairtrain.core.store.models import LogEntry
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.log import Entry, Log, LogError, verify_proof
from fairtrain.services.registry import Registry, ShareSpec, holder_ref


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
        hashes = [
            leaf_hash(e_leaf.encode())
            for e_leaf in (
                json.dumps(
                    {k: e[k] for k in ("at", "body", "idx", "kind")},
                    sort_keys=True,
                    separators=(",", ":"),
                    ensure_ascii=False,
                )
                for e in log.entries()
            )
        ]
        size, root = log.size_and_root()
        assert size == len(hashes) and root == MerkleTree(hashes).root()


def test_a_declaration_is_logged_in_the_same_transaction(registry, log):
    h = registry.add_holder("Poet")
    wid = registry.add_work(title="Poem", shares=[ShareSpec(h, "author", 1)])["work"]
    (decl_id,) = registry.declare(
        level=Level.WORK, target_id=wid, party=holder_ref(h), values={Category.TRAIN_AI: Value.DENY}
    )
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
    held = log.heads()
    assert log.verify([key.public], held)["valid"]
    with registry.engine.begin() as c:  # edit the stored content only
        leaf = c.execute(text("SELECT leaf FROM log_entries WHERE idx = 11")).scalar_one()
        c.execute(update(LogEntry).where(LogEntry.idx == 11).values(leaf=leaf.replace('"tokens":11000', '"tokens":0')))
    result = log.verify([key.public], held)
    assert not result["valid"]
    assert "entry 11: its content does not match its leaf hash (tampered)" in result["problems"]


def test_rewriting_content_and_hash_together_is_caught_by_the_signed_heads(log, registry):
    key = SigningKey.generate()
    _fill(log, 20, key)
    with registry.engine.begin() as c:
        leaf = c.execute(text("SELECT leaf FROM log_entries WHERE idx = 9")).scalar_one()
        new = leaf.replace('"tokens":9000', '"tokens":1')
        c.execute(update(LogEntry).where(LogEntry.idx == 9).values(leaf=new, leaf_hash=leaf_hash(new.encode()).hex()))
    problems = log.verify([key.public], log.heads())["problems"]
    assert any(p.startswith("tree head at size 14: root does not match entries 7..13") for p in problems), problems
    assert not any("size 7:" in p for p in problems)  # heads before the edit still verify


def test_deleting_an_entry_is_detected(log, registry):
    key = SigningKey.generate()
    _fill(log, 10, key)
    with registry.engine.begin() as c:
        c.execute(text("DELETE FROM log_entries WHERE idx = 4"))
    problems = log.verify([key.public], log.heads())["problems"]
    assert "entry 4: missing (next stored entry is 5)" in problems


def _rewrite_entry_state_and_heads(registry, idx: int, old: str, new: str) -> None:
    """The attack of issue 12 (item 5): edit an entry and its leaf hash, recompute log_state so it agrees,
    and delete the head history that would give the edit away."""
    from fairtrain.core.merkle import frontier_push

    with registry.engine.begin() as c:
        leaf = c.execute(text("SELECT leaf FROM log_entries WHERE idx = :i"), {"i": idx}).scalar_one()
        edited = leaf.replace(old, new)
        assert edited != leaf
        c.execute(
            update(LogEntry).where(LogEntry.idx == idx).values(leaf=edited, leaf_hash=leaf_hash(edited.encode()).hex())
        )
        frontier = []
        leaves = c.execute(text("SELECT leaf FROM log_entries ORDER BY idx")).scalars().all()
        for i, lf in enumerate(leaves):
            frontier = frontier_push(frontier, i, leaf_hash(lf.encode()))
        c.execute(
            text("UPDATE log_state SET size = :n, frontier = :f WHERE id = 1"),
            {"n": len(leaves), "f": json.dumps([f.hex() for f in frontier])},
        )
        c.execute(text("DELETE FROM tree_heads"))


def test_a_rewritten_entry_with_recomputed_state_and_no_heads_fails_against_a_held_head(log, registry):
    key = SigningKey.generate()
    _fill(log, 20, key)
    held = log.heads()  # what verifiers saved when the heads were signed (sizes 7, 14, 20)
    _rewrite_entry_state_and_heads(registry, 9, '"tokens":9000', '"tokens":1')
    result = log.verify([key.public], held)
    assert not result["valid"]
    problems = result["problems"]
    assert any(
        p.startswith(
            "held tree head at size 14: root does not match entries 7..13 (rewritten after it was "
            "signed: an entry edited together with its leaf hash"
        )
        for p in problems
    ), problems
    assert "held tree head at size 14: missing from the log's head history (tree heads deleted)" in problems
    assert "the log holds 20 entries and no signed tree head (head history missing)" in problems
    assert not any(p.startswith("held tree head at size 7: root") for p in problems)  # before the edit: fine
    assert result["verified_to"] == 7
    # with a head held after every entry, the edited entry is named alone
    log.append([Entry("payment", {"k": 1})])
    h21 = log.sign_head(key)
    log.append([Entry("payment", {"k": 2})])
    h22 = log.sign_head(key)
    _rewrite_entry_state_and_heads(registry, 21, '"k":2', '"k":3')
    problems = log.verify([key.public], [h21, h22])["problems"]
    assert any(p.startswith("held tree head at size 22: root does not match entry 21 ") for p in problems), problems


def test_a_log_without_any_head_to_check_against_is_not_valid(log):
    key = SigningKey.generate()
    log.append([Entry("payment", {"k": 1})])
    result = log.verify([key.public])
    assert not result["valid"]
    assert result["problems"] == [
        "no signed tree head held to check the entries against: the log's own heads and state can be rewritten "
        "with its entries (pass --head FILE, a head saved from `log sign` or GET /api/log)",
        "the log holds 1 entries and no signed tree head (head history missing)",
    ]
    assert log.verify([key.public], [log.sign_head(key)])["valid"]


def _cli(database_url, tmp_path):
    """``run(*args, code=0)``: the fairtrain command on this test's database and data directory."""
    return cli_runner(database_url, tmp_path / "data")[0]


def test_log_verify_on_the_command_line_is_not_fooled(database_url, tmp_path):
    """`log verify` after the attack: the head `log sign` saved outside the database, or one given with
    --head, still holds the old root."""
    run = _cli(database_url, tmp_path)
    run("keys", "create")
    run("holders", "add", "Poet")
    run("holders", "add", "Painter")
    head = json.loads(run("log", "sign", "--json").stdout)  # size 0: holders are not logged
    (tmp_path / "p.txt").write_text("A short poem about the sea and the salt wind in the harbour town.\n" * 3)
    run("works", "add", tmp_path / "p.txt", "--holder", "1")
    run("declare", "--work", "1", "--category", "tdm=deny")
    run("declare", "--work", "1", "--category", "search=allow")
    head = json.loads(run("log", "sign", "--json").stdout)
    assert head["size"] == 2
    saved = tmp_path / "head.json"
    saved.write_text(json.dumps(head))
    assert json.loads(run("log", "verify", "--json").stdout)["valid"]

    reg = Registry.open(url=database_url)
    try:
        _rewrite_entry_state_and_heads(reg, 0, '"value":"deny"', '"value":"allow"')
    finally:
        reg.engine.dispose()
    result = json.loads(run("log", "verify", "--json", code=1).stdout)
    assert not result["valid"]
    assert any(p.startswith("held tree head at size 2: root does not match entries 0..1") for p in result["problems"])
    shutil.rmtree(tmp_path / "data" / "log-heads")  # a verifier elsewhere, holding only the head it was given
    result = json.loads(run("log", "verify", "--head", saved, "--json", code=1).stdout)
    assert "held tree head at size 2: missing from the log's head history (tree heads deleted)" in result["problems"]
    result = json.loads(run("log", "verify", "--json", code=1).stdout)  # holding nothing: not a pass either
    assert any(p.startswith("no signed tree head held") for p in result["problems"])


def test_log_commands(database_url, tmp_path):
    run = _cli(database_url, tmp_path)
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
