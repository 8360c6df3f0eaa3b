"""The ``fairtrain`` command run in-process (Typer's CliRunner) on a test's database and data directory, and
the clearance most tests ask of it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from fairtrain.cli.app import app


def cli_runner(database_url: str, data_dir: Path):
    """``(run, env)``: ``run(*args, code=0)`` runs ``fairtrain ARGS…`` and checks its exit code; ``env`` is the
    environment it runs in (FAIRTRAIN_DATA_DIR, FAIRTRAIN_DATABASE_URL)."""
    env = {"FAIRTRAIN_DATA_DIR": str(data_dir), "FAIRTRAIN_DATABASE_URL": database_url}
    runner = CliRunner()

    def run(*args, code=0):
        r = runner.invoke(app, [str(a) for a in args], env=env)
        assert r.exit_code == code, r.output
        return r

    return run, env


def clear(run, dataset, snapshot, out, *more, **kw):
    """``fairtrain clear DATASET --snapshot SNAPSHOT --licensee acme-ai --out OUT MORE…`` through ``run`` (the
    licensee key the test worlds create); ``kw`` goes to ``run`` (``code=1`` where the clearance must fail)."""
    return run("clear", dataset, "--snapshot", snapshot, "--licensee", "acme-ai", "--out", out, *more, **kw)
