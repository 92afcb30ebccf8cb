"""Settings: read once from the environment, validated, frozen.

The API key is a `SecretStr`: it never shows in a repr, a log line or an error. A missing
key is not an error here; `Settings.require_api_key()` raises a `ConfigError` that says
how to set it, at the moment a call needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from atlas_mcp_py.errors import ConfigError

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_MAX_WAIT_SECONDS",
    "DEFAULT_MODEL",
    "DEFAULT_TEXT_MODEL",
    "NO_PROGRESS_MAX_WAIT_SECONDS",
    "Settings",
    "default_state_dir",
]

DEFAULT_BASE_URL = "https://api.atlascloud.ai"
DEFAULT_MODEL = "minimax/hailuo-02/fast"
"""The video model for requests that give a frame (image-to-video: it needs one)."""
DEFAULT_TEXT_MODEL = "minimax/hailuo-02/t2v-standard"
"""The video model for text-only requests that name no model."""
DEFAULT_IMAGE_MODEL = "google/nano-banana/text-to-image"
"""The image model for requests that name none: fast and cheap ($0.039), 16:9 by default
(a ready first frame for a video)."""
DEFAULT_MAX_WAIT_SECONDS = 100.0
NO_PROGRESS_MAX_WAIT_SECONDS = 25.0
"""Wait budget when the client sent no progress token (it shows no progress, and may give
up on a silent call): under the shortest fixed limit seen in such a client that the
server cannot learn (LlamaIndex's `BasicMCPClient`: 30 s, a new session for every call),
with 5 s left for a save and the answer. Shorter limits that clients show by cancelling
(the OpenAI Agents SDK's 5 s) are learned (`server.app._GaveUp`)."""
DEFAULT_POLL_MIN_SECONDS = 1.0
DEFAULT_POLL_MAX_SECONDS = 5.0
DEFAULT_HEARTBEAT_SECONDS = 5.0
DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""Atlas's documented upload limit."""
DEFAULT_UPLOAD_REUSE_SECONDS = 3600.0
"""How long an uploaded file's URL is reused for the same bytes (Atlas's URLs are temporary)."""
DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024 * 1024
"""Largest video `save_to` writes."""
DEFAULT_MAX_INLINE_OUTPUTS = 16
"""Inline (`data:`) outputs one job's result may write; the rest are not saved."""
DEFAULT_MAX_INLINE_BYTES = 256 * 1024 * 1024
"""Total decoded bytes of one job's inline outputs that may be written."""
DEFAULT_CATALOG_TTL_SECONDS = 300.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_DUPLICATE_WINDOW_SECONDS = 600.0
"""An identical generate within this window returns the earlier job instead of paying again."""
DEFAULT_MAX_IN_FLIGHT = 4
"""Generate requests (frame uploads and the POST) one server sends at once; further calls
queue locally, unsent. Waiting on submitted jobs is not limited."""
DEFAULT_HTTP_MAX_IN_FLIGHT = 16
"""The same limit for `serve --transport http` when ATLAS_MCP_MAX_IN_FLIGHT is unset: a
shared server's calls come from many people at once (bench/replicas.py measured it)."""

DEFAULT_HTTP_SESSIONS_PER_CLIENT = 16
"""HTTP: MCP sessions one client address may hold (an IDE window, an agent, restarts)."""
DEFAULT_HTTP_MAX_SESSIONS = 256
"""HTTP: MCP sessions per token; the server has one token, so this is its total."""
DEFAULT_HTTP_SESSION_IDLE_SECONDS = 300.0
"""HTTP: a session with no request in flight and no open stream closes after this long."""
DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS = 10.0
"""HTTP: time a connection has to send a request's line and headers."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

_ENV = {
    "api_key": "ATLASCLOUD_API_KEY",
    "base_url": "ATLASCLOUD_BASE_URL",
    "roots": "ATLAS_MCP_ROOTS",
    "max_wait_seconds": "ATLAS_MCP_MAX_WAIT",
    "state_dir": "ATLAS_MCP_STATE_DIR",
    "http_token": "ATLAS_MCP_HTTP_TOKEN",
    "allowed_hosts": "ATLAS_MCP_ALLOWED_HOSTS",
    "allowed_origins": "ATLAS_MCP_ALLOWED_ORIGINS",
    "log_level": "ATLAS_MCP_LOG_LEVEL",
    "model": "ATLAS_MCP_MODEL",
    "text_model": "ATLAS_MCP_TEXT_MODEL",
    "poll_min_seconds": "ATLAS_MCP_POLL_MIN",
    "poll_max_seconds": "ATLAS_MCP_POLL_MAX",
    "heartbeat_seconds": "ATLAS_MCP_HEARTBEAT",
    "duplicate_window_seconds": "ATLAS_MCP_DUPLICATE_WINDOW",
    "max_in_flight": "ATLAS_MCP_MAX_IN_FLIGHT",
    "confirm_above_usd": "ATLAS_MCP_CONFIRM_ABOVE_USD",
    "max_upload_bytes": "ATLAS_MCP_MAX_UPLOAD_BYTES",
    "upload_reuse_seconds": "ATLAS_MCP_UPLOAD_REUSE_SECONDS",
    "max_download_bytes": "ATLAS_MCP_MAX_DOWNLOAD_BYTES",
    "download_hosts": "ATLAS_MCP_DOWNLOAD_HOSTS",
    "max_inline_outputs": "ATLAS_MCP_MAX_INLINE_OUTPUTS",
    "max_inline_bytes": "ATLAS_MCP_MAX_INLINE_BYTES",
    "http_sessions_per_client": "ATLAS_MCP_HTTP_SESSIONS_PER_CLIENT",
    "http_max_sessions": "ATLAS_MCP_HTTP_MAX_SESSIONS",
    "http_session_idle_seconds": "ATLAS_MCP_HTTP_SESSION_IDLE",
    "http_header_timeout_seconds": "ATLAS_MCP_HTTP_HEADER_TIMEOUT",
    "image_model": "ATLAS_MCP_IMAGE_MODEL",
    "database_url": "ATLAS_MCP_DATABASE_URL",
    "http_tokens_file": "ATLAS_MCP_HTTP_TOKENS_FILE",
    "user_daily_usd": "ATLAS_MCP_USER_DAILY_USD",
}

API_KEY_HELP = (
    "No Atlas API key is set. Set ATLASCLOUD_API_KEY in the environment of the MCP server, "
    'for example in your MCP client config: {"mcpServers": {"atlas": {"command": "atlas-mcp", '
    '"env": {"ATLASCLOUD_API_KEY": "<your key>"}}}}, then restart the server. '
    "Keys are at https://www.atlascloud.ai (dashboard, API keys)."
)


def default_state_dir() -> Path:
    """The per-user state directory (platformdirs.user_state_dir, created by no one here):
    $XDG_STATE_HOME or ~/.local/state on Linux, ~/Library/Application Support on macOS,
    the Local AppData folder on Windows; each + /atlas-mcp-py (`appauthor=False`: no vendor
    level), the same directories this package used before platformdirs, so existing
    ledgers are found."""
    return Path(platformdirs.user_state_dir("atlas-mcp-py", appauthor=False))


class Settings(BaseModel):
    """Everything the server reads from its environment, with named defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str = DEFAULT_BASE_URL
    roots: tuple[Path, ...] = ()
    """Allowed roots from ATLAS_MCP_ROOTS; empty means, on stdio: the client's roots, else
    the cwd (`server.state.default_roots`); over HTTP: none."""
    max_wait_seconds: float = Field(DEFAULT_MAX_WAIT_SECONDS, gt=0, le=24 * 3600)
    state_dir: Path | None = None
    http_token: SecretStr | None = None
    http_tokens_file: Path | None = None
    """HTTP: a file of `NAME SHA256HEX` lines, one user each (`atlas-mcp token add`)."""
    database_url: SecretStr | None = None
    """A `postgresql://` URL: the job ledger lives there (shared by replicas), not in the
    SQLite file of the state directory. Secret: it may carry a password."""
    user_daily_usd: float | None = Field(None, ge=0)
    """Each user's estimated spend per UTC day; a generate past it is refused unsent."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra Host header values the HTTP transport accepts (loopback ones always pass)."""
    allowed_origins: tuple[str, ...] = ()
    """Extra Origin values the HTTP transport accepts (http://localhost etc. always pass)."""
    http_sessions_per_client: int = Field(DEFAULT_HTTP_SESSIONS_PER_CLIENT, ge=1)
    http_max_sessions: int = Field(DEFAULT_HTTP_MAX_SESSIONS, ge=1)
    http_session_idle_seconds: float = Field(DEFAULT_HTTP_SESSION_IDLE_SECONDS, gt=0, le=86400)
    http_header_timeout_seconds: float = Field(DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS, gt=0, le=300)
    log_level: LogLevel = "INFO"
    model: str = Field(DEFAULT_MODEL, min_length=1)
    """Video model for requests with a frame that name no model."""
    text_model: str = Field(DEFAULT_TEXT_MODEL, min_length=1)
    """Video model for text-only requests that name no model."""
    image_model: str = Field(DEFAULT_IMAGE_MODEL, min_length=1)
    """Image model for requests that name no model."""
    poll_min_seconds: float = Field(DEFAULT_POLL_MIN_SECONDS, gt=0, le=60)
    poll_max_seconds: float = Field(DEFAULT_POLL_MAX_SECONDS, gt=0, le=300)
    heartbeat_seconds: float = Field(DEFAULT_HEARTBEAT_SECONDS, gt=0, le=10)
    duplicate_window_seconds: float = Field(DEFAULT_DUPLICATE_WINDOW_SECONDS, ge=0)
    """0 turns the duplicate guard off."""
    max_in_flight: int = Field(DEFAULT_MAX_IN_FLIGHT, ge=1, le=64)
    confirm_above_usd: float | None = Field(None, ge=0)
    """Ask the person (MCP elicitation) before a job estimated above this many USD."""
    max_upload_bytes: int = Field(DEFAULT_MAX_UPLOAD_BYTES, gt=0)
    upload_reuse_seconds: float = Field(DEFAULT_UPLOAD_REUSE_SECONDS, ge=0)
    """0 turns reuse off."""
    max_download_bytes: int = Field(DEFAULT_MAX_DOWNLOAD_BYTES, gt=0)
    download_hosts: tuple[str, ...] = ()
    """Hosts (`host` or `host:port`) downloads may reach although they resolve to a
    loopback, private or link-local address (the Atlas base URL's host always may)."""
    max_inline_outputs: int = Field(DEFAULT_MAX_INLINE_OUTPUTS, ge=1)
    max_inline_bytes: int = Field(DEFAULT_MAX_INLINE_BYTES, gt=0)
    catalog_ttl_seconds: float = Field(DEFAULT_CATALOG_TTL_SECONDS, ge=0)
    max_retries: int = Field(DEFAULT_MAX_RETRIES, ge=0, le=10)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    write_timeout: float = Field(60.0, gt=0)
    pool_timeout: float = Field(10.0, gt=0)
    request_deadline: float = Field(120.0, gt=0)
    """Overall limit for one API call, retries and backoff included (uploads excepted)."""

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("model", "text_model", "image_model", mode="before")
    @classmethod
    def _strip_model(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("api_key", "http_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("download_hosts")
    @classmethod
    def _check_download_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(item.strip() for item in value if item.strip())
        for item in cleaned:
            if "://" in item or any(c.isspace() or c in ",/*@" for c in item):
                raise ValueError(f"{item!r}: give a host or host:port, no scheme or path")
        return cleaned

    @field_validator("allowed_hosts", "allowed_origins")
    @classmethod
    def _check_allow_list(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        cleaned = tuple(item.strip() for item in value if item.strip())
        origins = info.field_name == "allowed_origins"
        for item in cleaned:
            scheme, sep, rest = item.partition("://")
            if origins and not (sep and scheme in ("http", "https")):
                raise ValueError(f"{item!r} is not an origin like https://app.example.com")
            if not origins and sep:
                raise ValueError(f"{item!r}: give a Host value like mcp.example.com, no scheme")
            if "*" in item.removesuffix(":*"):
                raise ValueError(f"{item!r}: only a port may be a wildcard (name:*)")
            if not (rest if origins else item) or any(
                c.isspace() or c in ",/" for c in (rest if origins else item)
            ):
                raise ValueError(f"{item!r} is not a valid host[:port]")
        return cleaned

    @model_validator(mode="after")
    def _check_poll_range(self) -> Settings:
        if self.poll_min_seconds > self.poll_max_seconds:
            raise ValueError(
                f"{_ENV['poll_min_seconds']} must not exceed {_ENV['poll_max_seconds']}"
            )
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from an environment mapping (default `os.environ`).

        Keyword overrides (CLI flags) win over the environment. Raises `ConfigError`
        naming the variable and what it accepts; never echoes a secret.
        """
        env = os.environ if env is None else env
        data: dict[str, object] = {}
        for field, var in _ENV.items():
            raw = env.get(var)
            if raw is None or (raw.strip() == "" and field not in ("api_key", "http_token")):
                continue
            if field == "roots":
                data[field] = tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p)
            elif field in ("state_dir", "http_tokens_file"):
                data[field] = Path(raw).expanduser()
            elif field in ("allowed_hosts", "allowed_origins", "download_hosts"):
                data[field] = tuple(part for part in raw.split(",") if part.strip())
            else:
                data[field] = raw
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                # err["msg"] never includes the input value; the key stays out of it.
                if not err["loc"]:  # a check across fields: the message names them
                    problems.append(err["msg"])
                    continue
                field = str(err["loc"][0])
                problems.append(f"{_ENV.get(field, field)}: {err['msg']}")
            raise ConfigError("Invalid configuration: " + "; ".join(problems)) from None

    def require_api_key(self) -> str:
        """The API key, or a `ConfigError` that tells the user how to set it."""
        if self.api_key is None:
            raise ConfigError(API_KEY_HELP)
        return self.api_key.get_secret_value()

    @property
    def resolved_state_dir(self) -> Path:
        return self.state_dir if self.state_dir is not None else default_state_dir()

    @property
    def ledger_location(self) -> str | Path:
        """Where the job ledger is: the database URL, else the SQLite file in the state
        directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return self.resolved_state_dir / "jobs.sqlite3"
