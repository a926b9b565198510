"""redis-py against a real meridian server: MULTI/EXEC/DISCARD/WATCH/UNWATCH."""

import threading

import pytest
import redis

from conftest import MeridianServer, client


@pytest.fixture
def r(server):
    c = client(server, decode_responses=True)
    c.flushall()
    return c


@pytest.mark.parametrize("protocol", [2, 3])
def test_transaction_pipeline(server, protocol):
    r = client(server, protocol=protocol, decode_responses=True)
    r.flushall()
    with r.pipeline(transaction=True) as p:
        p.set("a", "1").incr("a").incrby("a", 5).get("a")
        assert p.execute() == [True, 2, 7, "7"]
    # Runtime errors come back in place; the other commands ran.
    r.set("s", "abc")
    with r.pipeline(transaction=True) as p:
        p.incr("s").set("t", "x").append("s", "d")
        res = p.execute(raise_on_error=False)
    assert isinstance(res[0], redis.ResponseError)
    assert "not an integer" in str(res[0])
    assert res[1:] == [True, 4]
    assert r.get("s") == "abcd" and r.get("t") == "x"
    with pytest.raises(redis.ResponseError, match="not an integer"):
        with r.pipeline(transaction=True) as p:
            p.incr("s").set("u", "1")
            p.execute()
    assert r.get("u") == "1"


def test_queue_time_error_aborts(r):
    with pytest.raises(redis.ResponseError) as e:
        with r.pipeline(transaction=True) as p:
            p.set("k", "v")
            p.execute_command("SET", "k")  # wrong arity
            p.execute()
    assert "EXECABORT" in str(e.value) or "wrong number of arguments" in str(e.value)
    assert r.get("k") is None


def test_errors_outside_transactions(r):
    with pytest.raises(redis.ResponseError, match="EXEC without MULTI"):
        r.execute_command("EXEC")
    with pytest.raises(redis.ResponseError, match="DISCARD without MULTI"):
        r.execute_command("DISCARD")


def test_watch_error_and_retry(server, r):
    other = client(server, decode_responses=True)
    r.set("balance", 100)
    with r.pipeline() as p:
        p.watch("balance")
        cur = int(p.get("balance"))
        other.incrby("balance", 5)  # concurrent change
        p.multi()
        p.set("balance", cur - 10)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("balance") == "105"

    # transaction() retries until it wins.
    calls = []

    def debit(pipe):
        cur = int(pipe.get("balance"))
        if not calls:
            other.incrby("balance", 1)
        calls.append(cur)
        pipe.multi()
        pipe.set("balance", cur - 10)

    r.transaction(debit, "balance")
    assert len(calls) == 2
    assert r.get("balance") == "96"


def test_watch_expiry_and_flush(server, r):
    other = client(server)
    r.set("e", "1", px=50)
    with r.pipeline() as p:
        p.watch("e")
        threading.Event().wait(0.15)
        p.multi()
        p.get("e")
        with pytest.raises(redis.WatchError):
            p.execute()
    r.set("f", "1")
    with r.pipeline() as p:
        p.watch("f")
        other.flushdb()
        p.multi()
        p.get("f")
        with pytest.raises(redis.WatchError):
            p.execute()
    # Unwatched or untouched keys do not abort.
    with r.pipeline() as p:
        p.watch("g")
        other.set("h", "1")
        p.unwatch()
        p.multi()
        p.set("g", "1")
        assert p.execute() == [True]


def test_concurrent_transactions_are_atomic(server, r):
    def worker():
        c = client(server)
        for _ in range(100):
            with c.pipeline(transaction=True) as p:
                p.incr("x").incr("y")
                p.execute()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    seen = 0
    while any(t.is_alive() for t in threads) and seen < 5000:
        x, y = r.mget("x", "y")
        assert x == y
        seen += 1
    for t in threads:
        t.join(timeout=30)
    assert r.mget("x", "y") == ["300", "300"]
