"""Worker processes that die with the process that started them.

A process pool's workers outlive a parent killed with SIGKILL: they wait on a queue whose write end they
hold themselves, for ever. A forked worker also holds the parent's database socket, so on PostgreSQL an
orphaned import parser kept the killed import's transaction open, and its locks held. :func:`die_with_parent`,
run as the pool's initializer, arms the kernel's parent-death signal on Linux (``prctl(PR_SET_PDEATHSIG,
SIGKILL)``) and elsewhere watches the parent from a thread.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _arm_parent_death_signal() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, interval: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(interval)
    os._exit(1)


def die_with_parent(parent_pid: int, then: Callable[[], object] | None = None) -> None:
    """Make this (worker) process end when ``parent_pid`` ends, however it ends; then run ``then``.

    Use as ``ProcessPoolExecutor(initializer=die_with_parent, initargs=(os.getpid(), …))``. The signal is
    tied to the thread that started the worker, which must live as long as the pool (a pool used inside
    one function call is)."""
    armed = _arm_parent_death_signal()
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:  # the parent died before the signal was armed
        os._exit(1)
    except PermissionError:
        pass
    if not armed:  # the direct parent (the pool's creator, or a fork server that dies with it)
        threading.Thread(
            target=_watch_parent, args=(os.getppid(), 0.5), daemon=True, name="fairtrain-parent-watch"
        ).start()
    if then is not None:
        then()
