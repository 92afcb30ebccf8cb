"""Streamable HTTP: one long-running server that several MCP clients reach over the network.

    GET  /healthz   unauthenticated liveness: {"status": "ok"}, nothing else
    *    /mcp       the SDK's streamable HTTP app in SSE mode (progress, cancel on disconnect,
                    a keep-alive ping every 15 s on quiet streams, both protocol eras)

Every other request passes `BearerGate` (http_gate.py) first: with a token configured,
a request without `Authorization: Bearer <token>` (compared in constant time) gets 401
before the SDK sees it. The inbound header stays there: `AtlasClient` builds its own
headers with the Atlas key. Binding a non-loopback host without a token is refused
(`check_exposure`). Host and Origin headers are checked by the SDK's
`TransportSecuritySettings`, set explicitly whatever the bind address: a bad Host gets 421,
a foreign Origin 403.

Shutdown (SIGTERM, SIGINT): `GracefulServer` stops accepting connections and new requests
on open ones, sets the server's stop event so every in-flight wait returns its hand-off
result (status "processing" and the prediction id), waits (up to `shutdown_grace`) until
every request in flight has been answered, a generate POST still on its way to Atlas
included, then lets uvicorn close what is left (idle SSE GET streams) and exits normally.
sse-starlette's own shutdown drain, which closes every SSE stream shortly after uvicorn's
`should_exit` whether or not its answer went out, is switched off: it raced the hand-off.
"""

from __future__ import annotations

import errno
import ipaddress
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

from atlas_mcp_py.config import DEFAULT_HTTP_MAX_IN_FLIGHT, Settings
from atlas_mcp_py.errors import ConfigError
from atlas_mcp_py.server.app import AtlasMCPServer, build_server
from atlas_mcp_py.server.http_gate import HEALTH_PATH, BearerGate, CancelOnDisconnect
from atlas_mcp_py.server.http_sessions import SessionGuard, SessionLimits
from atlas_mcp_py.server.sdk_private import (
    disable_sse_drain,
    header_timeout_protocol,
    stop_accepting,
)
from atlas_mcp_py.server.users import Users, read_tokens_file

__all__ = [
    "DEFAULT_HTTP_HOST",
    "DEFAULT_HTTP_PORT",
    "MCP_PATH",
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
SHUTDOWN_GRACE_SECONDS: Final = 10.0
"""How long shutdown waits for in-flight MCP requests after telling waits to hand off."""
STREAM_CLOSE_SECONDS: Final = 1
"""Then how long uvicorn gives the remaining connections (idle SSE GET streams)."""
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]")

TOKEN_HELP: Final = (
    "Set ATLAS_MCP_HTTP_TOKEN (or pass --token) to a long random secret, for example the "
    "output of `openssl rand -base64 32`; clients then "
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


def create_http_app(server: AtlasMCPServer, settings: Settings, host: str) -> BearerGate:
    """The whole ASGI app: gate, health check, and the SDK's streamable HTTP app at /mcp."""
    if not server.over_http:
        raise ValueError(
            "build the server with build_server(settings, over_http=True) to serve it over "
            "HTTP: a server built for stdio would let remote clients' roots grant file access"
        )
    token = settings.http_token.get_secret_value() if settings.http_token else None
    users = Users(
        read_tokens_file(settings.http_tokens_file) if settings.http_tokens_file else {},
        token,
    )
    check_exposure(host, token if not users.by_hash else "tokens file")
    limits = SessionLimits.from_settings(settings)
    inner = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        json_response=False,  # SSE: JSON mode drops progress and ignores disconnects
        transport_security=security_settings(
            host, settings.allowed_hosts, settings.allowed_origins
        ),
        host=host,
        session_idle_timeout=limits.idle_seconds,
        max_sessions=limits.per_token,  # SessionGuard evicts before the SDK would refuse
    )
    return BearerGate(SessionGuard(CancelOnDisconnect(inner), limits), token, users)


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
        # sse-starlette ends every SSE stream within 0.5 s of `should_exit`, answered or
        # not; `shutdown` below closes them once the answers are out
        disable_sse_drain()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        logger.info(
            "shutting down: ending waits with their hand-off; %d request(s) in flight",
            self._gate.in_flight,
        )
        stop_accepting(self)  # idle connections close now, busy ones once answered
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
        hint = " Pick another --port." if exc.errno == errno.EADDRINUSE else ""
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
        http=header_timeout_protocol(settings.http_header_timeout_seconds),  # h11
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=STREAM_CLOSE_SECONDS,
    )
    return GracefulServer(config, mcp=server, gate=gate, grace=options.shutdown_grace)


def http_settings(settings: Settings) -> Settings:
    """The settings an HTTP server runs with: the HTTP default of the in-flight limit
    unless ATLAS_MCP_MAX_IN_FLIGHT was set."""
    if "max_in_flight" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"max_in_flight": DEFAULT_HTTP_MAX_IN_FLIGHT})


def serve_http(settings: Settings, options: HttpOptions) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code. Raises `ConfigError` up front."""
    settings = http_settings(settings)
    mcp = build_server(settings, over_http=True)
    uv = create_uvicorn_server(mcp, settings, options)
    sock = bind_socket(options.host, options.port)
    shown = f"[{options.host}]" if ":" in options.host else options.host
    logger.info(
        "serving MCP on http://%s:%d%s (token %s); health check at %s",
        shown,
        sock.getsockname()[1],
        MCP_PATH,
        "required"
        if settings.http_token or settings.http_tokens_file
        else "not set: loopback clients only",
        HEALTH_PATH,
    )
    try:
        uv.run(sockets=[sock])
    finally:
        sock.close()
    return 0
