"""Mount the sandbox in-process: an httpx transport for fast tests."""

from __future__ import annotations

import httpx

from sandbox.app import Fault, SandboxApp


class SandboxTransport(httpx.WSGITransport):
    """Calls the sandbox app directly; timeouts and dropped connections become the
    same httpx exceptions a real network would raise."""

    def __init__(self, app: SandboxApp) -> None:
        super().__init__(app=app)
        self.sandbox = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except Fault as fault:
            if fault.kind == "timeout":
                raise httpx.ReadTimeout("sandbox: injected timeout", request=request) from None
            raise httpx.RemoteProtocolError(
                "sandbox: injected connection drop", request=request
            ) from None
