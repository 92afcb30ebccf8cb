"""AtlasClient: one `httpx2.AsyncClient` for the server's life; one method per endpoint.

The API calls (catalog, input schemas, balance, generate, status, history, upload) and
what their answers mean. Sending one logical request as attempts (auth, deadline,
retries, key scrubbing) is `sending.Sender`; when to retry is `retry`.
"""

from __future__ import annotations

import logging
import random
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import IO, Any, Literal

import anyio
import anyio.to_thread
import httpx2

from atlas_mcp_py import __version__
from atlas_mcp_py.atlas.models import (
    Balance,
    HistoryItem,
    ModelInfo,
    Prediction,
    Upload,
    parse_balance,
    parse_history,
    parse_models,
    parse_prediction,
    parse_upload,
)
from atlas_mcp_py.atlas.retry import (
    RetryPolicy,
)
from atlas_mcp_py.atlas.sanitize import clean_text
from atlas_mcp_py.atlas.schemas import InputSchema, read_input_schema
from atlas_mcp_py.atlas.sending import Sender
from atlas_mcp_py.atlas.transport import LazyHTTPTransport
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import (
    APIResponseError,
    ModelUnavailableError,
    NotFoundError,
    OutcomeUnknownError,
    SchemaUnreadable,
    UploadSourceError,
)

__all__ = [
    "AtlasClient",
    "GenerateKind",
]

logger = logging.getLogger(__name__)

GenerateKind = Literal["video", "image", "audio"]


_GENERATE_PATHS: dict[GenerateKind, str] = {
    "video": "/api/v1/model/generateVideo",
    "image": "/api/v1/model/generateImage",
    "audio": "/api/v1/model/generateAudio",
}


BALANCE_PATH = "/public/v1/balance"


EXPIRY_HEADERS = ("x-atlascloud-object-expiration-hours", "x-atlascloud-request-retention-hours")
"""Answer headers that may say how long a job's outputs are kept (hours)."""


UPLOAD_CHUNK_BYTES = 256 * 1024


UploadProgressFn = Callable[[int, int], Awaitable[None]]


class AtlasClient:
    """Async client of the Atlas REST API. Use as an async context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`transport`, `sleep`, `rand` and `clock` are seams for tests (fake server,
        recorded backoff, fixed jitter, fake time for the deadline and the catalog TTL)."""
        self._settings = settings
        self._clock = clock
        self._http = httpx2.AsyncClient(
            transport=transport or LazyHTTPTransport(),
            timeout=httpx2.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.write_timeout,
                pool=settings.pool_timeout,
            ),
            headers={"User-Agent": f"atlas-mcp-py/{__version__}"},
            follow_redirects=False,
            trust_env=False,
        )
        self._catalog: tuple[float, list[ModelInfo]] | None = None
        self._catalog_lock = anyio.Lock()
        self._schemas: dict[str, InputSchema] = {}
        self._sender = Sender(
            settings,
            self._http,
            policy or RetryPolicy(max_retries=settings.max_retries),
            sleep=sleep,
            rand=rand,
            clock=clock,
        )

    async def __aenter__(self) -> AtlasClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def http(self) -> httpx2.AsyncClient:
        """The shared connection pool, for downloads that must not carry the API key."""
        return self._http

    # -- public API -------------------------------------------------------------------

    async def list_models(
        self, *, include_hidden: bool = False, refresh: bool = False
    ) -> list[ModelInfo]:
        """The model catalog, cached for `catalog_ttl_seconds`; hidden models filtered."""
        async with self._catalog_lock:
            now = self._clock()
            if (
                refresh
                or self._catalog is None
                or now - self._catalog[0] > self._settings.catalog_ttl_seconds
            ):
                body = await self._sender.request("GET", "/api/v1/models", auth=False)
                self._catalog = (self._clock(), parse_models(body))
            models = self._catalog[1]
        return models if include_hidden else [m for m in models if not m.hidden]

    async def get_model(self, model_id: str) -> ModelInfo | None:
        """A catalog entry by id (hidden ones too: a user may name one explicitly)."""
        for model in await self.list_models(include_hidden=True):
            if model.id == model_id:
                return model
        return None

    async def get_input_schema(self, model_id: str) -> InputSchema | None:
        """A model's input schema (`schemas.read_input_schema` of the OpenAPI document its
        catalog entry points at), or None when the catalog gives it none.

        Raises `APIResponseError` when the document cannot be read as one.
        """
        if model_id in self._schemas:
            return self._schemas[model_id]
        model = await self.get_model(model_id)
        if model is None or not model.schema_url:
            return None
        if not model.schema_url.startswith(("http://", "https://", "/")):
            raise APIResponseError(f"the catalog gives {model_id} an unusable schema URL")
        # The schema lives at an absolute URL on another host (static.atlascloud.ai):
        # never send the key there.
        body = await self._sender.request("GET", model.schema_url, auth=False)
        try:
            schema = read_input_schema(body)
        except SchemaUnreadable as exc:
            raise APIResponseError(f"the input schema of {model_id} is unreadable: {exc}") from None
        self._schemas[model_id] = schema
        return schema

    async def balance(self) -> Balance:
        """The account's available balance (free; needs the key)."""
        return parse_balance(await self._sender.request("GET", BALANCE_PATH))

    async def generate(
        self, kind: GenerateKind, model: str, params: Mapping[str, Any]
    ) -> Prediction:
        """Submit one generation job. Billed when accepted; never sent twice by this client.

        Raises `OutcomeUnknownError` when the request may have reached Atlas but no
        prediction id came back.
        """
        payload = {**params, "model": model}
        try:
            body, headers = await self._sender.exchange(
                "POST", _GENERATE_PATHS[kind], json=payload, once=True, billed=True
            )
        except NotFoundError as exc:
            if isinstance(exc, ModelUnavailableError):
                raise
            raise ModelUnavailableError(
                exc.status, exc.message, request_id=exc.request_id
            ) from None
        request_id = self._sender.scrub(clean_text(headers.get("x-request-id", ""))) or None
        try:
            prediction = parse_prediction(body)
        except (APIResponseError, ValueError, TypeError) as exc:  # any answer not understood
            detail = exc if isinstance(exc, APIResponseError) else type(exc).__name__
            raise OutcomeUnknownError(
                f"Atlas accepted the request but its answer carries no usable prediction id "
                f"({detail})",
                request_id=request_id,
            ) from None
        hours = _expire_hours(headers)
        prediction = prediction.model_copy(update={"request_id": request_id, "expire_hours": hours})
        logger.info(
            "submitted %s job %s on %s (request id %s)", kind, prediction.id, model, request_id
        )
        return prediction

    async def get_prediction(self, prediction_id: str) -> Prediction:
        """The current state of a job. A failed job is data (`state == "failed"`)."""
        # The id may come from a language model: quote it so it cannot reshape the path.
        quoted = urllib.parse.quote(prediction_id, safe="")
        if quoted in (".", ".."):  # dot segments would be resolved away by the URL parser
            quoted = quoted.replace(".", "%2E")
        body = await self._sender.request("GET", f"/api/v1/model/prediction/{quoted}")
        return parse_prediction(body, prediction_id=prediction_id)

    async def history(
        self,
        *,
        model: str | None = None,
        status: str | None = None,
        page: int = 1,
        size: int = 20,
    ) -> list[HistoryItem]:
        """One page of the account's generation history, newest first."""
        params: dict[str, str | int] = {"no": page, "size": size}
        if model:
            params["model"] = model
        if status:
            params["status"] = status
        body = await self._sender.request("GET", "/api/v1/model/history", params=params)
        return parse_history(body)

    async def upload(
        self,
        file: IO[bytes],
        *,
        filename: str,
        content_type: str,
        size: int,
        on_progress: UploadProgressFn | None = None,
    ) -> Upload:
        """Upload `size` bytes from an open binary file, streamed in chunks.

        The multipart body is generated on the fly (`_multipart`): the file is never held
        in memory. A retry (only when the request never left, e.g. connection refused)
        restarts from the file position at the time of the call. Raises
        `UploadSourceError` if the file yields more or fewer bytes than `size`.
        """
        boundary = uuid.uuid4().hex
        safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        start = file.tell()

        def body() -> AsyncIterator[bytes]:
            return _multipart(file, start, head, tail, size, safe_name, on_progress)

        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }
        result = await self._sender.request(
            "POST",
            "/api/v1/model/uploadMedia",
            content=body,
            headers=headers,
            once=True,  # free (no job, nothing billed), but a streamed body is sent once
            deadline=None,
        )
        return parse_upload(result)


def _expire_hours(headers: httpx2.Headers) -> float | None:
    for name in EXPIRY_HEADERS:
        try:
            hours = float(headers.get(name, ""))
        except ValueError:
            continue
        if 0 < hours <= 24 * 365:
            return hours
    return None


async def _multipart(
    file: IO[bytes],
    start: int,
    head: bytes,
    tail: bytes,
    size: int,
    name: str,
    on_progress: UploadProgressFn | None,
) -> AsyncIterator[bytes]:
    """An upload's multipart body: `head`, `size` bytes of `file` from `start` in chunks
    (progress after each), `tail`. A file that shrank or grew is an `UploadSourceError`."""
    await anyio.to_thread.run_sync(file.seek, start)
    yield head
    sent = 0
    while sent < size:
        chunk = await anyio.to_thread.run_sync(file.read, min(UPLOAD_CHUNK_BYTES, size - sent))
        if not chunk:
            raise UploadSourceError(
                f"{name} shrank while it was being uploaded (expected {size} bytes, got {sent})"
            )
        sent += len(chunk)
        yield chunk
        if on_progress is not None:
            await on_progress(sent, size)
    if await anyio.to_thread.run_sync(file.read, 1):
        raise UploadSourceError(f"{name} grew while it was being uploaded (expected {size} bytes)")
    yield tail
