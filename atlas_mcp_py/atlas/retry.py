"""When to retry a request to Atlas, and what each answer means.

Retry policy, as data (see `RetryPolicy`):
- GETs retry connection errors, timeouts, dropped connections, 429 (honouring
  `Retry-After` up to a cap), 5xx and unreadable 2xx bodies, with capped exponential
  backoff and jitter, within an overall deadline.
- A 5xx whose body carries a terminal job state is an answer, not an outage: never retried.
- POSTs (generate, upload) are retried only when the request provably never reached the
  server (connection refused, DNS failure, connect or pool timeout). Every accepted
  generate is billed; when one may have reached Atlas and no id came back, the client
  raises `OutcomeUnknownError` and sends nothing more.

`transport_failure` and `interpret` turn one attempt's outcome into a decoded body, an
exception to raise, or `Retryable` (an exception the policy may retry); `AtlasClient`
runs the attempts.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx2

from atlas_mcp_py.atlas.models import FAILURE_STATUSES, error_message, unwrap
from atlas_mcp_py.atlas.sanitize import Redactor, clean_answer, clean_text
from atlas_mcp_py.errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    OutcomeUnknownError,
    RateLimitError,
    Retryable,
    ServerError,
    status_error,
)

__all__ = [
    "NEVER_SENT",
    "PROXY_NOTE",
    "RetryPolicy",
    "connect_failure",
    "interpret",
    "parse_retry_after",
    "salvage_id",
    "transport_failure",
]

# Exceptions raised before a single byte of the request left this machine.
NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; all times in seconds."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_after_cap: float = 30.0

    def backoff(self, attempt: int, rand: float) -> float:
        """Capped exponential backoff with up to 25% jitter for retry number `attempt` (0-based)."""
        delay = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        return delay * (1.0 - 0.25 * rand)

    def delay_for(self, attempt: int, retry_after: float | None, rand: float) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return self.backoff(attempt, rand)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def transport_failure(
    where: str, exc: httpx2.RequestError | TimeoutError, once: bool, *, billed: bool = True
) -> Exception:
    """The exception for a request that got no readable answer: `Retryable` when the
    policy may try again, `OutcomeUnknownError` when a request sent at most `once` may
    have arrived (`billed`: a paid job may exist then)."""
    if isinstance(exc, NEVER_SENT):
        kind = APITimeoutError if isinstance(exc, httpx2.TimeoutException) else APIConnectionError
        error = kind(f"{where}: {connect_failure(exc)}")
        if _untrusted(exc):
            return error  # the same certificate again is refused again: no retry
        return Retryable(error)
    if isinstance(exc, httpx2.TransportError | TimeoutError):
        # The request may have reached Atlas: a read timeout, a dropped connection.
        detail = type(exc).__name__ if isinstance(exc, httpx2.TransportError) else "deadline"
        if once:
            return OutcomeUnknownError(
                f"{where}: the request was sent but no answer came back ({detail})",
                billed=billed,
            )
        return Retryable(APITimeoutError(f"{where}: no answer from Atlas ({detail})"))
    # e.g. a body that fails to decode (bad gzip)
    if once:
        return OutcomeUnknownError(
            f"{where}: the answer could not be read ({type(exc).__name__})", billed=billed
        )
    return Retryable(
        APIResponseError(f"{where}: the answer could not be read ({type(exc).__name__})")
    )


PROXY_NOTE = "via proxy "
"""The note the transport adds to a connection error through a proxy (then the proxy's
address is the one that failed to resolve or refused)."""


CA_HINT = (
    "if a corporate proxy or firewall inspects TLS, set SSL_CERT_FILE (a CA bundle file) "
    "or SSL_CERT_DIR (a directory of CA certificates) to include your organisation's CA, "
    "then restart the server"
)


def connect_failure(exc: BaseException) -> str:
    """What stopped a connection, from the exception's causes: name resolution, a
    refused connection, an untrusted certificate, a timeout."""
    host, port = "the server", ""
    request = getattr(exc, "_request", None)  # httpx2 sets it; `.request` raises if unset
    if isinstance(request, httpx2.Request):
        host = request.url.host
        port = str(request.url.port or (443 if request.url.scheme == "https" else 80))
    target, via = host, ""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, str) and note.startswith(PROXY_NOTE):
            proxy = httpx2.URL(note.removeprefix(PROXY_NOTE))
            host = proxy.host
            port = str(proxy.port or (443 if proxy.scheme == "https" else 80))
            via = " (the proxy that HTTPS_PROXY / HTTP_PROXY names)"
    address = f"{host}:{port}" if port else host
    return _connect_cause(exc, target, host, address, via)


def _connect_cause(exc: BaseException, target: str, host: str, address: str, via: str) -> str:
    """`target`: the host asked for (whose certificate is checked); `host` / `address`:
    what was connected to (a proxy's, when one is used, named by `via`)."""
    cause: BaseException | None = exc
    seen: list[BaseException] = []
    while cause is not None and cause not in seen:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    for error in seen:
        if isinstance(error, ssl.SSLCertVerificationError):
            reason = error.verify_message or error.reason or "not trusted"
            return (
                f"TLS certificate verify failed for {target} ({reason}): the certificate it "
                f"presented is not signed by a CA this machine trusts; {CA_HINT}"
            )
        if isinstance(error, ssl.SSLError):
            return f"the TLS handshake with {target} failed ({error.reason or error})"
        if isinstance(error, socket.gaierror):
            return f"name resolution failed for host {host}{via} ({error.strerror or error})"
        if isinstance(error, ConnectionRefusedError):
            return f"connection refused at {address}{via} (nothing listens there)"
    if isinstance(exc, httpx2.TimeoutException):
        return f"connecting to {address}{via} timed out ({type(exc).__name__})"
    for error in reversed(seen):
        if isinstance(error, OSError) and error.strerror:
            return f"could not connect to {address}{via} ({error.strerror})"
    detail = str(exc) or type(exc).__name__
    return f"could not connect to {address}{via} ({detail})"


def _untrusted(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    for _ in range(8):
        if cause is None:
            return False
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def interpret(
    where: str,
    response: httpx2.Response,
    *,
    once: bool,
    scrub: Redactor,
    billed: bool = True,
) -> Any:
    """The decoded body of an answer, or the exception it stands for (`Retryable` when
    the policy may try again). `once`: the request is never repeated once it may have
    arrived; `billed`: it may create a paid job. `scrub` is applied to every string of
    the body (and so to error messages): the key and lone surrogates go."""
    body = _decode(response, scrub)
    request_id = response.headers.get("x-request-id") or _body_request_id(body)
    status = response.status_code
    if 200 <= status < 300:
        if body is None:
            if once:
                raise OutcomeUnknownError(
                    f"{where}: Atlas answered {status} but the body was unreadable",
                    request_id=request_id,
                    billed=billed,
                    prediction_id=salvage_id(response.content) if billed else None,
                ) from None
            raise Retryable(
                APIResponseError(f"{where}: Atlas answered {status} with a body that is not JSON")
            )
        code = body.get("code") if isinstance(body, dict) else None
        data = unwrap(body)
        if isinstance(code, int) and code >= 400 and not (isinstance(data, dict) and "id" in data):
            status = code  # an error dressed as HTTP 200
        else:
            return body
    message = scrub(clean_text(error_message(body) or _reason(response)))
    if status >= 500 and _terminal_failure(body):
        return body  # a failed job answered as 5xx: an answer, not an outage
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    error = status_error(status, message, request_id=request_id, retry_after=retry_after)
    if once:
        if isinstance(error, ServerError):
            raise OutcomeUnknownError(
                f"{where}: Atlas answered {status} ({message}); it may have processed the request",
                request_id=request_id,
                billed=billed,
            ) from None
        raise error
    if isinstance(error, RateLimitError | ServerError):
        raise Retryable(error, retry_after=retry_after)
    raise error


def _body_request_id(body: Any) -> str | None:
    """The `request_id` an error body carries (`{"code", "msg", "request_id", "data"}`)."""
    value = body.get("request_id") if isinstance(body, dict) else None
    return str(value) if isinstance(value, str | int) and str(value) else None


MAX_DEPTH = 64
"""Deepest nesting of arrays and objects an answer may have (Atlas's have under 10):
deeper is unreadable, so nothing after the decoder recurses without bound."""


_ID_FIELD = re.compile(rb'"(?:id|prediction_id)"\s*:\s*"([A-Za-z0-9][A-Za-z0-9_.:-]{0,127})"')


def salvage_id(raw: bytes) -> str | None:
    """The first job id field in the raw bytes of an answer that cannot be decoded."""
    found = _ID_FIELD.search(raw[:1_000_000])
    return found.group(1).decode("ascii") if found else None


def _decode(response: httpx2.Response, scrub: Redactor) -> Any:
    """The body as JSON, every string cleaned (`sanitize.clean_answer`); None when it is
    not JSON, not UTF-8, or nested deeper than MAX_DEPTH. Decoded as `json.loads` decodes
    bytes (`response.json()`), the text kept for `clean_answer`."""
    raw = response.content
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if _deeper_than(body, MAX_DEPTH):
        return None
    return clean_answer(text, body, scrub)


def _deeper_than(value: Any, limit: int) -> bool:
    """Is `value` nested more than `limit` levels deep (checked without recursion)?"""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        nested = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not nested:
            return False
        level = nested
    return True


def _terminal_failure(body: Any) -> bool:
    data = unwrap(body)
    return isinstance(data, dict) and str(data.get("status", "")).lower() in FAILURE_STATUSES


def _reason(response: httpx2.Response) -> str:
    if response.headers.get("content-type", "").startswith("text/html"):
        return f"HTTP {response.status_code} {response.reason_phrase} (HTML error page)"
    return f"HTTP {response.status_code} {response.reason_phrase}"
