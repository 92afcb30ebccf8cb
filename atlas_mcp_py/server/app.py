"""build_server: the MCP server, its lifespan and the registered tools."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
from anyio import get_cancelled_exc_class
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.message import SessionMessage
from mcp.types import (
    CallToolResult,
    InputRequiredResult,
)
from mcp.types import Tool as MCPTool
from pydantic import ValidationError

from atlas_mcp_py import __version__
from atlas_mcp_py.atlas import AtlasClient, TakesNotes, keep_takes, paced_transport
from atlas_mcp_py.config import Settings
from atlas_mcp_py.files import UploadCache
from atlas_mcp_py.jobs import JobBook, Submitter
from atlas_mcp_py.server import catalog, generate, ledger_tools, status
from atlas_mcp_py.server.apps import apps_for_client, player_extension
from atlas_mcp_py.server.arguments import (
    refused_arguments,
)
from atlas_mcp_py.server.client_context import has_progress_token
from atlas_mcp_py.server.protocol import shape_for_version
from atlas_mcp_py.server.results import (
    crash_text,
    tool_error,
)
from atlas_mcp_py.server.sdk_private import (
    ReadStream,
    WriteStream,
    client_connection,
    lowlevel_server,
    required_arguments,
)
from atlas_mcp_py.server.state import CLIENT_WAIT_LIMIT, AppState, default_roots, state
from atlas_mcp_py.server.task_legacy import legacy_task_calls
from atlas_mcp_py.server.tasks import TasksExtension
from atlas_mcp_py.server.toolschema import listed_tool

__all__ = [
    "build_server",
]

logger = logging.getLogger(__name__)

MODEL_NOTES_FILE = "model-inputs.json"
"""In the state directory: what listed models' schemas said (atlas.takes), so a
session's first atlas_list_models reads no schema noted in the last 24 hours."""

INSTRUCTIONS = (
    "Make videos with Atlas Cloud. Local image -> atlas_upload_media (or pass the path as "
    "`image`); no image yet -> atlas_generate_image makes one; atlas_generate_video waits "
    "with progress and returns the video URL; a job still running when the wait ends comes "
    "back with its prediction_id: finish it with atlas_check_status."
)


class AtlasMCPServer(MCPServer[AppState]):
    """MCPServer whose `tools/list` carries compact schemas and one-line descriptions."""

    _live: list[AppState] | None = None
    _shutting_down: bool = False
    over_http: bool = False
    """Served over HTTP (`build_server(..., over_http=True)`): client roots grant nothing."""
    _gave_up_after: weakref.WeakKeyDictionary[object, float]
    """Client (over stdio, the one: keyed by the AppState's `client`; over HTTP, its
    connection) -> the shortest time it waited for a call without a progress token
    before abandoning it (its request timeout, told by `notifications/cancelled`)."""

    @contextmanager
    def serving(self, app: AppState) -> Iterator[AppState]:
        """Registers the lifespan's state so `begin_shutdown` can reach its waits."""
        if self._shutting_down:  # stopped while starting: no wait may begin
            app.stopping.set()
        self._live = [*(self._live or []), app]
        try:
            yield app
        finally:
            self._live = [a for a in self._live if a is not app]

    def begin_shutdown(self) -> None:
        """End every in-flight wait now with its hand-off result (call on the event loop);
        a lifespan that starts afterwards starts stopped."""
        self._shutting_down = True
        for app in self._live or []:
            app.stopping.set()

    async def serve_streams(
        self,
        read_stream: ReadStream[SessionMessage | Exception],
        write_stream: WriteStream[SessionMessage],
    ) -> None:
        """Serve one client over a pair of message streams until `read_stream` ends; the
        lifespan runs around it (server.stdio.serve_stdio relays stdin/stdout to these)."""
        lowlevel = lowlevel_server(self)
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())

    async def list_tools(self) -> list[MCPTool]:
        return [_returned_fields(listed_tool(tool)) for tool in await super().list_tools()]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """The SDK's call, with refused arguments and crashes told in plain words; `null`
        for an optional argument means "not given" (mcp-use's LangChain adapter sends
        `null` for every argument the model left out)."""
        gave_up = _GaveUp(context, self._gave_up_after, over_http=self.over_http)
        try:
            with gave_up:
                return await super().call_tool(name, self._given(name, arguments), context)
        except UnexpectedToolError as exc:
            raise UnexpectedToolError(crash_text(name)) from exc.__cause__
        except ToolError as exc:
            if not isinstance(exc.__cause__, ValidationError):
                raise
            tools = {tool.name: tool for tool in await self.list_tools()}
            schema = tools[name].input_schema if name in tools else {}
            errors = exc.__cause__.errors(include_url=False, include_input=False)
            raise tool_error(refused_arguments(name, errors, schema)) from exc.__cause__

    def _given(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """`arguments` without the optional ones sent as `null`: their defaults apply."""
        if None not in arguments.values():
            return arguments
        required = required_arguments(self, name)
        if required is None:
            return arguments
        return {k: v for k, v in arguments.items() if v is not None or k in required}


class _GaveUp:
    """Around one tool call: learns the session's request timeout when the client abandons
    a call without a progress token (`notifications/cancelled` cancels it), and gives
    the call the timeout learned so far (`CLIENT_WAIT_LIMIT`, read by `wait_budget`)."""

    def __init__(
        self,
        context: Context[AppState, Any] | None,
        known: weakref.WeakKeyDictionary[object, float],
        *,
        over_http: bool,
    ) -> None:
        self._known = known
        self._app: AppState | None = None
        self._client: object = None
        try:
            if context is not None and not has_progress_token(context):
                self._app = state(context)
                # the client: over stdio, the one this process serves; over HTTP, the
                # session's connection (a 2026-era stateless request has its own)
                session = context.request_context.session
                stdio = self._app.client  # any object of this process's one connection
                self._client = client_connection(session) if over_http else stdio
        except (AttributeError, LookupError, ValueError):  # no request: nothing to learn
            self._app = None

    def __enter__(self) -> None:
        self._started = time.monotonic()
        limit = self._known.get(self._client) if self._app else None
        self._token = CLIENT_WAIT_LIMIT.set(limit)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        CLIENT_WAIT_LIMIT.reset(self._token)
        app = self._app
        if app is None or kind is None or not issubclass(kind, get_cancelled_exc_class()):
            return
        if app.stopping.is_set():  # shutdown, not the client
            return
        waited = time.monotonic() - self._started
        known = self._known.get(self._client)
        self._known[self._client] = waited if known is None else min(known, waited)
        logger.info("the client abandoned a call after %.1f s: later waits end sooner", waited)


_NOT_RETURNED = {
    "atlas_generate_video": ("image_url",),
    "atlas_generate_image": ("video_url",),
    "atlas_check_status": ("request",),
}
"""Result fields a tool never returns (a generate tool the other kind's URL, the status
check a dry run's request): its listed output schema leaves them out."""


def _returned_fields(tool: MCPTool) -> MCPTool:
    schema = tool.output_schema
    never = _NOT_RETURNED.get(tool.name)
    if never is None or not isinstance(schema, dict) or "properties" not in schema:
        return tool
    properties = {k: v for k, v in schema["properties"].items() if k not in never}
    return tool.model_copy(update={"output_schema": {**schema, "properties": properties}})


def build_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    over_http: bool = False,
) -> AtlasMCPServer:
    """The MCP server with every tool; `transport` lets tests swap the HTTP layer.

    `over_http`: the server will be served over streamable HTTP (the HTTP transport says
    so; it refuses a server built without it), where its clients are remote: their roots
    never grant access to this machine's files, only ATLAS_MCP_ROOTS does.
    """

    tasks_extension = TasksExtension()

    @asynccontextmanager
    async def lifespan(server: MCPServer[AppState]) -> AsyncIterator[AppState]:
        # default: the HTTP stack is built in a background thread from now on, so the
        # first tool call finds it ready and the handshake does not wait for it
        paced = paced_transport(transport, warm=settings.base_url)
        book = await JobBook.open(settings.ledger_location)
        try:
            async with AtlasClient(settings, transport=paced) as client:
                notes = settings.resolved_state_dir / MODEL_NOTES_FILE
                keep_takes(client, TakesNotes(notes, settings.base_url))
                app = AppState(
                    settings=settings,
                    client=client,
                    roots=default_roots(settings, over_http=over_http),
                    book=book,
                    submitter=Submitter(settings, client, book),
                    uploads=UploadCache(settings.upload_reuse_seconds),
                )
                async with tasks_extension.serving(app):
                    with mcp.serving(app):
                        yield app
        finally:
            book.close()

    mcp = AtlasMCPServer(
        "atlas-mcp-py",
        title="Atlas Cloud video",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        middleware=[shape_for_version, apps_for_client, legacy_task_calls],
        extensions=[tasks_extension, player_extension(settings)],  # tasks; the ui:// player
    )
    tasks_extension.bind(mcp)
    mcp.over_http = over_http
    mcp._gave_up_after = weakref.WeakKeyDictionary()

    catalog.register(mcp)  # atlas_list_models, atlas_upload_media
    generate.register(mcp)  # atlas_generate_video, atlas_generate_image
    status.register(mcp)  # atlas_check_status
    ledger_tools.register(mcp)  # atlas_list_jobs, the atlas://jobs/{prediction_id} resource
    return mcp
