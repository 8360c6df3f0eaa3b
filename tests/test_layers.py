"""Layers import downward only: interfaces (cli, web) → services → core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "fairtrain"
RANK = {"core": 0, "services": 1, "cli": 2, "web": 2}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "fairtrain" and parts[1] in RANK else None


def _imports(path: Path):
    """Every module ``path`` names in an import, wherever it stands (inside a function or ``if TYPE_CHECKING``):
    relative imports resolved against the file's package, and the module a dynamic import (``import_module``,
    ``__import__``) names, or the package its f-string starts with."""
    package = ".".join(("fairtrain", *path.relative_to(SRC).parts[:-1]))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            yield ".".join(base + ([node.module] if node.module else []))
        elif isinstance(node, ast.Call) and _dynamic_import(node) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                yield str(arg.values[0].value).rstrip(".")


def _dynamic_import(call: ast.Call) -> bool:
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    return name in ("import_module", "__import__")


FILES = sorted(p for p in SRC.rglob("*.py") if _layer("fairtrain." + ".".join(p.relative_to(SRC).parts)))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_import_only_their_own_layer_or_below(path):
    own = _layer("fairtrain." + ".".join(path.relative_to(SRC).parts))
    upward = [m for m in _imports(path) if (lay := _layer(m)) and RANK[lay] > RANK[own]]
    assert not upward, f"{path.relative_to(SRC)} ({own}) imports upward: {upward}"


def test_the_layer_check_sees_the_tree():
    assert len(FILES) > 10


def test_the_layer_check_reads_relative_and_dynamic_imports(tmp_path, monkeypatch):
    core = tmp_path / "core"
    core.mkdir()
    (core / "sneaky.py").write_text(
        "from ..web import app\n"
        "def later():\n"
        "    from importlib import import_module\n"
        "    import_module(f'fairtrain.cli.{1}')\n"
        "    __import__('fairtrain.services.log')\n"
    )
    monkeypatch.setattr(__import__(__name__), "SRC", tmp_path)
    found = set(_imports(core / "sneaky.py"))
    assert {"fairtrain.web", "fairtrain.cli", "fairtrain.services.log"} <= found


# -- no import cycles: between modules (function-level imports included) and between packages ----------


def _module_name(path: Path) -> str:
    parts = ("fairtrain", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py") if "migrations" not in p.parts}


def _targets(module: str, path: Path) -> set[str]:
    """The fairtrain modules ``module`` imports anywhere in its body (a function-level import included)."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        found |= {n for n in names if n in MODULES and n != module}
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``, which never run."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                todo.extend(child.orelse)
            else:
                todo.append(child)


GRAPH = {m: _targets(m, p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package(module: str) -> str:
    """The unit that must not take part in a cycle: ``fairtrain.<layer>.<package or module>``."""
    return ".".join(module.split(".")[:3])


def test_no_module_is_part_of_an_import_cycle():
    assert _cycles(GRAPH) == []


def test_packages_import_one_way():
    packages: dict[str, set[str]] = {}
    for m, targets in GRAPH.items():
        packages.setdefault(_package(m), set()).update(_package(t) for t in targets if _package(t) != _package(m))
    assert _cycles(packages) == []


# Within a layer, packages stand in an order too: a package imports only those of a lower rank. Services: the
# log and notifications below the registry, which is below the ledger, transparency and clearance (none of which
# import each other). The web: its shared modules (which may import one another, without a cycle) below the
# routes, which only the application assembles.
PACKAGE_RANK = {
    "fairtrain.services.log": 0,
    "fairtrain.services.notify": 0,
    "fairtrain.services.registry": 1,
    "fairtrain.services.ledger": 2,
    "fairtrain.services.transparency": 2,
    "fairtrain.services.clearance": 2,
    "fairtrain.web.routes": 1,
    "fairtrain.web.app": 2,
    "fairtrain.web": 3,
}


def _rank(package: str) -> int | None:
    if package in PACKAGE_RANK:
        return PACKAGE_RANK[package]
    return 0 if package.startswith("fairtrain.web.") else None  # the web's shared modules


def _out_of_order(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for m, targets in graph.items():
        for t in targets:
            a, b = _package(m), _package(t)
            if a != b and _layer(a) and _layer(a) == _layer(b):
                ra, rb = _rank(a), _rank(b)
                if ra is None or rb is None:
                    continue
                if rb > ra or (rb == ra and a in PACKAGE_RANK and b in PACKAGE_RANK):
                    wrong.append(f"{m} imports {t} ({a} rank {ra}, {b} rank {rb})")
    return sorted(wrong)


def test_packages_within_a_layer_import_downward():
    assert _out_of_order(GRAPH) == []


def test_every_service_package_has_its_rank():
    services = {_package(m) for m in GRAPH if _layer(m) == "services" and m != "fairtrain.services"}
    assert services <= set(PACKAGE_RANK), f"give each a rank in PACKAGE_RANK: {sorted(services - set(PACKAGE_RANK))}"


def test_the_package_order_check_sees_an_upward_import():
    graph = {"fairtrain.services.log": {"fairtrain.services.registry.registry"}}
    assert _out_of_order(graph) == [
        "fairtrain.services.log imports fairtrain.services.registry.registry "
        "(fairtrain.services.log rank 0, fairtrain.services.registry rank 1)"
    ]
    sideways = {"fairtrain.services.ledger.licensing": {"fairtrain.services.transparency.lookup"}}
    assert len(_out_of_order(sideways)) == 1  # packages of one rank do not import each other
    assert _out_of_order({"fairtrain.web.pages": {"fairtrain.web.routes.works"}})  # a shared module above routes


def test_the_cycle_check_finds_a_cycle_and_reads_function_level_imports():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "fairtrain.cli.demo" in GRAPH["fairtrain.cli.serve"]  # imported inside the demo command


# -- the web runs no SQL: its queries and rules live in the services, which the CLI shares ---------------

WEB = SRC / "web"
# accounts and sessions are the web's own tables
OWN_TABLES = {"accounts.py", "security.py"}


def _sql_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            names = []
        found += [
            f"imports {n}" for n in names if n.split(".")[0] == "sqlalchemy" or n.startswith("fairtrain.core.store")
        ]
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("connect", "begin", "execute")
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr == "engine"
        ):
            found.append(f"line {node.lineno}: engine.{node.func.attr}()")
    return found


WEB_FILES = sorted(p for p in WEB.rglob("*.py") if str(p.relative_to(WEB)) not in OWN_TABLES)


@pytest.mark.parametrize("path", WEB_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_the_web_runs_no_sql(path):
    assert not _sql_uses(path), f"{path.relative_to(SRC)}: SQL belongs in a service: {_sql_uses(path)}"


def test_the_sql_check_would_see_sql():
    assert _sql_uses(WEB / "accounts.py")  # it reads the web's own tables
    assert len(WEB_FILES) > 10
