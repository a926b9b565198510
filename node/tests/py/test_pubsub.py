"""redis-py against a real meridian server: pub/sub in RESP2 and RESP3."""

import time

import pytest
import redis

from conftest import MeridianServer, client


def next_message(ps, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = ps.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if m is not None:
            return m
    raise AssertionError("no message")


@pytest.mark.parametrize("protocol", [2, 3])
def test_subscribe_publish(server, protocol):
    r = client(server, protocol=protocol, decode_responses=True)
    ps = r.pubsub()
    ps.subscribe("news")
    ps.psubscribe("n*")
    # Drain the confirmations.
    for _ in range(2):
        m = ps.get_message(timeout=5)
        assert m["type"] in ("subscribe", "psubscribe")
    pub = client(server, decode_responses=True)
    assert pub.publish("news", "hello") == 2
    got = sorted((m["type"], m["pattern"], m["channel"], m["data"]) for m in (next_message(ps), next_message(ps)))
    assert got == [("message", None, "news", "hello"), ("pmessage", "n*", "news", "hello")]
    assert pub.pubsub_numsub("news") == [("news", 1)]
    assert pub.pubsub_numpat() == 1
    assert pub.pubsub_channels() == ["news"]
    assert pub.pubsub_channels("x*") == []
    ps.unsubscribe("news")
    ps.punsubscribe("n*")
    deadline = time.monotonic() + 5
    while pub.pubsub_numsub("news") != [("news", 0)] or pub.pubsub_numpat() != 0:
        ps.get_message(timeout=0.1)
        assert time.monotonic() < deadline
    assert pub.publish("news", "gone") == 0
    ps.close()


def test_resp2_subscriber_restrictions(server):
    r = client(server, protocol=2)
    conn = r.connection_pool.get_connection()
    try:
        conn.send_command("SUBSCRIBE", "c")
        assert conn.read_response() == [b"subscribe", b"c", 1]
        conn.send_command("GET", "k")
        with pytest.raises(redis.ResponseError, match=r"Can't execute 'get': only \(P\|S\)SUBSCRIBE"):
            conn.read_response()
        conn.send_command("PING")
        assert conn.read_response() == [b"pong", b""]
        conn.send_command("RESET")
        assert conn.read_response() == b"RESET"
        conn.send_command("GET", "k")
        assert conn.read_response() is None
    finally:
        conn.disconnect()
        r.connection_pool.release(conn)


def test_resp3_subscriber_runs_commands(server):
    r = client(server, protocol=3, decode_responses=True)
    ps = r.pubsub()
    ps.subscribe("c3")
    assert ps.get_message(timeout=5)["type"] == "subscribe"
    # The same connection keeps answering normal commands in RESP3.
    ps.connection.send_command("SET", "k3", "v")
    assert ps.connection.read_response() == "OK"
    client(server).publish("c3", "m")
    m = next_message(ps)
    assert (m["channel"], m["data"]) == ("c3", "m")
    ps.close()


def test_pubsub_thread_handler(server):
    r = client(server, decode_responses=True)
    got = []
    ps = r.pubsub()
    ps.subscribe(**{"h": lambda m: got.append(m["data"])})
    t = ps.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        pub = client(server)
        deadline = time.monotonic() + 5
        while pub.pubsub_numsub("h") != [(b"h", 1)]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        for i in range(5):
            pub.publish("h", str(i))
        while len(got) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert got == ["0", "1", "2", "3", "4"]
    finally:
        t.stop()
        t.join(timeout=5)


def test_shard_channels(server):
    r = client(server, decode_responses=True)
    ps = r.pubsub()
    ps.ssubscribe("s1")
    assert ps.get_sharded_message(timeout=5)["type"] == "ssubscribe"
    pub = client(server, decode_responses=True)
    assert pub.spublish("s1", "x") == 1
    assert pub.publish("s1", "not shard") == 0
    deadline = time.monotonic() + 5
    while True:
        m = ps.get_sharded_message(ignore_subscribe_messages=True, timeout=0.1)
        if m:
            break
        assert time.monotonic() < deadline
    assert (m["type"], m["channel"], m["data"]) == ("smessage", "s1", "x")
    assert pub.pubsub_shardchannels() == ["s1"]
    assert pub.pubsub_shardnumsub("s1") == [("s1", 1)]
    ps.close()
