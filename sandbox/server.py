"""Run the sandbox as a real HTTP server on loopback.

python -m sandbox --port 8100 [--rows 300] [--bench-rows 100000] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from sandbox.app import Fault, SandboxApp
from sandbox.data import Dataset
from sandbox.parsing import content_length

MAX_BODY = 1 << 20  # bytes; a token request is under 300


class _Handler(ServerHandler):
    http_version = "1.1"
    request_handler: Any
    result: Any

    def handle_error(self) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, Fault):
            if exc.kind == "timeout":
                time.sleep(exc.seconds or 30)
            # Drop the connection without a response.
            self.request_handler.close_connection = True
            self.result = []
            self.headers_sent = True
            self.status = "599 Dropped"
            return
        super().handle_error()


class _RequestHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client pool reuses connections
    # One buffered write per response and no Nagle delay: otherwise headers and body go
    # out as two segments and delayed ACKs add ~40 ms to every response.
    wbufsize = 256 * 1024
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        body = self._read_body()
        if body is None:
            return
        handler = _Handler(
            io.BytesIO(body),
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self
        handler.run(self.server.get_app())  # type: ignore[attr-defined]
        if handler.status == "599 Dropped":
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        """The whole request body, read before the app sees the request: then no early
        answer (a fault, a 401, 404, 405 or 422) can leave body bytes on a kept-alive
        connection, where the next request would be parsed from them. ``None`` when the
        body cannot be read; the request is then answered here and the connection closed."""
        if "Transfer-Encoding" in self.headers:
            self._refuse(411, "length_required", "Send the body with a Content-Length.")
            return None
        lengths = self.headers.get_all("Content-Length") or ["0"]
        try:
            length = content_length(lengths[0])
        except ValueError:
            length = -1
        if length < 0 or len(set(lengths)) > 1:
            self._refuse(400, "invalid_content_length", "Content-Length is not a length.")
            return None
        if length > MAX_BODY:
            self._refuse(413, "body_too_large", f"The body exceeds {MAX_BODY} bytes.")
            return None
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return None
        return body

    def _refuse(self, status: int, code: str, msg: str) -> None:
        """An answer in the contract's error shape that closes the connection."""
        entry = {"loc": ["header"], "msg": msg, "type": code, "code": code}
        data = json.dumps({"detail": [entry]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()
        while not self.close_connection:
            self.handle_one_request()


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(host: str, port: int, app: SandboxApp) -> ThreadingServer:
    server = ThreadingServer((host, port), _RequestHandler)
    server.set_app(app)
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the MyCreditApp sandbox upstream.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=300, help="host connections per org")
    parser.add_argument("--bench-rows", type=int, default=300, help="rows of the 'bench' org")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--token-ttl", type=int, default=3600)
    args = parser.parse_args(argv)
    app = SandboxApp(
        Dataset(seed=args.seed, rows_per_org=args.rows, rows_overrides={"bench": args.bench_rows}),
        token_ttl=args.token_ttl,
        latency_ms=args.latency_ms,
    )
    server = make_server(args.host, args.port, app)
    print(f"sandbox upstream on http://{args.host}:{args.port}/v1-beta", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
