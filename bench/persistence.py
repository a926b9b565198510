#!/usr/bin/env python3
"""Persistence benchmark: `meridian server --appendonly yes` vs redis-server `--appendonly yes`.

Usage:  bench/persistence.py [--meridian PATH] [--requests N] [--reps R] [--keys K] [--quick]

1. SET throughput per appendfsync policy (always, everysec, no), side by side with
   redis-server using the same policy (AOF on, RDB saves off): redis-benchmark -c 50 -P 1,
   random keys out of 100k, 3-byte values; both servers pinned to CPU 0 (meridian with one
   tokio worker; its WAL writer is a separate thread on the same CPU), the benchmark on
   CPU 1. Median of R alternating runs, ops/s and the Meridian/Redis ratio.
2. Recovery: K keys (16-byte names, 64-byte values) written through redis-cli --pipe,
   SAVE, then K/10 more writes that stay in the WAL; the server is killed with SIGKILL and
   restarted; recovery time = start of the process until it accepts connections (and
   DBSIZE = K). Same for redis-server (AOF replay) for reference.
3. Disk bytes per key: size of the data directory / K after the SAVE (meridian: RocksDB
   snapshot + WAL; redis: appendonly dir after BGREWRITEAOF).

Prints Markdown tables.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from node_vs_redis import bench, free_port, pin, wait_port  # noqa: E402

POLICIES = ["always", "everysec", "no"]


class Proc:
    def __init__(self, argv, port, env=None):
        self.port = port
        self.t0 = time.time()
        self.proc = subprocess.Popen(pin(0) + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **(env or {})})
        wait_port(port, timeout=120)
        self.ready_s = time.time() - self.t0

    def cmd(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              timeout=600).stdout.strip()

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def redis(dirpath, policy, port=None):
    port = port or free_port()
    return Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                 "--appendfsync", policy, "--dir", dirpath, "--daemonize", "no"], port)


def meridian(path, dirpath, policy, port=None):
    port = port or free_port()
    return Proc([path, "server", "--port", str(port), "--bind", "127.0.0.1", "--appendonly", "yes",
                 "--appendfsync", policy, "--data-dir", dirpath, "--snapshot-interval-secs", "0"], port,
                env={"MERIDIAN_WORKER_THREADS": "1", "MERIDIAN_LOG": "warn"})


def dir_bytes(d):
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


def load(port, start, n, val=b"v" * 64):
    with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        for i in range(start, start + n):
            key = b"key:%012d" % i
            f.write(b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$64\r\n" + val + b"\r\n")
        path = f.name
    with open(path, "rb") as f:
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, capture_output=True, timeout=1200)
    os.unlink(path)


def throughput(a):
    rows = []
    for policy in POLICIES:
        res = {"redis": [], "meridian": []}
        for _ in range(a.reps):
            for name in ("redis", "meridian"):
                d = tempfile.mkdtemp(prefix=f"bench-persist-{name}-")
                s = redis(d, policy) if name == "redis" else meridian(a.meridian, d, policy)
                try:
                    res[name].append(bench(s, "set", 1, a.requests))
                finally:
                    s.stop()
                    shutil.rmtree(d, ignore_errors=True)
        med = {k: sorted(v, key=lambda r: r[0])[len(v) // 2] for k, v in res.items()}
        r, m = med["redis"], med["meridian"]
        rows.append((policy, r, m, m[0] / r[0]))
        print(f"  SET appendfsync {policy}: redis {r[0]:.0f}/s meridian {m[0]:.0f}/s ratio {m[0] / r[0]:.2f}",
              file=sys.stderr)
    return rows


def recovery(a, name):
    d = tempfile.mkdtemp(prefix=f"bench-recover-{name}-")
    try:
        port = free_port()
        start = (lambda: redis(d, "everysec", port)) if name == "redis" else \
            (lambda: meridian(a.meridian, d, "everysec", port))
        s = start()
        load(port, 0, a.keys)
        if name == "redis":
            s.cmd("BGREWRITEAOF")
            while "aof_rewrite_in_progress:1" in s.cmd("INFO", "persistence"):
                time.sleep(0.2)
        else:
            s.cmd("SAVE")
        disk = dir_bytes(d)
        load(port, a.keys, a.keys // 10)  # stays in the WAL / AOF tail
        time.sleep(1.5)  # everysec
        s.kill9()
        s = start()
        # redis-server accepts connections while it loads (-LOADING): wait for DBSIZE.
        while True:
            out = s.cmd("DBSIZE")
            if out.isdigit():
                break
            time.sleep(0.01)
        keys, took = int(out), time.time() - s.t0
        s.stop()
        return took, keys, disk / a.keys
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meridian", default=os.environ.get("MERIDIAN_BIN", "target/release/meridian"))
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="tiny run to check the script works")
    a = ap.parse_args()
    if a.quick:
        a.requests, a.reps, a.keys = 20_000, 1, 20_000
    rows = throughput(a)
    print("| SET, appendfsync | redis ops/s | meridian ops/s | ratio | redis p50/p99 ms | meridian p50/p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for policy, r, m, ratio in rows:
        print(f"| {policy} | {r[0]:.0f} | {m[0]:.0f} | {ratio:.2f} | {r[1]:.2f}/{r[2]:.2f} | {m[1]:.2f}/{m[2]:.2f} |")
    print()
    print(f"| recovery of {a.keys} keys (+{a.keys // 10} in the log) | start-to-ready s | keys | disk bytes/key |")
    print("|---|---:|---:|---:|")
    for name in ("meridian", "redis"):
        took, keys, per_key = recovery(a, name)
        print(f"| {name} | {took:.2f} | {keys} | {per_key:.0f} |")


if __name__ == "__main__":
    main()
