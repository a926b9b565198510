"""redis-py against a real meridian server: sorted-set commands (RESP2 and RESP3)."""

import pytest
import redis
from conftest import client, r  # noqa: F401 (r is a fixture)


@pytest.fixture
def r3(server):
    c = client(server, decode_responses=True, protocol=3)
    c.flushdb()
    return c


def test_zadd_and_scores(r):
    assert r.zadd("z", {"a": 1, "b": 2, "c": 3}) == 3
    assert r.zadd("z", {"a": 10, "d": 4}, nx=True) == 1
    assert r.zadd("z", {"a": 10, "e": 5}, xx=True, ch=True) == 1
    assert r.zadd("z", {"a": 5}, gt=True) == 0
    assert r.zadd("z", {"a": 5}, lt=True, ch=True) == 1
    assert r.zadd("z", {"a": 2.5}, incr=True) == 7.5
    assert r.zadd("z", {"zz": 1}, xx=True, incr=True) is None
    assert r.zscore("z", "a") == 7.5
    assert r.zscore("z", "nope") is None
    assert r.zmscore("z", ["a", "nope", "d"]) == [7.5, None, 4.0]
    assert r.zincrby("z", 1.5, "a") == 9.0
    assert r.zincrby("z", 3, "new") == 3.0
    assert r.zcard("z") == 5
    assert r.zrem("z", "new", "nope") == 1
    assert r.zadd("inf", {"x": float("inf")}) == 1
    assert r.zscore("inf", "x") == float("inf")
    with pytest.raises(redis.ResponseError, match="resulting score is not a number"):
        r.zincrby("inf", float("-inf"), "x")
    with pytest.raises(redis.ResponseError, match="XX and NX options at the same time are not compatible"):
        r.execute_command("ZADD", "z", "NX", "XX", "1", "a")
    with pytest.raises(redis.ResponseError, match="not a valid float"):
        r.execute_command("ZADD", "z", "nan", "a")
    r.set("s", "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.zadd("s", {"a": 1})
    assert r.get("s") == "v"


def test_ranges(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zrange("z", 0, -1) == ["a", "b", "c", "d", "e"]
    assert r.zrange("z", 0, 1, withscores=True) == [("a", 1.0), ("b", 2.0)]
    assert r.zrange("z", 0, 1, desc=True) == ["e", "d"]
    assert r.zrange("z", "(2", 4, byscore=True) == ["c", "d"]
    assert r.zrange("z", "-inf", "+inf", byscore=True, offset=1, num=2) == ["b", "c"]
    assert r.zrangebyscore("z", 2, 3, withscores=True) == [("b", 2.0), ("c", 3.0)]
    assert r.zrevrangebyscore("z", "+inf", "(4") == ["e"]
    assert r.zrevrange("z", 0, 0, withscores=True) == [("e", 5.0)]
    assert r.zrank("z", "c") == 2
    assert r.zrevrank("z", "c") == 2
    assert r.zrank("z", "nope") is None
    assert r.zcount("z", "(1", 3) == 2
    r.zadd("l", {"a": 0, "b": 0, "c": 0})
    assert r.zrangebylex("l", "[b", "+") == ["b", "c"]
    assert r.zrevrangebylex("l", "+", "(a") == ["c", "b"]
    assert r.zlexcount("l", "-", "+") == 3
    assert r.zrangestore("dst", "z", 0, 1) == 2
    assert r.zrange("dst", 0, -1, withscores=True) == [("a", 1.0), ("b", 2.0)]
    with pytest.raises(redis.ResponseError, match="min or max is not a float"):
        r.zrangebyscore("z", "x", 1)
    with pytest.raises(redis.ResponseError, match="not valid string range item"):
        r.zrangebylex("l", "a", "+")


def test_pop_remrange_and_setops(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert r.zpopmin("z") == [("a", 1.0)]
    assert r.zpopmax("z", 2) == [("d", 4.0), ("c", 3.0)]
    assert r.zremrangebyrank("z", 0, -1) == 1
    assert r.exists("z") == 0
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zremrangebyscore("z", 2, 2) == 1
    r.zadd("l", {"a": 0, "b": 0})
    assert r.zremrangebylex("l", "-", "(b") == 1
    r.zadd("x", {"a": 1, "b": 2})
    r.zadd("y", {"b": 10, "c": 20})
    assert r.zunion(["x", "y"], withscores=True) == [("a", 1.0), ("b", 12.0), ("c", 20.0)]
    assert r.zinter({"x": 2, "y": 1}, withscores=True) == [("b", 14.0)]
    assert r.zinter(["x", "y"], aggregate="MIN", withscores=True) == [("b", 2.0)]
    assert r.zdiff(["x", "y"]) == ["a"]
    assert r.zunionstore("out", ["x", "y"]) == 3
    assert r.zinterstore("out", ["x", "y"], aggregate="MAX") == 1
    assert r.zrange("out", 0, -1, withscores=True) == [("b", 10.0)]
    assert r.zdiffstore("out", ["x", "y"]) == 1
    assert r.zintercard(2, ["x", "y"]) == 1
    with pytest.raises(redis.ResponseError, match="at least 1 input key"):
        r.execute_command("ZUNION", 0, "x")


def test_random_and_scan(r):
    members = {f"m{i}": i for i in range(100)}
    r.zadd("z", members)
    assert r.zrandmember("z") in members
    picks = r.zrandmember("z", 10)
    assert len(set(picks)) == 10 and set(picks) <= set(members)
    assert len(r.zrandmember("z", -150)) == 150
    assert r.zrandmember("nope") is None
    seen = {}
    cursor = 0
    for _ in range(1000):
        cursor, items = r.zscan("z", cursor, count=7)
        seen.update(items)
        if cursor == 0:
            break
    assert cursor == 0
    assert seen == {k: float(v) for k, v in members.items()}
    assert dict(r.zscan_iter("z", match="m9*")) == {
        k: float(v) for k, v in members.items() if k.startswith("m9")
    }


def test_resp3_replies(r3):
    r3.zadd("z", {"a": 1, "b": 2.5})
    assert r3.zscore("z", "b") == 2.5
    assert r3.zrange("z", 0, -1, withscores=True) == [["a", 1.0], ["b", 2.5]] or r3.zrange(
        "z", 0, -1, withscores=True
    ) == [("a", 1.0), ("b", 2.5)]
    raw = r3.execute_command("ZRANGE", "z", "0", "-1", "WITHSCORES")
    assert [list(p) for p in raw] == [["a", 1.0], ["b", 2.5]]
    assert r3.execute_command("ZMSCORE", "z", "a", "x") == [1.0, None]
    assert r3.execute_command("ZINCRBY", "z", "1", "a") == 2.0
    assert r3.execute_command("ZPOPMIN", "z") == ["a", 2.0]
    popped = r3.execute_command("ZPOPMAX", "z", "1")
    assert [list(p) for p in popped] == [["b", 2.5]]
