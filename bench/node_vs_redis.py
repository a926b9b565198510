#!/usr/bin/env python3
"""Side-by-side throughput and memory benchmark: `meridian server` vs Debian's redis-server.

Usage:  bench/node_vs_redis.py [--meridian PATH] [--requests N] [--reps R] [--quick]
                               [--tests set,get,...] [--no-memory]

Both servers run on 127.0.0.1 with no persistence, pinned to CPU 0 (taskset) when the
machine has 2+ cores; redis-benchmark runs pinned to CPU 1. Meridian's tokio runtime is
limited to one worker thread so both servers get one core. For each command (SET GET INCR
SADD HSET ZADD LPUSH LPOP XADD, and EVAL of `return redis.call('incr', KEYS[1])`; before LPOP
the same number of LPUSHes fill the list; XADD appends to one stream with generated IDs) and
pipeline depth (-P 1, -P 16) the two servers are measured
alternately R times and the median run is reported: ops/s, p50 and p99 latency (ms) and
the Meridian/Redis ops ratio. Then memory: 1M SETs of 16-byte keys and 64-byte values,
RSS growth of each server, and the ratio. Prints a Markdown table.
"""

import argparse
import csv
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TESTS = ["set", "get", "incr", "sadd", "hset", "zadd", "lpush", "lpop", "xadd", "eval"]

# Tests that are not redis-benchmark -t names: the command line to run instead.
CUSTOM = {
    "xadd": ["XADD", "mystream", "*", "f", "v"],
    # A one-command Lua script (the script cache hit path, one store lock, one op).
    "eval": ["EVAL", "return redis.call('incr', KEYS[1])", "1", "counter:__rand_int__"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def pin(cpu):
    if (os.cpu_count() or 1) >= 2 and subprocess.run(["which", "taskset"], capture_output=True).returncode == 0:
        return ["taskset", "-c", str(cpu)]
    return []


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, name, argv, port, env=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(pin(0) + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})})
        wait_port(port)

    def cmd(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              timeout=120).stdout.strip()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_redis():
    port = free_port()
    return Server("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--daemonize", "no"], port)


def start_meridian(path):
    port = free_port()
    return Server("meridian", [path, "server", "--port", str(port), "--bind", "127.0.0.1"], port,
                  env={"MERIDIAN_WORKER_THREADS": "1", "MERIDIAN_LOG": "warn"})


def bench(server, test, pipeline, requests):
    custom = CUSTOM.get(test, [])
    select = [] if custom else ["-t", test]
    out = subprocess.run(pin(1) + ["redis-benchmark", "-p", str(server.port), *select, "-n", str(requests),
                                   "-c", "50", "-P", str(pipeline), "-r", "100000", "--csv", "-q", *custom],
                         capture_output=True, text=True, timeout=600).stdout
    # csv: a custom command's name (e.g. the EVAL script) may itself contain commas.
    for cols in csv.reader(out.splitlines()):
        if len(cols) >= 7 and cols[0] != "test":
            return float(cols[1]), float(cols[4]), float(cols[6])
    raise RuntimeError(f"no redis-benchmark result for {test}: {out!r}")


def memory(server_factory, n=1_000_000):
    s = server_factory()
    try:
        time.sleep(0.3)
        before = rss_kb(s.proc.pid)
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            val = b"v" * 64
            for i in range(n):
                key = b"key:%012d" % i  # 16 bytes
                f.write(b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$64\r\n" + val + b"\r\n")
            path = f.name
        with open(path, "rb") as f:
            subprocess.run(["redis-cli", "-p", str(s.port), "--pipe"], stdin=f, capture_output=True, timeout=600)
        os.unlink(path)
        assert s.cmd("DBSIZE") == str(n), f"{s.name} DBSIZE {s.cmd('DBSIZE')}"
        time.sleep(0.5)
        after = rss_kb(s.proc.pid)
        return (after - before) * 1024 / n
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meridian", default=os.environ.get("MERIDIAN_BIN", "target/release/meridian"))
    ap.add_argument("--requests", type=int, default=300_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny run to check the script works")
    ap.add_argument("--tests", default=",".join(TESTS), help="comma-separated redis-benchmark tests")
    ap.add_argument("--no-memory", action="store_true", help="skip the 1M-key memory measurement")
    a = ap.parse_args()
    if a.quick:
        a.requests, a.reps = 20_000, 1
    rows = []
    for pipeline in (1, 16):
        n = a.requests * (4 if pipeline > 1 else 1)
        for test in a.tests.split(","):
            res = {"redis": [], "meridian": []}
            for _ in range(a.reps):
                for name in ("redis", "meridian"):
                    s = start_redis() if name == "redis" else start_meridian(a.meridian)
                    try:
                        if test == "lpop":
                            bench(s, "lpush", pipeline, n)  # something to pop (not reported)
                        res[name].append(bench(s, test, pipeline, n))
                    finally:
                        s.stop()
            med = {k: sorted(v, key=lambda r: r[0])[len(v) // 2] for k, v in res.items()}
            r, m = med["redis"], med["meridian"]
            rows.append((test.upper(), pipeline, r, m, m[0] / r[0]))
            print(f"  {test} -P {pipeline}: redis {r[0]:.0f}/s meridian {m[0]:.0f}/s ratio {m[0] / r[0]:.2f}",
                  file=sys.stderr)
    print("| command | -P | redis ops/s | meridian ops/s | ratio | redis p50/p99 ms | meridian p50/p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for test, p, r, m, ratio in rows:
        print(f"| {test} | {p} | {r[0]:,.0f} | {m[0]:,.0f} | {ratio:.2f} | {r[1]:.3f} / {r[2]:.3f} | "
              f"{m[1]:.3f} / {m[2]:.3f} |")
    if a.no_memory:
        return
    n = 20_000 if a.quick else 1_000_000
    rb = memory(start_redis, n)
    mb = memory(lambda: start_meridian(a.meridian), n)
    print()
    print(f"Memory, {n:,} SETs (16-byte keys, 64-byte values): redis {rb:.1f} B/key, "
          f"meridian {mb:.1f} B/key, ratio {mb / rb:.2f}")


if __name__ == "__main__":
    main()
