"""ASGI middleware in front of the SDK's streamable HTTP app.

`BearerGate` answers `/healthz` itself, answers 404 to OAuth discovery and registration
probes (with a static token there is no OAuth: a 401 there sends clients such as the MCP
Inspector into a sign-in flow), refuses requests without the bearer token (401, in
constant time) and counts requests in flight for a graceful shutdown. `CancelOnDisconnect`
turns a 2025-era POST dropped mid-answer into the protocol's own `notifications/cancelled`.
Neither forwards anything upstream: the inbound `Authorization` header ends here.

Why not the SDK's `token_verifier` + `AuthSettings`: that is OAuth resource-server mode. It
requires an `issuer_url` and publishes `/.well-known/oauth-protected-resource` naming it,
so OAuth-capable clients would try to sign in at an authorization server that does not
exist. A shared static token is not OAuth; a plain `Bearer` check is the whole job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Final

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atlas_mcp_py.server.identity import IDENTITY_SCOPE_KEY, token_identity
from atlas_mcp_py.server.users import USER_SCOPE_KEY, Users

__all__ = ["HEALTH_PATH", "BearerGate", "CancelOnDisconnect", "is_oauth_discovery"]

logger = logging.getLogger(__name__)

HEALTH_PATH: Final = "/healthz"
OAUTH_ENDPOINTS: Final = ("/register", "/authorize", "/token")
"""Where OAuth-capable clients (the MCP Inspector among them) register and sign in, after
looking under `/.well-known/` (`oauth-protected-resource`, `oauth-authorization-server`,
`openid-configuration`, each also with the endpoint's path appended, as in
`/.well-known/oauth-protected-resource/mcp`, or prefixed, as in
`/mcp/.well-known/openid-configuration`)."""
NO_OAUTH: Final = (
    "This server uses a static bearer token, not OAuth: send 'Authorization: Bearer <token>'."
)


def is_oauth_discovery(path: str) -> bool:
    """Is `path` an OAuth discovery or registration endpoint a client probes? These get
    404: a 401 there makes clients start an OAuth flow against a server that has none."""
    path = path.rstrip("/")
    return "/.well-known/" in f"{path}/" or path.endswith(OAUTH_ENDPOINTS)


CANCEL_TIMEOUT_SECONDS: Final = 5.0


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

    def __init__(self, app: ASGIApp, token: str | None, users: Users | None = None) -> None:
        self.app = app
        self._users = users if users is not None else Users(single=token or None)
        self._identity = token_identity(token.encode()) if token else None
        """Whose tasks a request of the single token sees (server/identity.py)."""
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
        if is_oauth_discovery(scope["path"]):
            await _send_json(send, 404, {"error": "not_found", "error_description": NO_OAUTH})
            return
        user = self._user(scope) if self._users.required else ""
        if user is None:
            await self._refuse(scope, send)
            return
        scope[USER_SCOPE_KEY] = user  # who this request is from: `users.user_of(ctx)`
        if self._users.required:  # who may see which tasks (server/identity.py)
            scope[IDENTITY_SCOPE_KEY] = f"user:{user}" if user else self._identity
        counted = scope["method"] != "GET"
        self.in_flight += counted
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= counted

    def _user(self, scope: Scope) -> str | None:
        """The user whose bearer token the request carries; None without a valid one."""
        scheme, _, credentials = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._users.who(credentials)

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
        await call_within(self.app, {**scope, "headers": headers}, payload, CANCEL_TIMEOUT_SECONDS)


async def call_within(app: ASGIApp, scope: Scope, body: bytes, seconds: float) -> None:
    """Run `app` on a request the server makes itself: `body` as its whole body, the
    answer discarded, given up after `seconds`."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def discard(message: Message) -> None:
        return None

    with anyio.move_on_after(seconds):
        await app(scope, receive, discard)


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
