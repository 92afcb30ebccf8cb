"""Who is calling: the identity a task belongs to.

The HTTP gate (http_gate.BearerGate) names the caller in the ASGI scope under
`IDENTITY_SCOPE_KEY` once the request passed it: today one bearer token, so one
identity for everyone holding it (a digest of the token, never the token). A gate
that knows named users (a token per user) puts the user's name there instead, and the
tasks follow it. Over HTTP without a token (loopback only) every caller is
`http:anonymous`; on stdio there is one client: `stdio`.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

__all__ = [
    "IDENTITY_SCOPE_KEY",
    "caller_identity",
    "token_identity",
]

IDENTITY_SCOPE_KEY: Final = "atlas_mcp.identity"


def token_identity(token: bytes) -> str:
    """The identity of a bearer token's holder: a digest, so no table holds the token."""
    return "token:" + hashlib.sha256(token).hexdigest()[:16]


def caller_identity(request: Any) -> str:
    """The identity of the request's caller (`request`: the HTTP request the SDK
    hands the handler, None on stdio)."""
    if request is None:
        return "stdio"
    scope = getattr(request, "scope", None)
    named = scope.get(IDENTITY_SCOPE_KEY) if isinstance(scope, dict) else None
    return named if isinstance(named, str) and named else "http:anonymous"
