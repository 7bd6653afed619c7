#!/usr/bin/env python3
"""Load and attack helpers for tests/soak.sh (standard library only).

  load.py load  HOST:PORT STATSFILE THREADS   mixed GET/PUT until SIGTERM; cumulative counters in STATSFILE
  load.py slow  HOST:PORT N SECONDS           N connections sending a request head one byte a second
  load.py idle  HOST:PORT N SECONDS           N connections that send nothing
  load.py check HOST:PORT                     one PUT and one GET; exit 0 when both succeed

STATSFILE holds one line, rewritten every 0.5 s: `ok c4xx c5xx errors wrong max_latency_ms`
(`wrong`: a 200 GET whose body is not a value this thread wrote to that key).
"""
import os
import signal
import socket
import sys
import threading
import time

TIMEOUT = 5.0


def addr_of(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def read_response(sock, buf):
    """Reads one response from sock (buf: leftover bytes). Returns (status, body, rest, closes)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response head")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    closes = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection" and b"close" in value.lower():
            closes = True
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    return status, rest[:length], rest[length:], closes


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = self.c4 = self.c5 = self.err = self.wrong = 0
        self.max_ms = 0.0

    def line(self):
        with self.lock:
            return f"{self.ok} {self.c4} {self.c5} {self.err} {self.wrong} {self.max_ms:.0f}\n"


def client(addr, tid, counters, stop):
    sock, buf, seq = None, b"", 0
    # Per key (this thread alone writes its keys): the last value confirmed by a 2xx, and every value
    # whose PUT failed (a 504'd SET may still run later, e.g. after SIGCONT).
    confirmed, unconfirmed = {}, {}
    while not stop.is_set():
        seq += 1
        key = f"soak-{os.getpid()}-{tid}-{seq % 50}"
        put = seq % 3 == 0
        if put:
            value = f"{key}={seq}".encode() + b"x" * (seq % 200)
            req = (f"PUT /{key} HTTP/1.1\r\nHost: soak\r\nContent-Length: {len(value)}\r\n\r\n").encode() + value
        else:
            req = f"GET /{key} HTTP/1.1\r\nHost: soak\r\n\r\n".encode()
        started = time.monotonic()
        try:
            if sock is None:
                sock = socket.create_connection(addr, timeout=TIMEOUT)
                sock.settimeout(TIMEOUT)
                buf = b""
            sock.sendall(req)
            status, body, buf, closes = read_response(sock, buf)
        except (OSError, ValueError, IndexError):
            if put:
                unconfirmed.setdefault(key, set()).add(value)
            with counters.lock:
                counters.err += 1
            if sock is not None:
                sock.close()
            sock = None
            time.sleep(0.01)
            continue
        took = (time.monotonic() - started) * 1000
        with counters.lock:
            counters.max_ms = max(counters.max_ms, took)
            if 200 <= status < 300:
                counters.ok += 1
                if not put and body != confirmed.get(key) and body not in unconfirmed.get(key, ()):
                    counters.wrong += 1
            elif 400 <= status < 500:
                counters.c4 += 1
            else:
                counters.c5 += 1
        if put and 200 <= status < 300:
            confirmed[key] = value
        elif put:
            unconfirmed.setdefault(key, set()).add(value)
        if closes:
            sock.close()
            sock = None


def load(addr, stats, threads):
    counters, stop = Counters(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    workers = [threading.Thread(target=client, args=(addr, t, counters, stop), daemon=True)
               for t in range(threads)]
    for w in workers:
        w.start()
    while not stop.is_set():
        tmp = stats + ".tmp"
        with open(tmp, "w") as f:
            f.write(counters.line())
        os.replace(tmp, stats)
        stop.wait(0.5)
    for w in workers:
        w.join(TIMEOUT + 1)
    with open(stats, "w") as f:
        f.write(counters.line())


def hold(addr, n, seconds, slow):
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(addr, timeout=TIMEOUT)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    head = b"GET /slow HTTP/1.1\r\nHost: soak\r\nX-Slow: " + b"a" * 100
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        if slow and i < len(head):
            for s in socks:
                try:
                    s.send(head[i:i + 1])
                except OSError:
                    pass
            i += 1
        time.sleep(1)
    for s in socks:
        s.close()


def check(addr):
    try:
        with socket.create_connection(addr, timeout=TIMEOUT) as s:
            s.settimeout(TIMEOUT)
            s.sendall(b"PUT /soak-check HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\n\r\nalive")
            status, _, rest, _ = read_response(s, b"")
            s.sendall(b"GET /soak-check HTTP/1.1\r\nHost: soak\r\n\r\n")
            status2, body, _, _ = read_response(s, rest)
        return status == 204 and status2 == 200 and body == b"alive"
    except (OSError, ValueError, IndexError):
        return False


def main():
    mode, addr = sys.argv[1], addr_of(sys.argv[2])
    if mode == "load":
        load(addr, sys.argv[3], int(sys.argv[4]))
    elif mode in ("slow", "idle"):
        hold(addr, int(sys.argv[3]), float(sys.argv[4]), mode == "slow")
    elif mode == "check":
        sys.exit(0 if check(addr) else 1)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
