"""Users of a team server: bearer tokens that each name a user, and who a call is from.

`ATLAS_MCP_HTTP_TOKENS_FILE` is a file of `NAME SHA256HEX` lines: the SHA-256 of each
user's token, never the token (`atlas-mcp token add NAME` prints a new token once and
appends its hash). `ATLAS_MCP_HTTP_TOKEN` keeps working beside it as the user "" (the
one trusted user of before, who owns the ledger rows written before users existed).

`BearerGate` (http_gate.py) puts the name of the token's user into the request's ASGI
scope; tools read it with `user_of(ctx)`: every HTTP request carries its own identity, so
a session id used with another user's token still acts as that other user. Over stdio
there is one user, "".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from atlas_mcp_py.errors import ConfigError

__all__ = [
    "USER_SCOPE_KEY",
    "Users",
    "add_token",
    "read_tokens_file",
    "token_hash",
    "user_of",
]

USER_SCOPE_KEY: Final = "atlas_mcp_user"
"""Where `BearerGate` leaves the name of the request's user in the ASGI scope."""
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
HEX: Final = re.compile(r"[0-9a-f]{64}")
TOKEN_BYTES: Final = 32
"""A new token: 32 random bytes (43 URL-safe characters)."""


def token_hash(token: str) -> str:
    """The SHA-256 of a token, in hex: what the tokens file keeps."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


@dataclass(frozen=True)
class Users:
    """Who may call, by token: the tokens file's users and the single token's user ""."""

    by_hash: Mapping[str, str] = field(default_factory=dict)
    """SHA-256 hex of a token -> the user's name."""
    single: str | None = None
    """`ATLAS_MCP_HTTP_TOKEN`, the user ""."""

    @property
    def required(self) -> bool:
        """Is any token configured (else loopback clients call unauthenticated, as "")."""
        return bool(self.by_hash) or self.single is not None

    def who(self, presented: str) -> str | None:
        """The user whose token this is, or None. Every configured token is compared,
        in constant time, whichever matches."""
        presented = presented.strip()
        found: str | None = None
        if self.single is not None and hmac.compare_digest(
            presented.encode(), self.single.encode()
        ):
            found = ""
        digest = token_hash(presented)
        for known, name in self.by_hash.items():
            if hmac.compare_digest(digest, known) and found is None:
                found = name
        return found


def read_tokens_file(path: Path) -> dict[str, str]:
    """The users of a tokens file (hash -> name); `ConfigError` naming the line that is
    not `NAME SHA256HEX`, or a name given twice."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"ATLAS_MCP_HTTP_TOKENS_FILE: cannot read {path}: {exc}") from None
    users: dict[str, str] = {}
    names: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not NAME.fullmatch(parts[0]) or not HEX.fullmatch(parts[1]):
            raise ConfigError(
                f"ATLAS_MCP_HTTP_TOKENS_FILE {path} line {number}: expected 'NAME SHA256HEX' "
                "(a name of letters, digits and ._@+-, then 64 lowercase hex digits); "
                "`atlas-mcp token add NAME` writes such a line"
            )
        if parts[0] in names:
            raise ConfigError(f"ATLAS_MCP_HTTP_TOKENS_FILE {path} line {number}: {parts[0]} again")
        names.add(parts[0])
        users[parts[1]] = parts[0]
    return users


def add_token(path: Path, name: str) -> str:
    """Make a new token for user `name`, append its hash to the tokens file at `path`
    (created, readable by its owner only, when missing) and return the token: the only
    time it is ever shown. `ConfigError` for a bad or taken name."""
    if not NAME.fullmatch(name):
        raise ConfigError(
            f"{name!r} is not a user name: letters, digits and ._@+- (64 at most), "
            "starting with a letter or digit"
        )
    if path.exists() and name in read_tokens_file(path).values():
        raise ConfigError(f"{path} already has a user {name}: remove that line to replace it")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    unfinished = path.exists() and not path.read_bytes().endswith(b"\n") and path.stat().st_size
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(("\n" if unfinished else "") + f"{name} {token_hash(token)}\n")
    return token


def user_of(ctx: Any) -> str:
    """The user of the request `ctx` handles: a name from the tokens file, or "" (stdio,
    the single token, no token on loopback)."""
    request = getattr(ctx.request_context, "request", None)
    scope = getattr(request, "scope", None)
    name = scope.get(USER_SCOPE_KEY, "") if isinstance(scope, dict) else ""
    return name if isinstance(name, str) else ""
