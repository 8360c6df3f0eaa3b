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
from pathlib import Path

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


def watch_parent(interval: float = 0.5) -> None:
    """End this process (``os._exit``) once its parent has ended: a daemon thread watching the parent."""
    threading.Thread(
        target=_watch_parent, args=(os.getppid(), interval), daemon=True, name="fairtrain-parent-watch"
    ).start()


def die_with_parent(parent_pid: int, then: Callable[[], object] | None = None, *, watch: bool = False) -> None:
    """Make this (worker) process end when ``parent_pid`` ends, however it ends; then run ``then``.

    Use as ``ProcessPoolExecutor(initializer=die_with_parent, initargs=(os.getpid(), …))``. The signal is
    tied to the thread that started the worker, which must live as long as the pool (a pool used inside
    one function call is); ``watch=True`` watches the parent from a thread instead, for pools whose workers
    are started from threads that end sooner."""
    armed = False if watch else _arm_parent_death_signal()
    try:
        os.kill(parent_pid, 0)
    except ProcessLookupError:  # the parent died before the signal was armed
        os._exit(1)
    except PermissionError:
        pass
    if not armed:  # the direct parent (the pool's creator, or a fork server that dies with it)
        watch_parent()
    if then is not None:
        then()


# -- child processes started as plain ``python -m …`` commands -------------------------------------------
#
# The kernel's parent-death signal fires when the *thread* that started the child ends, not the process: a
# child started from a web server's pooled worker thread (which ends when idle) would be killed with it. So
# every such child is started from one launcher thread that lives as long as the process.

_launch_lock = threading.Lock()
_launch_queue: list = []
_launcher: threading.Thread | None = None
_launch_ready = threading.Condition(_launch_lock)


def _launch_loop() -> None:
    import subprocess

    while True:
        with _launch_ready:
            while not _launch_queue:
                _launch_ready.wait()
            argv, env, box, done = _launch_queue.pop(0)
        try:
            box.append(subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, close_fds=True))
        except BaseException as e:  # noqa: BLE001 (handed to the caller)
            box.append(e)
        done.set()


def start_child(module: str, *args: str, env: dict[str, str] | None = None):
    """Start ``python -m module args…`` as a :class:`subprocess.Popen` that dies with this process however
    this process ends (the death is armed before the module runs). ``env`` is added to this process's
    environment: pass secrets such as a database URL there, not on the command line, which ``ps`` shows."""
    global _launcher
    import fairtrain

    argv = [sys.executable, "-c", "from fairtrain.core.children import _child; _child()", str(os.getpid()), module]
    here = str(Path(fairtrain.__file__).resolve().parents[1])  # this fairtrain, however this process found it
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(x for x in (here, full_env.get("PYTHONPATH")) if x)
    box: list = []
    done = threading.Event()
    with _launch_ready:
        if _launcher is None or not _launcher.is_alive():
            _launcher = threading.Thread(target=_launch_loop, daemon=True, name="fairtrain-child-launcher")
            _launcher.start()
        _launch_queue.append(([*argv, *args], full_env, box, done))
        _launch_ready.notify()
    done.wait()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _child() -> None:
    """The child's first code (``python -c``): arm the death with the parent, then run the module."""
    import runpy

    parent, module, *args = sys.argv[1:]
    if os.getppid() != int(parent):  # the parent died before we got here (we were re-parented)
        os._exit(1)
    die_with_parent(int(parent))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
