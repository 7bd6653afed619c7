#!/usr/bin/env python3
"""A legitimate client beside an attack: one small GET after another for SECS seconds.

    tests/bench/probe.py HOST PORT PATH SECS

Keep-alive; a connection the server closes (or an error) is replaced, and that reconnect counts in
the latency of the request it delays. Prints one line: `PROBE n=… ok=… failed=… p50_ms=… p99_ms=…
max_ms=…`. Standard library only; used by tests/bench/attack.sh, never part of `cargo test`.
"""

import socket
import sys
import time


def read_response(sock, buf):
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"connection" and value.strip().lower() == b"close":
            close = True
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("closed")
        rest += chunk
    return int(head[9:12]), rest[length:], close


def main():
    host, port, path, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    request = ("GET %s HTTP/1.1\r\nHost: probe\r\n\r\n" % path).encode()
    lat, ok, failed = [], 0, 0
    sock, buf = None, b""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=10)
                buf = b""
            sock.sendall(request)
            status, buf, close = read_response(sock, buf)
            if status == 200:
                ok += 1
            else:
                failed += 1
            if close:
                sock.close()
                sock = None
        except OSError:
            failed += 1
            if sock is not None:
                sock.close()
            sock = None
        lat.append((time.monotonic() - t0) * 1000)
        time.sleep(0.005)
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
    print("PROBE n=%d ok=%d failed=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.1f"
          % (len(lat), ok, failed, pick(0.5), pick(0.99), lat[-1] if lat else float("nan")), flush=True)


if __name__ == "__main__":
    main()
