"""redis-py against a real meridian server: Lua scripts (EVAL/EVALSHA through
redis-py's Script objects) and the classic atomic INCR+EXPIRE rate limiter."""

import threading

import pytest
import redis

from conftest import client

# Fixed-window rate limiter: allow at most ARGV[1] calls per ARGV[2] seconds per key.
RATE_LIMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if n > tonumber(ARGV[1]) then
  return 0
end
return 1
"""


def test_script_object_loads_and_runs_by_sha(r):
    double = r.register_script("return tonumber(ARGV[1]) * 2")
    assert double(args=[21]) == 42
    assert r.script_exists(double.sha) == [True]
    r.script_flush()
    assert r.script_exists(double.sha) == [False]
    # redis-py sees NOSCRIPT and sends the body again.
    assert double(args=[5]) == 10


def test_rate_limiter_allows_exactly_the_limit_under_concurrency(server, r):
    limit, clients, calls = 25, 8, 10
    allowed = []
    lock = threading.Lock()

    def worker():
        c = client(server, decode_responses=True)
        script = c.register_script(RATE_LIMIT)
        mine = sum(script(keys=["rl:user"], args=[limit, 60]) for _ in range(calls))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(allowed) == clients
    # Atomic: exactly `limit` of the 80 calls got through, never more.
    assert sum(allowed) == limit
    assert int(r.get("rl:user")) == clients * calls
    ttl = r.ttl("rl:user")
    assert 0 < ttl <= 60


def test_rate_limiter_window_expires(r):
    script = r.register_script(RATE_LIMIT)
    assert [script(keys=["rl:w"], args=[2, 1]) for _ in range(3)] == [1, 1, 0]
    # The key expires with the window; a new window starts over.
    r.pexpire("rl:w", 1)
    deadline_polls = 200
    while r.exists("rl:w") and deadline_polls:
        deadline_polls -= 1
        threading.Event().wait(0.01)
    assert not r.exists("rl:w")
    assert script(keys=["rl:w"], args=[2, 1]) == 1


def test_script_errors_reach_redis_py(r):
    with pytest.raises(redis.ResponseError, match="Script attempted to access nonexistent global variable"):
        r.eval("return nosuch", 0)
    r.set("s", "text")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.eval("return redis.call('incr', KEYS[1])", 1, "s")
    assert r.eval("return redis.pcall('incr', KEYS[1])['err']", 1, "s").startswith("ERR value is not")
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha("f" * 40, 0)


def test_eval_ro_and_conversions(r):
    r.rpush("l", "a", "b")
    assert r.eval_ro("return redis.call('lrange', KEYS[1], 0, -1)", 1, "l") == ["a", "b"]
    with pytest.raises(redis.ResponseError, match="Write commands are not allowed from read-only scripts"):
        r.eval_ro("return redis.call('del', KEYS[1])", 1, "l")
    assert r.eval("return {1, 'x', false, {ok='fine'}}", 0) == [1, "x", None, "fine"]
    assert r.eval("return cjson.decode(ARGV[1]).n + 1", 0, '{"n": 41}') == 42
