#!/usr/bin/env python3
"""Greedy clients: connections that make the gateway hold memory, held open until killed.

    tests/bench/greedy.py bodies   N SIZE HOST PORT   # PUT with Content-Length SIZE, all but its last byte
    tests/bench/greedy.py ws       N SIZE HOST PORT   # WebSocket (--api webdis --websockets on): one
                                                      # text frame of SIZE bytes, all but its last byte
    tests/bench/greedy.py pipeline N PATH HOST PORT   # GET PATH pipelined without ever reading

Each mode opens N connections and pushes as much as the server takes (nonblocking, epoll), then
holds them silent for --hold seconds (default: until killed). It prints, once every connection has
sent all it will or stalled, one line `GREEDY mode=… conns=N sent_mb=… answered=… closed=…
statuses=…`: how much the server took, how many connections got an answer (a 503, say) and how
many it closed. Standard library only. Used by tests/soak.sh and to measure the memory budget;
never part of `cargo test`.
"""

import argparse
import resource
import select
import socket
import sys
import time


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, want), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class Conn:
    def __init__(self, sock, payload):
        self.sock = sock
        self.payload = payload  # what is still to be sent, a memoryview
        self.received = b""
        self.closed = False


def ws_frame_head(size):
    head = bytes([0x81])  # FIN, text
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
    return head + b"\x01\x02\x03\x04"  # the mask


def payload_for(mode, arg):
    if mode == "bodies":
        size = int(arg)
        head = ("PUT /greedy HTTP/1.1\r\nHost: g\r\nContent-Length: %d\r\n\r\n" % size).encode()
        return head + b"x" * (size - 1)
    if mode == "ws":
        size = int(arg)
        # The masked payload of b"x" is never checked before the frame is complete.
        return ws_frame_head(size) + b"x" * (size - 1)
    request = ("GET %s HTTP/1.1\r\nHost: g\r\n\r\n" % arg).encode()
    return request * 20000  # about 0.5 MB of requests, more than any server reads unanswered


def handshake(sock):
    sock.sendall(b"GET /.json HTTP/1.1\r\nHost: g\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("closed during the handshake")
        got += chunk
    if not got.startswith(b"HTTP/1.1 101"):
        raise OSError("handshake refused: %r" % got[:40])


def main():
    p = argparse.ArgumentParser(description="Greedy clients (see the header of this file).")
    p.add_argument("mode", choices=["bodies", "ws", "pipeline"])
    p.add_argument("n", type=int)
    p.add_argument("arg", help="SIZE for bodies and ws, PATH for pipeline")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--hold", type=float, default=1e9, help="seconds to hold [until killed]")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds without progress after which the report is printed [5]")
    args = p.parse_args()
    raise_nofile(args.n + 64)
    payload = payload_for(args.mode, args.arg)
    ep = select.epoll()
    conns = {}
    for _ in range(args.n):
        s = socket.create_connection((args.host, args.port), timeout=10)
        if args.mode == "ws":
            handshake(s)
        s.setblocking(False)
        c = Conn(s, memoryview(payload))
        conns[s.fileno()] = c
        ep.register(s.fileno(), select.EPOLLIN | select.EPOLLOUT)
    sent = 0
    last_progress = time.monotonic()
    started = last_progress
    reported = False
    while True:
        now = time.monotonic()
        if not reported and now - last_progress > args.settle:
            statuses = {}
            for c in conns.values():
                if c.received.startswith(b"HTTP/1.1 "):
                    code = c.received[9:12].decode(errors="replace")
                    statuses[code] = statuses.get(code, 0) + 1
            answered = sum(1 for c in conns.values() if c.received)
            closed = sum(1 for c in conns.values() if c.closed)
            print("GREEDY mode=%s conns=%d sent_mb=%.1f answered=%d closed=%d statuses=%s secs=%.1f"
                  % (args.mode, args.n, sent / 1e6, answered, closed,
                     ",".join("%s:%d" % kv for kv in sorted(statuses.items())) or "-",
                     now - started), flush=True)
            reported = True
        if now - started > args.hold:
            return
        for fd, ev in ep.poll(0.2):
            c = conns[fd]
            if ev & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                try:
                    data = c.sock.recv(65536)
                except OSError:
                    data = b""
                if data and len(c.received) < 4096 and args.mode != "pipeline":
                    c.received += data
                elif data and args.mode == "pipeline":
                    # A pipelining client that never reads: put the bytes back is impossible,
                    # so stop polling for input instead (the data stays in the kernel).
                    c.received = c.received or data[:16]
                    ep.modify(fd, select.EPOLLOUT if len(c.payload) else 0)
                    continue
                if not data:
                    c.closed = True
                    ep.unregister(fd)
                    last_progress = now
                    continue
            if ev & select.EPOLLOUT and len(c.payload):
                try:
                    n = c.sock.send(c.payload[:1 << 20])
                except BlockingIOError:
                    n = 0
                except OSError:
                    c.closed = True
                    ep.unregister(fd)
                    last_progress = now
                    continue
                if n:
                    sent += n
                    c.payload = c.payload[n:]
                    last_progress = now
                if not len(c.payload):
                    ep.modify(fd, 0 if args.mode == "pipeline" else select.EPOLLIN)


if __name__ == "__main__":

    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
