"""The HTTP endpoint of the local stack: a stdlib ThreadingHTTPServer in front of a `Gateway`.

The server only speaks HTTP (request line, headers, Content-Length or chunked bodies, keep-alive); what a
request means is the gateway's business. Port 0 picks a free port (tests); `url` tells which.

Examples
--------
>>> from sqlsync.local.gateway import Gateway
>>> server = GatewayServer(Gateway([]), "127.0.0.1", 0)
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.close()
"""

from __future__ import annotations

import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlsync.local.gateway import MAX_PAYLOAD_BYTES, Gateway, GatewayResponse, Request

__all__ = ["GatewayServer"]

logger = logging.getLogger(__name__)


class _BodyError(ValueError):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sqlsync-local"
    server: _HTTPServer

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BodyError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}") from None
        if length < 0 or length > MAX_PAYLOAD_BYTES:
            raise _BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BodyError(HTTPStatus.BAD_REQUEST, "bad chunk size") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_PAYLOAD_BYTES:
                raise _BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            self._write(GatewayResponse.message(exc.status, str(exc)))
            return
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        self._write(self.server.gateway.handle(request))

    def _write(self, response: GatewayResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body and self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # The gateway logs each request with its status and time; keep only the server's own complaints.
        logger.debug(format, *args)

    def log_error(self, format: str, *args: Any) -> None:
        logger.warning(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    gateway: Gateway


class GatewayServer:
    """Serves a gateway over HTTP on a thread of its own (`start`), or in the caller's (`serve_forever`)."""

    def __init__(self, gateway: Gateway, host: str = "127.0.0.1", port: int = 3000) -> None:
        self._server = _HTTPServer((host, port), _Handler)
        self._server.gateway = gateway
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL; a wildcard address is shown as 127.0.0.1, where a local client reaches it."""
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sqlsync-local-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving (waits for the serve loop, not for requests in flight) and release the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
