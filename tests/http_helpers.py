"""A real HTTP site on 127.0.0.1 for the tests that fetch (``signals check``, ``clear --check-web``): one
threaded server, told what each path answers, that records what it was asked."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# (status, headers as a dict or (name, value) pairs, body); or a route that writes its own answer
Answer = tuple[int, object, bytes]


class Server:
    """``routes`` maps a path (without its query) to an :data:`Answer` or to ``route(handler, method)``;
    ``answer(path)`` speaks for the paths not in ``routes`` (None: 404). GET and HEAD (HEAD without the
    body). It records ``paths`` (as asked, query included), ``hits`` per (method, path) and the user
    ``agents``; ``delay`` slows every answer; ``stop`` is set on close, for routes that stream."""

    def __init__(
        self,
        answer: Callable[[str], Answer | None] | None = None,
        *,
        delay: float = 0.0,
        poll_interval: float = 0.5,
    ):
        self.routes: dict[str, object] = {}
        self.paths: list[str] = []
        self.hits: Counter = Counter()
        self.agents: set[str] = set()
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _serve(self, method: str):
                path = self.path.split("?")[0]
                server.paths.append(self.path)
                server.hits[(method, path)] += 1
                server.agents.add(self.headers.get("User-Agent", ""))
                if delay:
                    time.sleep(delay)
                route = server.routes.get(path)
                if route is None and answer is not None:
                    route = answer(path)
                try:
                    if route is None:
                        self._send(404, {}, b"not found", method)
                    elif callable(route):
                        route(self, method)
                    else:
                        self._send(*route, method)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, status, headers, body, method):
                self.send_response(status)
                for k, v in headers.items() if isinstance(headers, dict) else headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                self._serve("GET")

            def do_HEAD(self):
                self._serve("HEAD")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.origin = self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def close_all(servers: list[Server]) -> None:
        """Stop many at once: each shutdown waits for its serve loop's next poll."""
        for s in servers:
            s.stop.set()
        stoppers = [threading.Thread(target=s.httpd.shutdown) for s in servers]
        for t in stoppers:
            t.start()
        for t, s in zip(stoppers, servers):
            t.join()
            s.httpd.server_close()
