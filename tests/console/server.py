"""A real server for the browser tests: the published test shop (``tests.serving.world``) served
by uvicorn on a free port, in a thread of the test process."""

from __future__ import annotations

import threading
import time

import uvicorn

from serving.main import create_app
from serving.settings import load_settings
from tests.conftest import free_port

API_KEY = "key-1"
ADMIN_KEY = "admin-key-1"


class Server:
    """uvicorn serving the app over ``redis_url`` and ``prefix`` until ``stop``."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.port = free_port()
        app = create_app(load_settings(redis_url=redis_url, prefix=prefix, api_keys=API_KEY,
                                       admin_keys=ADMIN_KEY, live_refresh_seconds=0))
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the console test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
