"""redis-py against a real meridian server: hash commands."""

import pytest
import redis
from conftest import client, r  # noqa: F401 (r is a fixture)


def test_set_get_delete(r):
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hset("h", "a", "10") == 0
    assert r.hget("h", "a") == "10"
    assert r.hget("h", "zz") is None
    assert r.hmget("h", ["a", "zz", "b"]) == ["10", None, "2"]
    assert r.execute_command("HMSET", "h", "c", "3") in (True, "OK", b"OK")
    assert r.hlen("h") == 3
    assert r.hstrlen("h", "a") == 2
    assert r.hexists("h", "a")
    assert not r.hexists("h", "zz")
    assert sorted(r.hkeys("h")) == ["a", "b", "c"]
    assert sorted(r.hvals("h")) == ["10", "2", "3"]
    assert r.hgetall("h") == {"a": "10", "b": "2", "c": "3"}
    assert r.hsetnx("h", "a", "x") == 0
    assert r.hsetnx("h", "d", "4") == 1
    assert r.hdel("h", "a", "a", "zz") == 1
    assert r.hgetall("nope") == {}
    assert r.hdel("h", "b", "c", "d") == 3
    assert r.exists("h") == 0


def test_increments(r):
    assert r.hincrby("h", "n", 5) == 5
    assert r.hincrby("h", "n", -2) == 3
    assert r.hincrbyfloat("h", "f", 1.5) == 1.5
    assert r.hincrbyfloat("h", "f", "0.25") == 1.75
    assert r.hget("h", "f") == "1.75"
    r.hset("h", "n", "100")
    assert r.hincrby("h", "n", 1) == 101
    r.hset("h", "s", "abc")
    with pytest.raises(redis.ResponseError, match="^hash value is not an integer$"):
        r.hincrby("h", "s", 1)
    with pytest.raises(redis.ResponseError, match="^hash value is not a float$"):
        r.hincrbyfloat("h", "s", 1)
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("HINCRBY", "h", "n", "1.5")
    with pytest.raises(redis.ResponseError, match="^value is not a valid float$"):
        r.execute_command("HINCRBYFLOAT", "h", "f", "x")
    r.hset("h", "big", str(2**63 - 1))
    with pytest.raises(redis.ResponseError, match="^increment or decrement would overflow$"):
        r.hincrby("h", "big", 1)
    assert r.hget("h", "big") == str(2**63 - 1)
    assert r.hget("h", "n") == "101"


def test_randfield(r):
    r.hset("h", mapping={f"f{i}": f"v{i}" for i in range(10)})
    assert r.hrandfield("h").startswith("f")
    assert len(set(r.hrandfield("h", 4))) == 4
    assert len(r.hrandfield("h", -25)) == 25
    pairs = r.hrandfield("h", 3, withvalues=True)
    assert len(pairs) == 6
    for f, v in zip(pairs[::2], pairs[1::2]):
        assert f[1:] == v[1:]
    assert r.hrandfield("nope") is None
    assert r.hrandfield("nope", 2) == []


def test_hscan_iter(r):
    fields = {f"k{i}": str(i) for i in range(250)}
    r.hset("h", mapping=fields)
    assert dict(r.hscan_iter("h", count=13)) == fields
    assert dict(r.hscan_iter("h", match="k1?")) == {f"k{i}": str(i) for i in range(10, 20)}
    assert sorted(r.hscan_iter("h", match="k2?", no_values=True)) == sorted(f"k{i}" for i in range(20, 30))


def test_errors_write_nothing(r):
    r.set("str", "x")
    for call in (
        lambda: r.hset("str", "a", "1"),
        lambda: r.hget("str", "a"),
        lambda: r.hgetall("str"),
        lambda: r.hincrby("str", "a", 1),
        lambda: r.hdel("str", "a"),
    ):
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE Operation against a key holding the wrong kind of value$"):
            call()
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'hset' command"):
        r.execute_command("HSET", "h", "a")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("HRANDFIELD", "h", "1", "FOO")
    assert r.get("str") == "x"
    assert r.exists("h") == 0


def test_resp3(server):
    r = client(server, protocol=3, decode_responses=True)
    r.delete("h")
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.hgetall("h") == {"a": "1", "b": "2"}
    pairs = r.hrandfield("h", 2, withvalues=True)
    assert len(pairs) in (2, 4)  # redis-py keeps RESP3's [[f, v], ...] nesting or flattens it
