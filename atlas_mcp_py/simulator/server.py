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


class SimulatorServer:
    """The simulator served by uvicorn on a background thread.

    ``with SimulatorServer() as sim: httpx2.get(sim.base_url + "/api/v1/models")``.
    Port 0 picks a free port; the socket is bound before the thread starts, so `port` and
    `base_url` are valid inside the `with` block. Works as `async with` too.
    """

    def __init__(
        self, state: SimulatorState | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = state if state is not None else SimulatorState()
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> Self:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then; without
        # it every response waits ~40 ms on Nagle and delayed ACKs.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._socket = sock
        server = _PromptServer(_config(create_app(self.state), access_log=False))
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="atlas-simulator", daemon=True
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
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None


def run_simulator(
    host: str = "127.0.0.1",
    port: int = 9100,
    *,
    job_seconds: float = 8.0,
    api_key: str = SIMULATOR_API_KEY,
) -> None:
    """Serve the simulator until interrupted (Ctrl-C). Logs go to stderr."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    state = SimulatorState(job_seconds=job_seconds, api_key=api_key)
    key_hint = api_key if api_key == SIMULATOR_API_KEY else "<the key you passed>"
    logger.info(
        "Atlas API simulator on http://%s:%d (jobs take %gs); point the server at it with "
        "ATLASCLOUD_BASE_URL=http://%s:%d ATLASCLOUD_API_KEY=%s",
        host,
        port,
        job_seconds,
        host,
        port,
        key_hint,
    )
    try:
        uvicorn.Server(_config(create_app(state), host=host, port=port)).run()
    finally:
        state.close()
