"""The command line's surface, read off the Typer app itself: every command takes --json and is in the README."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from fairtrain.cli.app import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands(group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    found = []
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        if hasattr(cmd, "commands"):  # a group of commands
            found += _commands(cmd, path)
        else:
            found.append((path, cmd))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_the_app_has_all_its_commands():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert len(names) >= 40
    assert {"clear", "decide", "works add", "registry import", "log verify", "serve", "statements"} <= names


def test_every_command_takes_json():
    missing = [
        " ".join(p) for p, cmd in COMMANDS if not any("--json" in getattr(opt, "opts", ()) for opt in cmd.params)
    ]
    assert missing == []


def test_every_command_is_in_the_readme():
    missing = [
        " ".join(p)
        for p, _ in COMMANDS
        if not re.search(r"fairtrain(?: --[\w-]+(?: \S+)?)* " + re.escape(" ".join(p)) + r"\b", README)
    ]
    assert missing == []
