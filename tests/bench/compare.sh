#!/usr/bin/env bash
# Benchmark redis-gateway against webdis (the peer) and Redis itself (the ceiling).
#
#   tests/bench/compare.sh                  # all scenarios, gateway and webdis alternating
#   tests/bench/compare.sh --gateway-only   # no webdis (air-gapped machines)
#   ROUNDS=5 DURATION=10 tests/bench/compare.sh
#
# Starts a private redis-server, the release gateway and webdis (Debian's package, with a config
# this script writes: 2 threads, the same Redis) on free loopback ports, seeds the data, and runs
# every scenario in alternating rounds (gateway, webdis, gateway, …) so that drift on a shared
# machine hits both alike. Prints one table of medians. Not part of `cargo test`: timings are
# measurements, never assertions.
#
# Scenarios
#   1 get-64      GET of an 8 KiB value, keep-alive, 64 connections     wrk -t1 -c64
#   2 get-1       the same with one connection (latency)                wrk -t1 -c1
#   3 form-64     POST of a form with 8 pairs of 1 KiB values           wrk -t1 -c64 + lua
#   4 ab-1000     the course benchmark: a new connection per request    ab -c 1000 -n 1000
#   7 webdis API  the gateway with --api webdis against webdis, the same URLs (.txt and JSON)
#   5 get-64-idle scenario 1 with 1,000 extra idle keep-alive connections open
#   6 redis       redis-benchmark -c 64 GET of the same key directly: the ceiling
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
GATEWAY_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --gateway-only) GATEWAY_ONLY=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
root=$(pwd)

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need redis-server || missing+=(redis-server)
need redis-benchmark || missing+=(redis-server)
need wrk || missing+=(wrk)
need ab || missing+=(apache2-utils)
need python3 || missing+=(python3)
[ "$GATEWAY_ONLY" = 1 ] || need webdis || missing+=(webdis)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && need apt-get; then
        echo "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
    else
        echo "missing tools: install them with: sudo apt-get install -y ${missing[*]}" >&2
        echo "(or run with --gateway-only to skip webdis)" >&2
        exit 1
    fi
fi

echo "building the release binary…"
cargo build --release --quiet
gateway_bin="$root/target/release/redis-gateway"

work=$(mktemp -d /tmp/gateway-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT: poll until something accepts on it (10 s)
    for _ in $(seq 200); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2; exit 1
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
    --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_port "$redis_port"

gw_port=$(free_port)
"$gateway_bin" --listen "127.0.0.1:$gw_port" --redis "127.0.0.1:$redis_port" 2>"$work/gateway.log" &
gw_pid=$!
pids+=($gw_pid)
wait_port "$gw_port"

# The same gateway binary speaking webdis's API, for scenario 7 (the same URLs as webdis).
gwd_port=$(free_port)
"$gateway_bin" --api webdis --listen "127.0.0.1:$gwd_port" --redis "127.0.0.1:$redis_port" \
    --pool-size 40 2>"$work/gateway-webdis.log" &
pids+=($!)
wait_port "$gwd_port"

if [ "$GATEWAY_ONLY" = 0 ]; then
    wd_port=$(free_port)
    cat >"$work/webdis.json" <<EOF
{ "redis_host": "127.0.0.1", "redis_port": $redis_port, "redis_auth": null,
  "http_host": "127.0.0.1", "http_port": $wd_port, "threads": 2, "pool_size": 20,
  "daemonize": false, "database": 0, "verbosity": 1, "logfile": "$work/webdis.log" }
EOF
    webdis "$work/webdis.json" 2>>"$work/webdis.log" &
    pids+=($!)
    wait_port "$wd_port"
fi

# Data: an 8 KiB value under the key `key` (gateway: GET /key, webdis: GET /GET/key.txt).
python3 - "$redis_port" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
value = (b"0123456789abcdef" * 512)
s.sendall(b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$%d\r\n%s\r\n" % (len(value), value))
assert s.recv(100) == b"+OK\r\n"
EOF

# Form bodies: 8 pairs of 1 KiB values (letters only, so both APIs take them unescaped).
value=$(head -c 1024 /dev/zero | tr '\0' 'v')
gw_form=""; wd_form="MSET"
for i in 1 2 3 4 5 6 7 8; do
    gw_form+="${gw_form:+&}form$i=$value"
    wd_form+="/form$i/$value"
done
lua_post() { # lua_post FILE BODY CONTENT_TYPE
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = "$2"
wrk.headers["Content-Type"] = "$3"
EOF
}
lua_post "$work/gw-form.lua" "$gw_form" "application/x-www-form-urlencoded"
lua_post "$work/wd-form.lua" "$wd_form" "application/x-www-form-urlencoded"

gw_url="http://127.0.0.1:$gw_port"
gwd_url="http://127.0.0.1:$gwd_port"
wd_url="http://127.0.0.1:${wd_port:-0}"

# Sanity: both answer the same 8 KiB.
for url in "$gw_url/key" ${wd_port:+"$wd_url/GET/key.txt"}; do
    got=$(curl -s "$url" | wc -c)
    [ "$got" = 8192 ] || { echo "$url returned $got bytes, expected 8192" >&2; exit 1; }
done

# to_ms VALUE: wrk prints 812.00us, 1.20ms, 1.01s
to_ms() { awk -v v="$1" 'BEGIN{ n=v+0; if (v ~ /us$/) n/=1000; else if (v ~ /ms$/) n=n; else if (v ~ /s$/) n*=1000; printf "%.3f", n }'; }

# run_wrk NAME CONNS URL [LUA]: appends "rps p50 p99 errors" to $work/NAME
run_wrk() {
    local name=$1 conns=$2 url=$3 lua=${4:-}
    local out
    out=$(wrk -t1 -c"$conns" -d"${DURATION}s" --latency ${lua:+-s "$lua"} "$url" 2>&1)
    local rps p50 p99 errors
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
    errors=$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",",""); n+=$4+$6+$8+$10} END {print n+0}' <<<"$out")
    echo "$rps $p50 $p99 $errors" >>"$work/$name"
}

# run_ab NAME URL: appends "seconds failed rps" (a new connection per request)
run_ab() {
    local out
    out=$(ab -q -c 1000 -n 1000 "$2" 2>&1 || true)
    local secs failed rps
    secs=$(awk '/Time taken for tests/ {print $5}' <<<"$out")
    failed=$(awk '/Failed requests/ {print $3} /Non-2xx/ {n+=$3} END {}' <<<"$out" | head -1)
    rps=$(awk '/Requests per second/ {print $4}' <<<"$out")
    echo "${secs:-nan} ${failed:-1000} ${rps:-0}" >>"$work/$1"
}

# Holds 1,000 idle keep-alive connections (each served one request) open on the gateway.
idle_start() {
    python3 - "$gw_port" "$work/idle.ready" <<'EOF' &
import socket, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
socks = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /key HTTP/1.1\r\nHost: b\r\n\r\n")
    socks.append(s)
for s in socks:
    s.settimeout(10)
    got = b""
    while len(got) < 8192:
        got += s.recv(65536)
open(ready, "w").close()
time.sleep(3600)
EOF
    idle_pid=$!
    pids+=($idle_pid)
    for _ in $(seq 400); do [ -f "$work/idle.ready" ] && return 0; sleep 0.05; done
    echo "idle connections did not open" >&2; exit 1
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$gw_pid/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status"; }

echo "rounds: $ROUNDS × ${DURATION}s per wrk scenario"
gw_cpu_start=$(cpu_ticks)
for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS"
    run_wrk gw-get-64 64 "$gw_url/key"
    [ "$GATEWAY_ONLY" = 1 ] || run_wrk wd-get-64 64 "$wd_url/GET/key.txt"
    run_wrk gw-get-1 1 "$gw_url/key"
    [ "$GATEWAY_ONLY" = 1 ] || run_wrk wd-get-1 1 "$wd_url/GET/key.txt"
    run_wrk gw-form-64 64 "$gw_url/" "$work/gw-form.lua"
    [ "$GATEWAY_ONLY" = 1 ] || run_wrk wd-form-64 64 "$wd_url/" "$work/wd-form.lua"
    run_ab gw-ab "$gw_url/key"
    [ "$GATEWAY_ONLY" = 1 ] || run_ab wd-ab "$wd_url/GET/key.txt"
    # Scenario 7: both speaking webdis's API, the same URLs.
    run_wrk gwd-txt-64 64 "$gwd_url/GET/key.txt"
    [ "$GATEWAY_ONLY" = 1 ] || run_wrk wd-txt-64 64 "$wd_url/GET/key.txt"
    run_wrk gwd-json-64 64 "$gwd_url/GET/key"
    [ "$GATEWAY_ONLY" = 1 ] || run_wrk wd-json-64 64 "$wd_url/GET/key"
done
gw_cpu_busy=$(( $(cpu_ticks) - gw_cpu_start ))

# Scenario 5: the same GET load with 1,000 idle keep-alive connections parked on the gateway.
idle_start
sleep 1
idle_cpu0=$(cpu_ticks); sleep 5; idle_cpu1=$(cpu_ticks)
idle_cpu_pct=$(awk -v t=$((idle_cpu1 - idle_cpu0)) -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz/5*100}')
rss_idle=$(rss_kib)
for round in $(seq "$ROUNDS"); do
    run_wrk gw-get-64-idle 64 "$gw_url/key"
    [ "$GATEWAY_ONLY" = 1 ] || run_wrk wd-alternate 64 "$wd_url/GET/key.txt" # keeps the alternation
done
rss_after=$(rss_kib)
kill "$idle_pid" 2>/dev/null || true

# Scenario 6: Redis itself, the ceiling.
for round in $(seq "$ROUNDS"); do
    redis-benchmark -p "$redis_port" -c 64 -n 200000 -q GET key 2>/dev/null |
        awk '/requests per second/ {for (i=1;i<=NF;i++) if ($i=="requests") print $(i-1)}' >>"$work/redis"
done

# median FILE COLUMN
median() { awk -v c="$2" '{print $c}' "$work/$1" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0==0) print "n/a"; else printf "%.2f", a/b }'; }
sumcol() { awk -v c="$2" '{n+=$c} END {print n+0}' "$work/$1"; }

redis_rps=$(median redis 1)
printf '\n%-40s %12s %9s %9s %7s %12s %9s %9s %7s %9s %9s\n' scenario "gw req/s" "gw p50" "gw p99" "gw err" "webdis req/s" "wd p50" "wd p99" "wd err" "gw/webdis" "gw/redis"
row() { # row LABEL GWFILE WDFILE
    local gw_rps gw_p50 gw_p99 wd_rps="-" wd_p50="-" wd_p99="-" wd_err="-" r="-"
    gw_rps=$(median "$2" 1); gw_p50=$(median "$2" 2); gw_p99=$(median "$2" 3)
    if [ "$GATEWAY_ONLY" = 0 ] && [ -n "$3" ]; then
        wd_rps=$(median "$3" 1); wd_p50=$(median "$3" 2); wd_p99=$(median "$3" 3); wd_err=$(sumcol "$3" 4)
        r=$(ratio "$gw_rps" "$wd_rps")
    fi
    printf '%-40s %12s %8sms %8sms %7s %12s %8sms %8sms %7s %9s %9s\n' "$1" "$gw_rps" "$gw_p50" "$gw_p99" "$(sumcol "$2" 4)" \
        "$wd_rps" "$wd_p50" "$wd_p99" "$wd_err" "$r" "$(ratio "$gw_rps" "$redis_rps")"
}
row "1 GET 8 KiB, 64 conns" gw-get-64 wd-get-64
row "2 GET 8 KiB, 1 conn" gw-get-1 wd-get-1
row "3 POST form 8×1 KiB, 64 conns" gw-form-64 wd-form-64
row "5 as 1, +1,000 idle conns" gw-get-64-idle ""
row "7a webdis API: GET /GET/key.txt, 64" gwd-txt-64 wd-txt-64
row "7b webdis API: GET /GET/key (JSON), 64" gwd-json-64 wd-json-64
gw_ab=$(median gw-ab 1)
if [ "$GATEWAY_ONLY" = 0 ]; then
    wd_ab=$(median wd-ab 1)
    printf '%-40s %11ss %29s %12ss %29s %9s\n' "4 ab -c 1000 -n 1000 (total time)" "$gw_ab" "failed: $(sumcol gw-ab 2)" "$wd_ab" "failed: $(sumcol wd-ab 2)" "$(ratio "$gw_ab" "$wd_ab")"
else
    printf '%-40s %11ss %29s\n' "4 ab -c 1000 -n 1000 (total time)" "$gw_ab" "failed: $(sumcol gw-ab 2)"
fi
printf '%-40s %12s\n' "6 redis-benchmark -c 64 GET (ceiling)" "$redis_rps"
echo
echo "scenario 5 vs 1: $(ratio "$(median gw-get-64-idle 1)" "$(median gw-get-64 1)")"
echo "gateway with 1,000 idle connections and no load: ${idle_cpu_pct}% of one core, RSS ${rss_idle} KiB (after load: ${rss_after} KiB)"
echo "gateway CPU time over scenarios 1-4: $(awk -v t="$gw_cpu_busy" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.1f", t/hz}') s"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
