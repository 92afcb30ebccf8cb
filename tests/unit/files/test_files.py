"""Path confinement, the upload checks in order, media sniffing, the upload reuse cache.

Real files in a temporary tree: symlinks, FIFOs, devices, sparse files. The attack table
through the MCP tool (with the simulator counting upload requests) is in
tests/integration/test_files_tools.py; here each check is pinned on its own, including
the race between the check and the open.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_mcp_py.atlas.client import UPLOAD_CHUNK_BYTES, AtlasClient
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import FileRefused, MediaMismatch
from atlas_mcp_py.files.media import media_type_for, sniff, sniff_video
from atlas_mcp_py.files.roots import (
    AllowedRoots,
    frame_source,
    hidden_component,
    is_within,
    too_broad,
)
from atlas_mcp_py.files.uploads import (
    UploadCache,
    UploadResult,
    check_upload_path,
    open_upload_source,
    prepare_upload,
    upload_file,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 48
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 32
PEM = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
LIMIT = 1024 * 1024


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """tmp/root (the allowed root) with a photo, and tmp/root-evil, tmp/outside beside it."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "photo.png").write_bytes(PNG)
    (root / "sub").mkdir()
    (root / "sub" / "clip.mp4").write_bytes(MP4)
    for sibling in ("root-evil", "outside"):
        (tmp_path / sibling).mkdir()
        (tmp_path / sibling / "photo.png").write_bytes(PNG)
    yield root


def roots_of(*paths: Path) -> AllowedRoots:
    return AllowedRoots.from_paths(paths, "test")


def refused(roots: AllowedRoots, raw: str) -> str:
    with pytest.raises(FileRefused) as info:
        source = prepare_upload(roots, raw, max_bytes=LIMIT)
        source.close()
    return str(info.value)


# -- confinement --------------------------------------------------------------------------


def test_is_within_compares_components_not_string_prefixes() -> None:
    assert is_within(Path("/a/b/c"), Path("/a/b"))
    assert is_within(Path("/a/b"), Path("/a/b"))
    assert not is_within(Path("/a/b-evil/c"), Path("/a/b"))
    assert not is_within(Path("/a"), Path("/a/b"))


def test_a_file_inside_the_root_is_accepted_with_its_sniffed_type(tree: Path) -> None:
    source = prepare_upload(roots_of(tree), "photo.png", max_bytes=LIMIT)
    try:
        assert source.path == tree / "photo.png"
        assert (source.filename, source.content_type, source.size) == (
            "photo.png",
            "image/png",
            len(PNG),
        )
        assert source.file.read(4) == PNG[:4]
    finally:
        source.close()


def test_relative_paths_resolve_against_the_first_root(tree: Path, tmp_path: Path) -> None:
    roots = roots_of(tree / "sub", tree)
    source = prepare_upload(roots, "clip.mp4", max_bytes=LIMIT)
    source.close()
    assert source.path == tree / "sub" / "clip.mp4"


def test_the_sibling_prefix_directory_is_outside(tree: Path) -> None:
    message = refused(roots_of(tree), str(tree.parent / "root-evil" / "photo.png"))
    assert "outside the allowed roots" in message


def test_dot_dot_cannot_climb_out_of_the_root(tree: Path) -> None:
    assert "outside" in refused(roots_of(tree), "../outside/photo.png")
    assert "outside" in refused(roots_of(tree), "sub/../../root-evil/photo.png")


def test_dot_dot_that_stays_inside_is_fine(tree: Path) -> None:
    prepare_upload(roots_of(tree), "sub/../photo.png", max_bytes=LIMIT).close()


def test_a_nul_byte_is_refused_before_touching_the_filesystem(tree: Path) -> None:
    assert "NUL" in refused(roots_of(tree), "photo.png\x00.txt")


def test_an_empty_path_is_refused(tree: Path) -> None:
    assert "the path is empty" in refused(roots_of(tree), "  ")


def test_a_symlink_to_a_file_outside_is_refused(tree: Path) -> None:
    (tree / "link.png").symlink_to(tree.parent / "outside" / "photo.png")
    assert "outside the allowed roots" in refused(roots_of(tree), "link.png")


def test_a_symlinked_parent_directory_pointing_outside_is_refused(tree: Path) -> None:
    (tree / "linked").symlink_to(tree.parent / "outside", target_is_directory=True)
    assert "outside the allowed roots" in refused(roots_of(tree), "linked/photo.png")


def test_a_symlink_that_stays_inside_the_root_is_followed(tree: Path) -> None:
    (tree / "alias.png").symlink_to(tree / "photo.png")
    source = prepare_upload(roots_of(tree), "alias.png", max_bytes=LIMIT)
    source.close()
    assert source.path == tree / "photo.png"


def test_hidden_components_below_the_root_are_refused(tree: Path) -> None:
    (tree / ".ssh").mkdir()
    (tree / ".ssh" / "id_rsa.png").write_bytes(PNG)
    (tree / ".env.png").write_bytes(PNG)
    assert "is a hidden name" in refused(roots_of(tree), ".ssh/id_rsa.png")
    assert "is a hidden name" in refused(roots_of(tree), ".env.png")


def test_a_visible_symlink_to_a_hidden_file_is_refused(tree: Path) -> None:
    (tree / ".secret.png").write_bytes(PNG)
    (tree / "innocent.png").symlink_to(tree / ".secret.png")
    assert "is a hidden name" in refused(roots_of(tree), "innocent.png")


def test_a_root_that_lives_under_a_dot_directory_still_works(tmp_path: Path) -> None:
    root = tmp_path / ".cache" / "project"
    root.mkdir(parents=True)
    (root / "photo.png").write_bytes(PNG)
    prepare_upload(roots_of(root), str(root / "photo.png"), max_bytes=LIMIT).close()
    assert hidden_component(root / "photo.png", root) is None


def test_roots_that_do_not_exist_refuse_every_path_with_a_hint(tmp_path: Path) -> None:
    roots = roots_of(tmp_path / "missing")
    assert roots.roots == ()
    assert "ATLAS_MCP_ROOTS" in refused(roots, "photo.png")


# -- what the path is -----------------------------------------------------------------------


def test_a_directory_is_refused(tree: Path) -> None:
    (tree / "album.png").mkdir()
    assert "a directory" in refused(roots_of(tree), "album.png")


def test_a_fifo_is_refused_without_blocking(tree: Path) -> None:
    os.mkfifo(tree / "pipe.png")
    assert "FIFO" in refused(roots_of(tree), "pipe.png")


def test_a_device_is_refused(tree: Path) -> None:
    assert "a device" in refused(roots_of(tree, Path("/dev")), "/dev/zero")


def test_a_missing_file_is_refused(tree: Path) -> None:
    assert "does not exist" in refused(roots_of(tree), "nope.png")


def test_a_hard_link_to_an_outside_file_is_refused(tree: Path) -> None:
    os.link(tree.parent / "outside" / "photo.png", tree / "linked.png")
    assert "linked.png has 2 hard links" in refused(roots_of(tree), "linked.png")


# -- roots from clients and the working directory -----------------------------------------


def test_narrowing_keeps_only_what_both_allow_in_the_clients_order(tmp_path: Path) -> None:
    tmp_path = tmp_path.resolve()
    for name in ("a/deep", "b", "c"):
        (tmp_path / name).mkdir(parents=True)
    configured = roots_of(tmp_path / "a", tmp_path / "b" / ".." / "b")
    client = roots_of(tmp_path / "c", tmp_path / "b", tmp_path / "a" / "deep", tmp_path)
    narrowed = configured.narrowed_to(client)
    assert narrowed.roots == (tmp_path / "b", tmp_path / "a" / "deep", tmp_path / "a")
    assert configured.narrowed_to(roots_of(tmp_path / "c")).roots == ()


def test_a_filesystem_root_home_and_above_are_too_broad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "users" / "me"
    (home / "project").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert too_broad(Path("/")) == "a filesystem root"
    assert too_broad(home) == "the home directory"
    assert too_broad(tmp_path / "users") == "a directory holding the home directory"
    assert too_broad(home / "project") is None
    assert too_broad(tmp_path / "elsewhere") is None


# -- the race between check and open --------------------------------------------------------


def test_a_symlink_swapped_in_after_the_check_is_refused(tree: Path) -> None:
    checked = check_upload_path(roots_of(tree), "photo.png")
    os.unlink(tree / "photo.png")
    (tree / "photo.png").symlink_to(tree.parent / "outside" / "photo.png")
    with pytest.raises(FileRefused, match="replaced by a symlink"):
        open_upload_source(checked, max_bytes=LIMIT)


def test_a_file_replaced_after_the_check_is_refused(tree: Path) -> None:
    checked = check_upload_path(roots_of(tree), "photo.png")
    (tree / "other.png").write_bytes(PNG)
    os.replace(tree / "other.png", tree / "photo.png")
    with pytest.raises(FileRefused, match="replaced by another file"):
        open_upload_source(checked, max_bytes=LIMIT)


def test_a_parent_directory_swapped_for_a_symlink_after_the_check_is_refused(
    tree: Path,
) -> None:
    checked = check_upload_path(roots_of(tree), "sub/clip.mp4")
    os.rename(tree / "sub", tree / "sub-old")
    (tree.parent / "outside" / "clip.mp4").write_bytes(MP4)
    (tree / "sub").symlink_to(tree.parent / "outside", target_is_directory=True)
    with pytest.raises(FileRefused, match="sub is a symlink or not a plain directory"):
        open_upload_source(checked, max_bytes=LIMIT)


def test_a_fifo_swapped_in_after_the_check_is_refused_without_blocking(tree: Path) -> None:
    checked = check_upload_path(roots_of(tree), "photo.png")
    os.unlink(tree / "photo.png")
    os.mkfifo(tree / "photo.png")
    with pytest.raises(FileRefused, match="FIFO"):
        open_upload_source(checked, max_bytes=LIMIT)


# -- content and size -----------------------------------------------------------------------


def test_a_private_key_renamed_cat_jpg_is_refused_by_its_content(tree: Path) -> None:
    (tree / "cat.jpg").write_bytes(PEM)
    message = refused(roots_of(tree), "cat.jpg")
    assert "PEM key" in message
    assert "BEGIN" not in message  # the content itself is never echoed


def test_a_png_named_jpg_is_refused_naming_the_right_extension(tree: Path) -> None:
    (tree / "photo.jpg").write_bytes(PNG)
    assert ".png" in refused(roots_of(tree), "photo.jpg")


def test_an_empty_file_is_refused(tree: Path) -> None:
    (tree / "empty.png").write_bytes(b"")
    assert "(it is empty)" in refused(roots_of(tree), "empty.png")


def test_an_oversize_sparse_file_is_refused_before_reading_it(tree: Path) -> None:
    with open(tree / "huge.png", "wb") as handle:
        handle.write(PNG)
        handle.truncate(50 * 1024**3)  # 50 GiB, sparse: no disk used
    assert "over the upload limit" in refused(roots_of(tree), "huge.png")


def test_a_file_at_exactly_the_limit_is_accepted(tree: Path) -> None:
    (tree / "edge.png").write_bytes(PNG.ljust(4096, b"\x00"))
    prepare_upload(roots_of(tree), "edge.png", max_bytes=4096).close()


def test_the_digest_covers_the_file_and_streaming_rehashes_after_a_seek(tree: Path) -> None:
    source = prepare_upload(roots_of(tree), "photo.png", max_bytes=LIMIT)
    try:
        assert source.sha256() == hashlib.sha256(PNG).hexdigest()
        source.file.read(5)
        source.file.seek(0)  # a retry starts over: the streamed hash too
        while source.file.read(7):
            pass
        assert source.file.streamed == len(PNG)
        assert source.file.streamed_digest() == source.sha256()
    finally:
        source.close()


# -- sniffing -------------------------------------------------------------------------------

SAMPLES = {
    "a.png": PNG,
    "a.jpg": JPEG,
    "a.jpeg": JPEG,
    "a.gif": b"GIF89a" + b"\x00" * 16,
    "a.webp": b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8,
    "a.bmp": b"BM"
    + b"\x36\x00\x0c\x00"
    + b"\x00" * 4
    + b"\x36\x00\x00\x00"
    + b"\x28"
    + b"\x00" * 9,
    "a.mp4": MP4,
    "a.mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
    "a.m4a": b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom",
    "a.webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 8,
    "a.mkv": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 8,
    "a.avi": b"RIFF\x10\x00\x00\x00AVI LIST",
    "a.wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "a.mp3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "b.mp3": b"\xff\xfb\x90\x64" + b"\x00" * 8,
    "a.aac": b"\xff\xf1\x50\x80" + b"\x00" * 8,
    "a.ogg": b"OggS\x00\x02" + b"\x00" * 8,
    "a.flac": b"fLaC\x00\x00\x00\x22",
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_media_format_atlas_consumes_is_recognised_by_its_leading_bytes(
    name: str,
) -> None:
    fmt, content_type = media_type_for(name, SAMPLES[name])
    assert content_type.split("/")[0] in ("image", "video", "audio")
    assert Path(name).suffix in fmt.extensions


@pytest.mark.parametrize(
    ("name", "head", "says"),
    [
        ("cat.jpg", PEM, "PEM key"),
        ("page.mp4", b"<!DOCTYPE html><html><body>", "HTML page"),
        ("data.png", b'{"key": "value"}', "JSON"),
        ("notes.mp3", b"hello world, just text", "plain text"),
        ("blob.gif", bytes(range(200, 256)), "match no"),
        ("clip.png", MP4, "rename"),
        ("photo", PNG, "no extension"),
    ],
)
def test_content_that_is_not_the_media_its_name_claims_is_refused(
    name: str, head: bytes, says: str
) -> None:
    with pytest.raises(MediaMismatch, match=says):
        media_type_for(name, head)


def test_only_mp4_and_webm_count_as_downloaded_video() -> None:
    assert sniff_video(MP4) == ".mp4"
    assert sniff_video(SAMPLES["a.webm"]) == ".webm"
    assert sniff_video(PNG) is None
    assert sniff_video(SAMPLES["a.m4a"]) is None  # audio in an MP4 box is not a video
    assert sniff_video(b"<html>") is None
    assert sniff(b"") is None


# -- image arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["https://cdn.test/a.png", "http://cdn.test/a.png"])
def test_http_urls_are_urls(value: str) -> None:
    assert frame_source(value) == "url"


@pytest.mark.parametrize("value", ["photo.png", "sub/photo.png", "/abs/photo.png", "C:\\x.png"])
def test_paths_are_paths(value: str) -> None:
    assert frame_source(value) == "path"


@pytest.mark.parametrize(
    "value",
    ["file:///etc/passwd", "data:image/png;base64,AAAA", "ftp://h/a.png", "javascript:alert(1)"],
)
def test_any_other_scheme_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="URLs are not accepted"):
        frame_source(value)


# -- reuse cache ----------------------------------------------------------------------------


def test_the_upload_cache_forgets_entries_after_its_ttl() -> None:
    now = [0.0]
    cache = UploadCache(60.0, clock=lambda: now[0])
    result = UploadResult(url="https://u", filename="a.png", size_bytes=1, content_type="image/png")
    cache.put("abc", result)
    now[0] = 59.9
    assert cache.get("abc") == result
    now[0] = 60.0
    assert cache.get("abc") is None


def test_a_zero_ttl_cache_remembers_nothing() -> None:
    cache = UploadCache(0.0)
    cache.put("abc", UploadResult(url="u", filename="a", size_bytes=1, content_type="image/png"))
    assert cache.get("abc") is None


# -- property: whatever is accepted lies inside a root --------------------------------------

SEGMENTS = st.sampled_from(
    ["..", ".", "sub", "photo.png", "clip.mp4", "out", "in", "loop", "root-evil", "x", ".h"]
)


@pytest.fixture(scope="module")
def maze(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with symlinks pointing in, out, to siblings and in loops."""
    base = tmp_path_factory.mktemp("maze")
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (base / "root-evil").mkdir()
    for folder in (root, root / "sub", base, base / "root-evil"):
        (folder / "photo.png").write_bytes(PNG)
        (folder / "clip.mp4").write_bytes(MP4)
    (root / "out").symlink_to(base / "root-evil", target_is_directory=True)
    (root / "sub" / "in").symlink_to(root, target_is_directory=True)
    (root / "sub" / "loop").symlink_to(root / "sub" / "loop")
    (root / ".h").mkdir()
    (root / ".h" / "photo.png").write_bytes(PNG)
    return root


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    absolute=st.booleans(),
    segments=st.lists(SEGMENTS, min_size=1, max_size=6),
)
def test_any_accepted_path_has_its_real_path_inside_a_root(
    maze: Path, absolute: bool, segments: list[str]
) -> None:
    roots = roots_of(maze)
    raw = os.path.join(str(maze) if absolute else "", *segments)
    try:
        source = prepare_upload(roots, raw, max_bytes=LIMIT)
    except FileRefused:
        return
    try:
        real = Path(os.path.realpath(source.path))
        assert is_within(real, maze)
        assert not any(part.startswith(".") for part in real.relative_to(maze).parts)
        assert stat.S_ISREG(os.fstat(source.file.fileno()).st_mode)
        assert os.path.samefile(source.file.fileno(), real)
    finally:
        source.close()


# -- upload_file: reuse only what was really sent -------------------------------------------


@pytest.mark.anyio
async def test_a_file_that_changes_during_its_upload_is_not_remembered_for_reuse(
    tree: Path,
) -> None:
    original = PNG.ljust(3 * UPLOAD_CHUNK_BYTES, b"\x01")
    path = tree / "moving.png"
    path.write_bytes(original)
    requests: list[int] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(len(await request.aread()))
        data = {"download_url": f"https://files.test/{len(requests)}.png", "size": 1}
        return httpx2.Response(200, json={"code": 200, "data": data})

    async def tamper(sent: int, size: int) -> None:
        if sent == UPLOAD_CHUNK_BYTES:  # same size, other bytes, after the digest was taken
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, b"\x02" * 16, 2 * UPLOAD_CHUNK_BYTES)
            finally:
                os.close(fd)

    settings = Settings(api_key="k", base_url="https://api.test")
    cache = UploadCache(3600.0)
    async with AtlasClient(settings, transport=httpx2.MockTransport(handler)) as client:
        source = prepare_upload(roots_of(tree), "moving.png", max_bytes=10 * LIMIT)
        try:
            await upload_file(client, source, cache, on_progress=tamper)
        finally:
            source.close()
        path.write_bytes(original)  # the digest taken before sending matches again
        source = prepare_upload(roots_of(tree), "moving.png", max_bytes=10 * LIMIT)
        try:
            result, reused = await upload_file(client, source, cache)
        finally:
            source.close()
    assert not reused
    assert len(requests) == 2
    assert result.url.endswith("/2.png")
