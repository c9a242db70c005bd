"""Run the sandbox as a real HTTP server on loopback.

python -m sandbox --port 8100 [--rows 300] [--bench-rows 100000] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from sandbox.app import Fault, SandboxApp
from sandbox.data import Dataset


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
        handler = _Handler(
            self.rfile,
            self.wfile,  # type: ignore[arg-type]
            self.get_stderr(),
            self.get_environ(),
            multithread=True,
        )
        handler.request_handler = self
        handler.run(self.server.get_app())  # type: ignore[attr-defined]
        if handler.status == "599 Dropped":
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
