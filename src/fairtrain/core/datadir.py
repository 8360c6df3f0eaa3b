"""Where fairtrain keeps its files (the SQLite registry, keys): kept apart from the database layer so
that commands which only need the keys do not import it."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_DIR = Path("~/.local/share/fairtrain").expanduser()


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if env := os.environ.get("FAIRTRAIN_DATA_DIR"):
        return Path(env).expanduser()
    return DEFAULT_DATA_DIR
