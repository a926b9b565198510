"""redis-py against a real meridian server: lists as a job queue, and HyperLogLog counts
equal to redis-server's."""

import shutil
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import client, free_port, r  # noqa: F401 (r is a fixture)


def test_list_basics(r):
    assert r.rpush("l", "a", "b", "c") == 3
    assert r.lpush("l", "z") == 4
    assert r.lrange("l", 0, -1) == ["z", "a", "b", "c"]
    assert r.linsert("l", "AFTER", "a", "m") == 5
    assert r.lset("l", -1, "C")
    assert r.lindex("l", -1) == "C"
    assert r.lpos("l", "m") == 2
    assert r.lrem("l", 0, "z") == 1
    assert r.ltrim("l", 0, 2)
    assert r.lrange("l", 0, -1) == ["a", "m", "b"]
    assert r.lpop("l", 2) == ["a", "m"]
    assert r.rpop("l") == "b"
    assert r.exists("l") == 0
    assert r.type("l") == "none"
    with pytest.raises(redis.ResponseError, match="no such key"):
        r.lset("l", 0, "x")


def test_queue_producer_lpush_consumers_brpop(server, r):
    """Sidekiq/Celery style: producers LPUSH jobs, workers BRPOP them; every job is
    processed exactly once on one region, in FIFO order per producer."""
    jobs = 300
    workers = 4
    done = []
    lock = threading.Lock()

    def worker():
        c = client(server, decode_responses=True)
        while True:
            item = c.brpop(["queue:default", "queue:low"], timeout=5)
            assert item is not None, "worker starved"
            q, job = item
            if job == "STOP":
                return
            with lock:
                done.append((q, job))

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    producer = client(server, decode_responses=True)
    for i in range(jobs):
        producer.lpush("queue:default" if i % 3 else "queue:low", f"job-{i}")
    # Wait for all jobs, then stop the workers.
    deadline = time.monotonic() + 20
    while len(done) < jobs:
        assert time.monotonic() < deadline, f"only {len(done)} jobs done"
        time.sleep(0.01)
    for _ in range(workers):
        producer.lpush("queue:default", "STOP")
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive()
    assert sorted(j for _, j in done) == sorted(f"job-{i}" for i in range(jobs))
    assert r.llen("queue:default") == 0 and r.llen("queue:low") == 0


def test_reliable_queue_with_blmove(server, r):
    """Reliable-queue pattern: BLMOVE into a processing list, then LREM when done."""
    got = {}

    def worker():
        c = client(server, decode_responses=True)
        got["job"] = c.blmove("jobs", "processing", 5, "RIGHT", "LEFT")

    t = threading.Thread(target=worker)
    t.start()
    deadline = time.monotonic() + 10
    while r.info("clients")["blocked_clients"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r.lpush("jobs", "j1")
    t.join(timeout=10)
    assert got["job"] == "j1"
    assert r.lrange("processing", 0, -1) == ["j1"]
    assert r.lrem("processing", 1, "j1") == 1
    assert r.exists("processing") == 0


def test_list_resp3(server):
    c = client(server, protocol=3, decode_responses=True)
    c.flushdb()
    c.rpush("l", "a", "b")
    assert c.lmpop(1, "l", direction="LEFT", count=5) == ["l", ["a", "b"]]
    assert c.lmpop(1, "l", direction="LEFT") is None
    assert c.blpop("l", timeout=0.05) is None


REDIS_SERVER = shutil.which("redis-server")


@pytest.fixture(scope="module")
def real_redis():
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    yield redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    proc.kill()
    proc.wait(timeout=10)


@pytest.mark.parametrize("n", [0, 1, 5, 100, 1000, 5000, 20000, 100000])
def test_pfcount_equals_redis_server(r, real_redis, n):
    real_redis.flushall()
    elements = [f"user:{i}" for i in range(n)]
    for chunk in range(0, n, 5000):
        part = elements[chunk:chunk + 5000]
        r.pfadd("h", *part)
        real_redis.pfadd("h", *part)
    if n == 0:
        r.pfadd("h")
        real_redis.pfadd("h")
    assert r.pfcount("h") == real_redis.pfcount("h")
    # Merges and multi-key counts too.
    r.pfadd("other", *[f"x{i}" for i in range(n // 2)], "user:1")
    real_redis.pfadd("other", *[f"x{i}" for i in range(n // 2)], "user:1")
    assert r.pfcount("h", "other") == real_redis.pfcount("h", "other")
    r.pfmerge("m", "h", "other")
    real_redis.pfmerge("m", "h", "other")
    assert r.pfcount("m") == real_redis.pfcount("m")


def test_pfcount_binary_elements_equal_redis_server(server, real_redis):
    a = client(server)
    a.flushdb()
    real_redis.flushall()
    b = redis.Redis(host="127.0.0.1", port=real_redis.connection_pool.connection_kwargs["port"])
    elements = [bytes([i % 256, (i * 7) % 256]) * (i % 13) for i in range(3000)]
    a.pfadd("bin", *elements)
    b.pfadd("bin", *elements)
    assert a.pfcount("bin") == b.pfcount("bin")
