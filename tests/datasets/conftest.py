"""A local HTTP server that plays the part of the dataset origins, and a private cache.

Every test that uses ``server`` gets ``LAMINA_HOME`` pointed at its own temporary folder and
``LAMINA_DATASETS_ORIGIN`` pointed at the server, so nothing touches the network or ``~``.
"""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        name = self.path.rsplit("/", 1)[-1]
        self.server.requests.append(name)
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in self.server.truncated:
            # Promise the whole body, send half, then hang up (HTTP/1.0 closes after this).
            self.wfile.write(body[: len(body) // 2])
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, name: str) -> int:
        return self.requests.count(name)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """The origin server; ``server.files[name] = bytes`` publishes a file."""
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAMINA_DATASETS_ORIGIN", srv.url + "/mirror")
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture
def serve(server, monkeypatch):
    """``serve(module, name, data)``: publish ``data`` and make it the module's expected file."""

    def publish(module, name: str, data: bytes) -> None:
        server.files[name] = data
        monkeypatch.setitem(module.FILE_HASHES, name, hashlib.sha256(data).hexdigest())

    return publish


@pytest.fixture
def cache(tmp_path):
    """The datasets folder of the private cache."""
    return tmp_path / "home" / "datasets"
