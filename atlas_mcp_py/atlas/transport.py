"""The HTTP layer under AtlasClient: a lazily built transport and the 429 cooldown."""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import anyio.to_thread
import httpcore2  # noqa: F401  (LazyHTTPTransport: imported at start, not by the first call)
import httpx2

from atlas_mcp_py.atlas.retry import (
    PROXY_NOTE,
    parse_retry_after,
)
from atlas_mcp_py.errors import (
    ConfigError,
)

__all__ = [
    "Cooldown",
    "CooldownTransport",
    "LazyHTTPTransport",
    "paced_transport",
]

logger = logging.getLogger(__name__)


class LazyHTTPTransport(httpx2.AsyncBaseTransport):
    """`httpx2.AsyncHTTPTransport(**options)`, built when the first request is sent, and
    one more per proxy when `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` name one (`NO_PROXY`
    respected, per request: Atlas and the CDN a video is saved from may differ).

    POSTs (a billed generate, an upload) always go on a new connection, closed after: a
    kept-alive connection the server closes while the request is on its way ends in "no
    answer", and for a billed POST that means "outcome unknown" though nothing arrived.
    GETs reuse connections (a poll that meets that race is simply retried).

    Building one loads the TLS trust store into an SSL context (60-330 ms on a small
    machine), in a thread, never on the event loop, and only for https. `warm` starts
    that for Atlas's GETs as the server starts, in the background, so the first tool
    call finds it built. httpcore2 is imported with this module (~16 ms of the start):
    imported by that thread, it was seldom done by the first call, which then waited.
    The trust store honours `SSL_CERT_FILE` (a CA bundle file) and `SSL_CERT_DIR` (a CA
    directory), as OpenSSL and curl do: behind a corporate TLS-inspecting proxy they name
    its CA. `.netrc`, which httpx would also read, is not: no stray credentials are ever
    attached to a request.
    """

    def __init__(self, *, proxies: Mapping[str, str] | None = None, **options: Any) -> None:
        """`proxies`: scheme -> proxy URL plus an optional "no" list, as
        `urllib.request.getproxies_environment()` gives (the default)."""
        self._options = {**options, "trust_env": False}
        self._proxies = dict(proxies) if proxies is not None else None
        self._inner: dict[str, httpx2.AsyncHTTPTransport] = {}
        self._ssl: ssl.SSLContext | None = None
        self._made = threading.Lock()  # one build per route, be it by warm() or a request

    def proxy_for(self, url: httpx2.URL) -> str | None:
        """The proxy a request to `url` goes through, or None for a direct connection."""
        if self._proxies is None:
            self._proxies = urllib.request.getproxies_environment()
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        # CPython's NO_PROXY matcher (suffixes, "*", host:port), the one urllib uses;
        # typeshed does not list it
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if not proxy or bypass(url.host, self._proxies):
            return None
        if not proxy.startswith(("http://", "https://")):
            if "://" not in proxy:
                return f"http://{proxy}"  # "proxy.corp:3128", as curl reads it
            logger.warning("only http(s) proxies are supported; connecting directly")
            return None
        return proxy

    def _route(self, method: str, url: httpx2.URL) -> tuple[str, str | None, bool, bool]:
        """(key, proxy, fresh, tls): which transport a request goes through."""
        proxy = self.proxy_for(url)
        fresh = method == "POST"
        tls = url.scheme == "https" or (proxy or "").startswith("https://")
        key = f"{'fresh' if fresh else 'pooled'} {'tls' if tls else 'plain'} {proxy or ''}"
        return key, proxy, fresh, tls

    def warm(self, url: str) -> threading.Thread:
        """Builds the transport GETs to `url` go through, in a background thread (started
        here, returned): the first request then finds it built. A failure is only logged:
        that request builds it again and reports the error."""
        route = self._route("GET", httpx2.URL(url))

        def build() -> None:
            try:
                self._make(*route)
            except Exception as exc:  # noqa: BLE001 - the request that needs it reports it
                logger.debug("building the HTTP transport ahead failed: %s", exc)

        thread = threading.Thread(target=build, name="atlas-transport-warm", daemon=True)
        thread.start()
        return thread

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        key, proxy, fresh, tls = self._route(request.method, request.url)
        inner = self._inner.get(key)
        if inner is None:  # built in a worker thread: the event loop keeps serving
            inner = await anyio.to_thread.run_sync(self._make, key, proxy, fresh, tls)
        try:
            return await inner.handle_async_request(request)
        except httpx2.TransportError as exc:
            if proxy:  # what failed may be the proxy, not Atlas: say which was tried
                exc.add_note(f"{PROXY_NOTE}{proxy}")
            raise

    async def aclose(self) -> None:
        for inner in self._inner.values():
            await inner.aclose()

    def _make(
        self, key: str, proxy: str | None, fresh: bool, tls: bool
    ) -> httpx2.AsyncHTTPTransport:
        """The transport for `key`, built once (never on the event loop: loading the trust
        store takes 60-330 ms). A transport that never speaks TLS (plain http:// to Atlas,
        no https proxy) loads no trust store at all."""
        with self._made:
            if key not in self._inner:
                self._inner[key] = self._new_transport(proxy, fresh, tls)
            return self._inner[key]

    def _new_transport(
        self, proxy: str | None, fresh: bool, tls: bool
    ) -> httpx2.AsyncHTTPTransport:
        options = dict(self._options)
        if "verify" not in options:  # without TLS, an empty context (no trust store read)
            options["verify"] = self._ssl_context() if tls else False
        if fresh:
            options["limits"] = httpx2.Limits(max_keepalive_connections=0)
        return httpx2.AsyncHTTPTransport(proxy=proxy, **options)

    def _ssl_context(self) -> ssl.SSLContext:
        """The system's trust store, or the CAs `SSL_CERT_FILE` / `SSL_CERT_DIR` name (one
        context for every connection); a CA setting that cannot be used is a `ConfigError`."""
        if self._ssl is None:
            try:
                self._ssl = httpx2.create_ssl_context(trust_env=True)
            except (OSError, ssl.SSLError) as exc:
                names = [n for n in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(n)]
                setting = " / ".join(f"{n}={os.environ[n]}" for n in names) or "the trust store"
                raise ConfigError(
                    f"Cannot load the TLS certificate authorities from {setting} "
                    f"({getattr(exc, 'strerror', None) or exc}). Point it at a readable "
                    "PEM bundle (SSL_CERT_FILE) or certificate directory (SSL_CERT_DIR), "
                    "or unset it, and restart the server. Nothing was sent."
                ) from None
        return self._ssl


COOLDOWN_BASE_SECONDS = 1.0


COOLDOWN_CAP_SECONDS = 30.0


class Cooldown:
    """Per-host "not before" times after a 429."""

    def __init__(
        self,
        *,
        base: float = COOLDOWN_BASE_SECONDS,
        cap: float = COOLDOWN_CAP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.cap = cap
        self._clock = clock
        self._until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    def remaining(self, host: str) -> float:
        return max(0.0, self._until.get(host, 0.0) - self._clock())

    def rate_limited(self, host: str, retry_after: float | None) -> float:
        """Note a 429 from `host`; returns the cooldown it started (seconds)."""
        strikes = self._strikes.get(host, 0)
        self._strikes[host] = strikes + 1
        if retry_after is None:
            retry_after = self.base * 2.0**strikes
        delay = min(max(retry_after, 0.0), self.cap)
        self._until[host] = max(self._until.get(host, 0.0), self._clock() + delay)
        logger.warning("Atlas rate limit (429) from %s: slowing down for %.1f s", host, delay)
        return delay

    def answered(self, host: str) -> None:
        """An answer other than 429: the backoff starts over next time."""
        self._strikes.pop(host, None)

    async def wait(self, host: str) -> None:
        """Sleep out the host's cooldown (a later 429 may extend it meanwhile)."""
        delay = self.remaining(host)
        while delay > 0:
            await anyio.sleep(delay)
            delay = self.remaining(host)


class CooldownTransport(httpx2.AsyncBaseTransport):
    """Wraps a transport: waits out the host's cooldown before sending, notes 429s."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, cooldown: Cooldown) -> None:
        self.inner = inner
        self.cooldown = cooldown

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        await self.cooldown.wait(host)
        response = await self.inner.handle_async_request(request)
        if response.status_code == 429:
            self.cooldown.rate_limited(host, parse_retry_after(response.headers.get("retry-after")))
        else:
            self.cooldown.answered(host)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def paced_transport(
    inner: httpx2.AsyncBaseTransport | None = None, *, warm: str | None = None
) -> CooldownTransport:
    """The transport of a server's AtlasClient: `inner` (default: the client's own lazily
    built transport, environment proxies honoured, built ahead for GETs to `warm` when
    given) behind a fresh cooldown."""
    if inner is None:
        inner = LazyHTTPTransport()
        if warm is not None:
            inner.warm(warm)
    return CooldownTransport(inner, Cooldown())
