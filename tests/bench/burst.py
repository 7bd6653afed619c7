#!/usr/bin/env python3
"""Pub/sub burst: the largest burst of publishes the gateway's shared pub/sub connection survives.

    tests/bench/burst.py GW_HOST GW_PORT REDIS_HOST REDIS_PORT [--subscribers 100] [--size 8192]
                         [--counts 1000,2000,5000,10000,20000]

For each count, SUBSCRIBERS chunked streams (`GET /SUBSCRIBE/<fresh channel>`, webdis API) read as
fast as they can while one client pipelines COUNT publishes of SIZE bytes straight to Redis. Once
every stream has had all the messages, closed, or been silent for 3 s, it prints one line:

    BURST count=… size=… subscribers=… complete=… cut=… lost=… min=… max=… secs=…

complete: streams that got every message; short: streams that did not (cut by the gateway for
falling behind --max-stream-buffer, or the connection was lost); told_lost: streams told the
shared connection to Redis was lost (Python readers only); connection_lost: how many times the
gateway's log (--gateway-log PATH) says Redis dropped the shared connection during the trial
(`client-output-buffer-limit pubsub`). With --curl SECS the readers are `curl -N | wc -c`
(C speed; Python readers are slower than the gateway's fan-out and get cut).
Standard library only; never part of `cargo test`.
"""

import argparse
import socket
import sys
import threading
import time

MARK = b'"message"'
LOST = b'"lost"'


class CurlReader(threading.Thread):
    """A reader at C speed: `curl -N … | wc -c`; messages are counted from the byte count."""

    def __init__(self, host, port, channel, want, frame_bytes, first_bytes, max_time):
        super().__init__(daemon=True)
        import subprocess
        self.proc = subprocess.Popen(
            "curl -sN --max-time %d http://%s:%d/SUBSCRIBE/%s | wc -c" % (max_time, host, port, channel),
            shell=True, stdout=subprocess.PIPE)
        self.want = want
        self.frame_bytes = frame_bytes
        self.first_bytes = first_bytes
        self.count = 0
        self.lost = False
        self.closed = False
        self.last = time.time() + max_time
        self.ready = threading.Event()
        self.ready.set()
        self.sock = self

    def close(self):
        pass

    def run(self):
        out = self.proc.stdout.read()
        total = int(out.strip() or 0)
        # Bytes past the confirmation, in chunks of one message each.
        self.count = max(0, total - self.first_bytes) // self.frame_bytes
        self.closed = self.count < self.want
        self.last = time.time()


class Reader(threading.Thread):
    def __init__(self, host, port, channel, want):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((host, port))
        self.sock.sendall(("GET /SUBSCRIBE/%s HTTP/1.1\r\nHost: g\r\n\r\n" % channel).encode())
        self.want = want
        self.count = 0
        self.lost = False
        self.closed = False
        self.last = time.time()
        self.ready = threading.Event()

    def run(self):
        tail = b""
        self.sock.settimeout(60)
        while True:
            try:
                chunk = self.sock.recv(1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                self.closed = True
                return
            self.last = time.time()
            data = tail + chunk
            if b'"subscribe"' in data:
                self.ready.set()
            self.count += data.count(MARK)
            if LOST in data:
                self.lost = True
            # Keep a tail shorter than a mark, so no mark is counted twice or missed.
            tail = data[-(len(MARK) - 1):]
            if self.count >= self.want:
                self.sock.close()
                return


def publish(host, port, channel, count, size):
    sock = socket.create_connection((host, port))
    payload = b"x" * size
    cmd = (b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
           % (len(channel), channel.encode(), size, payload))
    drained = [0]

    def drain():
        buf = b""
        while drained[0] < count:
            got = sock.recv(1 << 16)
            if not got:
                return
            buf += got
            drained[0] += buf.count(b"\r\n")
            buf = b""

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    batch = 64
    for start in range(0, count, batch):
        sock.sendall(cmd * min(batch, count - start))
    t.join(60)
    sock.close()


def losses(path):
    """Lines of the gateway's log (--gateway-log) saying the shared connection was lost."""
    if not path:
        return 0
    with open(path, errors="replace") as f:
        return sum("pub/sub: connection to redis" in line and " lost " in line for line in f)


def trial(a, count, index):
    before = losses(a.gateway_log)
    channel = "burst-%d-%d" % (int(time.time()), index)
    if a.curl:
        # The chunked framing of one message and of the confirmation, as the gateway writes them.
        body = len('{"SUBSCRIBE":["message","%s","%s"]}' % (channel, "x" * a.size))
        frame = len("%x\r\n" % body) + body + 2
        first = len("HTTP/1.1 200 OK\r\n")  # unused: curl prints the body only
        confirm = len('{"SUBSCRIBE":["subscribe","%s",1]}' % channel)
        first = len("%x\r\n" % confirm) + confirm + 2
        readers = [CurlReader(a.gw_host, a.gw_port, channel, count, frame - len("%x\r\n" % body) - 2, confirm, a.curl)
                   for _ in range(a.subscribers)]
        time.sleep(2)
    else:
        readers = [Reader(a.gw_host, a.gw_port, channel, count) for _ in range(a.subscribers)]
    for r in readers:
        r.start()
    for r in readers:
        r.ready.wait(10)
    t0 = time.time()
    publish(a.redis_host, a.redis_port, channel, count, a.size)
    while True:
        time.sleep(0.2)
        now = time.time()
        if all(not r.is_alive() or (not a.curl and now - r.last > 3) for r in readers):
            break
    secs = time.time() - t0
    for r in readers:
        try:
            r.sock.close()
        except OSError:
            pass
    counts = [r.count for r in readers]
    print("BURST count=%d size=%d subscribers=%d complete=%d short=%d told_lost=%d min=%d max=%d "
          "secs=%.1f connection_lost=%s"
          % (count, a.size, a.subscribers, sum(c >= count for c in counts),
             sum(r.count < count for r in readers), sum(r.lost for r in readers),
             min(counts), max(counts), secs,
             ("%d" % (losses(a.gateway_log) - before)) if a.gateway_log else "?"), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("gw_host")
    p.add_argument("gw_port", type=int)
    p.add_argument("redis_host")
    p.add_argument("redis_port", type=int)
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--size", type=int, default=8192)
    p.add_argument("--counts", default="1000,2000,5000,10000,20000")
    p.add_argument("--gateway-log", help="the gateway's stderr, to count connection losses")
    p.add_argument("--curl", type=int, default=0, metavar="SECS",
                   help="read with `curl | wc -c` (C speed) for SECS seconds instead of Python")
    a = p.parse_args()
    for i, count in enumerate(int(c) for c in a.counts.split(",")):
        trial(a, count, i)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
