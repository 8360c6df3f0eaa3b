"""The ``fairtrain`` command line. Every command takes ``--json`` for scripts.

Each group of commands lives in its own module (``cli/works.py``, ``cli/clear.py``, …); ``cli/_common.py``
holds the root app, the global options and the output helpers they share.
"""

from __future__ import annotations

import sys
from importlib import import_module

from rich.markup import escape

from fairtrain.cli._common import app, err, state
from fairtrain.core.errors import FairtrainError

__all__ = ["app", "main"]

# Each module registers its commands on the root app when imported; this order is the order of --help.
COMMAND_MODULES = (
    "registry",
    "holders",
    "orgs",
    "mandates",
    "tariffs",
    "works",
    "decisions",
    "disputes",
    "keys",
    "snapshot",
    "clear",
    "signals",
    "licences",
    "collective",
    "payments",
    "usage",
    "distribution",
    "log",
    "transparency",
    "serve",
)
for _module in COMMAND_MODULES:
    import_module(f"fairtrain.cli.{_module}")


def main() -> None:
    """Run the command line: refusals (``FairtrainError``) exit with their branch's code, bugs with 3."""
    try:
        app()
    except FairtrainError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)  # "pip install 'fairtrain[ray]'"
        sys.exit(e.exit_code)
    except Exception as e:  # a bug, not a refusal: say so in one line unless asked for the traceback
        if state.debug or "--debug" in sys.argv:
            raise
        err.print(
            f"[bold red]internal error:[/] {type(e).__name__}: {escape(str(e))} (run again with --debug for the "
            "traceback, and please report it)",
            highlight=False,
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
