"""CPU-bound work of web requests (fingerprinting uploads) in a process pool the application shares.

A thread pool keeps the work off the event loop but not off the interpreter lock: registering a 2.8 MB
text held an unrelated ``GET /api/log`` for 8.5 s. Here it runs in worker processes, each upload within
a budget: at most ``max_bytes`` (checked before it is sent) and ``seconds`` of run time (an interval timer
in the worker stops it, and the worker goes on serving the next upload). The pool starts on first use
from a fork server, so no worker inherits the server's threads, sockets or database connections (and the
imports are paid once, in the fork server: fresh interpreters cost 2.4× the CPU of the web API tests). The
fork server watches the server and each worker the fork server, so a server killed with SIGKILL leaves
no process behind (tests/test_orphans.py).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from fairtrain.core.children import die_with_parent
from fairtrain.core.errors import FairtrainError
from fairtrain.web.errors import WebError

# The worker's own timer stops the work; this backstop also covers starting a worker (importing the
# fingerprinting stack and warming it up takes seconds on a busy machine).
_GRACE_S = 120.0
_over_budget = False  # set in a worker by its timer


def _alarm(signum, frame):
    """The upload's time is up: stop the work. SystemExit, not an Exception, so that the work's own
    ``except Exception`` handlers (which turn a library's failure into a FingerprintError) let it through;
    the flag tells it from a real exit."""
    global _over_budget
    _over_budget = True
    raise SystemExit("over budget")


def _warm_up() -> None:
    """Run once in each new worker: the first registration pays for lazy imports and set-up (1.5 s for a
    300-word text), which would otherwise count against the first upload's budget."""
    from fairtrain.core.fingerprint.modalities import available
    from fairtrain.services.registry.registry import register_content

    available()
    try:
        hangul = ["".join(chr(0xAC00 + 588 * k + j) for k in range(2)) for j in range(3)]  # three Hangul words
        words = ["river", "stone", "light", *hangul, "garden", "風", "光", "наука", "1984", "warm"]
        text = " ".join(f"{w}{i % 97}" for i, w in enumerate(words * 40))  # several scripts: their tables load
        register_content("text", text.encode(), "warm-up.txt")
    except ValueError:
        pass


def _start_worker(server_pid: int) -> None:
    # A thread watching the fork server, not the kernel's parent-death signal: that signal follows the
    # thread that started the worker, and the fork server starts each from its one thread, which lives on.
    die_with_parent(server_pid, _warm_up, watch=True)


def _call(seconds: float, fn: Callable, args: tuple) -> tuple:
    """Run ``fn(*args)`` in a worker within ``seconds``; the outcome as plain data (exceptions whose
    constructors take several arguments do not survive pickling, so errors travel as status and text)."""
    global _over_budget
    _over_budget = False
    over = ("error", 422, f"took longer than the {seconds:g} s an upload may take to process")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return ("ok", fn(*args))
    except SystemExit:
        if _over_budget:
            return over
        raise
    except FairtrainError as e:  # RegistryError, FingerprintError, WebError, ...: refusals with a status
        if _over_budget:  # the work caught the stop and answered with an error of its own
            return over
        return ("error", e.http_status, str(e))
    except (ValueError, MemoryError) as e:
        return ("error", 400, str(e) or type(e).__name__)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class CpuError(WebError):
    """One upload's CPU work failed or ran out of budget; ``status`` is the HTTP status it answers with."""


class CpuPool:
    """The application's worker processes for CPU-bound request work."""

    def __init__(self, workers: int, seconds: float, max_bytes: int):
        self.workers, self.seconds, self.max_bytes = workers, seconds, max_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(
                    [
                        "fairtrain.web._fork_server",
                        "fairtrain.web.cpu",
                        "fairtrain.services.registry",
                        "fairtrain.core.fingerprint.modalities",
                    ]
                )
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=ctx, initializer=_start_worker, initargs=(os.getpid(),)
                )
            return self._pool

    async def run(self, item: str, size: int, fn: Callable, *args: Any, seconds: float | None = None) -> Any:
        """``fn(*args)`` in a worker, for the upload ``item`` of ``size`` bytes; :class:`CpuError` when it
        is too large, fails or runs out of time (``seconds``, else the pool's budget). ``fn`` and its
        arguments must pickle."""
        self.check_size(item, size)
        budget = seconds or self.seconds
        try:
            # Submitting may start the pool (a fork server, then workers): not on the event loop's thread.
            fut = await asyncio.to_thread(lambda: self._executor().submit(_call, budget, fn, args))
            outcome = await asyncio.wait_for(asyncio.wrap_future(fut), timeout=budget + _GRACE_S)
        except TimeoutError:
            raise CpuError(503, f"{item}: did not finish within {budget:g} s") from None
        except BrokenProcessPool:
            with self._lock:
                self._pool = None  # a worker died (killed, out of memory): the next upload gets a new pool
            raise CpuError(503, f"{item}: the worker processing it stopped; try again") from None
        if outcome[0] == "ok":
            return outcome[1]
        _, status, message = outcome
        raise CpuError(status, message if message.startswith(item) else f"{item}: {message}")

    def check_size(self, item: str, size: int) -> None:
        """The size half of an upload's budget, for callers that check before other work."""
        if size > self.max_bytes:
            raise CpuError(
                413, f"{item}: {size} bytes, above the {self.max_bytes} bytes an upload may have to be fingerprinted"
            )

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
