"""Streamable HTTP: one long-running server that several MCP clients reach over the network.

    GET  /healthz   unauthenticated liveness: {"status": "ok"}, nothing else
    *    /mcp       the SDK's streamable HTTP app in SSE mode (progress, cancel on disconnect,
                    a keep-alive ping every 15 s on quiet streams, both protocol eras)

Every other request passes `BearerGate` first: with a token configured, a request without
`Authorization: Bearer <token>` (compared in constant time) gets 401 before the SDK sees
it. The inbound header stays here: `AtlasClient` builds its own headers with the Atlas key.
Binding a non-loopback host without a token is refused (`check_exposure`). Host and Origin
headers are checked by the SDK's `TransportSecuritySettings`, set explicitly whatever the
bind address: a bad Host gets 421, a foreign Origin 403.

Shutdown (SIGTERM, SIGINT): `GracefulServer` stops accepting connections, sets the server's
stop event so every in-flight wait returns its hand-off result (status "processing" and the
prediction id), waits until those responses have gone out, then lets uvicorn close what is
left (idle SSE GET streams) and exits normally.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Final

import anyio
import uvicorn
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import ConfigError
from atlas_mcp_py.server import AtlasMCPServer, build_server

__all__ = [
    "DEFAULT_HTTP_HOST",
    "DEFAULT_HTTP_PORT",
    "HEALTH_PATH",
    "MCP_PATH",
    "BearerGate",
    "CancelOnDisconnect",
    "GracefulServer",
    "HttpOptions",
    "bind_socket",
    "check_exposure",
    "create_http_app",
    "create_uvicorn_server",
    "is_loopback",
    "security_settings",
    "serve_http",
]

logger = logging.getLogger(__name__)

DEFAULT_HTTP_HOST: Final = "127.0.0.1"
DEFAULT_HTTP_PORT: Final = 8765
MCP_PATH: Final = "/mcp"
HEALTH_PATH: Final = "/healthz"
SHUTDOWN_GRACE_SECONDS: Final = 10.0
"""How long shutdown waits for in-flight MCP requests after telling waits to hand off."""
STREAM_CLOSE_SECONDS: Final = 1
"""Then how long uvicorn gives the remaining connections (idle SSE GET streams)."""
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]")

TOKEN_HELP: Final = (
    "Set ATLAS_MCP_HTTP_TOKEN (or pass --token) to a long random secret, for example the "
    'output of: python -c "import secrets; print(secrets.token_urlsafe(32))"; clients then '
    "send the header 'Authorization: Bearer <token>'. Or bind a loopback address "
    "(--host 127.0.0.1) and put a reverse proxy in front."
)


@dataclass(frozen=True)
class HttpOptions:
    """Where and how to serve; the token and allow-lists come from `Settings`."""

    host: str = DEFAULT_HTTP_HOST
    port: int = DEFAULT_HTTP_PORT
    shutdown_grace: float = SHUTDOWN_GRACE_SECONDS

    @classmethod
    def from_flags(cls, host: str | None, port: int | None) -> HttpOptions:
        """Options from `serve` flags; None means the default."""
        return cls(
            host=DEFAULT_HTTP_HOST if host is None else host,
            port=DEFAULT_HTTP_PORT if port is None else port,
        )


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (brackets allowed): only this machine can connect."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_exposure(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token: a `ConfigError` that says why and how."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve HTTP on {host} without a token: anyone who can reach that "
            "address could run tools that spend your Atlas credits. " + TOKEN_HELP
        )


def _host_patterns(entry: str) -> list[str]:
    """An allowed-host entry as SDK patterns: a bare name allows it on any port too."""
    entry = entry.strip().lower()
    if entry.startswith("["):  # [v6] or [v6]:port
        has_port = bool(entry.partition("]")[2])
    elif entry.count(":") > 1:  # a bare IPv6 address
        entry, has_port = f"[{entry}]", False
    else:
        has_port = ":" in entry
    return [entry] if has_port else [entry, f"{entry}:*"]


def security_settings(
    host: str, allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()
) -> TransportSecuritySettings:
    """Host/Origin validation, always on: loopback names, the bound address, and the extras.

    `allowed_hosts` entries are Host header values (`mcp.example.com`, `mcp.example.com:8443`;
    a bare name allows any port). `allowed_origins` entries are origins
    (`https://app.example.com`; `:*` for any port). A request without Origin passes (not a
    browser); a request whose Host or Origin is not listed gets 421 or 403 from the SDK.
    """
    hosts: list[str] = []
    for entry in (*LOOPBACK_HOSTS, *allowed_hosts):
        hosts.extend(_host_patterns(entry))
    bound = host.strip().strip("[]")
    if bound not in ("", "0.0.0.0", "::") and not is_loopback(bound):
        hosts.extend(_host_patterns(bound))  # clients that dial the bound address directly
    origins = [f"http://{name}:*" for name in LOOPBACK_HOSTS]
    origins += [f"http://{name}" for name in LOOPBACK_HOSTS]
    origins += [origin.strip().rstrip("/").lower() for origin in allowed_origins]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_json(
    send: Send, status: int, body: dict[str, str], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BearerGate:
    """ASGI middleware: `/healthz` answers itself; everything else needs the bearer token.

    It also counts in-flight requests other than GET (a GET is the long-lived 2025-era
    notification stream), so shutdown can wait for the tool calls' answers to go out.
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token.encode() if token else None
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: the SDK's session manager and our AppState
            await self.app(scope, receive, send)
            return
        if scope["path"] == HEALTH_PATH:
            if scope["method"] in ("GET", "HEAD"):
                await _send_json(send, 200, {"status": "ok"})
            else:
                await _send_json(send, 405, {"error": "method not allowed"}, [(b"allow", b"GET")])
            return
        if self._token is not None and not self._authorized(scope):
            await self._refuse(scope, send)
            return
        counted = scope["method"] != "GET"
        self.in_flight += counted
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= counted

    def _authorized(self, scope: Scope) -> bool:
        assert self._token is not None
        scheme, _, credentials = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode(), self._token)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        client = scope.get("client") or ("?", 0)
        if _header(scope, b"authorization") is None:
            description = "Missing bearer token: send 'Authorization: Bearer <token>'."
            challenge = b'Bearer realm="atlas-mcp"'
        else:
            description = "Invalid bearer token."
            challenge = b'Bearer realm="atlas-mcp", error="invalid_token"'
        logger.warning(
            "refused %s %s from %s: %s", scope["method"], scope["path"], client[0], description
        )
        await _send_json(
            send,
            401,
            {"error": "invalid_token", "error_description": description},
            [(b"www-authenticate", challenge)],
        )


class CancelOnDisconnect:
    """ASGI middleware: a 2025-era client that drops a POST mid-answer cancels that request.

    On the 2026-07-28 wire the SDK cancels a handler whose response stream closes; on the
    2025 session wire the handler runs on in the session until its wait ends. This closes
    the gap with the protocol's own message: when a POST carrying a request returns before
    its response was complete, it sends `notifications/cancelled` for that request id into
    the same session, as a client that cancels properly would.
    """

    MAX_BODY_KEPT: Final = 64 * 1024

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        session = _header(scope, b"mcp-session-id")
        if session is None:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        complete = False

        async def keep_body() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) <= self.MAX_BODY_KEPT:
                body.extend(message.get("body", b""))
            return message

        async def watch_end(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        await self.app(scope, keep_body, watch_end)
        if not complete:  # the client went away before the answer: nobody will read it
            for request_id in _request_ids(bytes(body)):
                await self._cancel(scope, request_id)

    async def _cancel(self, scope: Scope, request_id: str | int) -> None:
        logger.info("client dropped request %r mid-answer; cancelling it", request_id)
        payload = json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "client disconnected"},
            }
        ).encode()
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k.lower() not in (b"content-length", b"content-type")
        ]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}

        async def discard(message: Message) -> None:
            return None

        with anyio.move_on_after(5):
            await self.app({**scope, "headers": headers}, receive, discard)


def _request_ids(body: bytes) -> list[str | int]:
    """The ids of the JSON-RPC requests in a POST body (none for notifications, responses)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return []
    messages = parsed if isinstance(parsed, list) else [parsed]
    return [
        m["id"]
        for m in messages
        if isinstance(m, dict)
        and isinstance(m.get("method"), str)
        and isinstance(m.get("id"), str | int)
        and not isinstance(m.get("id"), bool)
    ]


def create_http_app(server: AtlasMCPServer, settings: Settings, host: str) -> BearerGate:
    """The whole ASGI app: gate, health check, and the SDK's streamable HTTP app at /mcp."""
    token = settings.http_token.get_secret_value() if settings.http_token else None
    check_exposure(host, token)
    inner = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        json_response=False,  # SSE: JSON mode drops progress and ignores disconnects
        transport_security=security_settings(
            host, settings.allowed_hosts, settings.allowed_origins
        ),
        host=host,
    )
    return BearerGate(CancelOnDisconnect(inner), token)


class GracefulServer(uvicorn.Server):
    """uvicorn.Server that hands off in-flight waits before closing connections.

    On SIGTERM/SIGINT (or `should_exit`): stop accepting connections, end every wait with its
    hand-off result, wait (up to `grace`) until the gate has no request in flight, then let
    uvicorn close the rest. A second SIGINT forces the exit. The signal is not re-raised
    afterwards, so the process exits 0.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        mcp: AtlasMCPServer,
        gate: BearerGate,
        grace: float = SHUTDOWN_GRACE_SECONDS,
    ) -> None:
        super().__init__(config)
        self._mcp = mcp
        self._gate = gate
        self._grace = grace

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        busy = self._gate.in_flight
        logger.info("shutting down; handing back %d in-flight request(s)", busy)
        for listener in getattr(self, "servers", []):
            listener.close()
        self._mcp.begin_shutdown()
        with anyio.move_on_after(self._grace):
            # polled, not an Event: `force_exit` is set from a signal handler
            while self._gate.in_flight and not self.force_exit:  # noqa: ASYNC110
                await anyio.sleep(0.02)
        if self._gate.in_flight:
            logger.warning(
                "%d request(s) still running after %gs; closing them",
                self._gate.in_flight,
                self._grace,
            )
        await super().shutdown(sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on host:port, or a `ConfigError` saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"),
            port,
            type=socket.SOCK_STREAM,
            proto=socket.IPPROTO_TCP,
            flags=socket.AI_PASSIVE,
        )[0]
        # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections.
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        hint = " Pick another --port." if exc.errno in (98, 48, 10048) else ""
        raise ConfigError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.{hint}") from None
    return sock


def create_uvicorn_server(
    server: AtlasMCPServer, settings: Settings, options: HttpOptions
) -> GracefulServer:
    """The configured uvicorn server (not started); raises `ConfigError` when unsafe."""
    gate = create_http_app(server, settings, options.host)
    config = uvicorn.Config(
        gate,
        host=options.host,
        port=options.port,
        log_config=None,  # our stderr handler (with its key-redacting filter) gets everything
        access_log=settings.log_level == "DEBUG",
        lifespan="on",
        http="h11",
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=STREAM_CLOSE_SECONDS,
    )
    return GracefulServer(config, mcp=server, gate=gate, grace=options.shutdown_grace)


def serve_http(settings: Settings, options: HttpOptions) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code. Raises `ConfigError` up front."""
    mcp = build_server(settings)
    uv = create_uvicorn_server(mcp, settings, options)
    sock = bind_socket(options.host, options.port)
    shown = f"[{options.host}]" if ":" in options.host else options.host
    logger.info(
        "serving MCP on http://%s:%d%s (token %s); health check at %s",
        shown,
        sock.getsockname()[1],
        MCP_PATH,
        "required" if settings.http_token else "not required: loopback only",
        HEALTH_PATH,
    )
    try:
        uv.run(sockets=[sock])
    finally:
        sock.close()
    return 0
