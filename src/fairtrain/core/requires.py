"""Optional Python packages a class needs, checked when it is constructed (datatrove's ``_requires_dependencies``).

A class lists what it needs in ``requires``; constructing it (or a subclass) without one of them raises
:class:`~fairtrain.core.errors.ToolMissing` at once, naming the class, the package and the exact
``pip install`` line, before any work is done or any file written::

    class RayExecutor(Executor):
        requires = (Requirement("ray.data", "pip install 'fairtrain[ray]'"),)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from fairtrain.core.errors import ToolMissing


@dataclass(frozen=True)
class Requirement:
    """One optional package: the module imported to tell whether it is there, and the line that installs it."""

    module: str  # e.g. "ray.data": a dotted name is looked up in its (imported) parent package
    install: str  # the exact command, e.g. "pip install 'fairtrain[ray]'"

    def available(self) -> bool:
        parts = self.module.split(".")
        try:  # each package on the way: one blocked (sys.modules[name] = None) hides what is imported below it
            return all(importlib.util.find_spec(".".join(parts[:i])) is not None for i in range(1, len(parts) + 1))
        except (ImportError, ValueError):  # a parent package that is missing, or broken
            return False


def missing(requirements: Iterable[Requirement]) -> list[Requirement]:
    """The requirements that are not installed, each once, in order."""
    return [r for r in dict.fromkeys(requirements) if not r.available()]


class Requires:
    """Base for a class that needs optional packages: its ``requires`` (and its bases') are checked in ``__new__``,
    so a subclass that forgets to call ``super().__init__()`` is checked too."""

    requires: ClassVar[tuple[Requirement, ...]] = ()

    def __new__(cls, *args: object, **kwargs: object):
        needed = [r for t in cls.__mro__ for r in vars(t).get("requires", ())]
        if lacking := missing(needed):
            raise ToolMissing(
                f"{cls.__name__} needs {', '.join(r.module for r in lacking)}: "
                + "; ".join(dict.fromkeys(r.install for r in lacking))
            )
        return super().__new__(cls)
