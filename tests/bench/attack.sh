#!/usr/bin/env bash
# The greedy-client attacks of issue #13 against the memory budget, one after another, each with a
# legitimate client beside it (tests/bench/probe.py): peak and after RSS, the probe's latency, and
# what the attackers got. A measurement, not a test (no assertions): see README "Limits and reliability".
#
#   tests/bench/attack.sh [ATTACK...]     ATTACK: bodies ws pipeline (default: all three)
#
# Env: SCALE (1 = the issue's sizes, 10 = ten times the clients; default 10), MAX_MEMORY (bytes,
# default: the gateway's own default), SECS (seconds each attack is held, default 20).
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE=${SCALE:-10}
SECS=${SECS:-20}
ATTACKS=("${@:-bodies ws pipeline}")
read -r -a ATTACKS <<<"${ATTACKS[*]}"
cargo build --release -q
BIN=target/release/redis-gateway
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
WORK=$(mktemp -d)
cleanup() { jobs -p | xargs -r kill 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)"

for attack in "${ATTACKS[@]}"; do
  rport=$(free_port); gport=$(free_port); aport=$(free_port)
  redis-server --port "$rport" --save '' --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
  rpid=$!
  until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
  redis-cli -p "$rport" set probe hello >/dev/null
  extra=()
  [[ -n ${MAX_MEMORY:-} ]] && extra+=(--max-memory "$MAX_MEMORY")
  "$BIN" --listen "127.0.0.1:$gport" --redis "127.0.0.1:$rport" --admin "127.0.0.1:$aport" \
    --api webdis --websockets on --max-connections 20000 "${extra[@]}" >"$WORK/gw.log" 2>&1 &
  gpid=$!
  until curl -s "127.0.0.1:$aport/healthz" >/dev/null 2>&1; do sleep 0.05; done
  sleep 1
  base=$(rss_kb "$gpid")
  case $attack in
    bodies) args=(bodies $((30 * SCALE)) $((60 * 1024 * 1024))) ;;
    ws) args=(ws $((300 * SCALE)) $((1024 * 1024 - 64))) ;;
    pipeline) args=(pipeline $((50 * SCALE)) /GET/probe) ;;
  esac
  python3 tests/bench/greedy.py "${args[@]}" 127.0.0.1 "$gport" --hold "$SECS" >"$WORK/greedy.out" 2>&1 &
  greedy=$!
  sleep 2
  python3 tests/bench/probe.py 127.0.0.1 "$gport" /GET/probe "$((SECS - 4))" >"$WORK/probe.out" 2>&1 &
  probe=$!
  peak=0
  while kill -0 "$greedy" 2>/dev/null; do
    r=$(rss_kb "$gpid"); ((r > peak)) && peak=$r && [[ -n ${TRACE:-} ]] && curl -s "127.0.0.1:$aport/metrics" | grep -E "accounted|connections_open" | tr "\n" " " && echo " rss=$r"
    sleep 0.2
  done
  wait "$probe" || true
  sleep 5
  after=$(rss_kb "$gpid")
  metrics=$(curl -s "127.0.0.1:$aport/metrics" | { grep -E '^redis_gateway_memory_(refusals_total|cuts_total|budget_bytes) ' || true; } | sed 's/redis_gateway_//' | tr '\n' ' ')
  alive=yes; kill -0 "$gpid" 2>/dev/null || alive=NO
  printf 'ATTACK %s x%s: base %d MiB, peak %d MiB, after %d MiB, alive %s | %s| %s| %s\n' \
    "$attack" "$SCALE" $((base / 1024)) $((peak / 1024)) $((after / 1024)) "$alive" \
    "$(grep GREEDY "$WORK/greedy.out" | sed 's/^GREEDY //')" "$(cat "$WORK/probe.out")" "$metrics"
  grep -iE 'panic|abort|memory allocation' "$WORK/gw.log" || true
  kill "$gpid" "$rpid" 2>/dev/null || true
  wait "$gpid" "$rpid" 2>/dev/null || true
done
