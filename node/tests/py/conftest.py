"""pytest fixtures: start the real `meridian` binary on a free loopback port.

The binary is taken from $MERIDIAN_BIN, else target/debug/meridian in the
workspace (build it first with `cargo build -p meridian-node`).
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

WORKSPACE = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT = 10.0


def meridian_bin() -> str:
    return os.environ.get("MERIDIAN_BIN", str(WORKSPACE / "target" / "debug" / "meridian"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MeridianServer:
    def __init__(self, *extra: str):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [meridian_bin(), "server", "--bind", "127.0.0.1", "--port", str(self.port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MERIDIAN_LOG": "warn"},
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"meridian exited with {self.proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("meridian did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=STARTUP_TIMEOUT)


@pytest.fixture(scope="module")
def server():
    s = MeridianServer()
    yield s
    s.stop()


def client(server, **kw) -> redis.Redis:
    """A redis-py client of `server` (10 s socket timeout)."""
    return redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=10, **kw)


@pytest.fixture
def r(server):
    """A decoding client on an emptied database 0."""
    c = client(server, decode_responses=True)
    c.flushdb()
    return c
