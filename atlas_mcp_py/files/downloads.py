"""Fetching a result URL into a file: redirects, limits, the format it really is.

Every hop goes only where `AddressGuard` allows (public addresses, the Atlas host, the
hosts the user listed), and the whole download has a deadline: a server that trickles
a byte every few seconds never holds a call past its wait budget."""

from __future__ import annotations

import os
import secrets
from contextlib import suppress
from urllib.parse import urljoin, urlsplit

import anyio.to_thread
import httpx2

from atlas_mcp_py.errors import DownloadFailed, FileRefused
from atlas_mcp_py.files.addresses import AddressGuard
from atlas_mcp_py.files.media import describe_head, sniff_image, sniff_video
from atlas_mcp_py.files.saves import (
    _CREATE_FLAGS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    SavedFile,
    SavePlan,
    _directory,
    _final_name,
    _place,
    _write_all,
    same_files,
)

__all__ = [
    "MAX_REDIRECTS",
    "save_video",
]

MAX_REDIRECTS = 3


_SNIFF_BYTES = 16


_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DownloadFailed(f"refusing to download from a non-http(s) URL ({parts.scheme}:)")
    return url


def _peer(response: httpx2.Response) -> str | None:
    """The IP address the response's connection went to (None: no socket, a test's)."""
    stream = response.extensions.get("network_stream")
    address = stream.get_extra_info("server_addr") if stream is not None else None
    return str(address[0]) if isinstance(address, tuple) and address else None


async def _open(http: httpx2.AsyncClient, url: str, guard: AddressGuard) -> httpx2.Response:
    """The response to GET `url`, following at most MAX_REDIRECTS redirects, each hop
    checked by `guard` before it is connected to and once connected."""
    for _ in range(MAX_REDIRECTS + 1):
        await guard.check(_check_url(url))
        request = http.build_request("GET", url, headers={"Accept": "video/*, */*"})
        request.headers.pop("Authorization", None)
        response = await http.send(request, stream=True, follow_redirects=False)
        try:
            guard.check_peer(url, _peer(response))
        except DownloadFailed:
            await response.aclose()
            raise
        if response.status_code not in _REDIRECTS:
            return response
        location = response.headers.get("location")
        await response.aclose()
        if not location:
            raise DownloadFailed(f"HTTP {response.status_code} redirect without a Location")
        url = urljoin(url, location)
    raise DownloadFailed(f"more than {MAX_REDIRECTS} redirects")


async def _stream_into(
    http: httpx2.AsyncClient,
    url: str,
    fd: int,
    max_bytes: int,
    kind: str = "video",
    guard: AddressGuard | None = None,
) -> tuple[int, str]:
    """Download `url` into `fd`; (bytes written, extension of the `kind`), or
    `DownloadFailed`."""
    try:
        response = await _open(http, url, guard or AddressGuard())
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise DownloadFailed(f"the download failed ({type(exc).__name__})") from None
    try:
        content_type = response.headers.get("content-type", "unknown type")
        if response.status_code in (404, 410):  # Atlas serves outputs for 14 days at most
            raise DownloadFailed(
                f"the video URL answered HTTP {response.status_code}: Atlas no longer serves "
                "it (outputs expire, after 14 days by default)"
            )
        if response.status_code != 200:
            raise DownloadFailed(f"the {kind} URL answered HTTP {response.status_code}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise DownloadFailed(
                f"the {kind} is {declared} bytes, over the download limit of {max_bytes} "
                "(ATLAS_MCP_MAX_DOWNLOAD_BYTES)"
            )
        head = b""
        extension: str | None = None
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise DownloadFailed(
                    f"the {kind} is over the download limit of {max_bytes} bytes "
                    "(ATLAS_MCP_MAX_DOWNLOAD_BYTES)"
                )
            if extension is None:
                head += chunk
                if len(head) < _SNIFF_BYTES:
                    continue
                extension = _extension(head, content_type, kind)
                chunk, head = head, b""
            await anyio.to_thread.run_sync(_write_all, fd, chunk)
        if extension is None:
            extension = _extension(head, content_type, kind)
            await anyio.to_thread.run_sync(_write_all, fd, head)
    except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
        raise DownloadFailed(f"the download broke off ({type(exc).__name__})") from None
    finally:
        await response.aclose()
    return size, extension


def _extension(head: bytes, content_type: str, kind: str = "video") -> str:
    if kind == "image":
        found = sniff_image(head)
        extension = found.default_extension if found is not None else None
    else:
        extension = sniff_video(head)
    if extension is None:
        what = "an image" if kind == "image" else "a video"
        raise DownloadFailed(
            f"what came back is not {what} ({describe_head(head)}; served as {content_type})"
        )
    return extension


async def save_video(
    http: httpx2.AsyncClient,
    plan: SavePlan,
    url: str,
    *,
    stem: str,
    max_bytes: int,
    kind: str = "video",
    guard: AddressGuard,
    seconds: float | None = None,
) -> SavedFile:
    """Download the video (or, with `kind="image"`, the image) at `url` as the module
    docstring says: only from where `guard` allows, finished within `seconds` (None:
    no deadline).

    Raises `DownloadFailed` (network, address, deadline or content) or `FileRefused`
    (destination); in every case, cancellation included, nothing is left on disk. A
    destination already holding the same bytes is the saved file (a retried call for the
    same job).
    """
    await guard.check(_check_url(url))
    try:
        with _directory(plan) as dir_fd:
            temp = f".atlas-{secrets.token_hex(8)}.part"
            fd = os.open(temp, _CREATE_FLAGS, 0o644, dir_fd=dir_fd)
            placed = False
            try:
                try:
                    with anyio.move_on_after(seconds) as scope:
                        size, extension = await _stream_into(http, url, fd, max_bytes, kind, guard)
                    if scope.cancelled_caught:
                        raise DownloadFailed(
                            f"the download did not finish within {seconds or 0:.0f} s (the "
                            "call's wait budget)"
                        )
                    await anyio.to_thread.run_sync(os.fsync, fd)
                finally:
                    os.close(fd)
                final = _final_name(plan, stem, extension)
                try:
                    await anyio.to_thread.run_sync(_place, dir_fd, temp, final, plan.overwrite)
                    placed = True
                except FileRefused:  # taken: by these very bytes, it is the result
                    if not await anyio.to_thread.run_sync(same_files, dir_fd, temp, final):
                        raise
                await anyio.to_thread.run_sync(os.fsync, dir_fd)
            finally:
                if not placed:
                    with suppress(FileNotFoundError):
                        os.unlink(temp, dir_fd=dir_fd)
    except OSError as exc:
        raise FileRefused(f"could not write into {plan.directory} ({exc.strerror})") from None
    types = IMAGE_EXTENSIONS if kind == "image" else VIDEO_EXTENSIONS
    return SavedFile(plan.directory / final, size, types[extension])
