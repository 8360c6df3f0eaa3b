"""The public Python surface (``import fairtrain``), the one version source and the one error tree."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import fairtrain
from cli_helpers import FAIRTRAIN
from fairtrain.core.errors import FairtrainError, IntegrityFailure, InvalidInput, NotAllowed, NotFound

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = {
    "__version__",
    "Category",
    "ClearanceConfig",
    "Conflict",
    "Decision",
    "FairtrainError",
    "IntegrityFailure",
    "InvalidInput",
    "ItemError",
    "Money",
    "NotAllowed",
    "NotFound",
    "Offer",
    "PriceModel",
    "PublicKey",
    "Purpose",
    "Registry",
    "SigningKey",
    "SnapshotMatcher",
    "ToolMissing",
    "Value",
    "clear",
}


def test_the_public_names_are_exactly_the_curated_ones_and_each_resolves():
    assert set(fairtrain.__all__) == PUBLIC == set(fairtrain._LAZY) | {"__version__"}
    for name in PUBLIC:
        assert getattr(fairtrain, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Cleared'"):
        fairtrain.Cleared  # noqa: B018 - internal records stay internal


def test_import_fairtrain_loads_neither_the_database_layer_nor_the_web():
    probe = "import sys, fairtrain; print(sorted(m for m in ('sqlalchemy', 'fastapi', 'pyarrow') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_one_version_source_read_by_the_package_metadata_the_cli_and_the_api(tmp_path):
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "fairtrain._version.__version__"}
    r = subprocess.run([*FAIRTRAIN, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == f"fairtrain {fairtrain.__version__}"
    from fairtrain.web.app import create_app

    assert create_app(tmp_path).version == fairtrain.__version__


def _fairtrain_exceptions() -> list[type]:
    found = []
    for info in pkgutil.walk_packages(fairtrain.__path__, "fairtrain."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.append(obj)
    return found


def test_every_exception_fairtrain_defines_is_a_branch_of_the_one_tree():
    classes = _fairtrain_exceptions()
    assert len(classes) > 15
    strays = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, FairtrainError)]
    assert strays == []


def test_the_branches_carry_their_exit_codes_and_http_statuses():
    from fairtrain.core.keys import SignatureError
    from fairtrain.services.registry import NotFound as RegistryNotFound

    assert issubclass(SignatureError, IntegrityFailure) and SignatureError("x").exit_code == 4
    missing = RegistryNotFound("work", 7)
    assert isinstance(missing, NotFound) and isinstance(missing, ValueError)
    assert (missing.http_status, str(missing)) == (404, "no work 7")
    assert NotAllowed("no").http_status == 403 and InvalidInput("bad").http_status == 400


BOOM = (
    "import sys; from fairtrain.cli import app as cli; "
    "cli.app.command('boom')(lambda: 1 / 0); sys.argv[0] = 'fairtrain'; cli.main()"
)


def test_a_bug_in_a_command_is_one_line_and_exit_code_3_and_the_traceback_only_with_debug():
    r = subprocess.run([sys.executable, "-c", BOOM, "boom"], capture_output=True, text=True)
    assert r.returncode == 3
    assert "internal error" in r.stderr and "ZeroDivisionError" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-c", BOOM, "--debug", "boom"], capture_output=True, text=True)
    assert r.returncode != 0 and "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr


def test_a_refusal_exits_with_its_branch_code_and_a_message_naming_the_field(tmp_path):
    env = {"FAIRTRAIN_DATA_DIR": str(tmp_path)}
    r = subprocess.run(
        [*FAIRTRAIN, "decide", "1", "--category", "training"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **env},
    )
    assert r.returncode == 2 and "unknown usage category 'training'" in r.stderr
