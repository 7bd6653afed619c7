#!/usr/bin/env python3
"""Sparse keep-alive load: many connections, each sending a request now and then.

    tests/bench/sparse.py [options] HOST PORT PATH
    tests/bench/sparse.py --conns 5000 127.0.0.1 8080 /key            # the gateway's key/value API
    tests/bench/sparse.py --conns 5000 127.0.0.1 7379 /GET/key.txt    # webdis
    tests/bench/sparse.py --close-each --conns 1000 127.0.0.1 8080 /key
    tests/bench/sparse.py --hold 10000 --ready FILE 127.0.0.1 8080 /key   # idle connections

What it measures
    N keep-alive connections; each sends one `GET PATH` at a random moment every 0.5-1.5 s
    (--period; the gaps are drawn uniformly, the first request of each connection comes at a
    random moment of its first period, drawn so that the rate is steady from the start), so the
    server sees about N requests a second spread evenly, and most connections are idle most of
    the time. The load is open-loop: when a
    request falls due, it is due whatever the server is doing; if the previous answer on that
    connection has not come yet, the request waits for it (no pipelining), and that wait counts.

    Latency is what a user would see: from the moment the request was due (not when the client
    got round to it) to the last byte of the response (Content-Length framing). If the server
    closed the connection (an answer with `Connection: close`, or EOF between requests), the
    next request opens a new connection, and the connect is inside its latency.

    --open upfront   all N connections are opened before the clock starts, like a pre-warmed
                     pool (default); --open lazy: each connects when its first request is due.
    --close-each     a new connection for every request: the request says `Connection: close`,
                     and the client closes after each answer once the server has closed (so
                     that TIME_WAIT stays on the server's side, as with clients on many hosts),
                     or when the next request falls due (--open lazy unless told, so that
                     every request's connect is inside its latency).
    --hold N         no load: opens N keep-alive connections, has each served one request, writes
                     the --ready file and keeps them open, silent, until killed (or --duration).
                     One the server closes after its answer (saying Connection: close) is
                     opened again and left silent, as a pool keeps its size.

    Counted: requests (fell due during --duration), answered, non-2xx answers, lost (written on
    a connection that then closed or reset without an answer), connect errors, unanswered (no
    answer --grace seconds after the end: a request still waiting counts here), new connections,
    reconnects after the server closed, split into announced (`Connection: close`) and not
    (EOF or reset between requests), and requests that fell due while the previous answer on
    their connection had not come yet (`queued`). A request whose write finds the connection
    already closed is sent again on a new one (as HTTP clients do), and counted as an
    unannounced reconnect.

    Output: one human line, then one machine-readable line starting with `SPARSE ` made of
    key=value pairs (latencies in ms; `late_*` is the client's own lateness, below).

The client's own limits
    It is Python: a few tens of microseconds of CPU per request. It measures itself: `late_p50`,
    `late_p99`, `late_max` are how long after its due time the client started each request
    (timer lateness: the floor that the client adds to every latency), and `client_cpu` is the
    CPU it used over the run in % of one core, per process. The waits between timers use
    select() on the epoll descriptor, with microsecond timeouts (epoll's own timeout is in
    milliseconds). With --procs P the connections are split over P processes (forked, started
    on one common clock) and their samples merged; the default gives each process at most 2,500
    connections. The client shares the machine with the server it measures: its CPU is CPU the
    server does not get. Run it against webdis, whose answers are quick, to see its floor.
    A lost request has no latency sample: it is counted, not timed.
"""

import argparse
import array
import errno
import heapq
import math
import multiprocessing as mp
import os
import random
import resource
import select
import signal
import socket
import sys
import time
from collections import deque

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERRHUP = select.EPOLLERR | select.EPOLLHUP

CONNS_PER_PROC = 2500


def raise_nofile(want):
    """Raises RLIMIT_NOFILE as far as allowed (the hard limit too, where the process may)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass
    target = hard if hard != resource.RLIM_INFINITY else max(soft, want)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
    return target


class Conn:
    __slots__ = (
        "sock", "fd", "connecting", "busy", "due", "sent", "out", "buf", "body_start", "clen",
        "status", "close_after", "backlog", "retried", "closed_by", "draining",
    )

    def __init__(self):
        self.sock = None
        self.fd = -1
        self.connecting = False
        self.busy = False  # a request is due and not yet answered
        self.due = 0.0
        self.sent = False  # some of the request was written
        self.out = b""
        self.buf = bytearray()
        self.body_start = -1
        self.clen = -1  # -1: head not parsed yet; -2: read until EOF
        self.status = 0
        self.close_after = False
        self.backlog = deque()  # dues that fell while the previous request was in flight
        self.retried = False
        self.closed_by = None  # None (never opened), "announced", "eof", "lost", "own", "error"
        # After an answer that ends the connection ("own" with --close-each, or "announced"):
        # the socket is kept until the server's EOF, so that the server closes first and the
        # TIME_WAIT lands on its side. Closing first, one host making 5,000 connections a second
        # runs out of ephemeral ports within seconds, and connect() slows to a crawl.
        self.draining = None


class Worker:
    """One process's share of the connections, on one epoll and one timer heap."""

    def __init__(self, args, n, seed):
        self.args = args
        self.n = n
        self.rng = random.Random(seed)
        self.addr = (args.host, args.port)
        extra = "Connection: close\r\n" if args.close_each else ""
        self.request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n"
                        % (args.path, args.host, args.port, extra)).encode()
        self.ep = select.epoll()
        self.wait_list = [self.ep.fileno()]
        self.conns = [Conn() for _ in range(n)]
        self.by_fd = {}
        self.lat = array.array("d")
        self.dues = array.array("d")  # with --samples: when each answered request fell due
        self.late = array.array("d")
        self.c = dict(requests=0, answered=0, non2xx=0, lost=0, connect_errors=0, unanswered=0,
                      connects=0, reconnects_announced=0, reconnects_unannounced=0,
                      retried_writes=0, unsolicited=0, open_errors=0, queued=0)
        self.inflight = 0

    # -- connections --------------------------------------------------------------------------

    def open_blocking(self, c):
        """Opens a connection before the clock starts (--open upfront, --hold)."""
        try:
            s = socket.create_connection(self.addr, timeout=10)
        except OSError:
            self.c["open_errors"] += 1
            return False
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c.sock, c.fd = s, s.fileno()
        c.closed_by = None
        self.by_fd[c.fd] = c
        self.ep.register(c.fd, EPOLLIN)
        return True

    def connect(self, c):
        """Starts a nonblocking connect for the request due on c; False when it failed at once."""
        if c.closed_by in ("announced",):
            self.c["reconnects_announced"] += 1
        elif c.closed_by in ("eof", "lost", "error"):
            self.c["reconnects_unannounced"] += 1
        c.closed_by = None
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex(self.addr)
        self.c["connects"] += 1
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.c["connect_errors"] += 1
            return False
        c.sock, c.fd = s, s.fileno()
        c.connecting = True
        self.by_fd[c.fd] = c
        self.ep.register(c.fd, EPOLLOUT | EPOLLIN)
        return True

    def close(self, c, why):
        if c.sock is not None:
            try:
                self.ep.unregister(c.fd)
            except OSError:
                pass
            del self.by_fd[c.fd]
            c.sock.close()
        c.sock, c.fd = None, -1
        c.connecting = False
        c.buf = bytearray()
        c.clen = -1
        c.closed_by = why
        c.draining = None

    # -- requests -----------------------------------------------------------------------------

    def start(self, c, due):
        c.busy = True
        c.due = due
        c.sent = False
        c.retried = False
        self.inflight += 1
        self.begin(c)

    def begin(self, c):
        if c.draining:  # the server has not closed yet: the client does
            self.close(c, c.draining)
        if c.sock is None:
            if not self.connect(c):
                self.fail(c, "connect_errors_counted")
            return
        if not c.connecting:
            self.send(c, self.request)

    def send(self, c, data):
        try:
            n = c.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            # The server closed this connection before we noticed: a fresh one, as clients do.
            if not c.sent and not c.retried:
                c.retried = True
                self.c["retried_writes"] += 1
                self.close(c, "eof")
                self.begin(c)
            else:
                self.close(c, "lost")
                self.c["lost"] += 1
                self.fail(c, None)
            return
        c.sent = True
        c.out = data[n:]
        if c.out:
            self.ep.modify(c.fd, EPOLLIN | EPOLLOUT)

    def fail(self, c, _counted):
        """The request on c ends without an answer (already counted); the next one may start."""
        c.busy = False
        self.inflight -= 1
        self.next_from_backlog(c)

    def next_from_backlog(self, c):
        if c.backlog:
            self.start(c, c.backlog.popleft())

    def finish(self, c, now):
        self.lat.append((now - c.due) * 1000.0)
        if self.args.samples:
            self.dues.append(c.due)
        self.c["answered"] += 1
        if not 200 <= c.status < 300:
            self.c["non2xx"] += 1
        c.busy = False
        self.inflight -= 1
        if self.args.close_each:
            c.draining = "own"
        elif c.close_after:
            c.draining = "announced"
        self.next_from_backlog(c)

    def on_event(self, c, ev):
        if c.connecting:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err == 0 and not ev & EPOLLOUT and not ev & EPOLLERRHUP:
                return
            c.connecting = False
            if err != 0 or ev & EPOLLERRHUP and not ev & EPOLLOUT:
                self.close(c, "error")
                self.c["connect_errors"] += 1
                self.fail(c, None)
                return
            self.ep.modify(c.fd, EPOLLIN)
            self.send(c, self.request)
            return
        if ev & EPOLLOUT and c.out:
            data, c.out = c.out, b""
            self.ep.modify(c.fd, EPOLLIN)
            self.send(c, data)
            if c.sock is None:
                return
        if not ev & (EPOLLIN | EPOLLERRHUP):
            return
        try:
            data = c.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.on_eof(c)
            return
        if not c.busy:
            if not c.draining:
                self.c["unsolicited"] += 1
            return
        c.buf += data
        self.parse(c)

    def on_eof(self, c):
        if c.draining and not c.busy:
            self.close(c, c.draining)
            return
        if c.busy and c.clen == -2:  # read-until-close framing: EOF ends the answer
            self.close(c, "announced")
            self.finish(c, time.monotonic())
            return
        if c.busy and c.sent:
            self.close(c, "lost")
            self.c["lost"] += 1
            self.fail(c, None)
        elif c.busy:
            self.close(c, "error")
            self.c["connect_errors"] += 1
            self.fail(c, None)
        else:
            self.close(c, "eof")

    def parse(self, c):
        buf = c.buf
        if c.clen == -1:
            he = buf.find(b"\r\n\r\n")
            if he < 0:
                return
            head = bytes(buf[:he]).lower()
            try:
                c.status = int(head[9:12])
            except ValueError:
                c.status = 0
            c.body_start = he + 4
            c.close_after = b"\r\nconnection: close" in head
            i = head.find(b"\r\ncontent-length:")
            if i >= 0:
                j = head.find(b"\r\n", i + 2)
                c.clen = int(head[i + 17: j if j >= 0 else len(head)])
            elif c.status in (204, 304) or 100 <= c.status < 200:
                c.clen = 0
            else:
                c.clen = -2
                return
        if c.clen == -2:
            return
        end = c.body_start + c.clen
        if len(buf) >= end:
            if len(buf) > end:
                self.c["unsolicited"] += 1
            c.buf = bytearray()
            c.clen = -1
            self.finish(c, time.monotonic())

    # -- the run ------------------------------------------------------------------------------

    def open_upfront(self):
        for c in self.conns:
            self.open_blocking(c)

    def run(self, t0):
        args = self.args
        rng = self.rng
        lo, hi = args.period
        end = t0 + args.duration
        deadline = end + args.grace
        # Stationary from the start: a connection's first request falls at a uniform moment of
        # a period drawn length-biased (density proportional to its length), which is where a
        # random moment of a long-running renewal process falls. Drawn as an ordinary period, or
        # uniformly over the mean period, the rate would swing by ±40 % over the first 2 s.
        heap = [(t0 + rng.random() * math.sqrt(lo * lo + rng.random() * (hi * hi - lo * lo)), i)
                for i in range(self.n)]
        heapq.heapify(heap)
        conns = self.conns
        by_fd = self.by_fd
        ep = self.ep
        wait_list = self.wait_list
        counts = self.c
        late = self.late
        monotonic = time.monotonic
        heappop, heappush, uniform = heapq.heappop, heapq.heappush, rng.uniform
        sel = select.select
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        w0 = monotonic()
        while True:
            now = monotonic()
            while heap and heap[0][0] <= now:
                due, i = heappop(heap)
                nxt = due + uniform(lo, hi)
                if nxt < end:
                    heappush(heap, (nxt, i))
                counts["requests"] += 1
                late.append((now - due) * 1000.0)
                c = conns[i]
                if c.busy:
                    counts["queued"] += 1
                    c.backlog.append(due)
                else:
                    self.start(c, due)
                now = monotonic()
            if not heap and self.inflight == 0:
                break
            if now >= deadline:
                break
            timeout = (heap[0][0] if heap else deadline) - now
            if timeout > 0:
                ready, _, _ = sel(wait_list, (), (), timeout)
                if not ready:
                    continue
            for fd, ev in ep.poll(0):
                c = by_fd.get(fd)
                if c is not None:
                    self.on_event(c, ev)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = monotonic() - w0
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        for c in conns:
            if c.busy:
                counts["unanswered"] += 1 + len(c.backlog)
            self.close(c, "own")
        return dict(counts=counts, lat=self.lat.tobytes(), late=late.tobytes(),
                    dues=array.array("d", (d - t0 for d in self.dues)).tobytes(),
                    cpu_pct=100.0 * cpu / wall if wall > 0 else 0.0, wall=wall)


def child(args, index, n, t0_value, barrier, results):
    try:
        w = Worker(args, n, (args.seed or 0) * 1000 + index if args.seed is not None else None)
        if args.open == "upfront":
            w.open_upfront()
        barrier.wait(timeout=300)
        results.put((index, w.run(t0_value.value)))
    except BaseException as e:  # reported by the parent
        results.put((index, dict(error="%s: %s" % (type(e).__name__, e))))
        raise


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[min(k, len(sorted_values) - 1)]


def run_load(args):
    procs = args.procs or max(1, math.ceil(args.conns / CONNS_PER_PROC))
    procs = min(procs, args.conns)
    shares = [args.conns // procs + (1 if i < args.conns % procs else 0) for i in range(procs)]
    limit = raise_nofile(max(shares) + 64)
    if max(shares) + 32 > limit:
        sys.exit("sparse.py: %d connections per process need more file descriptors than the "
                 "limit of %d: raise `ulimit -n` or use more --procs" % (max(shares), limit))
    ctx = mp.get_context("fork")
    t0_value = ctx.Value("d", 0.0, lock=False)

    def set_t0():  # run by the last process to reach the barrier: one clock for all
        t0_value.value = time.monotonic() + 0.05

    barrier = ctx.Barrier(procs, action=set_t0)
    results = ctx.Queue()
    ps = [ctx.Process(target=child, args=(args, i, shares[i], t0_value, barrier, results),
                      daemon=True) for i in range(procs)]
    for p in ps:
        p.start()
    got = {}
    limit_s = 300 + args.duration + args.grace
    t_end = time.monotonic() + limit_s
    while len(got) < procs:
        try:
            index, r = results.get(timeout=max(0.1, t_end - time.monotonic()))
        except Exception:
            sys.exit("sparse.py: worker processes did not report within %.0f s" % limit_s)
        if "error" in r:
            for p in ps:
                p.terminate()
            sys.exit("sparse.py: worker %d failed: %s" % (index, r["error"]))
        got[index] = r
    for p in ps:
        p.join(5)

    counts = {}
    lat, late = array.array("d"), array.array("d")
    cpus = []
    samples = []
    for i in sorted(got):
        r = got[i]
        for k, v in r["counts"].items():
            counts[k] = counts.get(k, 0) + v
        if args.samples:
            dues = array.array("d")
            dues.frombytes(r["dues"])
            samples.extend(zip(dues, array.array("d", r["lat"])))
        lat.frombytes(r["lat"])
        late.frombytes(r["late"])
        cpus.append(r["cpu_pct"])
    if args.samples:
        with open(args.samples, "w") as fh:
            fh.write("# due_s latency_ms (due: seconds since the clock started)\n")
            for due, ms in sorted(samples):
                fh.write("%.6f %.3f\n" % (due, ms))
    lat = sorted(lat)
    late = sorted(late)
    qs = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)]
    out = dict(conns=args.conns, procs=procs, open=args.open,
               mode="close-each" if args.close_each else "keep-alive", duration=args.duration)
    for name, q in qs:
        out[name + "_ms"] = percentile(lat, q)
    out["max_ms"] = lat[-1] if lat else float("nan")
    out.update(counts)
    out["errors"] = counts["non2xx"] + counts["lost"] + counts["connect_errors"] + \
        counts["unanswered"] + counts["open_errors"]
    out["reconnects"] = counts["reconnects_announced"] + counts["reconnects_unannounced"]
    out["late_p50_ms"] = percentile(late, 0.5)
    out["late_p99_ms"] = percentile(late, 0.99)
    out["late_max_ms"] = late[-1] if late else float("nan")
    out["client_cpu"] = "+".join("%.1f" % x for x in cpus)
    out["client_cpu_max"] = max(cpus)

    def f(x):
        return "%.3f" % x if isinstance(x, float) else str(x)

    print("sparse %s: %d conns (%d process%s, open %s), %.0f s, %d requests, %d answered: "
          "p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f ms | non-2xx %d, lost %d, connect "
          "errors %d, unanswered %d, reconnects %d (%d announced), new connections %d, %d "
          "waited for the previous answer | "
          "client: late p50 %.3f p99 %.3f max %.2f ms, CPU %s %% of a core"
          % (out["mode"], args.conns, procs, "" if procs == 1 else "es", args.open,
             args.duration, counts["requests"], counts["answered"], out["p50_ms"],
             out["p90_ms"], out["p99_ms"], out["p999_ms"], out["max_ms"], counts["non2xx"],
             counts["lost"], counts["connect_errors"] + counts["open_errors"],
             counts["unanswered"], out["reconnects"], counts["reconnects_announced"],
             counts["connects"], counts["queued"], out["late_p50_ms"], out["late_p99_ms"],
             out["late_max_ms"],
             out["client_cpu"]))
    print("SPARSE " + " ".join("%s=%s" % (k, f(v)) for k, v in out.items()), flush=True)


def run_hold(args):
    """Opens --hold connections, has each served one request, then keeps them open silently."""
    n = args.hold
    limit = raise_nofile(n + 64)
    if n + 32 > limit:
        sys.exit("sparse.py: --hold %d needs more file descriptors than the limit of %d"
                 % (n, limit))
    w = Worker(args, n, 0)
    ok = 0
    batch = 500
    for start in range(0, n, batch):
        group = w.conns[start:start + batch]
        for c in group:
            if w.open_blocking(c):
                c.busy, c.sent = True, True
                w.inflight += 1
                w.send(c, w.request)
        t_end = time.monotonic() + 30
        while w.inflight > 0 and time.monotonic() < t_end:
            for fd, ev in w.ep.poll(1.0):
                c = w.by_fd.get(fd)
                if c is not None:
                    w.on_event(c, ev)
    for c in w.conns:
        if c.draining:  # the server said Connection: close: not an idle connection
            w.close(c, c.draining)
    # A connection the server closed (it said so) is opened again and left silent, as a pool
    # keeps its size: N connections stay open whatever the server does with idle ones.
    closed = [c for c in w.conns if c.closed_by == "announced"]
    for c in closed:
        w.open_blocking(c)
    counts = w.c
    ok = counts["answered"] - counts["non2xx"]
    print("hold: %d connections open, %d served one 2xx answer, %d non-2xx, %d lost, "
          "%d failed to open, %d closed by the server after their answer (opened again, silent)"
          % (len(w.by_fd), ok, counts["non2xx"], counts["lost"], counts["open_errors"],
             len(closed)), flush=True)
    if args.ready:
        with open(args.ready, "w") as fh:
            fh.write("%d\n" % len(w.by_fd))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(args.duration)


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    p = argparse.ArgumentParser(
        description="Sparse keep-alive load client (see the header of this file).")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("path", help="e.g. /key (gateway) or /GET/key.txt (webdis)")
    p.add_argument("--conns", type=int, default=1000, help="connections [1000]")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds during which requests fall due [8]; with --hold, how long "
                        "to hold [600]")
    p.add_argument("--period", default="0.5:1.5",
                   help="LO:HI seconds between one connection's requests [0.5:1.5]")
    p.add_argument("--open", choices=("upfront", "lazy"), default=None,
                   help="open all connections before the clock starts, or each when its "
                        "first request is due [upfront; lazy with --close-each]")
    p.add_argument("--close-each", action="store_true",
                   help="a new connection for every request (Connection: close)")
    p.add_argument("--procs", type=int, default=0,
                   help="client processes [one per %d connections]" % CONNS_PER_PROC)
    p.add_argument("--grace", type=float, default=5.0,
                   help="seconds to wait for answers after the last request fell due [5]")
    p.add_argument("--samples", metavar="FILE",
                   help="write every answered request's due time and latency to FILE")
    p.add_argument("--seed", type=int, default=None, help="random seed [none]")
    p.add_argument("--hold", type=int, default=0, metavar="N",
                   help="hold N idle keep-alive connections (each served one request) instead")
    p.add_argument("--ready", help="with --hold: file written once the connections are open")
    args = p.parse_args()
    lo, _, hi = args.period.partition(":")
    args.period = (float(lo), float(hi or lo))
    if not 0 < args.period[0] <= args.period[1]:
        p.error("--period wants 0 < LO <= HI")
    if args.open is None:
        args.open = "lazy" if args.close_each else "upfront"
    if args.hold:
        args.duration = 600.0 if args.duration is None else args.duration
        run_hold(args)
    else:
        args.duration = 8.0 if args.duration is None else args.duration
        if args.conns < 1:
            p.error("--conns wants at least 1")
        run_load(args)


if __name__ == "__main__":
    main()
