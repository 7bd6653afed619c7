#!/usr/bin/env bash
# Soak test (not part of `cargo test`): the release gateway in front of a private redis-server, mixed
# GET/PUT load for DURATION seconds (default 600) with faults every 60 s cycle:
#   t+5  kill -9 Redis, t+7 restart it on the same port;
#   t+18 SIGSTOP Redis, t+21 SIGCONT;
#   t+33 200 connections sending a request head one byte a second (slowloris, 15 s);
#   t+45 500 idle connections (8 s);
#   t+52 greedy clients (tests/bench/greedy.py, 12 s) against the memory budget, alternating by cycle:
#        30 unfinished 60 MiB bodies, or 50 connections pipelining GETs without reading.
# (Offset from the 10 s report lines, so that the fds column shows the attack connections.)
# Every 10 s one line: elapsed, gateway RSS (KiB), open fds, ok / 4xx / 5xx / connection errors / wrong
# bodies in the last 10 s, slowest request so far. At the end: baseline vs final RSS and fds, after the
# load stops and the gateway settles. Exits non-zero when the gateway died, a GET returned a wrong
# value, a normal request fails at the end, RSS grew by more than 20 MiB or fds by more than 20.
#
#   tests/soak.sh [DURATION_SECONDS]        e.g. tests/soak.sh 120
# Needs: cargo, redis-server, redis-cli, python3.
set -euo pipefail

DURATION=${1:-600}
CYCLE=60
THREADS=${SOAK_THREADS:-8}
MAX_RSS_GROWTH_KIB=$((20 * 1024))
MAX_FD_GROWTH=20

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD="$ROOT/tests/soak/load.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/redis-gateway-soak.XXXXXX")
REDIS_PID="" GATEWAY_PID="" LOAD_PID="" STOPPED=""
ATTACK_PIDS=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "$LOAD_PID" "${ATTACK_PIDS[@]}" "$GATEWAY_PID"; do
        [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n "$REDIS_PID" ]]; then
        kill -CONT "$REDIS_PID" 2>/dev/null || true
        kill -KILL "$REDIS_PID" 2>/dev/null || true
    fi
    wait 2>/dev/null || true
    if [[ $status -ne 0 && -f "$WORK/gateway.log" ]]; then
        echo "--- gateway log (last 30 lines) ---"
        tail -n 30 "$WORK/gateway.log"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
        --dir "$WORK" >>"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.05
    done
    echo "redis-server did not start on port $REDIS_PORT" >&2
    tail -n 20 "$WORK/redis.log" >&2
    return 1
}

kill_redis() {
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
}

alive() { kill -0 "$GATEWAY_PID" 2>/dev/null; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$GATEWAY_PID/status"; }
fds() { ls "/proc/$GATEWAY_PID/fd" | wc -l; }
stats() { cat "$WORK/stats" 2>/dev/null || echo "0 0 0 0 0 0"; }

attack() { # slow|idle N SECONDS, in the background
    python3 "$LOAD" "$1" "127.0.0.1:$GATEWAY_PORT" "$2" "$3" &
    ATTACK_PIDS+=($!)
}

greedy() { # bodies|pipeline N ARG, in the background
    python3 "$ROOT/tests/bench/greedy.py" "$1" "$2" "$3" 127.0.0.1 "$GATEWAY_PORT" --hold 12 \
        >/dev/null 2>&1 &
    ATTACK_PIDS+=($!)
}

echo "building release..."
(cd "$ROOT" && cargo build --release --quiet)
BINARY="$ROOT/target/release/redis-gateway"

REDIS_PORT=$(free_port)
GATEWAY_PORT=$(free_port)
start_redis
"$BINARY" --listen "127.0.0.1:$GATEWAY_PORT" --redis "127.0.0.1:$REDIS_PORT" --redis-timeout 1s \
    2>"$WORK/gateway.log" &
GATEWAY_PID=$!
for _ in $(seq 100); do
    python3 "$LOAD" check "127.0.0.1:$GATEWAY_PORT" && break
    sleep 0.1
done
python3 "$LOAD" check "127.0.0.1:$GATEWAY_PORT" || { echo "gateway not serving" >&2; exit 1; }

# Warm up (first buffers, threads, pool), then take the baseline at rest.
python3 "$LOAD" load "127.0.0.1:$GATEWAY_PORT" "$WORK/warmup" "$THREADS" &
LOAD_PID=$!
sleep 5
kill -TERM "$LOAD_PID"; wait "$LOAD_PID" || true; LOAD_PID=""
sleep 2
BASE_RSS=$(rss_kib) BASE_FDS=$(fds)
echo "gateway pid $GATEWAY_PID on :$GATEWAY_PORT, redis on :$REDIS_PORT; baseline RSS ${BASE_RSS} KiB, ${BASE_FDS} fds; running ${DURATION} s"

python3 "$LOAD" load "127.0.0.1:$GATEWAY_PORT" "$WORK/stats" "$THREADS" &
LOAD_PID=$!
printf '%8s %10s %6s %8s %6s %6s %6s %6s %8s  %s\n' elapsed rss_kib fds ok 4xx 5xx connerr wrong max_ms event
read -r p_ok p_4 p_5 p_err p_wrong _ <<<"0 0 0 0 0 0"
start=$SECONDS
event=""
last=0
next_print=10
while :; do
    sleep 1
    t=$((SECONDS - start))
    alive || { echo "FAIL: the gateway died at ${t} s" >&2; exit 1; }
    (( t >= DURATION )) && break
    # Every second since the last pass, so that a slow pass skips no fault (nor a restart).
    for ((s = last + 1; s <= t; s++)); do
        case $((s % CYCLE)) in
            5) kill_redis; event+="kill-9 " ;;
            7) start_redis; event+="restart " ;;
            18) kill -STOP "$REDIS_PID"; STOPPED=1; event+="SIGSTOP " ;;
            21) kill -CONT "$REDIS_PID"; STOPPED=""; event+="SIGCONT " ;;
            33) attack slow 200 15; event+="200-slow-heads " ;;
            45) attack idle 500 8; event+="500-idle " ;;
            52) if (( s / CYCLE % 2 == 0 )); then
                    greedy bodies 30 $((60 * 1024 * 1024)); event+="30-greedy-bodies "
                else
                    greedy pipeline 50 /soak-greedy; event+="50-greedy-pipelines "
                fi ;;
        esac
    done
    last=$t
    if (( t >= next_print )); then
        next_print=$((next_print + 10))
        read -r ok c4 c5 err wrong max_ms <<<"$(stats)"
        printf '%8s %10s %6s %8s %6s %6s %6s %6s %8s  %s\n' "$t" "$(rss_kib)" "$(fds)" \
            $((ok - p_ok)) $((c4 - p_4)) $((c5 - p_5)) $((err - p_err)) $((wrong - p_wrong)) "$max_ms" "$event"
        read -r p_ok p_4 p_5 p_err p_wrong _ <<<"$ok $c4 $c5 $err $wrong $max_ms"
        event=""
    fi
done

# Stop the load and the attackers, make sure Redis runs, and let the gateway settle.
kill -TERM "$LOAD_PID"; wait "$LOAD_PID" || true; LOAD_PID=""
for pid in "${ATTACK_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
ATTACK_PIDS=()
[[ -n "$STOPPED" ]] && kill -CONT "$REDIS_PID"
kill -0 "$REDIS_PID" 2>/dev/null || start_redis
read -r ok c4 c5 err wrong max_ms <<<"$(stats)"
echo "totals: ok $ok, 4xx $c4, 5xx $c5, connection errors $err, wrong bodies $wrong, slowest ${max_ms} ms"
failed=0
for _ in $(seq 60); do
    alive || break
    (( $(fds) <= BASE_FDS + MAX_FD_GROWTH && $(rss_kib) <= BASE_RSS + MAX_RSS_GROWTH_KIB )) && break
    sleep 0.5
done
if ! alive; then
    echo "FAIL: the gateway died" >&2
    exit 1
fi
python3 "$LOAD" check "127.0.0.1:$GATEWAY_PORT" || { echo "FAIL: a normal PUT/GET failed after the soak" >&2; failed=1; }
FINAL_RSS=$(rss_kib) FINAL_FDS=$(fds)
echo "baseline: RSS ${BASE_RSS} KiB, ${BASE_FDS} fds"
echo "final:    RSS ${FINAL_RSS} KiB, ${FINAL_FDS} fds (growth $((FINAL_RSS - BASE_RSS)) KiB, $((FINAL_FDS - BASE_FDS)) fds)"
if (( FINAL_RSS - BASE_RSS > MAX_RSS_GROWTH_KIB )); then
    echo "FAIL: RSS grew by more than $((MAX_RSS_GROWTH_KIB / 1024)) MiB" >&2; failed=1
fi
if (( FINAL_FDS - BASE_FDS > MAX_FD_GROWTH )); then
    echo "FAIL: fds grew by more than $MAX_FD_GROWTH" >&2; failed=1
fi
if (( wrong > 0 )); then
    echo "FAIL: $wrong GETs returned a value never written to their key" >&2; failed=1
fi
(( failed == 0 )) && echo "PASS"
exit "$failed"
