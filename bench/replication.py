#!/usr/bin/env python3
"""Replication benchmarks for Meridian (issue 4): prints Markdown tables.

Usage:  bench/replication.py [--meridian PATH] [--quick] [--only 1,2,3,4] [--reps R]
                             [--server-args "ARGS"]

`--server-args` adds arguments to every region's command line, e.g. benchmark 4 with
the disk-backed backlog: `--server-args "--appendonly yes --repl-backlog-memory 1mb"`
(the partition's writes then leave memory and the catch-up reads them from the WAL).

Builds nothing: run `cargo build --release -p meridian-node` first (default binary
`target/release/meridian`). Every region runs on 127.0.0.1 with free ports, its own data
directory and dev certificates (`--repl-dev-certs yes`) in a temporary directory, with
`MERIDIAN_WORKER_THREADS=1` (one runtime worker thread per server) and `MERIDIAN_LOG=warn`.
Every process this script starts is stopped before it exits (try/finally, also on Ctrl-C).

1. Local throughput, 0 vs 2 peers. redis-benchmark (SET, INCR; -c 50; -P 1 and -P 16;
   -r 100000) against region 1 of a 1-region setup (no peers) and against region 1 of a
   3-region full mesh that replicates everything to regions 2 and 3. Both setups run at
   the same time and are measured alternately, R reps each, median reported.
   CPU placement on a 2-core machine: region 1 (either setup) alone on CPU 0; the load
   generator and the two peer regions on CPU 1 (--peer-priority idle runs the peers in
   SCHED_IDLE). So region 1 gets the same core in both cases and the peers' apply work
   cannot steal it; but the load generator shares its core with the peers. Also reports region 1's CPU time per
   op (utime+stime from /proc, robust against other load on the machine) and how long
   the peers needed to apply everything after the load ended.
2. Cross-region visibility latency. A writer process sends `SET seq <i>` (i = 1, 2, ...)
   to region 1 at a paced rate (every 1 ms a pipelined batch of rate/1000 SETs; records
   send and reply times); a reader process polls `GET seq` on region 2 in a tight loop
   (one round trip at a time) and records when each new value first shows up. Regions 1
   apply in order at region 2, so seeing value v means every i <= v is visible. Latency of
   op i = first poll reply showing a value >= i, minus the time region 1's reply for i
   reached the writer ("from ack") or the time it was sent ("from send"). Resolution: one
   poll round trip (reported). Placement: region 1 + writer on CPU 0, region 2 + reader on
   CPU 1, region 3 unpinned.
3. Replicated bytes per op. Frame bytes (after lz4, the QUIC stream payload) from
   `INFO replication` (`region_net_bytes_sent`), per op and per peer link, against the
   RESP bytes of the command, for SET (16-byte keys, 64-byte random alphanumeric values)
   and INCR (16-byte keys over 10,000 counters); both as a bulk load (redis-cli --pipe,
   big batches) and paced at 10k ops/s (the batching a steady production stream gets).
   QUIC/UDP/IP overhead is estimated from the system-wide UDP datagram count
   (/proc/net/snmp) at ~60 bytes per datagram.
4. Catch-up after a partition. Region 3 of a 3-region mesh is frozen with SIGSTOP (its
   links time out on the other side, packets to it are dropped), region 1 takes paced
   SETs at 20k/s for 60 s (10 s with --quick), then SIGCONT heals it. Reports the time
   until region 3 has applied everything region 1 had (INFO region_applied), the time until
   region 1 sees region 3's ack (lag_ops 0), and the partial/full resync counters.

--quick: a 1-2 minute smoke (smaller N, 1 rep, shorter runs).
"""

import argparse
import array
import base64
import bisect
import multiprocessing as mp
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

NCPU = os.cpu_count() or 1
ALL_PROCS = []  # every Popen / mp.Process we started, for the final cleanup


# --------------------------------------------------------------------------- helpers

def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpus):
    """taskset prefix for `cpus` ("0", "1", "0,1") when the machine has 2+ cores; a
    "/idle" suffix also runs the process in the SCHED_IDLE class (chrt --idle 0): it only
    gets CPU time nothing else on that core wants."""
    if cpus is None:
        return []
    cpus, _, idle = cpus.partition("/")
    out = ["chrt", "--idle", "0"] if idle == "idle" else []
    if NCPU >= 2:
        out += ["taskset", "-c", cpus]
    return out


def pin_self(cpus):
    if cpus is not None and NCPU >= 2:
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def wait_port(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def pctl(sorted_vals, q):
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_out_datagrams():
    with open("/proc/net/snmp") as f:
        lines = [l.split() for l in f if l.startswith("Udp:")]
    hdr, val = lines[0], lines[1]
    return int(val[hdr.index("OutDatagrams")])


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Resp:
    """A minimal blocking RESP client (bulk/simple/integer replies)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def cmd(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(parts))
        line = self._line()
        t = line[:1]
        if t == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            data = self._exact(n + 2)[:-2]
            return data.decode(errors="replace")
        if t in (b"+", b":"):
            return line[1:].decode()
        if t == b"-":
            raise RuntimeError(line[1:].decode())
        raise RuntimeError(f"unexpected reply {line!r}")

    def close(self):
        self.s.close()


def info_repl(port):
    c = Resp(port)
    try:
        text = c.cmd("INFO", "replication")
    finally:
        c.close()
    out, peers = {}, {}
    for line in text.splitlines():
        if ":" not in line or line.startswith("#"):
            continue
        k, v = line.split(":", 1)
        if k.startswith("region_peer"):
            d = dict(kv.split("=", 1) for kv in v.split(","))
            peers[int(d["region"])] = d
        else:
            out[k] = v
    out["peers"] = peers
    return out


def vv(s):
    return {int(a): int(b) for a, b in (x.split(":") for x in s.split(";") if x)} if s else {}


# --------------------------------------------------------------------------- clusters

SERVER_ARGS = []


class Cluster:
    """N regions in full mesh on loopback (N = 1: a plain server with no peers)."""

    def __init__(self, exe, n, pins, workdir, name):
        self.exe, self.n, self.dir, self.name = exe, n, os.path.join(workdir, name), name
        os.makedirs(self.dir, exist_ok=True)
        self.ports = {i: free_port() for i in range(1, n + 1)}
        self.repl_ports = {i: free_port(socket.SOCK_DGRAM) for i in range(1, n + 1)}
        self.procs = {}
        self.stopped = set()
        try:
            for i in range(1, n + 1):
                self._start(i, pins.get(i))
            if n > 1:
                self.wait_links()
        except BaseException:
            self.stop()
            raise

    def _start(self, i, cpus):
        argv = [self.exe, "server", "--region-id", str(i), "--port", str(self.ports[i]),
                "--bind", "127.0.0.1", "--data-dir", os.path.join(self.dir, f"region-{i}")]
        if self.n > 1:
            peers = " ".join(f"{j}@127.0.0.1:{self.repl_ports[j]}" for j in range(1, self.n + 1) if j != i)
            argv += ["--repl-port", str(self.repl_ports[i]), "--repl-bind", "127.0.0.1",
                     "--repl-tls-dir", os.path.join(self.dir, "tls"), "--repl-dev-certs", "yes",
                     "--peers", peers]
        argv += SERVER_ARGS
        log = open(os.path.join(self.dir, f"region-{i}.log"), "wb")
        env = {**os.environ, "MERIDIAN_WORKER_THREADS": "1", "MERIDIAN_LOG": "warn"}
        p = subprocess.Popen(pin(cpus) + argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        ALL_PROCS.append(p)
        self.procs[i] = p
        # Sequential start: region i's dev certificates exist before region i+1 starts.
        wait_port(self.ports[i])

    def pid(self, i):
        return self.procs[i].pid

    def wait_links(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ok = True
            for i in self.ports:
                if i in self.stopped:
                    continue
                inf = info_repl(self.ports[i])
                if any(p["link"] != "streaming" for p in inf["peers"].values()) or \
                        len(inf["peers"]) != self.n - 1:
                    ok = False
                    break
            if ok:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: region links not all up after {timeout}s")

    def applied(self, i):
        return vv(info_repl(self.ports[i])["region_applied"])

    def wait_converged(self, timeout=120.0):
        """Waits until every region has applied what every region applied; returns seconds."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            vs = [self.applied(i) for i in self.ports]
            want = {}
            for v in vs:
                for k, s in v.items():
                    want[k] = max(want.get(k, 0), s)
            if all(all(v.get(k, 0) >= s for k, s in want.items()) for v in vs):
                return time.monotonic() - t0
            time.sleep(0.02)
        raise RuntimeError(f"{self.name}: regions did not converge within {timeout}s")

    def stop(self):
        for i, p in self.procs.items():
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGCONT)
                    p.terminate()
                except ProcessLookupError:
                    pass
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# --------------------------------------------------------------------------- load processes

def rand_value(rnd):
    """64 random base64 characters (6 bits each: lz4 finds nothing to compress in them)."""
    return base64.b64encode(rnd.randbytes(48))


def make_cmd(kind, i, rnd):
    if kind == "seq":
        v = b"%d" % i
        return b"*3\r\n$3\r\nSET\r\n$3\r\nseq\r\n$%d\r\n%s\r\n" % (len(v), v)
    if kind == "set":  # 16-byte key, 64-byte random alphanumeric value
        key = b"key:%012d" % i
        val = rand_value(rnd)
        return b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$64\r\n" + val + b"\r\n"
    if kind == "settext":  # 16-byte key, 64-byte JSON-like value (a session/cart record)
        key = b"key:%012d" % i
        val = (b'{"uid":%07d,"cart":[%d,%d],"ts":%d,"st":"ok"}' % (
            rnd.randrange(10_000_000), rnd.randrange(1000), rnd.randrange(100),
            1_764_000_000_000 + i * 37)).ljust(64, b" ")[:64]
        return b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$64\r\n" + val + b"\r\n"
    if kind == "set100k":  # same shape over 100,000 keys
        key = b"key:%012d" % (i % 100_000)
        val = rand_value(rnd)
        return b"*3\r\n$3\r\nSET\r\n$16\r\n" + key + b"\r\n$64\r\n" + val + b"\r\n"
    if kind == "incr":  # 16-byte keys over 10,000 counters
        key = b"ctr:%012d" % rnd.randrange(10_000)
        return b"*2\r\n$4\r\nINCR\r\n$16\r\n" + key + b"\r\n"
    raise ValueError(kind)


def writer_main(port, kind, rate, total, start_at_ns, out_path, cpus):
    """Paced writer: every batch of rate/1000 pipelined commands at its scheduled time."""
    pin_self(cpus)
    rnd = random.Random(42)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    batch = max(1, rate // 1000)
    period_ns = batch * 1_000_000_000 / rate
    sends, acks, late = array.array("q"), array.array("q"), array.array("q")
    i = 0
    b = 0
    buf = b""
    while time.monotonic_ns() < start_at_ns:
        time.sleep(0.001)
    while i < total:
        due = start_at_ns + int(b * period_ns)
        now = time.monotonic_ns()
        if now < due:
            time.sleep((due - now) / 1e9)
        k = min(batch, total - i)
        cmds = b"".join(make_cmd(kind, i + j + 1, rnd) for j in range(k))
        t0 = time.monotonic_ns()
        s.sendall(cmds)
        # Read k replies (simple strings / integers: one line each).
        got = buf.count(b"\r\n")
        while got < k:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("server closed")
            buf += chunk
            got = buf.count(b"\r\n")
        if b"-" in buf[:1] or b"\r\n-" in buf:
            raise RuntimeError(f"error reply: {buf[:200]!r}")
        # Drop exactly k lines.
        pos = 0
        for _ in range(k):
            pos = buf.index(b"\r\n", pos) + 2
        buf = buf[pos:]
        t1 = time.monotonic_ns()
        sends.append(t0)
        acks.append(t1)
        late.append(t0 - due)
        i += k
        b += 1
    s.close()
    with open(out_path, "wb") as f:
        array.array("q", [batch, len(sends)]).tofile(f)
        sends.tofile(f)
        acks.tofile(f)
        late.tofile(f)


def read_writer(path):
    with open(path, "rb") as f:
        hdr = array.array("q")
        hdr.fromfile(f, 2)
        batch, n = hdr
        sends, acks, late = array.array("q"), array.array("q"), array.array("q")
        sends.fromfile(f, n)
        acks.fromfile(f, n)
        late.fromfile(f, n)
    return batch, sends, acks, late


def reader_main(port, stop_value, deadline_ns, out_path, cpus):
    """Tight polling reader of `GET seq`: records (value, time) when the value grows."""
    pin_self(cpus)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cmd = b"*2\r\n$3\r\nGET\r\n$3\r\nseq\r\n"
    vals, times, gaps = array.array("q"), array.array("q"), array.array("q")
    last = 0
    polls = 0
    prev_t = time.monotonic_ns()
    t_start = prev_t
    while last < stop_value:
        s.sendall(cmd)
        buf = s.recv(256)
        while True:
            nl = buf.find(b"\r\n")
            if nl >= 0:
                n = int(buf[1:nl])
                if n < 0 or len(buf) >= nl + 2 + n + 2:
                    break
            buf += s.recv(256)
        t = time.monotonic_ns()
        polls += 1
        v = 0 if n < 0 else int(buf[nl + 2:nl + 2 + n])
        if v > last:
            vals.append(v)
            times.append(t)
            gaps.append(t - prev_t)  # the value appeared somewhere in (prev_t, t]
            last = v
        prev_t = t
        if t > deadline_ns:
            break
    s.close()
    with open(out_path, "wb") as f:
        array.array("q", [len(vals), polls, prev_t - t_start]).tofile(f)
        vals.tofile(f)
        times.tofile(f)
        gaps.tofile(f)


def read_reader(path):
    with open(path, "rb") as f:
        hdr = array.array("q")
        hdr.fromfile(f, 3)
        n, polls, span = hdr
        vals, times, gaps = array.array("q"), array.array("q"), array.array("q")
        vals.fromfile(f, n)
        times.fromfile(f, n)
        gaps.fromfile(f, n)
    return vals, times, gaps, polls, span


MP = mp.get_context("fork")


def start_proc(target, *args):
    p = MP.Process(target=target, args=args, daemon=True)
    p.start()
    ALL_PROCS.append(p)
    return p


def join_proc(p, timeout):
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(5)
        raise RuntimeError(f"load process {p.pid} did not finish in {timeout:.0f}s")
    if p.exitcode != 0:
        raise RuntimeError(f"load process {p.pid} failed (exit {p.exitcode})")


def paced_write(port, kind, rate, total, tmp, cpus):
    """Runs a paced writer to completion; returns (batch, sends, acks, late)."""
    out = os.path.join(tmp, f"writer-{kind}-{rate}-{time.monotonic_ns()}.bin")
    start_at = time.monotonic_ns() + 300_000_000
    p = start_proc(writer_main, port, kind, rate, total, start_at, out, cpus)
    join_proc(p, total / rate * 3 + 60)
    return read_writer(out)


# --------------------------------------------------------------------------- benchmark 1

def redis_benchmark(port, test, pipeline, requests):
    out = subprocess.run(pin("1") + ["redis-benchmark", "-p", str(port), "-t", test, "-n", str(requests),
                                     "-c", "50", "-P", str(pipeline), "-r", "100000", "--csv", "-q"],
                         capture_output=True, text=True, timeout=900).stdout
    for line in out.splitlines():
        cols = [c.strip('"') for c in line.split(",")]
        if len(cols) >= 7 and cols[0] != "test":
            return float(cols[1]), float(cols[4]), float(cols[6])
    raise RuntimeError(f"no redis-benchmark result for {test}: {out!r}")


def bench_throughput(exe, tmp, quick, reps, peer_prio):
    idle = peer_prio == "idle"
    print(f"\n### 1. Local throughput with 0 vs 2 peers (same load, same core for region 1; "
          f"peers on CPU 1 {'at idle priority (SCHED_IDLE)' if idle else 'at normal priority, competing with the load generator'})\n")
    print(f"load average before: {loadavg()}")
    single = tri = None
    rows = []
    pp = "1/idle" if idle else "1"
    try:
        single = Cluster(exe, 1, {1: "0"}, tmp, f"b1-single-{peer_prio}")
        tri = Cluster(exe, 3, {1: "0", 2: pp, 3: pp}, tmp, f"b1-tri-{peer_prio}")
        for test in ("set", "incr"):
            for P in (1, 16):
                n = (100_000 if P == 1 else 400_000) if quick else (200_000 if P == 1 else 1_000_000)
                res = {"single": [], "tri": []}
                cpu = {"single": [], "tri": []}
                catch = []
                for rep in range(reps):
                    order = [("single", single), ("tri", tri)]
                    if rep % 2:
                        order.reverse()
                    for name, cl in order:
                        c0 = cpu_seconds(cl.pid(1))
                        rps, p50, p99 = redis_benchmark(cl.ports[1], test, P, n)
                        c1 = cpu_seconds(cl.pid(1))
                        if name == "tri":
                            catch.append(cl.wait_converged())
                        res[name].append((rps, p50, p99))
                        cpu[name].append((c1 - c0) / n * 1e6)
                med = {k: sorted(v)[len(v) // 2] for k, v in res.items()}
                cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
                ratio = med["tri"][0] / med["single"][0]
                rows.append((test.upper(), P, n, med["single"], med["tri"], ratio,
                             cpu_med["single"], cpu_med["tri"], max(catch),
                             [r[0] for r in res["single"]], [r[0] for r in res["tri"]]))
                print(f"  {test} -P {P}: single {[round(r[0]) for r in res['single']]} "
                      f"tri {[round(r[0]) for r in res['tri']]}", file=sys.stderr)
        conv = tri.wait_converged()
        d1 = Resp(tri.ports[1]).cmd("DBSIZE")
        d3 = Resp(tri.ports[3]).cmd("DBSIZE")
    finally:
        for c in (single, tri):
            if c:
                c.stop()
    print(f"load average after: {loadavg()}\n")
    print("| command | -P | requests | 0 peers ops/s | 2 peers ops/s | ratio | target | verdict "
          "| p50 ms 0 / 2 peers | p99 ms 0 / 2 peers | region-1 CPU µs/op 0 / 2 peers | peers caught up after load (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|")
    for (cmd, P, n, s, t, ratio, cs, ct, catch, _, _) in rows:
        verdict = "PASS" if ratio >= 0.9 else f"MISS by {0.9 - ratio:.2f}"
        print(f"| {cmd} | {P} | {n:,} | {s[0]:,.0f} | {t[0]:,.0f} | {ratio:.2f} | ≥ 0.9 | {verdict} "
              f"| {s[1]:.3f} / {t[1]:.3f} | {s[2]:.3f} / {t[2]:.3f} | {cs:.2f} / {ct:.2f} | {catch:.2f} |")
    print(f"\nAll runs (ops/s, 0 peers | 2 peers): " + "; ".join(
        f"{r[0]} -P{r[1]}: {', '.join(f'{x:,.0f}' for x in r[9])} | {', '.join(f'{x:,.0f}' for x in r[10])}"
        for r in rows))
    print(f"\nAfter the runs: DBSIZE region 1 = {d1}, region 3 = {d3} (converged in {conv:.2f} s).")


# --------------------------------------------------------------------------- benchmark 2

def bench_latency(exe, tmp, quick):
    print("\n### 2. Cross-region visibility latency (write region 1, read region 2)\n")
    print(f"load average before: {loadavg()}")
    duration = 4 if quick else 10
    warmup_s = 1.0
    rows = []
    cl = None
    try:
        cl = Cluster(exe, 3, {1: "0", 2: "1", 3: None}, tmp, "b2")
        for rate in (10_000, 50_000):
            c = Resp(cl.ports[1])
            c.cmd("DEL", "seq")
            c.close()
            cl.wait_converged()
            total = rate * duration
            wout = os.path.join(tmp, f"lat-w-{rate}.bin")
            rout = os.path.join(tmp, f"lat-r-{rate}.bin")
            # The reader starts first and stops once it has seen the last value (or 30 s after the end).
            start_at = time.monotonic_ns() + 500_000_000
            deadline = start_at + (duration + 30) * 1_000_000_000
            rp = start_proc(reader_main, cl.ports[2], total, deadline, rout, "1")
            wp = start_proc(writer_main, cl.ports[1], "seq", rate, total, start_at, wout, "0")
            join_proc(wp, duration * 3 + 60)
            join_proc(rp, duration + 60)
            batch, sends, acks, late = read_writer(wout)
            vals, times, gaps, polls, span = read_reader(rout)
            lat_ack, lat_send = [], []
            t_first = sends[0]
            unseen = 0
            for b in range(len(sends)):
                if sends[b] - t_first < warmup_s * 1e9:
                    continue
                for i in range(b * batch + 1, (b + 1) * batch + 1):
                    j = bisect.bisect_left(vals, i)
                    if j == len(vals):
                        unseen += 1
                        continue
                    lat_ack.append((times[j] - acks[b]) / 1e6)
                    lat_send.append((times[j] - sends[b]) / 1e6)
            lat_ack.sort()
            lat_send.sort()
            g = sorted(x / 1e6 for x in gaps)
            achieved = len(sends) * batch / ((acks[-1] - sends[0]) / 1e9)
            local = sorted((acks[b] - sends[b]) / 1e6 for b in range(len(sends)))
            rows.append(dict(rate=rate, achieved=achieved, n=len(lat_ack), unseen=unseen,
                             ack=lat_ack, send=lat_send, gaps=g, poll_us=span / max(polls, 1) / 1e3,
                             late_p99=pctl(sorted(x / 1e6 for x in late), 99), local=local, batch=batch,
                             neg=sum(1 for x in lat_ack if x < 0)))
    finally:
        if cl:
            cl.stop()
    print(f"load average after: {loadavg()}\n")
    print("| target rate (writes/s) | achieved | batch per 1 ms | ops measured | p50 ms | p99 ms | p99.9 ms | max ms "
          "| p50 / p99 / max from send (ms) | region-1 batch reply p50 / p99 (ms) | target | verdict |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|")
    for r in rows:
        a, s = r["ack"], r["send"]
        verdict = "PASS" if pctl(a, 99) <= 5.0 else f"MISS by {pctl(a, 99) - 5.0:.2f} ms"
        print(f"| {r['rate']:,} | {r['achieved']:,.0f} | {r['batch']} | {r['n']:,} | {pctl(a, 50):.2f} | {pctl(a, 99):.2f} "
              f"| {pctl(a, 99.9):.2f} | {a[-1]:.2f} | {pctl(s, 50):.2f} / {pctl(s, 99):.2f} / {s[-1]:.2f} "
              f"| {pctl(r['local'], 50):.3f} / {pctl(r['local'], 99):.3f} | p99 ≤ 5 ms | {verdict} |")
    print("\nMeasurement resolution (reader's poll of region 2): " + "; ".join(
        f"{r['rate']:,}/s: mean poll round trip {r['poll_us']:.0f} µs, gap before an observation "
        f"p50 {pctl(r['gaps'], 50) * 1e3:.0f} µs / p99 {pctl(r['gaps'], 99) * 1e3:.0f} µs"
        for r in rows))
    print("Writer pacing (batch sent later than scheduled), p99: " + "; ".join(
        f"{r['rate']:,}/s: {r['late_p99']:.2f} ms" for r in rows))
    print("Latencies are \"from ack\" (first poll reply on region 2 showing the value, minus the moment "
          "region 1's reply reached the writer); values seen on region 2 before the writer read region 1's "
          "reply count as negative: " + "; ".join(f"{r['rate']:,}/s: {r['neg']:,}" for r in rows)
          + f"; ops never seen: " + "; ".join(f"{r['unseen']}" for r in rows) + ".")


# --------------------------------------------------------------------------- benchmark 3

def resp_bytes(kind, n):
    rnd = random.Random(42)
    return sum(len(make_cmd(kind, i + 1, rnd)) for i in range(n))


def net_counters(cl):
    out = {}
    for i in cl.ports:
        inf = info_repl(cl.ports[i])
        out[i] = (int(inf["region_net_bytes_sent"]), int(inf["region_net_frames_sent"]))
    return out


def bench_bytes(exe, tmp, quick):
    print("\n### 3. Replicated bytes per op vs RESP bytes of the command\n")
    print(f"load average before: {loadavg()}")
    n_bulk = 50_000 if quick else 200_000
    n_paced = 20_000 if quick else 100_000
    rows = []
    cl = None
    try:
        cl = Cluster(exe, 3, {1: "0", 2: "1", 3: "1"}, tmp, "b3")
        for kind in ("set", "settext", "incr"):
            for mode in ("bulk", "paced"):
                n = n_bulk if mode == "bulk" else n_paced
                cl.wait_converged()
                time.sleep(0.5)
                before, d0 = net_counters(cl), udp_out_datagrams()
                if mode == "bulk":
                    rnd = random.Random(42)
                    path = os.path.join(tmp, f"bulk-{kind}.resp")
                    with open(path, "wb") as f:
                        for i in range(n):
                            f.write(make_cmd(kind, i + 1, rnd))
                    with open(path, "rb") as f:
                        subprocess.run(pin("1") + ["redis-cli", "-p", str(cl.ports[1]), "--pipe"], stdin=f,
                                       capture_output=True, timeout=600, check=True)
                else:
                    paced_write(cl.ports[1], kind, 10_000, n, tmp, "1")
                cl.wait_converged()
                time.sleep(0.5)  # the last acks
                after, d1 = net_counters(cl), udp_out_datagrams()
                rb = resp_bytes(kind, n) / n
                origin = (after[1][0] - before[1][0]) / n / 2
                frames = (after[1][1] - before[1][1]) / n / 2
                total = sum(after[i][0] - before[i][0] for i in cl.ports) / n / 2
                dgrams = (d1 - d0) / n / 2
                label = {"set": "SET (random values)", "settext": "SET (JSON-like values)", "incr": "INCR"}[kind]
                rows.append((label, mode, n, rb, origin, frames, total, total + dgrams * 60, dgrams))
    finally:
        if cl:
            cl.stop()
    print(f"load average after: {loadavg()}\n")
    print("| command | load | ops | RESP B/op | region-1 frame B/op/peer | ratio | all regions' frame B/op/peer "
          "(incl. acks, relays) | ratio | + QUIC/UDP/IP est. B/op/peer | ratio | frames/op/peer | target | verdict |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for (cmd, mode, n, rb, origin, frames, total, wire, dg) in rows:
        verdict = "PASS" if total / rb <= 0.5 else f"MISS ({total / rb:.2f})"
        mode_s = "bulk (redis-cli --pipe)" if mode == "bulk" else "paced 10k/s"
        print(f"| {cmd} | {mode_s} | {n:,} | {rb:.1f} | {origin:.1f} | {origin / rb:.2f} | {total:.1f} | {total / rb:.2f} "
              f"| {wire:.1f} | {wire / rb:.2f} | {frames:.3f} | ≤ 0.5 | {verdict} |")
    print("\nThe target is judged on \"all regions' frame B/op/peer\": every frame byte any region sent "
          "(ops, acks, heartbeats, relayed ops) divided by ops and by the 2 peer links that had to carry them. "
          "QUIC/UDP/IP estimate: + 60 B per UDP datagram sent on the machine during the phase "
          "(/proc/net/snmp, system-wide).")


# --------------------------------------------------------------------------- benchmark 4

def bench_catchup(exe, tmp, quick):
    print("\n### 4. Catch-up after a partition (region 3 frozen with SIGSTOP)\n")
    print(f"load average before: {loadavg()}")
    part_s = 10 if quick else 60
    rate = 20_000
    cl = None
    try:
        cl = Cluster(exe, 3, {1: "0", 2: "1", 3: "1"}, tmp, "b4")
        before1 = info_repl(cl.ports[1])["peers"][3]
        before3 = info_repl(cl.ports[3])["peers"]
        p3 = cl.procs[3]
        p3.send_signal(signal.SIGSTOP)
        cl.stopped.add(3)
        t_part = time.monotonic()
        batch, sends, acks, late = paced_write(cl.ports[1], "set100k", rate, rate * part_s, tmp, "0")
        achieved = len(sends) * batch / ((acks[-1] - sends[0]) / 1e9)
        local = sorted((acks[b] - sends[b]) / 1e6 for b in range(len(sends)))
        part_len = time.monotonic() - t_part
        during1 = info_repl(cl.ports[1])["peers"][3]
        target = cl.applied(1)
        target.update({k: max(v, target.get(k, 0)) for k, v in cl.applied(2).items()})
        t_heal = time.monotonic()
        p3.send_signal(signal.SIGCONT)
        cl.stopped.discard(3)
        t_applied = t_acked = None
        while time.monotonic() - t_heal < 300:
            now = time.monotonic() - t_heal
            inf3 = info_repl(cl.ports[3])
            if t_applied is None and all(vv(inf3["region_applied"]).get(k, 0) >= s for k, s in target.items()):
                t_applied = now
            if t_applied is not None:
                p = info_repl(cl.ports[1])["peers"][3]
                if int(p["lag_ops"]) == 0:
                    t_acked = time.monotonic() - t_heal
                    break
            time.sleep(0.01)
        after1 = info_repl(cl.ports[1])["peers"][3]
        after3 = info_repl(cl.ports[3])["peers"]
        sizes = [Resp(cl.ports[i]).cmd("DBSIZE") for i in (1, 2, 3)]
        digest = [Resp(cl.ports[i]).cmd("GET", "key:000000000777") for i in (1, 2, 3)]
    finally:
        if cl:
            cl.stop()
    print(f"load average after: {loadavg()}\n")

    def d(a, b, k):
        return int(b[k]) - int(a[k])

    partial = d(before1, after1, "partial_resyncs")
    full = d(before1, after1, "full_resyncs_sent")
    full3 = sum(d(before3[p], after3[p], "full_resyncs_received") for p in after3)
    kind = "partial" if partial > 0 and full == 0 and full3 == 0 else ("FULL" if full or full3 else "none seen")
    print("| partition | writes during it (target 20k/s) | region-1 reply p99 during it (ms) | region 1 → 3 link at heal "
          "| region 3 applied everything after heal (s) | region 1 saw region 3's ack, lag 0 (s) "
          "| resync | region 1 partial_resyncs to 3 (+Δ) | full resyncs sent / received (+Δ) | DBSIZE 1/2/3 | same value in 1/2/3 |")
    print("|---:|---:|---:|---|---:|---:|---|---:|---|---|---|")
    fmt = lambda x: "not within 300 s" if x is None else f"{x:.2f}"
    print(f"| {part_len:.1f} s | {len(sends) * batch:,} ({achieved:,.0f}/s) | {pctl(local, 99):.2f} | {during1['link']} "
          f"| {fmt(t_applied)} | {fmt(t_acked)} | {kind} | +{partial} | +{full} / +{full3} | {'/'.join(sizes)} "
          f"| {'yes' if len(set(digest)) == 1 else 'NO'} |")
    print(f"\nRegion 1's peer-3 entry before the heal: lag_ops={during1['lag_ops']}, lag_ms={during1['lag_ms']}, "
          f"last_heard_ms_ago={during1['last_heard_ms_ago']}.")


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--meridian", default="target/release/meridian")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--only", default="1,2,3,4")
    ap.add_argument("--peer-priority", choices=["normal", "idle"], default="normal",
                    help="benchmark 1: run the two peer regions at normal priority (default) or SCHED_IDLE "
                         "(they then only use CPU 1 when the load generator and everything else on the "
                         "machine leave it idle; on a shared machine they can starve)")
    ap.add_argument("--server-args", default="", help="extra arguments for every region (shell words)")
    args = ap.parse_args()
    SERVER_ARGS.extend(shlex.split(args.server_args))
    exe = os.path.abspath(args.meridian)
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe} not found: cargo build --release -p meridian-node")
    reps = args.reps or (1 if args.quick else 3)
    only = {int(x) for x in args.only.split(",")}
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    print(f"## Replication benchmarks ({'quick' if args.quick else 'full'})\n")
    print(f"date {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {NCPU} CPUs, working directory at git {rev}{' (dirty tree)' if dirty else ''}, "
          f"binary {exe}, reps {reps}, server args {SERVER_ARGS or 'none'}")
    tmp = tempfile.mkdtemp(prefix="meridian-repl-bench-")
    t0 = time.time()
    try:
        if 1 in only:
            bench_throughput(exe, tmp, args.quick, reps, args.peer_priority)
        if 2 in only:
            bench_latency(exe, tmp, args.quick)
        if 3 in only:
            bench_bytes(exe, tmp, args.quick)
        if 4 in only:
            bench_catchup(exe, tmp, args.quick)
    finally:
        for p in ALL_PROCS:
            if isinstance(p, subprocess.Popen):
                if p.poll() is None:
                    p.send_signal(signal.SIGCONT)
                    p.kill()
                    p.wait()
            elif p.is_alive():
                p.terminate()
                p.join(5)
        subprocess.run(["rm", "-rf", tmp])
    print(f"\n(total {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
