"""redis-py against a real meridian server: blocking sorted-set pops (RESP2 and RESP3)."""

import threading
import time

import pytest
import redis
from conftest import client, r  # noqa: F401 (r is a fixture)


def blocked_clients(r) -> int:
    return r.info("clients")["blocked_clients"]


def wait_blocked(r, n: int) -> None:
    deadline = time.monotonic() + 10
    while blocked_clients(r) != n:
        assert time.monotonic() < deadline, f"never saw {n} blocked clients"
        time.sleep(0.01)


def test_served_at_once_and_timeout(r):
    r.zadd("z", {"a": 1, "b": 2})
    assert r.bzpopmin("z", timeout=0) == ("z", "a", 1.0)
    assert r.bzpopmax(["nokey", "z"], timeout=1) == ("z", "b", 2.0)
    start = time.monotonic()
    assert r.bzpopmin("z", timeout=0.1) is None
    assert time.monotonic() - start >= 0.09
    assert r.bzmpop(0.05, 1, ["z"], min=True) is None


def test_woken_by_another_client(server, r):
    got = {}

    def wait():
        c = client(server, decode_responses=True)
        got["reply"] = c.bzpopmax(["k1", "k2"], timeout=5)

    t = threading.Thread(target=wait)
    t.start()
    wait_blocked(r, 1)
    r.zadd("k2", {"lo": 1, "hi": 9})
    t.join(timeout=10)
    assert got["reply"] == ("k2", "hi", 9.0)
    assert r.zrange("k2", 0, -1) == ["lo"]
    assert blocked_clients(r) == 0


def test_resp3_and_multi(server):
    r3 = client(server, decode_responses=True, protocol=3)
    r3.flushdb()
    assert r3.bzpopmin("z", timeout=0.05) is None
    r3.zadd("z", {"m": 1.5})
    assert r3.bzpopmin("z", timeout=0) == ["z", "m", 1.5]
    p = r3.pipeline(transaction=True)
    p.bzpopmin("z", timeout=0)
    p.zadd("z", {"n": 2})
    p.bzmpop(0, 1, ["z"], max=True)
    assert p.execute() == [None, 1, ["z", [["n", 2.0]]]]


def test_errors(r):
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        r.bzpopmin("z", timeout=-1)
    r.set("s", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.bzpopmin("s", timeout=0)
