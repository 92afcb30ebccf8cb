"""With a static bearer token there is no OAuth: the discovery and registration paths that
OAuth-capable clients (the MCP Inspector among them) probe answer 404, not 401, so no
client starts a sign-in flow against an authorization server that does not exist. The
MCP endpoint itself still needs the token."""

from __future__ import annotations

import httpx2
import pytest
from test_http_transport import ACCEPT, TOKEN, http_server, initialize_body, make_settings

from atlas_mcp_py.simulator import SimulatorServer

pytestmark = pytest.mark.anyio

DISCOVERY = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-authorization-server",
    "/.well-known/oauth-authorization-server/mcp",
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/mcp",
    "/mcp/.well-known/openid-configuration",
    "/mcp/.well-known/oauth-authorization-server",
    "/register",
    "/authorize",
    "/token",
]


async def test_oauth_discovery_paths_answer_404_and_the_endpoint_still_needs_the_token(
    sim: SimulatorServer,
) -> None:
    with http_server(make_settings(sim)) as running:
        async with httpx2.AsyncClient() as http:
            probes = {path: await http.get(f"{running.base}{path}") for path in DISCOVERY}
            registered = await http.post(f"{running.base}/register", json={"client_name": "x"})
            unauthorized = await http.post(
                running.url, json=initialize_body(), headers={"Accept": ACCEPT}
            )
            authorized = await http.post(
                running.url,
                json=initialize_body(),
                headers={"Accept": ACCEPT, "Authorization": f"Bearer {TOKEN}"},
            )
    assert {path: r.status_code for path, r in probes.items()} == dict.fromkeys(DISCOVERY, 404)
    assert registered.status_code == 404
    assert "static bearer token" in probes["/.well-known/oauth-protected-resource"].text
    assert TOKEN not in probes["/register"].text
    assert unauthorized.status_code == 401
    assert "resource_metadata" not in unauthorized.headers.get("www-authenticate", "")
    assert authorized.status_code == 200
