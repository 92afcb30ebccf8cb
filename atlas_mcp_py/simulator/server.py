"""Running the simulator: `SimulatorServer` (a background thread, for tests and the demo)
and `run_simulator` (blocking, for `atlas-mcp simulator`)."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from types import TracebackType
from typing import Any, Final, Self

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .state import SIMULATOR_API_KEY, SimulatorState

logger = logging.getLogger(__name__)

STARTUP_TIMEOUT: Final = 10.0
SHUTDOWN_GRACE: Final = 0.5  # seconds in-flight requests get to finish on exit


def _config(app: Starlette, **kwargs: Any) -> uvicorn.Config:
    # log_config=None: leave logging to the host process (stderr); ws="none": no websockets.
    return uvicorn.Config(
        app,
        log_config=None,
        lifespan="off",
        http="h11",
        ws="none",
        loop="asyncio",
        timeout_graceful_shutdown=1,
        **kwargs,
    )


class _PromptServer(uvicorn.Server):
    """A uvicorn.Server that notices `should_exit` within 10 ms and stops without fixed sleeps.

    uvicorn polls for exit every 0.1 s and sleeps 0.1 s more while shutting down; a test suite
    that starts a server per test pays that on every teardown.
    """

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            await anyio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        with anyio.move_on_after(SHUTDOWN_GRACE):
            # uvicorn offers no event for "all connections and tasks are done": poll briefly.
            while self.server_state.connections or self.server_state.tasks:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        for task in self.server_state.tasks:
            task.cancel(msg="the simulator is shutting down")
        for server in self.servers:
            with anyio.move_on_after(1):
                await server.wait_closed()
        if not self.force_exit:
            await self.lifespan.shutdown()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then; without
    # it every response waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SimulatorServer:
    """The simulator served by uvicorn on a background thread.

    ``with SimulatorServer() as sim: httpx2.get(sim.base_url + "/api/v1/models")``.
    It listens on two ports: `base_url` is the API (api.atlascloud.ai's role), `static_url`
    the schema host (static.atlascloud.ai's role) that the catalog's `schema` and `readme`
    URLs point at. Port 0 picks a free port; the sockets are bound before the thread starts,
    so ports and URLs are valid inside the `with` block. Works as `async with` too.
    """

    def __init__(
        self,
        state: SimulatorState | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        static_port: int = 0,
    ) -> None:
        self.state = state if state is not None else SimulatorState()
        self.host = host
        self.port = port
        self.static_port = static_port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []

    @property
    def base_url(self) -> str:
        return _url(self.host, self.port)

    @property
    def static_url(self) -> str:
        """Root of the schema host: schemas at /model/schema/<id>.json (no key needed)."""
        return _url(self.host, self.static_port)

    def __enter__(self) -> Self:
        sock = _bind(self.host, self.port)
        self._sockets.append(sock)
        static = _bind(self.host, self.static_port)
        self._sockets.append(static)
        self.port = sock.getsockname()[1]
        self.static_port = static.getsockname()[1]
        self.state.static_port = self.static_port
        server = _PromptServer(_config(create_app(self.state), access_log=False))
        self._server = server
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock, static]},
            name="atlas-simulator",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._stop()
                raise RuntimeError("the Atlas simulator did not start")
            time.sleep(0.005)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop()

    async def __aenter__(self) -> Self:
        return await anyio.to_thread.run_sync(self.__enter__)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self._stop)

    def _stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(SHUTDOWN_GRACE + 4)
            if thread.is_alive():
                server.force_exit = True
                thread.join(5)
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        self._server = self._thread = None


def run_simulator(
    host: str = "127.0.0.1",
    port: int = 9100,
    *,
    job_seconds: float | None = None,
    api_key: str = SIMULATOR_API_KEY,
    static_port: int | None = None,
) -> None:
    """Serve the simulator until interrupted (Ctrl-C). Logs go to stderr.

    The schema host listens on `static_port` (default `port + 1`). `job_seconds` None: each
    job takes its model's realistic time (tens of seconds).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    state = SimulatorState(job_seconds=job_seconds, api_key=api_key)
    sockets = [_bind(host, port)]
    try:
        sockets.append(_bind(host, port + 1 if static_port is None else static_port))
    except OSError:
        sockets[0].close()
        raise
    state.static_port = sockets[1].getsockname()[1]
    key_hint = api_key if api_key == SIMULATOR_API_KEY else "<the key you passed>"
    lengths = "each model's own time" if job_seconds is None else f"{job_seconds:g}s"
    logger.info(
        "Atlas API simulator on %s, schemas on %s (jobs take %s); point the server at it "
        "with ATLASCLOUD_BASE_URL=%s ATLASCLOUD_API_KEY=%s",
        _url(host, port),
        _url(host, state.static_port),
        lengths,
        _url(host, port),
        key_hint,
    )
    try:
        uvicorn.Server(_config(create_app(state), host=host, port=port)).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
        state.close()
