"""Real local HTTP targets for probe tests: each path can be made healthy, failing, slow or hanging.

    with TargetServer() as server:
        server.set("/api", "fail")        # 503
        server.set("/api", "slow", 0.3)   # answers after 300 ms
        server.set("/api", "hang")        # accepts, never answers (until the server stops)
        server.set("/api", "body", "maintenance page")
        server.url("/api")
A URL that is down (nothing listening) comes from `closed_port_url()`.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        mode, arg = server.owner.modes.get(self.path, ("ok", None))
        owner = server.owner
        with owner.lock:
            owner.hits[self.path] = owner.hits.get(self.path, 0) + 1
            if mode != "hang" and owner.hanging:
                owner.served_while_hanging += 1
        status, body = 200, b"all good"
        if mode == "fail":
            status, body = int(arg or 503), b"broken"
        elif mode == "slow":
            time.sleep(float(arg))
        elif mode == "hang":
            with owner.lock:
                owner.hanging += 1
            owner.stopping.wait(30)
            return
        elif mode == "body":
            body = str(arg).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, owner: TargetServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


class TargetServer:
    def __init__(self) -> None:
        self.modes: dict[str, tuple[str, object]] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.hanging = 0  # hanging requests accepted so far (they hold their connection until stop)
        self.served_while_hanging = 0  # other requests answered while at least one hung
        self.stopping = threading.Event()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TargetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def set(self, path: str, mode: str, arg: object = None) -> None:
        self.modes[path] = (mode, arg)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"


def closed_port_url(path: str = "/") -> str:
    """An address where nothing listens (the port was just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
