"""Clearance in datatrove's shape (issue 13): steps and executors name the optional packages they need and
are refused at construction without them; executors come from one table; a worker's failure comes back
whole; the records that flow through the steps are typed and written exactly as before."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fairtrain.cli.app import app
from fairtrain.core.errors import FairtrainError, InvalidInput, ItemError, ToolMissing
from fairtrain.core.requires import Requirement
from fairtrain.core.vocab import Category, Value
from fairtrain.services.clearance import ClearanceError
from fairtrain.services.clearance.executors import EXECUTORS, Executor, executor_class
from fairtrain.services.clearance.executors.local import LocalExecutor
from fairtrain.services.clearance.pipeline import ClearanceConfig, PipelineStep
from fairtrain.services.clearance.readers import Item
from fairtrain.services.clearance.records import ItemRecord, Match, Reason, decision_row
from fairtrain.services.clearance.shard import ShardRunner

SRC = Path(__file__).resolve().parents[1] / "src"
NOWHERE = Requirement("fairtrain_no_such_package", "pip install fairtrain-no-such-package==1.0")


@pytest.fixture
def snapshot_world(tmp_path, database_url):
    env = {"FAIRTRAIN_DATA_DIR": str(tmp_path / "data"), "FAIRTRAIN_DATABASE_URL": database_url}
    for args in (
        ["keys", "create"],
        ["keys", "create", "--name", "acme-ai"],
        ["snapshot", "export", tmp_path / "snap"],
    ):
        r = CliRunner().invoke(app, [str(a) for a in args], env=env)
        assert r.exit_code == 0, r.output
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "a line nobody registered"}) + "\n")
    return env, tmp_path


# -- optional packages, checked when a step or an executor is built ------------------------------------


def test_a_step_that_needs_a_missing_package_is_refused_when_built_with_its_pip_line():
    class Needy(PipelineStep):
        requires = (NOWHERE,)

        def __call__(self, batch):
            return batch

    class Needier(Needy):  # inherits what its base needs
        requires = (Requirement("json", "pip install json"),)

        def __init__(self):  # never calls super().__init__(): checked all the same
            pass

    for cls in (Needy, Needier):
        with pytest.raises(
            ToolMissing,
            match=r"needs fairtrain_no_such_package: pip install "
            r"fairtrain-no-such-package==1\.0$",
        ) as e:
            cls()
        assert e.value.exit_code == 5 and cls.__name__ in str(e.value)


def test_a_requirement_under_a_missing_or_blocked_parent_is_missing(monkeypatch):
    assert Requirement("json.decoder", "-").available()
    assert not Requirement("fairtrain_no_such_package.sub", "-").available()
    monkeypatch.setitem(sys.modules, "json", None)
    assert not Requirement("json", "-").available() and not Requirement("json.decoder", "-").available()


def _clear(env, tmp, dataset, *more):
    """``fairtrain clear DATASET`` against the world's snapshot as acme-ai, into ``tmp/out``, in process."""
    args = ["clear", str(dataset), "--snapshot", str(tmp / "snap"), "--licensee", "acme-ai", "--out", str(tmp / "out")]
    return CliRunner().invoke(app, [*args, *more], env=env)


def test_the_ray_executor_without_ray_is_refused_before_anything_is_written(snapshot_world, monkeypatch):
    """Old: the job was planned (OUT/job.json written) before Ray was imported, and the RuntimeError it
    raised then was a bug (exit 3) to the CLI."""
    env, tmp = snapshot_world
    monkeypatch.setitem(sys.modules, "ray", None)
    r = _clear(env, tmp, tmp / "a.jsonl", "--engine", "ray")
    assert isinstance(r.exception, ToolMissing), r.output
    assert "pip install 'fairtrain[ray]'" in str(r.exception) and "RayExecutor" in str(r.exception)
    assert not (tmp / "out").exists()
    # the command itself exits with ToolMissing's code, the install line on stderr
    code = (
        "import sys; sys.modules['ray'] = None; from fairtrain.cli.app import main; "
        f"sys.argv = ['fairtrain', 'clear', {str(tmp / 'a.jsonl')!r}, '--snapshot', {str(tmp / 'snap')!r}, "
        f"'--licensee', 'acme-ai', '--out', {str(tmp / 'out')!r}, '--engine', 'ray']; main()"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env, "PYTHONPATH": str(SRC)},
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == ToolMissing.exit_code, p.stderr
    assert "pip install 'fairtrain[ray]'" in p.stderr and not (tmp / "out").exists()


def test_a_missing_warc_reader_package_is_named_before_anything_is_written(snapshot_world, monkeypatch):
    env, tmp = snapshot_world
    (tmp / "x.warc").write_bytes(b"")
    for name in [m for m in list(sys.modules) if m == "warcio" or m.startswith("warcio.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "warcio", None)
    r = _clear(env, tmp, tmp / "x.warc")
    assert isinstance(r.exception, FairtrainError) and "pip install warcio==1.8.1" in str(r.exception)
    assert not (tmp / "out").exists()


# -- executors: one table -------------------------------------------------------------------------------


def test_executors_come_from_one_table_that_the_cli_offers_and_checks():
    assert set(EXECUTORS) == {"local", "ray"}
    assert all(issubclass(cls, Executor) and cls.name == name for name, cls in EXECUTORS.items())
    assert executor_class("local") is LocalExecutor
    with pytest.raises(ClearanceError, match=r"unknown engine 'slurm' \(local or ray\)"):
        executor_class("slurm")
    (engine,) = [p for p in typer.main.get_command(app).commands["clear"].params if p.name == "engine"]
    assert all(f"{name} ({cls.help})" in engine.help for name, cls in EXECUTORS.items())


class _Runner:
    """Stands in for a ShardRunner in the executor's contract: ``run(n)``, ``warm_up(n)``, ``close()``."""

    def __init__(self, fail: dict[int, str]):
        self.fail = fail

    def warm_up(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass

    def run(self, n: int) -> dict:
        how = self.fail.get(n)
        if how == "item":
            raise ItemError(f"shard-{n}", "no such column 'text'")  # takes two arguments: does not unpickle as is
        if how == "bug":
            raise KeyError("oops")
        if how == "die":
            os._exit(9)
        return {"n": n, "items": 10 * n}


def test_a_worker_failure_comes_back_with_its_branch_and_the_other_shards_finish():
    done = []
    with pytest.raises(InvalidInput, match=r"shard-2: no such column 'text'") as e:
        LocalExecutor(workers=2).run(_Runner({2: "item"}), [0, 1, 2, 3, 4], done.append)
    assert sorted(s["n"] for s in done) == [0, 1, 3, 4]
    assert "in clearance worker process" in "".join(getattr(e.value, "__notes__", []))
    with pytest.raises(KeyError, match="oops"):
        LocalExecutor(workers=2).run(_Runner({1: "bug"}), [0, 1, 2], None)


def test_a_worker_that_dies_stops_the_job_with_a_message_not_a_broken_pool():
    with pytest.raises(ClearanceError, match=r"ended with exit code 9 .*run the same command again"):
        LocalExecutor(workers=2).run(_Runner({1: "die"}), [0, 1, 2, 3], None)


def test_a_shard_runner_travels_as_what_it_was_built_from(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
    config = ClearanceConfig(snapshots=(tmp_path / "snap",), purpose=Category.TRAIN_GENAI, licensee="acme-ai")
    runner = ShardRunner(tmp_path / "a.jsonl", None, tmp_path / "out", config, 64, verified={"x": object()})
    copy = pickle.loads(pickle.dumps(runner))
    assert (copy.input_path, copy.fmt, copy.out, copy.config, copy.batch_size) == (
        runner.input_path,
        None,
        tmp_path / "out",
        config,
        64,
    )
    assert (
        copy.verified is None
        and copy._pipeline is None
        and [s.id for s in copy.shards] == [s.id for s in runner.shards]
    )


# -- typed records, written as the dicts were ----------------------------------------------------------


def test_typed_reasons_and_matches_write_the_json_the_dicts_wrote():
    item = Item(item="a.txt", shard="s", row=3, url="https://example.org/a.txt")
    terms = {"status": "active", "holders": []}
    rec = ItemRecord(item=item, modality="text", content_hash="ab", decision=Value.DENY, passes=False)
    rec.matches.append(Match(snapshot="snap1", work_id=7, score=0.5, stage="exact", evidence={"k": 1}, terms=terms))
    rec.reasons += [
        Reason("registry", Value.DENY, "registered work's effective terms", snapshot="snap1", work_id=7, granted=False),
        Reason("web", Value.ALLOW, ("robots.txt", "tdmrep"), url=item.url),
        Reason("error", Value.UNKNOWN, "unreadable"),
        Reason("default", Value.UNKNOWN, "nothing"),
    ]
    row = decision_row(rec)
    assert row["reasons"] == json.dumps(
        [
            {
                "source": "registry",
                "snapshot": "snap1",
                "work_id": 7,
                "value": "deny",
                "why": "registered work's effective terms",
                "granted": False,
            },
            {"source": "web", "url": item.url, "value": "allow", "why": ["robots.txt", "tdmrep"]},
            {"source": "error", "value": "unknown", "why": "unreadable"},
            {"source": "default", "value": "unknown", "why": "nothing"},
        ],
        sort_keys=True,
        ensure_ascii=False,
    )
    assert row["evidence"] == json.dumps(
        [{"snapshot": "snap1", "work_id": 7, "score": 0.5, "stage": "exact", "evidence": {"k": 1}}],
        sort_keys=True,
        ensure_ascii=False,
    )
    assert row["work_ids"] == [7] and rec.matches[0].key == "snap1:7"
