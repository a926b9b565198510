"""redis-py against a real meridian server: set commands."""

import pytest
import redis
from conftest import client, r  # noqa: F401 (r is a fixture)


def test_add_remove_members(r):
    assert r.sadd("s", "a", "b", "c") == 3
    assert r.sadd("s", "a", "d") == 1
    assert r.scard("s") == 4
    assert r.smembers("s") == {"a", "b", "c", "d"}
    assert r.sismember("s", "a") == 1
    assert r.sismember("s", "z") == 0
    assert r.smismember("s", ["a", "z"]) == [1, 0]
    assert r.srem("s", "a", "a", "z") == 1
    assert r.srem("nope", "a") == 0
    assert r.smembers("nope") == set()
    assert r.srem("s", "b", "c", "d") == 3
    assert r.exists("s") == 0


def test_pop_and_random(r):
    members = {f"m{i}" for i in range(30)}
    r.sadd("s", *members)
    assert r.srandmember("s") in members
    picks = r.srandmember("s", 10)
    assert len(set(picks)) == 10 and set(picks) <= members
    assert len(r.srandmember("s", -100)) == 100
    assert set(r.srandmember("s", 100)) == members
    assert r.scard("s") == 30
    popped = set(r.spop("s", 5))
    assert len(popped) == 5 and popped <= members
    one = r.spop("s")
    assert one in members and one not in popped
    rest = set(r.spop("s", 1000))
    assert rest | popped | {one} == members
    assert r.exists("s") == 0
    assert r.spop("s") is None
    assert r.spop("s", 3) == []
    assert r.srandmember("s") is None
    assert r.srandmember("s", 3) == []


def test_move(r):
    r.sadd("a", "x", "y")
    assert r.smove("a", "b", "x") == 1
    assert r.smove("a", "b", "nope") == 0
    assert r.smembers("a") == {"y"}
    assert r.smembers("b") == {"x"}
    assert r.smove("a", "b", "y") == 1
    assert r.exists("a") == 0


def test_algebra_and_store(r):
    r.sadd("a", "1", "2", "3", "4")
    r.sadd("b", "3", "4", "5")
    assert r.sinter("a", "b") == {"3", "4"}
    assert r.sunion("a", "b") == {"1", "2", "3", "4", "5"}
    assert r.sdiff("a", "b") == {"1", "2"}
    assert r.sintercard(2, ["a", "b"]) == 2
    assert r.sintercard(2, ["a", "b"], limit=1) == 1
    r.set("d", "string")
    assert r.sinterstore("d", "a", "b") == 2
    assert r.type("d") == "set"
    assert r.sunionstore("d", "a", "b") == 5
    assert r.sdiffstore("d", "a", "b") == 2
    assert r.smembers("d") == {"1", "2"}
    assert r.sinterstore("d", "a", "missing") == 0
    assert r.exists("d") == 0


def test_sscan_iter(r):
    members = {f"k{i}" for i in range(300)}
    r.sadd("big", *members)
    got = list(r.sscan_iter("big", count=17))
    assert len(got) == 300 and set(got) == members
    assert set(r.sscan_iter("big", match="k1?")) == {f"k{i}" for i in range(10, 20)}


def test_errors_write_nothing(r):
    r.set("str", "x")
    r.sadd("s", "a")
    for call in (
        lambda: r.sadd("str", "a"),
        lambda: r.smembers("str"),
        lambda: r.sinterstore("dst", "s", "str"),
        lambda: r.smove("s", "str", "a"),
        lambda: r.spop("str"),
    ):
        with pytest.raises(redis.ResponseError, match="^WRONGTYPE Operation against a key holding the wrong kind of value$"):
            call()
    with pytest.raises(redis.ResponseError, match="value is out of range, must be positive"):
        r.spop("s", -1)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SRANDMEMBER", "s", "1", "2")
    with pytest.raises(redis.ResponseError, match="numkeys should be greater than 0"):
        r.execute_command("SINTERCARD", "0", "s")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'sadd' command"):
        r.execute_command("SADD", "s")
    assert r.get("str") == "x"
    assert r.smembers("s") == {"a"}
    assert r.exists("dst") == 0


def test_resp3(server):
    r = client(server, protocol=3, decode_responses=True)
    r.delete("s")
    r.sadd("s", "a", "b")
    assert r.smembers("s") == {"a", "b"}
    assert set(r.spop("s", 1)) <= {"a", "b"}
    assert r.sunion("s", "missing") == set(r.smembers("s"))
