"""`plan_save` / `save_video` against fake file servers (httpx2.MockTransport handlers):
redirects, headers, content checks, size caps, races at the destination, cancellation.
Every failure must leave the directory exactly as it was: no file, no temporary file."""

from __future__ import annotations

import errno
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx2
import pytest
from helpers import GUARD

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import DownloadFailed, FileRefused
from atlas_mcp_py.files.downloads import save_video
from atlas_mcp_py.files.roots import AllowedRoots
from atlas_mcp_py.files.saves import SavePlan, default_stem, plan_save
from atlas_mcp_py.generation import JobResult, save_job_result

pytestmark = pytest.mark.anyio

KEY = "sk-atlas-DOWNLOADKEY-77"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 40
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x07" * 3000
URL = "https://cdn.atlas.test/outputs/abc/video.mp4"
Handler = Callable[[httpx2.Request], httpx2.Response]


def roots(root: Path) -> AllowedRoots:
    return AllowedRoots.from_paths([root], "test")


def client(handler: Handler) -> AtlasClient:
    """The real AtlasClient (with an API key set) over a fake transport: its pool is
    what downloads use."""
    settings = Settings(api_key=KEY, base_url="https://api.atlas.test")
    return AtlasClient(settings, transport=httpx2.MockTransport(handler))


def serve(body: bytes, content_type: str = "video/mp4", status: int = 200) -> Handler:
    return lambda request: httpx2.Response(
        status, content=body, headers={"content-type": content_type}
    )


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


async def save(
    tmp_path: Path,
    handler: Handler,
    save_to: str = ".",
    *,
    overwrite: bool = False,
    max_bytes: int = 10**6,
    plan: SavePlan | None = None,
) -> Path:
    async with client(handler) as atlas:
        plan = plan or plan_save(roots(tmp_path), save_to, overwrite=overwrite)
        saved = await save_video(
            atlas.http, plan, URL, stem="model-id", max_bytes=max_bytes, guard=GUARD
        )
    return saved.path


# -- success --------------------------------------------------------------------------------


async def test_a_directory_gets_the_server_chosen_name_and_the_exact_bytes(
    tmp_path: Path,
) -> None:
    path = await save(tmp_path, serve(MP4))
    assert path == tmp_path / "model-id.mp4"
    assert path.read_bytes() == MP4
    assert listing(tmp_path) == ["model-id.mp4"]


async def test_a_webm_is_saved_with_a_webm_extension(tmp_path: Path) -> None:
    path = await save(tmp_path, serve(WEBM, "video/webm"), "clip.mp4")
    assert path == tmp_path / "clip.webm"
    assert path.read_bytes() == WEBM


async def test_a_name_without_a_video_extension_gets_one_appended(tmp_path: Path) -> None:
    assert await save(tmp_path, serve(MP4), "clip") == tmp_path / "clip.mp4"


def test_the_default_name_is_a_safe_slug_of_model_and_id() -> None:
    assert default_stem("minimax/hailuo-02/fast", "abc123") == "minimax-hailuo-02-fast-abc123"
    assert default_stem("Kling/V2.1 Pro", "../../etc/x") == "kling-v2-1-pro-etc-x"


async def test_the_download_carries_no_authorization_header(tmp_path: Path) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return serve(MP4)(request)

    await save(tmp_path, handler)
    (request,) = seen
    assert "authorization" not in request.headers
    assert KEY not in str(request.headers) and KEY not in str(request.url)


async def test_three_redirects_are_followed_each_without_the_key(tmp_path: Path) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        hop = int(request.url.params.get("hop", "0"))
        if hop < 3:
            return httpx2.Response(302, headers={"location": f"/next?hop={hop + 1}"})
        return serve(MP4)(request)

    assert (await save(tmp_path, handler)).read_bytes() == MP4
    assert len(seen) == 4
    assert all("authorization" not in r.headers for r in seen)


# -- refusals and failures leave nothing ----------------------------------------------------


async def expect_failure(tmp_path: Path, handler: Handler, match: str, **kwargs: object) -> None:
    before = listing(tmp_path)
    with pytest.raises((DownloadFailed, FileRefused), match=match):
        await save(tmp_path, handler, **kwargs)  # type: ignore[arg-type]
    assert listing(tmp_path) == before


async def test_a_fourth_redirect_is_refused_without_being_followed(tmp_path: Path) -> None:
    seen: list[httpx2.Request] = []

    def redirect(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(301, headers={"location": "/again"})

    await expect_failure(tmp_path, redirect, "more than 3 redirects")
    assert len(seen) == 4  # the first request and three redirects


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://files.test/v.mp4", "javascript:alert(1)"]
)
async def test_a_redirect_to_a_non_http_url_is_refused(tmp_path: Path, location: str) -> None:
    redirect = lambda request: httpx2.Response(307, headers={"location": location})  # noqa: E731
    await expect_failure(tmp_path, redirect, "non-http")


async def test_an_html_page_served_as_the_video_is_refused(tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><html><body>Access denied</body></html>"
    await expect_failure(tmp_path, serve(page, "text/html"), "HTML page")


async def test_an_error_status_is_refused(tmp_path: Path) -> None:
    await expect_failure(tmp_path, serve(b"gone", "text/plain", 404), "HTTP 404")


async def test_an_empty_body_is_refused(tmp_path: Path) -> None:
    await expect_failure(tmp_path, serve(b""), "it is empty")


async def test_an_oversize_declared_body_is_refused_before_reading(tmp_path: Path) -> None:
    await expect_failure(tmp_path, serve(MP4), "download limit", max_bytes=100)


async def test_an_oversize_streamed_body_is_cut_off(tmp_path: Path) -> None:
    async def endless() -> AsyncIterator[bytes]:
        yield MP4[:64]
        while True:
            yield b"\x00" * 65536

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=endless(), headers={"content-type": "video/mp4"})

    await expect_failure(tmp_path, handler, "download limit", max_bytes=1_000_000)


async def test_a_connection_error_is_a_download_failure(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    await expect_failure(tmp_path, handler, "ConnectError")


async def test_a_body_that_breaks_off_leaves_nothing(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield MP4[:2000]
        raise httpx2.RemoteProtocolError("peer closed connection")

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=broken(), headers={"content-type": "video/mp4"})

    await expect_failure(tmp_path, handler, "broke off", save_to="new/dir/")


async def test_cancelling_mid_download_leaves_nothing(tmp_path: Path) -> None:
    started = anyio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield MP4[:4096]
        started.set()
        await anyio.sleep_forever()
        yield b""  # pragma: no cover

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=stalls(), headers={"content-type": "video/mp4"})

    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await save(tmp_path, handler, "made/for/it/clip.mp4")

        tg.start_soon(run)
        with anyio.fail_after(5):
            await started.wait()
        assert any(name.endswith(".part") for name in listing(tmp_path))  # it was writing
        tg.cancel_scope.cancel()
    assert listing(tmp_path) == []


# -- the destination ------------------------------------------------------------------------


async def test_an_existing_file_is_refused_at_plan_time(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"mine")
    with pytest.raises(FileRefused, match="already exists"):
        plan_save(roots(tmp_path), "clip.mp4")


async def test_a_file_that_appears_during_the_download_is_not_clobbered(tmp_path: Path) -> None:
    plan = plan_save(roots(tmp_path), "clip.mp4")
    (tmp_path / "clip.mp4").write_bytes(b"arrived meanwhile")
    await expect_failure(tmp_path, serve(MP4), "already exists", plan=plan)
    assert (tmp_path / "clip.mp4").read_bytes() == b"arrived meanwhile"


async def test_overwrite_replaces_an_existing_file(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"old")
    path = await save(tmp_path, serve(MP4), "clip.mp4", overwrite=True)
    assert path.read_bytes() == MP4
    assert listing(tmp_path) == ["clip.mp4"]


async def test_a_symlink_at_the_destination_is_refused_even_with_overwrite(
    tmp_path: Path,
) -> None:
    (tmp_path / "target.mp4").write_bytes(b"precious")
    (tmp_path / "clip.mp4").symlink_to(tmp_path / "target.mp4")
    with pytest.raises(FileRefused, match="is a symlink; nothing"):
        plan_save(roots(tmp_path), "clip.mp4", overwrite=True)


@pytest.mark.parametrize("overwrite", [False, True])
async def test_a_symlink_swapped_in_at_the_destination_is_never_written_through(
    tmp_path: Path, overwrite: bool
) -> None:
    plan = plan_save(roots(tmp_path), "clip.mp4", overwrite=overwrite)
    (tmp_path / "target.mp4").write_bytes(b"precious")
    (tmp_path / "clip.mp4").symlink_to(tmp_path / "target.mp4")
    await expect_failure(tmp_path, serve(MP4), "is a symlink; nothing|already exists", plan=plan)
    assert (tmp_path / "target.mp4").read_bytes() == b"precious"


async def test_a_directory_swapped_for_a_symlink_after_the_plan_is_refused(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    (root / "out").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plan = plan_save(roots(root), "out/clip.mp4")
    (root / "out").rmdir()
    (root / "out").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(FileRefused, match="not a plain directory"):
        await save(root, serve(MP4), plan=plan)
    assert listing(elsewhere) == []


@pytest.mark.parametrize(
    ("save_to", "says"),
    [
        ("../escape.mp4", "outside the allowed roots"),
        (".cache/clip.mp4", "is a hidden name"),
        (".clip.mp4", "is a hidden name"),
        ("missing/..", "does not name a file"),
        ("x\x00.mp4", "NUL"),
        ("afile.txt/clip.mp4", "not a directory"),
    ],
)
def test_bad_destinations_are_refused_by_the_plan(tmp_path: Path, save_to: str, says: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "afile.txt").write_text("x")
    with pytest.raises(FileRefused, match=says):
        plan_save(roots(root), save_to)


async def test_without_hard_links_the_name_is_reserved_exclusively(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported on this filesystem")

    monkeypatch.setattr(os, "link", no_links)
    assert (await save(tmp_path, serve(MP4), "clip.mp4")).read_bytes() == MP4
    assert listing(tmp_path) == ["clip.mp4"]
    plan = plan_save(roots(tmp_path), "second.mp4")
    (tmp_path / "second.mp4").write_bytes(b"first come")
    await expect_failure(tmp_path, serve(MP4), "already exists", plan=plan)
    assert (tmp_path / "second.mp4").read_bytes() == b"first come"


# -- onto a job result ----------------------------------------------------------------------


async def test_a_saved_result_carries_its_path_and_size(tmp_path: Path) -> None:
    result = JobResult(prediction_id="p1", model="a/b", status="completed", video_url=URL)
    async with client(serve(MP4)) as atlas:
        plan = plan_save(roots(tmp_path), ".")
        await save_job_result(atlas.http, result, plan, max_bytes=10**6, guard=GUARD)
    assert result.local_path == str(tmp_path / "a-b-p1.mp4")
    assert result.size_bytes == len(MP4)


async def test_a_failed_save_keeps_the_url_and_says_how_to_retry(tmp_path: Path) -> None:
    result = JobResult(prediction_id="p1", model="a/b", status="completed", video_url=URL)
    async with client(serve(b"<html>nope</html>", "text/html")) as atlas:
        plan = plan_save(roots(tmp_path), ".")
        await save_job_result(atlas.http, result, plan, max_bytes=10**6, guard=GUARD)
    assert result.local_path is None and result.video_url == URL
    (note,) = result.notes
    assert "failed" in note and "atlas_check_status" in note and '"p1"' in note
    assert listing(tmp_path) == []


async def test_an_unfinished_job_is_not_downloaded(tmp_path: Path) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("nothing may be fetched")

    result = JobResult(prediction_id="p1", model="a/b", status="processing")
    async with client(handler) as atlas:
        plan = plan_save(roots(tmp_path), ".")
        assert await save_job_result(atlas.http, result, plan, max_bytes=10, guard=GUARD) is None
    assert "not ready" in result.notes[0]
    assert os.listdir(tmp_path) == []
