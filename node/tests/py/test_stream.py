"""redis-py against a real meridian server: streams, and consumer groups as a job queue
(producers XADD, workers XREADGROUP + XACK, a dead worker's jobs taken over with
XAUTOCLAIM)."""

import threading
import time

import pytest
import redis

from conftest import client, r  # noqa: F401 (r is a fixture)


def test_stream_basics(r):
    assert r.xadd("s", {"a": "1"}, id="1-1") == "1-1"
    assert r.xadd("s", {"b": "2", "c": "3"}, id="1-2") == "1-2"
    generated = r.xadd("s", {"d": "4"})
    ms, seq = (int(x) for x in generated.split("-"))
    assert seq & 0xFF == 1  # the region id (1 by default) in the low bits
    assert r.xlen("s") == 3
    assert r.xrange("s", "-", "+", count=2) == [("1-1", {"a": "1"}), ("1-2", {"b": "2", "c": "3"})]
    assert r.xrevrange("s", "+", "-", count=1) == [(generated, {"d": "4"})]
    assert r.xrange("s", "(1-1", "(1-2") == []
    assert r.xread({"s": "1-1"}) == [["s", [("1-2", {"b": "2", "c": "3"}), (generated, {"d": "4"})]]]
    assert r.xdel("s", "1-2", "9-9") == 1
    assert r.xtrim("s", maxlen=1) == 1
    assert r.xrange("s") == [(generated, {"d": "4"})]
    info = r.xinfo_stream("s")
    assert info["length"] == 1
    assert info["entries-added"] == 3
    assert info["max-deleted-entry-id"] == "1-2"
    with pytest.raises(redis.ResponseError, match="equal or smaller"):
        r.xadd("s", {"x": "y"}, id="1-5")
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.xadd("str", {"x": "y"})
    assert r.xadd("capped", {"i": "0"}, maxlen=3, approximate=False)
    for i in range(1, 10):
        r.xadd("capped", {"i": str(i)}, maxlen=3, approximate=False)
    assert [e[1]["i"] for e in r.xrange("capped")] == ["7", "8", "9"]


def test_xread_block_woken_by_another_client(server, r):
    r.xadd("feed", {"old": "1"})
    got = {}

    def reader():
        c = client(server, decode_responses=True)
        got["v"] = c.xread({"feed": "$"}, block=20000)

    t = threading.Thread(target=reader)
    t.start()
    deadline = time.monotonic() + 10
    while r.info("clients")["blocked_clients"] != 1:
        assert time.monotonic() < deadline, "reader never blocked"
        time.sleep(0.01)
    new_id = r.xadd("feed", {"new": "1"})
    t.join(timeout=15)
    assert not t.is_alive()
    assert got["v"] == [["feed", [(new_id, {"new": "1"})]]]


def test_job_queue_with_consumer_group(server, r):
    """Producers XADD jobs; workers XREADGROUP (BLOCK) and XACK; a worker that dies
    with jobs in flight has them reclaimed with XAUTOCLAIM; every job is processed."""
    r.xgroup_create("jobs", "workers", id="0", mkstream=True)
    n_jobs, n_producers, n_workers = 200, 2, 3
    # The dead worker takes some jobs first and never acknowledges them.
    for i in range(5):
        r.xadd("jobs", {"job": f"early-{i}"})
    dead = r.xreadgroup("workers", "dead", {"jobs": ">"}, count=5)
    assert len(dead[0][1]) == 5

    done = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(name):
        c = client(server, decode_responses=True)
        while not stop.is_set():
            resp = c.xreadgroup("workers", name, {"jobs": ">"}, count=10, block=200)
            for _, entries in resp or []:
                for entry_id, fields in entries:
                    with lock:
                        done.append(fields["job"])
                    assert c.xack("jobs", "workers", entry_id) == 1

    def producer(p):
        c = client(server, decode_responses=True)
        for i in range(n_jobs // n_producers):
            c.xadd("jobs", {"job": f"p{p}-{i}"})

    workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(n_workers)]
    producers = [threading.Thread(target=producer, args=(p,)) for p in range(n_producers)]
    for t in workers + producers:
        t.start()
    for t in producers:
        t.join(timeout=30)
    deadline = time.monotonic() + 30
    while True:
        with lock:
            if len(done) >= n_jobs:
                break
        assert time.monotonic() < deadline, f"only {len(done)} jobs processed"
        time.sleep(0.02)
    stop.set()
    for t in workers:
        t.join(timeout=10)
    assert sorted(done) == sorted(f"p{p}-{i}" for p in range(n_producers) for i in range(n_jobs // n_producers))

    # The dead worker's 5 jobs are still pending; once idle long enough, a live worker
    # claims and finishes them.
    summary = r.xpending("jobs", "workers")
    assert summary["pending"] == 5
    assert summary["consumers"] == [{"name": "dead", "pending": 5}]
    time.sleep(0.05)
    next_id, claimed, deleted = r.xautoclaim("jobs", "workers", "w0", min_idle_time=40, start_id="0-0", count=10)
    assert next_id == "0-0" and deleted == []
    assert sorted(f["job"] for _, f in claimed) == [f"early-{i}" for i in range(5)]
    assert r.xack("jobs", "workers", *[i for i, _ in claimed]) == 5
    assert r.xpending("jobs", "workers")["pending"] == 0
    groups = r.xinfo_groups("jobs")
    assert groups[0]["name"] == "workers" and groups[0]["pending"] == 0
    consumers = {c["name"]: c for c in r.xinfo_consumers("jobs", "workers")}
    assert consumers["dead"]["pending"] == 0
    assert r.xgroup_delconsumer("jobs", "workers", "dead") == 0
