"""Run an ASGI app with uvicorn in a background thread, for tests and the bench.

Why a thread: the HTTP transport, the bearer check and the conformance suite must be exercised
over a real socket, while the test keeps its own event loop. Loopback only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


def free_port(low: int, high: int) -> int:
    """A free loopback TCP port in [low, high] (the caller's assigned range)."""
    for port in range(low, high + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


@contextmanager
def serve(app: ASGIApp, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on host:port until the block exits; yields the base URL."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # as the CLI serves it: the client is the TCP peer
        lifespan="on",
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
