"""Who may see the page: anyone on loopback by default; a bearer token or basic auth beyond it."""

from __future__ import annotations

import base64
import hmac
import ipaddress

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.config.operators import UiConfig

TOKEN_COOKIE = "monitor_token"
OPEN_PATHS = ("/evidence/", "/healthz")  # evidence URLs carry their own signature; probes need no secret


class InsecureListen(ValueError):
    """Listening beyond loopback without any credential configured."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(host: str, cfg: UiConfig) -> None:
    if not is_loopback(host) and not (cfg.token or cfg.password):
        raise InsecureListen(f"ui: listening on {host} (beyond loopback) needs ui.token (MONITOR_UI_TOKEN) or "
                             "ui.username and ui.password (MONITOR_UI_PASSWORD)")


class AuthMiddleware:
    def __init__(self, app: ASGIApp, cfg: UiConfig):
        self.app, self.cfg = app, cfg

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.cfg.token or self.cfg.password) \
                or scope["path"].startswith(OPEN_PATHS) or self._allowed(Request(scope)):
            await self.app(scope, receive, send)
            return
        await self._deny()(scope, receive, send)

    def _allowed(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if self.cfg.token:
            if scheme.lower() == "bearer" and _same(value, self.cfg.token):
                return True
            if _same(request.cookies.get(TOKEN_COOKIE, ""), self.cfg.token):
                return True
            if request.url.path == "/login" and _same(request.query_params.get("token", ""), self.cfg.token):
                return True
        if self.cfg.password and scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return _same(user, self.cfg.username or "") and _same(password, self.cfg.password)
        return False

    def _deny(self) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="monitor"'} if self.cfg.password else {
            "WWW-Authenticate": "Bearer"}
        return PlainTextResponse("authentication required\n", status_code=401, headers=headers)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
