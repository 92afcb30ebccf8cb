"""Limits that keep one HTTP client from locking the others out.

`SessionGuard` (ASGI, behind the bearer check) caps the 2025-era MCP sessions (the ones an
`initialize` opens, each holding a server task and its buffers) per client address and
per token. A new session over a cap takes the place of that client's oldest *idle*
session (no request in flight, no open GET stream): the SDK's own DELETE ends it, and
its id answers 404 from then on, which tells a client to initialize again. Sessions that
are busy are never taken; when every session of the client is busy, the request gets 429
with a JSON-RPC error saying what to do. Over the per-token cap, the idle session taken is
the oldest of the address holding the most sessions, so a light user keeps theirs.
The SDK ends a session idle for `idle_seconds` by itself (its default is 30 minutes).

`sdk_private.header_timeout_protocol` (uvicorn's h11 protocol, subclassed) puts a deadline
on reading a request's line and headers: uvicorn has none (its keep-alive timer stops at
the first byte), so a client sending a header byte every few seconds held its connection
for ever.
2026-era requests open no session and are not counted here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import anyio
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_mcp_py.config import Settings
from atlas_mcp_py.server.http_gate import call_within

__all__ = [
    "SessionGuard",
    "SessionLimits",
]

logger = logging.getLogger(__name__)

EVICT_TIMEOUT_SECONDS: Final = 5.0

SESSION_HEADER: Final = b"mcp-session-id"
VERSION_HEADER: Final = b"mcp-protocol-version"


@dataclass(frozen=True)
class SessionLimits:
    """The caps and timeouts of the HTTP transport (defaults in config.py)."""

    per_client: int
    per_token: int
    idle_seconds: float
    header_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionLimits:
        return cls(
            per_client=settings.http_sessions_per_client,
            per_token=settings.http_max_sessions,
            idle_seconds=settings.http_session_idle_seconds,
            header_timeout=settings.http_header_timeout_seconds,
        )


@dataclass
class _Session:
    id: str
    client: str
    token: str
    version: bytes | None
    in_flight: int = 0
    last_active: float = field(default_factory=time.monotonic)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _opens_session(scope: Scope) -> bool:
    """A request the SDK answers by opening a 2025-era session (if it succeeds)."""
    if _header(scope, SESSION_HEADER) is not None:
        return False
    version = _header(scope, VERSION_HEADER)
    return version is None or version.decode("latin-1") in HANDSHAKE_PROTOCOL_VERSIONS


class SessionGuard:
    """ASGI middleware: caps sessions per client address and per token (see module doc)."""

    def __init__(
        self, app: ASGIApp, limits: SessionLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.limits = limits
        self._clock = clock
        self._sessions: dict[str, _Session] = {}
        self._opening: dict[str, int] = {}  # per client address: opening requests not answered
        self._lock = anyio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_id = _header(scope, SESSION_HEADER)
        if raw_id is not None:
            await self._in_session(raw_id.decode("latin-1"), scope, receive, send)
        elif _opens_session(scope):
            await self._opening_request(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _in_session(
        self, session_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        session = self._sessions.get(session_id)
        if session is None:  # not ours to count: the SDK answers it (404 if unknown)
            await self.app(scope, receive, send)
            return
        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        session.in_flight += 1
        try:
            await self.app(scope, receive, watch)
        finally:
            session.in_flight -= 1
            session.last_active = self._clock()
            ended = status == 404 or (
                scope["method"] == "DELETE" and status is not None and status < 300
            )
            if ended and self._sessions.get(session_id) is session:
                del self._sessions[session_id]

    async def _opening_request(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = (scope.get("client") or ("?", 0))[0]
        token = _token_key(scope)
        async with self._lock:
            refusal = await self._make_room(client, token, scope)
            if refusal is None:
                self._opening[client] = self._opening.get(client, 0) + 1
        if refusal is not None:
            logger.warning("refused a new MCP session from %s: %s", client, refusal)
            await _too_many(send, refusal, self.limits.idle_seconds)
            return
        version = _header(scope, VERSION_HEADER)

        async def register(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                headers = dict((k.lower(), v) for k, v in message.get("headers", ()))
                session_id = headers.get(SESSION_HEADER)
                if session_id is not None:
                    sid = bytes(session_id).decode("latin-1")
                    self._sessions[sid] = _Session(sid, client, token, version)
            await send(message)

        try:
            await self.app(scope, receive, register)
        finally:
            self._opening[client] -= 1
            if not self._opening[client]:
                del self._opening[client]

    async def _make_room(self, client: str, token: str, scope: Scope) -> str | None:
        """Evict idle sessions until a new one fits both caps; the refusal, if they stay full."""
        self._forget_expired()
        limits = self.limits
        mine = [s for s in self._sessions.values() if s.client == client]
        if len(mine) + self._opening.get(client, 0) >= limits.per_client:
            victim = _oldest_idle(mine)
            if victim is None:
                return (
                    f"this address holds {limits.per_client} MCP sessions "
                    "(ATLAS_MCP_HTTP_SESSIONS_PER_CLIENT), all of them busy"
                )
            await self._evict(victim, scope, "per-address cap")
        same_token = [s for s in self._sessions.values() if s.token == token]
        opening = sum(self._opening.values())
        if len(same_token) + opening >= limits.per_token:
            victim = _idle_of_heaviest(same_token)
            if victim is None:
                return (
                    f"the server holds {limits.per_token} MCP sessions "
                    "(ATLAS_MCP_HTTP_MAX_SESSIONS), all of them busy"
                )
            await self._evict(victim, scope, "per-token cap")
        return None

    def _forget_expired(self) -> None:
        """Drop sessions the SDK has closed for idleness (same timeout, same clock edge)."""
        deadline = self._clock() - self.limits.idle_seconds
        for session in list(self._sessions.values()):
            if not session.in_flight and session.last_active < deadline:
                del self._sessions[session.id]

    async def _evict(self, session: _Session, scope: Scope, why: str) -> None:
        """End `session` with the SDK's own DELETE, as its client could have."""
        del self._sessions[session.id]
        logger.info("closing idle MCP session %s… of %s (%s)", session.id[:8], session.client, why)
        headers = [(b"host", b"127.0.0.1"), (SESSION_HEADER, session.id.encode("latin-1"))]
        if session.version is not None:
            headers.append((VERSION_HEADER, session.version))
        delete: Scope = {
            **{k: v for k, v in scope.items() if k not in ("headers", "method", "query_string")},
            "method": "DELETE",
            "headers": headers,
            "query_string": b"",
        }
        await call_within(self.app, delete, b"", EVICT_TIMEOUT_SECONDS)


def _token_key(scope: Scope) -> str:
    """Which credential a request came with, as a digest (the gate has checked it)."""
    credential = (_header(scope, b"authorization") or b"").partition(b" ")[2].strip()
    return hashlib.sha256(credential).hexdigest()[:16]


def _oldest_idle(sessions: list[_Session]) -> _Session | None:
    idle = [s for s in sessions if not s.in_flight]
    return min(idle, key=lambda s: s.last_active) if idle else None


def _idle_of_heaviest(sessions: list[_Session]) -> _Session | None:
    """The oldest idle session of the address holding the most sessions that has one."""
    held: dict[str, list[_Session]] = {}
    for session in sessions:
        held.setdefault(session.client, []).append(session)
    for client_sessions in sorted(held.values(), key=len, reverse=True):
        victim = _oldest_idle(client_sessions)
        if victim is not None:
            return victim
    return None


async def _too_many(send: Send, reason: str, idle_seconds: float) -> None:
    minutes = max(1, round(idle_seconds / 60))
    message = (
        f"Too many MCP sessions: {reason}. Close sessions you no longer use (an MCP client "
        f"does so when it exits), or retry once a call has finished; an idle session "
        f"closes after {minutes} minute{'s' if minutes != 1 else ''}."
    )
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}})
    payload = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", b"10"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
