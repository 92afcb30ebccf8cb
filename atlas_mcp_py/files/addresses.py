"""Where a download may connect: public addresses only, plus the hosts the user trusts.

A job's output URL comes from Atlas (or whatever answers at the configured base URL), so
it is not trusted: `http://127.0.0.1:8080/admin`, `http://169.254.169.254/latest/...`
(cloud metadata) or a 302 to either would otherwise land internal bytes in the project.
`AddressGuard` resolves the URL's host and refuses it unless every address is public
(not loopback, private, link-local, shared, reserved, multicast or unspecified); each
redirect hop is checked the same way, and the address the connection really went to is
checked again once it is open (a name that resolves differently the second time).

Two exceptions: the configured Atlas base URL's own host and port (the bundled
simulator and self-hosted gateways serve outputs there), and the hosts listed in
`ATLAS_MCP_DOWNLOAD_HOSTS` (`host` for any port, `host:port` for one).
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio

from atlas_mcp_py.errors import DownloadFailed

__all__ = [
    "AddressGuard",
    "Resolver",
    "is_public",
]

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the IP addresses it resolves to."""


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def is_public(address: str) -> bool:
    """Is `address` (an IPv4 or IPv6 literal) a globally routable unicast address?"""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _port(scheme: str, port: int | None) -> int:
    return port if port is not None else (443 if scheme == "https" else 80)


@dataclass(frozen=True)
class AddressGuard:
    """The download address policy of one server (see the module docstring)."""

    trusted: frozenset[tuple[str, int | None]] = frozenset()
    """(host, port) pairs allowed whatever they resolve to; port None: any port."""
    resolve: Resolver = field(default=_getaddrinfo, compare=False)

    @classmethod
    def for_base_url(
        cls, base_url: str, extra: Iterable[str] = (), *, resolve: Resolver | None = None
    ) -> AddressGuard:
        """Trust the Atlas base URL's own host and port, and each `extra` host[:port]."""
        parts = urlsplit(base_url)
        trusted: set[tuple[str, int | None]] = set()
        if parts.hostname:
            trusted.add((parts.hostname.lower(), _port(parts.scheme, parts.port)))
        for item in extra:
            host, sep, port = item.strip().lower().rpartition(":")
            if sep and port.isdigit() and host and not host.endswith(":"):
                trusted.add((host.strip("[]"), int(port)))
            else:
                trusted.add((item.strip().lower().strip("[]"), None))
        return cls(frozenset(trusted), resolve or _getaddrinfo)

    def is_trusted(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        try:
            port = _port(parts.scheme, parts.port)
        except ValueError:
            return False
        return (host, port) in self.trusted or (host, None) in self.trusted

    async def check(self, url: str) -> None:
        """Refuse (`DownloadFailed`) a URL whose host is not trusted and resolves to any
        non-public address; nothing is connected to."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DownloadFailed(f"refusing to download from a non-http(s) URL ({parts.scheme}:)")
        if self.is_trusted(url):
            return
        host = parts.hostname
        addresses = [host] if _is_literal(host) else await self._resolve(url, host, parts.port)
        if addresses is None:  # only the proxy in between can resolve it: the proxy decides
            return
        refused = [a for a in addresses if not is_public(a)]
        if refused or not addresses:
            raise DownloadFailed(self._refusal(host, refused[0] if refused else "no address"))

    async def _resolve(self, url: str, host: str, port: int | None) -> list[str] | None:
        """The addresses of `host`; None for a name that does not resolve here but goes
        through a proxy (which resolves it: the README names this limit)."""
        try:
            return await self.resolve(host, _port(urlsplit(url).scheme, port))
        except (OSError, ValueError) as exc:
            if _proxied(url):
                return None
            raise DownloadFailed(f"could not resolve the download host {host} ({exc})") from None

    def check_peer(self, url: str, peer: str | None) -> None:
        """Refuse a connection that went to a non-public address although the name was
        checked (it resolved differently the second time). Not checked through a proxy
        (the peer is the proxy then) or for trusted hosts."""
        if peer is None or self.is_trusted(url) or _proxied(url):
            return
        if not is_public(peer):
            host = urlsplit(url).hostname or url
            raise DownloadFailed(self._refusal(host, peer))

    @staticmethod
    def _refusal(host: str, address: str) -> str:
        return (
            f"refused to download from {host}: it resolves to {address}, not a public address "
            "(loopback, private, link-local and cloud-metadata addresses are never fetched; "
            "list a trusted host in ATLAS_MCP_DOWNLOAD_HOSTS to allow it)"
        )


def _proxied(url: str) -> bool:
    """Does a request to `url` go through an HTTP(S)_PROXY named in the environment?"""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return not bypass(parts.hostname or "", proxies)
