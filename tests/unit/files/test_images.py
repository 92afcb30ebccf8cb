"""Image jobs' outputs: `data:` URLs decoded (and refused) by their bytes, the ledger's short
markers, saving inline images (confined, atomic, the same bytes kept once, several outputs
numbered), image downloads judged by content, and telling image jobs from video ones."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx2
import pytest
from helpers import GUARD

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.atlas.outputs import has_inline, inline_marker, kind_of_outputs, stored_outputs
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import FileRefused, InlineDataError
from atlas_mcp_py.files.media import decode_data_url
from atlas_mcp_py.files.roots import AllowedRoots
from atlas_mcp_py.files.saves import plan_save, save_bytes
from atlas_mcp_py.generation import JobResult, job_result, save_job_result
from atlas_mcp_py.jobs.ledger import Ledger

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(100)
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)


def data_url(content: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(content).decode()}"


def roots(root: Path) -> AllowedRoots:
    return AllowedRoots.from_paths([root], "test")


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def client(body: bytes, content_type: str) -> AtlasClient:
    settings = Settings(api_key="sk-test", base_url="https://api.atlas.test")
    handler = lambda request: httpx2.Response(  # noqa: E731
        200, content=body, headers={"content-type": content_type}
    )
    return AtlasClient(settings, transport=httpx2.MockTransport(handler))


# -- decoding -----------------------------------------------------------------------------


def test_a_data_url_is_decoded_and_its_format_comes_from_the_bytes() -> None:
    image = decode_data_url(data_url(JPEG, "image/png"), max_bytes=10_000)
    assert image.content == JPEG
    assert (image.extension, image.content_type) == (".jpg", "image/jpeg")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("data:image/png;base64,@@not base64@@", "not valid base64"),
        (data_url(b"<html>hello</html>"), "not a PNG, JPEG or WebP"),
        (data_url(MP4, "video/mp4"), "video/mp4, not an image"),
        ("data:image/png;base64", "not a data: URL"),
        (data_url(PNG * 100), "over the download limit"),
    ],
)
def test_a_data_url_that_is_not_a_small_image_is_refused(value: str, says: str) -> None:
    with pytest.raises(InlineDataError, match=says):
        decode_data_url(value, max_bytes=5_000)


def test_the_ledger_keeps_a_short_marker_instead_of_inline_data(tmp_path: Path) -> None:
    big = data_url(PNG * 5000)
    assert len(big) > 1_000_000
    marker = inline_marker(big)
    assert marker.startswith("(inline image/png data, about ") and len(marker) < 80
    assert stored_outputs([big, "https://x/y.png"]) == [marker, "https://x/y.png"]
    with Ledger.open(tmp_path / "jobs.sqlite3") as ledger:
        row = ledger.add(model="m", api_root="r", params={}, params_hash="h")
        ledger.attach(row.ref, Prediction(id="p1", status="completed", outputs=[big]))
        stored = ledger.get("p1")
    assert stored is not None and stored.outputs == [marker]
    assert (tmp_path / "jobs.sqlite3").stat().st_size < 100_000


@pytest.mark.parametrize(
    ("outputs", "kind"),
    [
        ([data_url(PNG)], "image"),
        ([inline_marker(data_url(PNG))], "image"),
        (["https://cdn/x/image.jpeg?sig=1"], "image"),
        (["https://cdn/x/video.mp4"], "video"),
        (["https://cdn/x/output"], None),
        ([], None),
    ],
)
def test_an_image_job_is_told_by_its_outputs(outputs: list[str], kind: str | None) -> None:
    assert kind_of_outputs(outputs) == kind


def test_an_image_result_names_its_url_image_url() -> None:
    prediction = Prediction(id="p", status="completed", outputs=["https://x/i.png"])
    image = job_result(prediction, model="m", elapsed=1.0, kind="image")
    video = job_result(prediction, model="m", elapsed=1.0)
    assert (image.image_url, image.video_url) == ("https://x/i.png", None)
    assert (video.video_url, video.image_url) == ("https://x/i.png", None)


# -- saving -------------------------------------------------------------------------------


async def test_inline_bytes_are_saved_atomically_and_the_same_bytes_are_kept_once(
    tmp_path: Path,
) -> None:
    plan = plan_save(roots(tmp_path), "out/still")
    first = await save_bytes(plan, PNG, stem="ignored", extension=".png", content_type="image/png")
    assert first.path == tmp_path / "out" / "still.png" and first.path.read_bytes() == PNG
    again = await save_bytes(plan, PNG, stem="ignored", extension=".png", content_type="image/png")
    assert again.path == first.path
    with pytest.raises(FileRefused, match="already exists"):
        await save_bytes(plan, JPEG, stem="x", extension=".png", content_type="image/png")
    assert listing(tmp_path) == ["out", "out/still.png"]  # no temporary file left
    assert first.path.read_bytes() == PNG


async def test_several_inline_outputs_are_all_saved_numbered_and_none_stays_inline(
    tmp_path: Path,
) -> None:
    result = JobResult(
        prediction_id="p1",
        model="google/nano-banana/text-to-image",
        status="completed",
        outputs=[data_url(PNG), data_url(JPEG), data_url(b"junk")],
    ).as_kind("image")
    result.image_url = result.outputs[0]
    async with client(b"", "image/png") as atlas:
        plan = plan_save(roots(tmp_path), "set.png")
        saved = await save_job_result(atlas.http, result, plan, max_bytes=10_000, guard=GUARD)
    assert saved is not None and saved.path == tmp_path / "set.png"
    assert result.outputs[:2] == [str(tmp_path / "set.png"), str(tmp_path / "set-2.jpg")]
    assert result.outputs[2].startswith("(inline image/png data")
    assert result.local_path == str(tmp_path / "set.png") and result.image_url is None
    assert any("not a PNG, JPEG or WebP" in note for note in result.notes)
    assert listing(tmp_path) == ["set-2.jpg", "set.png"]
    assert not has_inline(result.outputs)


@pytest.mark.parametrize(
    ("body", "content_type", "saved_as"),
    [(PNG, "application/octet-stream", "still.png"), (JPEG, "image/png", "still.jpg")],
)
async def test_an_image_url_is_downloaded_and_named_by_its_content(
    tmp_path: Path, body: bytes, content_type: str, saved_as: str
) -> None:
    result = JobResult(
        prediction_id="p", model="m", status="completed", image_url="https://cdn/x/o.png"
    ).as_kind("image")
    async with client(body, content_type) as atlas:
        plan = plan_save(roots(tmp_path), "still.png")
        saved = await save_job_result(atlas.http, result, plan, max_bytes=10_000, guard=GUARD)
    assert saved is not None and saved.path.name == saved_as
    assert saved.path.read_bytes() == body


async def test_a_video_where_an_image_was_expected_is_not_saved(tmp_path: Path) -> None:
    result = JobResult(
        prediction_id="p", model="m", status="completed", image_url="https://cdn/x/o.png"
    ).as_kind("image")
    async with client(MP4, "image/png") as atlas:
        plan = plan_save(roots(tmp_path), "still.png")
        saved = await save_job_result(atlas.http, result, plan, max_bytes=10_000, guard=GUARD)
    assert saved is None and listing(tmp_path) == []
    assert any("not an image" in note and "image_url" in note for note in result.notes)


async def test_inline_outputs_are_capped_per_job_with_a_note(tmp_path: Path) -> None:
    """Issue 21, item 3: 3,000 inline images in one status wrote 3,000 files."""
    result = JobResult(
        prediction_id="p1", model="m", status="completed", outputs=[data_url(PNG)] * 3000
    ).as_kind("image")
    async with client(b"", "image/png") as atlas:
        plan = plan_save(roots(tmp_path), "many/")
        await save_job_result(atlas.http, result, plan, max_bytes=10_000, guard=GUARD)
    assert len(listing(tmp_path / "many")) == 16  # ATLAS_MCP_MAX_INLINE_OUTPUTS' default
    assert not has_inline(result.outputs) and len(result.outputs) == 3000
    assert any("at most 16 files" in n and "3000 came back" in n for n in result.notes)


async def test_inline_outputs_stop_at_the_byte_cap(tmp_path: Path) -> None:
    result = JobResult(
        prediction_id="p1", model="m", status="completed", outputs=[data_url(PNG)] * 5
    ).as_kind("image")
    async with client(b"", "image/png") as atlas:
        plan = plan_save(roots(tmp_path), "few/")
        caps = (100, 2 * len(PNG) + 10)
        await save_job_result(
            atlas.http, result, plan, max_bytes=10_000, guard=GUARD, inline_caps=caps
        )
    assert len(listing(tmp_path / "few")) == 2
    assert any("ATLAS_MCP_MAX_INLINE_BYTES" in note for note in result.notes)
