"""Errors that keep their cause, and arguments no real call has refused with a clear
message, through the tools against the simulator over loopback.

A connection that fails says why: the name did not resolve, nothing listens on the port,
or the TLS certificate is not trusted (with the fix: `SSL_CERT_FILE` / `SSL_CERT_DIR`,
which the server honours, tested against a loopback TLS server whose certificate a
private test CA signed: `trustme`)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSListener, TLSStream
from helpers import free_port, pipe, simulator_settings, structured, text_of
from mcp import Client

from atlas_mcp_py.server.app import build_server
from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio


async def test_a_refused_connection_and_a_name_that_does_not_resolve_say_which(
    sim: SimulatorServer, workspace: Path
) -> None:
    port = free_port()
    refused = simulator_settings(sim, workspace, base_url=f"http://127.0.0.1:{port}")
    unresolved = simulator_settings(sim, workspace, base_url="http://atlas-mcp-test.invalid")
    async with Client(build_server(refused)) as client:
        at_port = await client.call_tool("atlas_check_status", {"prediction_id": "abc"})
        generate = await client.call_tool("atlas_list_models", {})
    async with Client(build_server(unresolved)) as client:
        no_name = await client.call_tool("atlas_check_status", {"prediction_id": "abc"})
    assert f"connection refused at 127.0.0.1:{port}" in text_of(at_port)
    assert f"connection refused at 127.0.0.1:{port}" in text_of(generate)
    assert "name resolution failed for host atlas-mcp-test.invalid" in text_of(no_name)
    for result in (at_port, generate, no_name):
        assert result.is_error and "Nothing was sent" in text_of(result)
        assert "ConnectError" not in text_of(result)


async def test_a_proxy_that_refuses_is_named_as_the_one_that_failed(
    sim: SimulatorServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        result = await client.call_tool("atlas_check_status", {"prediction_id": "abc"})
    text = text_of(result)
    assert f"connection refused at 127.0.0.1:{port} (the proxy that HTTPS_PROXY" in text
    assert sim.state.requests == []


@pytest.fixture(scope="module")
def test_ca() -> trustme.CA:
    return trustme.CA()


@asynccontextmanager
async def tls_in_front_of(sim: SimulatorServer, ca: trustme.CA) -> AsyncIterator[str]:
    """A TLS endpoint on 127.0.0.1 (certificate signed by `ca`) relaying to `sim`;
    yields its https base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    upstream_port = int(sim.base_url.rsplit(":", 1)[1])

    async def relay(client: TLSStream) -> None:
        upstream = await anyio.connect_tcp("127.0.0.1", upstream_port)
        async with client, upstream, anyio.create_task_group() as tg:
            tg.start_soon(pipe, client, upstream)
            await pipe(upstream, client)

    async def serve(client: anyio.abc.ByteStream) -> None:
        assert isinstance(client, TLSStream)
        await relay(client)

    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, context, standard_compatible=False)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        # a client that refuses the certificate hangs up mid-handshake
        with contextlib.suppress(ssl.SSLError, anyio.BrokenResourceError, anyio.EndOfStream):
            await serve(stream)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"https://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


async def test_an_untrusted_certificate_says_so_with_the_fix_and_ssl_cert_file_is_honoured(
    sim: SimulatorServer,
    workspace: Path,
    tmp_path: Path,
    test_ca: trustme.CA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca_file = tmp_path / "corporate-ca.pem"
    test_ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with anyio.fail_after(30):
        async with tls_in_front_of(sim, test_ca) as url:
            settings = simulator_settings(sim, workspace, base_url=url)
            async with Client(build_server(settings)) as client:
                untrusted = await client.call_tool("atlas_list_models", {})
            monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
            async with Client(build_server(settings)) as client:
                models = await client.call_tool("atlas_list_models", {})
                job = await client.call_tool("atlas_generate_video", {"prompt": "a tls cat"})
            monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
            async with Client(build_server(settings)) as client:
                missing = await client.call_tool("atlas_check_status", {"prediction_id": "abc"})
    text = text_of(untrusted)
    assert untrusted.is_error
    assert "TLS certificate verify failed for 127.0.0.1" in text
    assert "SSL_CERT_FILE" in text and "SSL_CERT_DIR" in text
    assert not models.is_error and structured(models)["total"] > 0
    assert structured(job)["status"] == "completed"  # sent, and polled, over TLS
    assert missing.is_error and "SSL_CERT_FILE=" in text_of(missing)
    assert "missing.pem" in text_of(missing) and "Nothing was sent" in text_of(missing)


async def test_arguments_no_real_call_has_get_a_clear_refusal_and_nothing_is_sent(
    sim: SimulatorServer, workspace: Path
) -> None:
    long_name = "n" * 300 + ".png"
    async with Client(build_server(simulator_settings(sim, workspace))) as client:
        huge_id = await client.call_tool("atlas_check_status", {"prediction_id": "x" * 100_000})
        spaced_id = await client.call_tool("atlas_check_status", {"prediction_id": "a b"})
        upload = await client.call_tool("atlas_upload_media", {"path": long_name})
        frame = await client.call_tool("atlas_generate_video", {"prompt": "a", "image": long_name})
        save = await client.call_tool(
            "atlas_generate_video", {"prompt": "a cat", "save_to": "v" * 300 + ".mp4"}
        )
        blank = await client.call_tool("atlas_generate_video", {"prompt": " \n\t "})
    assert "prediction_id is 100,000 characters long" in text_of(huge_id)
    assert "not an Atlas prediction id" in text_of(spaced_id)
    for result, argument in ((upload, "path"), (frame, "image"), (save, "save_to")):
        assert f"{argument} has a file name of 304 bytes" in text_of(result)
        assert "at most 255 bytes" in text_of(result)
    assert "prompt is empty" in text_of(blank)
    for result in (huge_id, spaced_id, upload, frame, save, blank):
        assert result.is_error
        assert "Nothing was sent" in text_of(result)
        assert len(text_of(result)) < 600  # the 100 KB id is not echoed back
    assert sim.state.requests == [] or {r.endpoint for r in sim.state.requests} <= {
        "models",
        "schema",
    }
