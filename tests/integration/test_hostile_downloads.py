"""Downloads against hostile servers on real loopback sockets (issue 21, items 1 and 2):
an output URL pointing at another loopback service (a canary holding secret bytes),
directly or through a 302 from the Atlas host, is refused without a byte of it saved;
a server that trickles its body never holds the call past its deadline.

Private, link-local and metadata addresses are tested with a stub resolver: nothing
here connects anywhere but 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.abc
import httpx2
import pytest
from helpers import GUARD, simulator_settings, structured, stub_resolver, tcp_server, text_of
from mcp import Client

from atlas_mcp_py.atlas.client import AtlasClient
from atlas_mcp_py.atlas.models import Prediction
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import DownloadFailed
from atlas_mcp_py.files.addresses import AddressGuard
from atlas_mcp_py.files.downloads import save_video
from atlas_mcp_py.files.roots import AllowedRoots
from atlas_mcp_py.files.saves import plan_save
from atlas_mcp_py.generation import job_result, save_job_result
from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import Fault, SimulatorServer

pytestmark = pytest.mark.anyio

MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"SECRET-CANARY-BYTES" * 50


def answer(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


class Canary:
    """A loopback HTTP server that serves secret video bytes and counts connections."""

    def __init__(self) -> None:
        self.connections = 0

    async def handle(self, stream: anyio.abc.SocketStream) -> None:
        self.connections += 1
        async with stream:
            await stream.receive(65536)
            await stream.send(answer("200 OK", {"Content-Type": "video/mp4"}, MP4))


def redirect_to(location: str) -> object:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive(65536)
            await stream.send(answer("302 Found", {"Location": location}))

    return handle


async def trickle(stream: anyio.abc.SocketStream) -> None:
    """Promises a 40-byte video and sends a byte every 0.3 s (12 s at most, then stops)."""
    async with stream:
        await stream.receive(65536)
        head = "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 40\r\n\r\n"
        await stream.send(head.encode() + MP4[:20])
        for byte in MP4[20:40]:
            await anyio.sleep(0.3)
            await stream.send(bytes([byte]))


def empty(directory: Path) -> bool:
    return not any(directory.iterdir())


def atlas_at(port: int) -> AtlasClient:
    return AtlasClient(Settings(api_key="sk-test-key-1", base_url=f"http://127.0.0.1:{port}"))


def guard_for(port: int, *extra: str) -> AddressGuard:
    return AddressGuard.for_base_url(f"http://127.0.0.1:{port}", extra)


async def test_an_output_on_another_loopback_port_is_refused_unfetched(tmp_path: Path) -> None:
    canary = Canary()
    async with tcp_server(canary.handle) as canary_port, tcp_server(Canary().handle) as atlas:
        plan = plan_save(AllowedRoots.from_paths([tmp_path], "test"), "./")
        async with atlas_at(atlas) as client:
            with pytest.raises(DownloadFailed, match=r"refused .*127\.0\.0\.1.*not a public"):
                await save_video(
                    client.http,
                    plan,
                    f"http://127.0.0.1:{canary_port}/internal/video.mp4",
                    stem="job",
                    max_bytes=10**6,
                    guard=guard_for(atlas),
                )
    assert canary.connections == 0
    assert empty(tmp_path)


async def test_a_redirect_from_the_atlas_host_to_the_canary_is_refused(tmp_path: Path) -> None:
    canary = Canary()
    async with tcp_server(canary.handle) as canary_port:
        secret = f"http://127.0.0.1:{canary_port}/internal/video.mp4"
        async with tcp_server(redirect_to(secret)) as atlas:  # type: ignore[arg-type]
            plan = plan_save(AllowedRoots.from_paths([tmp_path], "test"), "./")
            async with atlas_at(atlas) as client:
                with pytest.raises(DownloadFailed, match="not a public address"):
                    await save_video(
                        client.http,
                        plan,
                        f"http://127.0.0.1:{atlas}/files/outputs/x/video.mp4",
                        stem="job",
                        max_bytes=10**6,
                        guard=guard_for(atlas),
                    )
    assert canary.connections == 0
    assert empty(tmp_path)


async def test_the_atlas_host_itself_and_listed_hosts_are_fetched(tmp_path: Path) -> None:
    async with tcp_server(Canary().handle) as atlas, tcp_server(Canary().handle) as listed:
        roots = AllowedRoots.from_paths([tmp_path], "test")
        async with atlas_at(atlas) as client:
            for port, name in ((atlas, "a.mp4"), (listed, "b.mp4")):
                saved = await save_video(
                    client.http,
                    plan_save(roots, name),
                    f"http://127.0.0.1:{port}/files/outputs/x/video.mp4",
                    stem="job",
                    max_bytes=10**6,
                    guard=guard_for(atlas, f"127.0.0.1:{listed}"),
                )
                assert saved.path.read_bytes() == MP4


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "10.0.0.7", "192.168.1.2", "127.0.0.1", "::1", "fd00:ec2::254", "0.0.0.0"],
)
async def test_names_resolving_to_internal_addresses_are_refused_before_connecting(
    tmp_path: Path, address: str
) -> None:
    asked: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url))
        return httpx2.Response(200, content=MP4, headers={"content-type": "video/mp4"})

    guard = AddressGuard.for_base_url(
        "https://api.atlas.test",
        resolve=stub_resolver({"metadata.cdn.test": ["93.184.215.14", address]}),
    )
    settings = Settings(api_key="sk-test-key-1", base_url="https://api.atlas.test")
    async with AtlasClient(settings, transport=httpx2.MockTransport(handler)) as client:
        plan = plan_save(AllowedRoots.from_paths([tmp_path], "test"), "./")
        with pytest.raises(DownloadFailed, match=f"resolves to {address}"):
            await save_video(
                client.http,
                plan,
                "http://metadata.cdn.test/latest/meta-data/x.mp4",
                stem="job",
                max_bytes=10**6,
                guard=guard,
            )
    assert asked == []


async def test_a_literal_metadata_address_is_refused_and_the_result_keeps_the_url(
    tmp_path: Path,
) -> None:
    url = "http://169.254.169.254/latest/meta-data/x.mp4"
    prediction = Prediction(id="p1", status="completed", outputs=[url], model="m")
    result = job_result(prediction, model="m", elapsed=1.0, kind="video")
    plan = plan_save(AllowedRoots.from_paths([tmp_path], "test"), "./")
    async with atlas_at(9) as client:
        assert (
            await save_job_result(client.http, result, plan, max_bytes=10**6, guard=GUARD) is None
        )
    assert result.video_url == url
    assert any("169.254.169.254" in n and "not a public address" in n for n in result.notes)


async def test_a_trickling_download_ends_at_its_deadline_with_the_hand_off(
    tmp_path: Path,
) -> None:
    async with tcp_server(trickle) as port:
        url = f"http://127.0.0.1:{port}/files/outputs/x/video.mp4"
        prediction = Prediction(id="p1", status="completed", outputs=[url], model="m")
        result = job_result(prediction, model="m", elapsed=1.0, kind="video")
        plan = plan_save(AllowedRoots.from_paths([tmp_path], "test"), "./")
        async with atlas_at(port) as client:
            saved = await save_job_result(
                client.http, result, plan, max_bytes=10**6, guard=guard_for(port), seconds=1.0
            )
    assert saved is None
    assert result.video_url == url and result.local_path is None
    note = " ".join(result.notes)
    assert "did not finish within 1 s" in note
    assert "atlas_check_status" in note and "save_to" in note
    assert empty(tmp_path)


async def test_behind_a_proxy_a_name_only_the_proxy_resolves_is_left_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def unresolvable(host: str, port: int) -> list[str]:
        raise OSError("no DNS here")

    guard = AddressGuard.for_base_url("https://api.atlas.test", resolve=unresolvable)
    with pytest.raises(DownloadFailed, match="could not resolve"):
        await guard.check("https://cdn.example.test/v.mp4")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.test:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    await guard.check("https://cdn.example.test/v.mp4")  # the proxy resolves it
    with pytest.raises(DownloadFailed, match="not a public address"):
        await guard.check("https://169.254.169.254/v.mp4")  # a literal is checked anyway


async def test_a_name_that_resolves_public_then_connects_to_loopback_is_refused(
    tmp_path: Path,
) -> None:
    """DNS rebinding: the check's lookup says public, the connection's lookup goes to
    127.0.0.1. The connected address is checked: nothing is read or saved (the request
    itself did reach the canary: the README names this limit)."""
    canary = Canary()
    rebinding = AddressGuard.for_base_url(
        "https://api.atlas.test", resolve=stub_resolver({"localhost": ["93.184.215.14"]})
    )
    async with tcp_server(canary.handle) as port, atlas_at(9) as client:
        plan = plan_save(AllowedRoots.from_paths([tmp_path], "test"), "./")
        with pytest.raises(DownloadFailed, match=r"resolves to (127\.0\.0\.1|::1), not a public"):
            await save_video(
                client.http,
                plan,
                f"http://localhost:{port}/internal/video.mp4",
                stem="job",
                max_bytes=10**6,
                guard=rebinding,
            )
    assert canary.connections == 1 and empty(tmp_path)


def test_the_connected_address_is_checked_unless_trusted() -> None:
    guard = AddressGuard.for_base_url("http://127.0.0.1:9100", ["cdn.internal"])
    with pytest.raises(DownloadFailed, match=r"10\.1\.2\.3"):
        guard.check_peer("https://cdn.example.test/v.mp4", "10.1.2.3")
    guard.check_peer("https://cdn.example.test/v.mp4", "93.184.215.14")
    guard.check_peer("http://127.0.0.1:9100/files/v.mp4", "127.0.0.1")  # the Atlas host
    guard.check_peer("https://cdn.internal:8443/v.mp4", "10.1.2.3")  # listed by the user
    with pytest.raises(DownloadFailed):
        guard.check_peer("http://127.0.0.1:9101/files/v.mp4", "127.0.0.1")  # another port


# -- through the tools, against the simulator -----------------------------------------------


async def test_generate_with_save_to_refuses_an_output_redirected_to_the_canary(
    sim: SimulatorServer, workspace: Path
) -> None:
    """The simulator's output host answers 302 to another loopback service: the job is
    done and kept, nothing is fetched from the canary, the note says what was refused."""
    canary = Canary()
    async with tcp_server(canary.handle) as port:
        secret = f"http://127.0.0.1:{port}/internal/video.mp4"
        sim.state.add_fault(Fault(endpoint="file", kind="redirect", message=secret))
        async with Client(build_server(simulator_settings(sim, workspace))) as client:
            with anyio.fail_after(30):
                result = await client.call_tool(
                    "atlas_generate_video", {"prompt": "a fox", "save_to": "fox.mp4"}
                )
    data = structured(result)
    assert not result.is_error and data["status"] == "completed"
    assert data["video_url"].startswith(sim.base_url) and data.get("local_path") is None
    assert "refused to download from 127.0.0.1" in text_of(result)
    assert canary.connections == 0
    assert not (workspace / "fox.mp4").exists()


async def test_a_slow_output_ends_at_the_calls_budget_with_the_hand_off(
    sim: SimulatorServer, workspace: Path
) -> None:
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        with anyio.fail_after(30):
            done = await client.call_tool("atlas_generate_video", {"prompt": "a slow fox"})
            pid = structured(done)["prediction_id"]
            sim.state.add_fault(Fault(endpoint="file", kind="slow", delay=8.0))
            args = {"prediction_id": pid, "save_to": "slow.mp4", "max_wait_seconds": 1}
            checked = await client.call_tool("atlas_check_status", args)
    assert structured(checked)["video_url"] and structured(checked).get("local_path") is None
    text = text_of(checked)
    assert "did not finish within 1 s" in text and "atlas_check_status" in text
    assert not (workspace / "slow.mp4").exists()
