"""The ``fairtrain`` command run in-process (Typer's CliRunner) on a test's database and data directory, and
the clearance most tests ask of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from fairtrain.cli.app import app

TESTS = Path(__file__).resolve().parent
FAIRTRAIN = [sys.executable, "-m", "fairtrain.cli.app"]  # the command in a process of its own


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


def clear_args(dataset, snapshot, out, *more) -> list[str]:
    """``clear DATASET --snapshot SNAPSHOT --licensee acme-ai --out OUT MORE…``: the clearance the test worlds'
    licensee key (acme-ai) asks for."""
    return [str(a) for a in ("clear", dataset, "--snapshot", snapshot, "--licensee", "acme-ai", "--out", out, *more)]


def clear(run, dataset, snapshot, out, *more, **kw):
    """:func:`clear_args` through ``run``; ``kw`` goes to ``run`` (``code=1`` where the clearance must fail)."""
    return run(*clear_args(dataset, snapshot, out, *more), **kw)


# -- `fairtrain` as a command, forked from one interpreter that has imported it already -------------------------
#
# A `fairtrain` process spends about 1.5 s of CPU importing (SQLAlchemy, NumPy, pydantic, Typer, the services)
# before it does anything; the README's blocks run it some seventy times. ``forked_fairtrain`` starts one
# interpreter that imports all of that once and then forks a child per command: the child takes the caller's
# stdin/stdout/stderr (passed over a Unix socket), working directory, environment and arguments, runs the same
# ``fairtrain.cli.app.main`` a console script runs, and hands back its exit code. What a command does and
# prints is the same; only the imports are shared.

_FORK_CLIENT = """\
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect({sock!r})
msg = repr((sys.argv[1:], os.getcwd(), dict(os.environ))).encode()
socket.send_fds(s, [len(msg).to_bytes(8, "big") + msg], [0, 1, 2])
answer = b""
while chunk := s.recv(64):
    answer += chunk
sys.exit(int(answer) if answer else 1)
"""


def _serve_forks(sock: str) -> None:
    """The fork server's loop (run in its own process by ``forked_fairtrain``): import, then fork per command."""
    import ast
    import atexit
    import importlib
    import os
    import pkgutil
    import signal
    import socket
    import sys
    import threading

    import fairtrain
    from fairtrain.cli.app import main

    sys.path.remove(str(TESTS))  # the commands see the path a console script sees

    for mod in pkgutil.walk_packages(fairtrain.__path__, "fairtrain."):  # what the commands import lazily
        if not any(part in mod.name for part in (".web", "ray", "migrations", "_job_child")):
            try:
                importlib.import_module(mod.name)
            except Exception:  # an optional dependency this machine lacks: the command imports it, or says so
                pass
    assert threading.active_count() == 1, threading.enumerate()  # forking a threaded process is unsafe
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock)
    srv.listen(64)

    def reap(*_):  # waited for, so that their CPU time counts as this process's children's (and so the test's)
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass

    signal.signal(signal.SIGCHLD, reap)
    streams = [(s.encoding, s.errors) for s in (sys.stdin, sys.stdout, sys.stderr)]
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        head, fds, _, _ = socket.recv_fds(conn, 8, 3)
        body = b""
        while len(body) < int.from_bytes(head, "big"):
            body += conn.recv(1 << 20)
        if os.fork():
            conn.close()
            for fd in fds:
                os.close(fd)
            continue
        srv.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        (enc_in, err_in), (enc_out, err_out), (enc_err, err_err) = streams
        sys.stdin = sys.__stdin__ = open(0, encoding=enc_in, errors=err_in, closefd=False)  # noqa: SIM115
        sys.stdout = sys.__stdout__ = open(1, "w", encoding=enc_out, errors=err_out, closefd=False)  # noqa: SIM115
        sys.stderr = sys.__stderr__ = open(  # noqa: SIM115
            2, "w", buffering=1, encoding=enc_err, errors=err_err, closefd=False
        )
        argv, cwd, env = ast.literal_eval(body.decode())
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["-c", *argv]
        code = 0
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int | None):
                print(e.code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
        for s in (sys.stdout, sys.stderr):
            s.flush()
        conn.sendall(str(code).encode())
        os._exit(code)


@contextmanager
def forked_fairtrain(bin_dir: Path, env: dict):
    """A ``fairtrain`` executable in ``bin_dir`` whose commands are forks of one interpreter (started with
    ``env``) that has imported the command line; stopped on exit."""
    sock = Path(tempfile.mkdtemp(prefix="fairtrain-fork-")) / "sock"  # short: a socket's path has 107 bytes
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(TESTS)!r}); import cli_helpers as c; c._serve_forks({str(sock)!r})",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout.readline() == "ready\n", "the fork server did not start"
        (bin_dir / "fairtrain").write_text(f"#!{sys.executable} -IS\n" + _FORK_CLIENT.format(sock=str(sock)))
        (bin_dir / "fairtrain").chmod(0o755)
        yield
    finally:
        server.kill()
        server.wait(timeout=10)
        shutil.rmtree(sock.parent, ignore_errors=True)
