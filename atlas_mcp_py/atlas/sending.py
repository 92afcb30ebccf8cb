"""Sending one logical request to Atlas as attempts: auth, deadline, retries, key scrubbing.

When to retry and what each answer means (a billed POST is never sent twice) is `retry`;
`AtlasClient` (client.py) has one `Sender` and one method per endpoint on top of it.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import httpx2

from atlas_mcp_py.atlas.retry import RetryPolicy, interpret, transport_failure
from atlas_mcp_py.atlas.sanitize import Redactor, clean_text
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import AuthenticationError, Retryable, WrongBaseURLError

__all__ = ["Sender"]

logger = logging.getLogger(__name__)


class Sender:
    """Sends requests for an `AtlasClient` over its `httpx2.AsyncClient`, with the retry
    policy; decodes and cleans the answers."""

    def __init__(
        self,
        settings: Settings,
        http: httpx2.AsyncClient,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]],
        rand: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._http = http
        self._policy = policy
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._redactor: Redactor | None = None

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self._settings.base_url + path

    async def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        content: Callable[[], AsyncIterator[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        once: bool = False,
        billed: bool = False,
        deadline: float | None = -1.0,
    ) -> Any:
        """Send one logical request with the retry policy; return the decoded body
        (every string in it cleaned: the key blanked, lone surrogates replaced).

        `once` marks a POST never repeated once it may have reached Atlas; `billed` one
        that may create a paid job (what a lost answer then means).
        `deadline` is the overall limit in seconds (-1: the settings' default; None: none).
        """
        body, _ = await self.exchange(
            method,
            path,
            auth=auth,
            params=params,
            json=json,
            content=content,
            headers=headers,
            once=once,
            billed=billed,
            deadline=deadline,
        )
        return body

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        content: Callable[[], AsyncIterator[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        once: bool = False,
        billed: bool = False,
        deadline: float | None = -1.0,
    ) -> tuple[Any, httpx2.Headers]:
        """`request`, also returning the answer's headers."""
        try:
            return await self._attempts(
                method, path, auth, params, json, content, headers, once, billed, deadline
            )
        except AuthenticationError as exc:
            if exc.status != 401 or isinstance(exc, WrongBaseURLError):
                raise
            on_api = not path.startswith(("http://", "https://"))
            if on_api and (not auth or _has_path(self._settings.base_url)):
                # Atlas's gateway checks the key before it routes: a 401 on a request
                # that needs no key, or under a base URL with a path, is a wrong path.
                raise WrongBaseURLError(
                    exc.status, exc.message, request_id=exc.request_id
                ) from None
            raise

    async def _attempts(
        self,
        method: str,
        path: str,
        auth: bool,
        params: Mapping[str, str | int] | None,
        json: Any,
        content: Callable[[], AsyncIterator[bytes]] | None,
        headers: Mapping[str, str] | None,
        once: bool,
        billed: bool,
        deadline: float | None,
    ) -> tuple[Any, httpx2.Headers]:
        all_headers = {"Accept": "application/json", **(headers or {})}  # as Atlas's clients
        if auth:
            all_headers["Authorization"] = f"Bearer {self._settings.require_api_key()}"
        if deadline is not None and deadline < 0:
            deadline = self._settings.request_deadline
        give_up_at = None if deadline is None else self._clock() + deadline
        attempt = 0
        while True:
            try:
                return await self._attempt(
                    method, path, params, json, content, all_headers, once, billed, give_up_at
                )
            except Retryable as retry:
                error = retry.error
                if attempt >= self._policy.max_retries:
                    raise error from None
                delay = self._policy.delay_for(attempt, retry.retry_after, self._rand())
                if give_up_at is not None and self._clock() + delay >= give_up_at:
                    raise error from None
                attempt += 1
                logger.warning(
                    "%s %s failed (%s); retry %d/%d in %.1f s",
                    method,
                    _path_only(path),
                    error,
                    attempt,
                    self._policy.max_retries,
                    delay,
                )
                await self._sleep(delay)

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        json: Any,
        content: Callable[[], AsyncIterator[bytes]] | None,
        headers: dict[str, str],
        once: bool,
        billed: bool,
        give_up_at: float | None,
    ) -> tuple[Any, httpx2.Headers]:
        where = f"{method} {_path_only(path)}"
        remaining = None if give_up_at is None else max(0.0, give_up_at - self._clock())
        try:
            with anyio.fail_after(remaining):
                response = await self._http.request(
                    method,
                    self.url(path),
                    params=params,
                    json=json,
                    content=content() if content is not None else None,
                    headers=headers,
                )
        except (httpx2.RequestError, TimeoutError) as exc:
            raise transport_failure(where, exc, once, billed=billed) from None
        logger.debug(
            "%s -> %d (request id %s)",
            where,
            response.status_code,
            self.scrub(clean_text(response.headers.get("x-request-id", ""))),
        )
        answer = interpret(where, response, once=once, billed=billed, scrub=self.redactor)
        return answer, response.headers

    @property
    def redactor(self) -> Redactor:
        """Blanks the API key (as is, percent-encoded, after `Bearer`) out of text, in
        case a server echoes it back."""
        if self._redactor is None:
            key = self._settings.api_key
            self._redactor = Redactor(key.get_secret_value() if key is not None else None)
        return self._redactor

    def scrub(self, text: str) -> str:
        """`text` with the API key blanked out (`redactor`)."""
        return self.redactor(text)


def _has_path(base_url: str) -> bool:
    """Does the base URL carry a path (`https://api.atlascloud.ai/api/v1`)? The API
    root has none."""
    return urllib.parse.urlsplit(base_url).path.strip("/") != ""


def _path_only(path: str) -> str:
    """A URL or path without query string, safe to log."""
    return path.split("?", 1)[0]
