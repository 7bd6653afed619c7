#!/usr/bin/env python3
"""Subscription rounds: does the gateway give back the memory of subscriptions that ended?

    tests/bench/subscribe_rounds.py PID HOST PORT [--clients 100] [--channels 1024] [--name-bytes 1000] [--rounds 3]

PID is the gateway's process (its VmRSS is read from /proc); HOST:PORT its webdis listener
(`--api webdis --websockets on`). Each round, CLIENTS WebSockets on /.json each subscribe to
CHANNELS channels of NAME-BYTES bytes (names differ between clients), wait for every
confirmation, then close. The script prints the RSS before the first round and, once
`pubsub_topics` on the admin /metrics reads 0 (ADMIN given) or after --settle seconds, after
each round: `ROUND n rss_kib=… topics=…`. Standard library only; never part of `cargo test`.
"""

import argparse
import json
import socket
import sys
import threading
import time


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def ws_text(payload):
    head = bytes([0x81])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    mask = b"\x00\x00\x00\x00"  # a zero mask leaves the payload as is
    return head + mask + payload


def client(host, port, index, channels, name_bytes, out):
    sock = socket.create_connection((host, port))
    sock.settimeout(30)
    sock.sendall(b"GET /.json HTTP/1.1\r\nHost: g\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed during the handshake")
        got += chunk
    rest = got.split(b"\r\n\r\n", 1)[1]
    frames = []
    for c in range(channels):
        name = ("c%d-%d-" % (index, c)).encode()
        name += b"x" * (name_bytes - len(name))
        frames.append(ws_text(json.dumps(["SUBSCRIBE", name.decode()]).encode()))
    sock.sendall(b"".join(frames))
    # Count confirmations: one frame each (the server's frames are unmasked).
    confirmed = 0
    buf = rest
    try:
        while confirmed < channels:
            while len(buf) >= 2:
                n = buf[1] & 0x7F
                off = 2
                if n == 126:
                    if len(buf) < 4:
                        break
                    n = int.from_bytes(buf[2:4], "big")
                    off = 4
                elif n == 127:
                    if len(buf) < 10:
                        break
                    n = int.from_bytes(buf[2:10], "big")
                    off = 10
                if len(buf) < off + n:
                    break
                confirmed += 1
                buf = buf[off + n:]
            if confirmed >= channels:
                break
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    out[index] = confirmed
    sock.close()


def metric(host, port, name):
    sock = socket.create_connection((host, port))
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    for line in data.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("pid", type=int)
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--admin", type=int, help="admin port, for pubsub_topics")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--channels", type=int, default=1024)
    p.add_argument("--name-bytes", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--settle", type=float, default=3.0)
    a = p.parse_args()
    print("BASELINE rss_kib=%d" % rss_kib(a.pid), flush=True)
    for r in range(1, a.rounds + 1):
        out = [0] * a.clients
        threads = [threading.Thread(target=client, args=(a.host, a.port, i, a.channels, a.name_bytes, out))
                   for i in range(a.clients)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = rss_kib(a.pid)
        topics = None
        deadline = time.time() + 30
        while time.time() < deadline:
            if a.admin:
                topics = metric(a.host, a.admin, "redis_gateway_pubsub_topics")
                if topics == 0:
                    break
            else:
                break
            time.sleep(0.2)
        time.sleep(a.settle)
        print("ROUND %d confirmed=%d/%d secs=%.1f rss_after_clients_kib=%d rss_kib=%d topics=%s"
              % (r, sum(out), a.clients * a.channels, time.time() - t0, peak, rss_kib(a.pid), topics),
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
