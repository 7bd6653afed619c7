#!/usr/bin/env bash
# Benchmark redis-gateway against webdis (the peer) and Redis itself (the ceiling).
#
#   tests/bench/compare.sh                  # all scenarios, gateway and webdis alternating
#   tests/bench/compare.sh --gateway-only   # no webdis (air-gapped machines)
#   ROUNDS=5 DURATION=10 tests/bench/compare.sh
#   SCENARIOS=sparse,idle tests/bench/compare.sh        # only the sparse and idle scenarios
#   SCENARIOS=sparse-keepalive SPARSE_CONNS=5000 tests/bench/compare.sh
#   SCENARIOS=upstash tests/bench/compare.sh --gateway-only   # the Upstash API against its peer
#   SCENARIOS=cluster tests/bench/compare.sh --gateway-only   # a 3-master Redis Cluster vs one Redis
#
# Starts a private redis-server, the release gateway and webdis (Debian's package, with a config
# this script writes: 2 threads, the same Redis) on free loopback ports, seeds the data, and runs
# every scenario in alternating rounds (gateway, webdis, gateway, …) so that drift on a shared
# machine hits both alike. Prints one table of medians. Not part of `cargo test`: timings are
# measurements, never assertions.
#
# Scenarios (SCENARIOS, comma-separated: classic, sparse, sparse-keepalive, sparse-close, idle,
# upstash, cluster; default: classic,sparse,idle; all: every one)
#   classic
#   1 get-64      GET of an 8 KiB value, keep-alive, 64 connections     wrk -t1 -c64
#   2 get-1       the same with one connection (latency)                wrk -t1 -c1
#   3 form-64     POST of a form with 8 pairs of 1 KiB values           wrk -t1 -c64 + lua
#   4 ab-1000     the course benchmark: a new connection per request    ab -c 1000 -n 1000
#   7 webdis API  the gateway with --api webdis against webdis, the same URLs (.txt and JSON)
#   5 get-64-idle scenario 1 with 1,000 extra idle keep-alive connections open
#   6 redis       redis-benchmark -c 64 GET of the same key directly: the ceiling
#   sparse = sparse-keepalive + sparse-close (tests/bench/sparse.py; its header says more)
#   8 sparse keep-alive  1,000 and 5,000 keep-alive connections (SPARSE_CONNS), opened first
#                 (a pre-warmed pool), each sending one GET at a random moment every 0.5-1.5 s
#                 for SPARSE_DURATION (8) s; latency from the moment each request was due to
#                 its last byte
#  8b sparse on demand   the same, each connection opened when its first request is due, as
#                 HTTP client pools open theirs
#   9 sparse close-each  the same with a new connection for every request
#   idle
#  10 idle+busy   IDLE_CONNS (10,000) idle keep-alive connections held open (each served one
#                 request first) while wrk -t1 -c64 GETs on 64 others, against the same wrk
#                 load with none idle, in the same round
#  11 idle CPU    % of one core (/proc/PID/stat over IDLE_CPU_SECONDS, 10) with nothing
#                 connected and with the IDLE_CONNS open; RSS with them open
#   upstash: the gateway with --api upstash against npm @humanwhocodes/upstash-redis-server (the
#   peer, installed by npm into the temporary directory), the same Redis, alternating rounds;
#   --gateway-only skips webdis only, not this peer
#  12 upstash-1   POST / ["GET","ukey"] (a 64-byte value), 64 connections     wrk -t1 -c64 + lua
#  13 upstash-10  POST /pipeline of 10 commands (5 GET, 5 INCR), 64 conns  wrk -t1 -c64 + lua
#   cluster: a 3-master Redis Cluster (no replicas, `redis-cli --cluster create`) on this machine;
#   the gateway with --cluster against the gateway with one Redis, and against redis-benchmark
#   --cluster directly (the ceiling); 1,000 keys picked at random, 64-byte values
#  14 cluster-put PUT /ckN, 64 connections                                  wrk -t1 -c64 + lua
#  15 cluster-get GET /ckN, 64 connections                                  wrk -t1 -c64 + lua
#  16 redis-benchmark --cluster -c 64 -r 1000 -t set,get, and the same against the one Redis
#
# Every process gets `ulimit -n 65536` (or the hard limit, where that is lower). LOGS=DIR keeps
# the raw output of each sparse and idle run in DIR.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
SCENARIOS=${SCENARIOS:-classic,sparse,idle}
SPARSE_CONNS=${SPARSE_CONNS:-1000 5000}
SPARSE_DURATION=${SPARSE_DURATION:-8}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_CPU_SECONDS=${IDLE_CPU_SECONDS:-10}
LOGS=${LOGS:-}
GATEWAY_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --gateway-only) GATEWAY_ONLY=1 ;;
        -h|--help) awk 'NR == 1 {next} !/^#/ {exit} {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
        *) echo "unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

# SCENARIOS: which groups run. `sparse` is both sparse groups.
run_classic=0 run_sparse_ka=0 run_sparse_close=0 run_idle=0 run_upstash=0 run_cluster=0
for s in ${SCENARIOS//,/ }; do
    case "$s" in
        classic) run_classic=1 ;;
        sparse) run_sparse_ka=1 run_sparse_close=1 ;;
        sparse-keepalive) run_sparse_ka=1 ;;
        sparse-close) run_sparse_close=1 ;;
        idle) run_idle=1 ;;
        upstash) run_upstash=1 ;;
        cluster) run_cluster=1 ;;
        all) run_classic=1 run_sparse_ka=1 run_sparse_close=1 run_idle=1 run_upstash=1 run_cluster=1 ;;
        *) echo "unknown scenario '$s' in SCENARIOS (classic, sparse, sparse-keepalive, sparse-close, idle, upstash, cluster)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
root=$(pwd)

# Thousands of connections: every process started here inherits the limit. Without the right
# to raise the hard limit (a container), the hard limit is what there is.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$run_idle" = 1 ] && [ "$nofile" != unlimited ] && [ "$nofile" -lt $((IDLE_CONNS + 200)) ]; then
    echo "scenario idle holds $IDLE_CONNS connections: ulimit -n is $nofile and cannot be raised" \
        "(lower IDLE_CONNS or raise the hard limit)" >&2
    exit 1
fi

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need redis-server || missing+=(redis-server)
need redis-benchmark || missing+=(redis-server)
[ "$run_cluster" = 0 ] || need redis-cli || missing+=(redis-tools)
need wrk || missing+=(wrk)
need ab || missing+=(apache2-utils)
need python3 || missing+=(python3)
[ "$GATEWAY_ONLY" = 1 ] || need webdis || missing+=(webdis)
[ "$run_upstash" = 0 ] || need npm || missing+=(npm)
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

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "building the release binary…"
cargo build --release --quiet
gateway_bin="$root/target/release/redis-gateway"

work=$(mktemp -d /tmp/gateway-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$LOGS" ]; then mkdir -p "$LOGS" && cp -r "$work"/. "$LOGS"/ && echo "raw output kept in $LOGS"; fi
    rm -rf "$work"
}
# stop PID: ends one process started here and forgets it (so that cleanup never kills a reused PID)
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local kept=() pid
    for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
    pids=("${kept[@]}")
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
# --max-connections: scenario 10 holds IDLE_CONNS idle connections and 64 busy ones.
"$gateway_bin" --listen "127.0.0.1:$gw_port" --redis "127.0.0.1:$redis_port" \
    --max-connections $((IDLE_CONNS + 1000)) 2>"$work/gateway.log" &
gw_pid=$!
pids+=($gw_pid)
wait_port "$gw_port"

# The same gateway binary speaking webdis's API, for scenario 7 (the same URLs as webdis).
if [ "$run_classic" = 1 ]; then
    gwd_port=$(free_port)
    "$gateway_bin" --api webdis --listen "127.0.0.1:$gwd_port" --redis "127.0.0.1:$redis_port" \
        --pool-size 40 2>"$work/gateway-webdis.log" &
    pids+=($!)
    wait_port "$gwd_port"
fi

if [ "$GATEWAY_ONLY" = 0 ]; then
    wd_port=$(free_port)
    cat >"$work/webdis.json" <<EOF
{ "redis_host": "127.0.0.1", "redis_port": $redis_port, "redis_auth": null,
  "http_host": "127.0.0.1", "http_port": $wd_port, "threads": 2, "pool_size": 20,
  "daemonize": false, "database": 0, "verbosity": 1, "logfile": "$work/webdis.log" }
EOF
    webdis "$work/webdis.json" 2>>"$work/webdis.log" &
    wd_pid=$!
    pids+=($wd_pid)
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
gwd_url="http://127.0.0.1:${gwd_port:-0}"
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

proc_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
cpu_ticks() { proc_ticks "$gw_pid"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/${1:-$gw_pid}/status"; }
# cpu_pct PID SECONDS: the CPU PID uses over SECONDS, in % of one core (all its threads)
cpu_pct() {
    local t0 t1
    t0=$(proc_ticks "$1"); sleep "$2"; t1=$(proc_ticks "$1")
    awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$2" 'BEGIN{printf "%.2f\n", t/hz/s*100}'
}

# median FILE COLUMN
median() { [ -f "$work/$1" ] || { echo nan; return; }; awk -v c="$2" '{print $c}' "$work/$1" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0==0) print "n/a"; else printf "%.2f", a/b }'; }
sumcol() { [ -f "$work/$1" ] || { echo 0; return; }; awk -v c="$2" '{n+=$c} END {print n+0}' "$work/$1"; }

if [ "$run_classic" = 1 ]; then
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
stop "$idle_pid"

# Scenario 6: Redis itself, the ceiling.
for round in $(seq "$ROUNDS"); do
    redis-benchmark -p "$redis_port" -c 64 -n 200000 -q GET key 2>/dev/null |
        awk '/requests per second/ {for (i=1;i<=NF;i++) if ($i=="requests") print $(i-1)}' >>"$work/redis"
done
fi

# ---- Scenarios 8-11: sparse keep-alive load and idle connections (issue #12) ----------------

port_of() { if [ "$1" = gw ]; then echo "$gw_port"; else echo "$wd_port"; fi; }
path_of() { if [ "$1" = gw ]; then echo /key; else echo /GET/key.txt; fi; }
pid_of() { if [ "$1" = gw ]; then echo "$gw_pid"; else echo "$wd_pid"; fi; }
name_of() { if [ "$1" = gw ]; then echo gateway; else echo webdis; fi; }
# servers ROUND: who goes first changes every round, so that drift falls on both alike
servers() {
    if [ "$GATEWAY_ONLY" = 1 ]; then echo gw
    elif [ $(($1 % 2)) = 1 ]; then echo "gw wd"
    else echo "wd gw"; fi
}

# run_sparse TAG NAME CONNS [sparse.py options]: appends sparse.py's SPARSE line to $work/NAME
run_sparse() {
    local tag=$1 name=$2 conns=$3 out line
    shift 3
    out=$(python3 "$root/tests/bench/sparse.py" --conns "$conns" --duration "$SPARSE_DURATION" "$@" \
        127.0.0.1 "$(port_of "$tag")" "$(path_of "$tag")" 2>&1) || true
    printf '%s\n' "$out" >>"$work/$name.log"
    line=$(grep '^SPARSE ' <<<"$out" || true)
    if [ -z "$line" ]; then
        echo "  $(name_of "$tag"): sparse.py failed: $(tail -1 <<<"$out")" >&2
        line="SPARSE failed=1"
    fi
    echo "$line" >>"$work/$name"
    echo "  $(name_of "$tag"): $(grep '^sparse ' <<<"$out" | sed 's/^sparse //')"
    sleep 1 # the server sees the connections close
}
# kvals FILE KEY: the values of KEY in FILE's SPARSE lines; kmedian, ksum, kmax of them
kvals() { [ -f "$work/$1" ] || return 0; awk -v k="$2" '{for (i = 2; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) print substr($i, n + 1) }}' "$work/$1"; }
kmedian() { kvals "$1" "$2" | sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ksum() { kvals "$1" "$2" | awk '{n+=$1} END {print n+0}'; }
kmax() { kvals "$1" "$2" | sort -g | tail -1; }

# hold_start TAG: IDLE_CONNS idle keep-alive connections, each served one request, held open
hold_start() {
    rm -f "$work/hold.ready"
    python3 "$root/tests/bench/sparse.py" --hold "$IDLE_CONNS" --ready "$work/hold.ready" \
        --duration 900 127.0.0.1 "$(port_of "$1")" "$(path_of "$1")" >>"$work/$1-hold.log" 2>&1 &
    hold_pid=$!
    pids+=($hold_pid)
    for _ in $(seq 1200); do
        [ -f "$work/hold.ready" ] && break
        kill -0 "$hold_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -f "$work/hold.ready" ]; then
        echo "  $(name_of "$1"): the $IDLE_CONNS idle connections did not open: $(tail -1 "$work/$1-hold.log")" >&2
        echo 0 >>"$work/$1-held"
        return
    fi
    cat "$work/hold.ready" >>"$work/$1-held"
    echo "  $(name_of "$1"): $(tail -1 "$work/$1-hold.log")"
}
hold_stop() { stop "$hold_pid"; sleep 3; } # the server sees them close

if [ "$run_sparse_ka" = 1 ] || [ "$run_sparse_close" = 1 ]; then
    echo "sparse: $ROUNDS rounds × ${SPARSE_DURATION}s per run, connections: $SPARSE_CONNS"
    for round in $(seq "$ROUNDS"); do
        echo "sparse round $round/$ROUNDS"
        for conns in $SPARSE_CONNS; do
            for tag in $(servers "$round"); do
                [ "$run_sparse_ka" = 0 ] || run_sparse "$tag" "$tag-sparse-$conns" "$conns" --open upfront
            done
            for tag in $(servers "$round"); do
                [ "$run_sparse_ka" = 0 ] || run_sparse "$tag" "$tag-lazy-$conns" "$conns" --open lazy
            done
            for tag in $(servers "$round"); do
                [ "$run_sparse_close" = 0 ] || run_sparse "$tag" "$tag-close-$conns" "$conns" --close-each
            done
        done
    done
fi

if [ "$run_idle" = 1 ]; then
    echo "idle: $ROUNDS rounds; ${IDLE_CPU_SECONDS}s of CPU per measure, ${DURATION}s per wrk, $IDLE_CONNS idle connections"
    for round in $(seq "$ROUNDS"); do
        echo "idle round $round/$ROUNDS"
        for tag in $(servers "$round"); do
            pid=$(pid_of "$tag")
            url="http://127.0.0.1:$(port_of "$tag")$(path_of "$tag")"
            sleep 2
            cpu_pct "$pid" "$IDLE_CPU_SECONDS" >>"$work/$tag-cpu-none"
            run_wrk "$tag-busy-none" 64 "$url"
            hold_start "$tag"
            sleep 1
            cpu_pct "$pid" "$IDLE_CPU_SECONDS" >>"$work/$tag-cpu-idle"
            rss0=$(rss_kib "$pid")
            run_wrk "$tag-busy-idle" 64 "$url"
            rss1=$(rss_kib "$pid")
            echo $((rss0 > rss1 ? rss0 : rss1)) >>"$work/$tag-rss-idle"
            hold_stop
            echo "  $(name_of "$tag"): CPU $(tail -1 "$work/$tag-cpu-none")% idle," \
                "$(tail -1 "$work/$tag-cpu-idle")% with $IDLE_CONNS open;" \
                "wrk -c64 $(tail -1 "$work/$tag-busy-none" | cut -d' ' -f1) req/s," \
                "$(tail -1 "$work/$tag-busy-idle" | cut -d' ' -f1) req/s with them open"
        done
    done
fi

# ---- Scenarios 12-13: the Upstash API against @humanwhocodes/upstash-redis-server -----------

if [ "$run_upstash" = 1 ]; then
    token="bench-$RANDOM$RANDOM"
    echo "upstash: installing @humanwhocodes/upstash-redis-server (npm) into $work/peer"
    mkdir -p "$work/peer"
    (cd "$work/peer" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error \
        @humanwhocodes/upstash-redis-server) >"$work/peer/npm.log" 2>&1 \
        || { cat "$work/peer/npm.log" >&2; echo "npm install failed (is the registry reachable?)" >&2; exit 1; }
    peer_version=$(cd "$work/peer" && node -p \
        'JSON.parse(require("fs").readFileSync("node_modules/@humanwhocodes/upstash-redis-server/package.json")).version')
    up_port=$(free_port)
    "$gateway_bin" --api upstash --token "$token" --listen "127.0.0.1:$up_port" \
        --redis "127.0.0.1:$redis_port" 2>"$work/gateway-upstash.log" &
    pids+=($!)
    wait_port "$up_port"
    peer_port=$(free_port)
    (cd "$work/peer" && exec env URS_TOKEN="$token" PORT="$peer_port" REDIS_URL="redis://127.0.0.1:$redis_port" \
        node node_modules/@humanwhocodes/upstash-redis-server/dist/server.js) >"$work/peer.log" 2>&1 &
    pids+=($!)
    wait_port "$peer_port"
    redis-cli -p "$redis_port" SET ukey "$(printf 'v%.0s' $(seq 64))" >/dev/null
    one='["GET","ukey"]'
    ten='[["GET","ukey"],["INCR","ucount"],["GET","ukey"],["INCR","ucount"],["GET","ukey"],["INCR","ucount"],["GET","ukey"],["INCR","ucount"],["GET","ukey"],["INCR","ucount"]]'
    lua_json() { # lua_json FILE BODY
        printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
            "'$2'" "$token" >"$1"
    }
    lua_json "$work/up-1.lua" "$one"
    lua_json "$work/up-10.lua" "$ten"
    # Sanity: both answer the same.
    for port in "$up_port" "$peer_port"; do
        got=$(curl -s -H "Authorization: Bearer $token" -d "$one" "http://127.0.0.1:$port/")
        [ "$got" = "{\"result\":\"$(printf 'v%.0s' $(seq 64))\"}" ] \
            || { echo "port $port answered $got to $one" >&2; exit 1; }
        got=$(curl -s -H "Authorization: Bearer $token" -d "$ten" "http://127.0.0.1:$port/pipeline" | grep -o result | wc -l)
        [ "$got" = 10 ] || { echo "port $port answered $got results to the 10-command pipeline" >&2; exit 1; }
    done
    echo "upstash: $ROUNDS rounds × ${DURATION}s per wrk run, peer @humanwhocodes/upstash-redis-server $peer_version"
    for round in $(seq "$ROUNDS"); do
        echo "upstash round $round/$ROUNDS"
        order="up peer"; [ $((round % 2)) = 1 ] || order="peer up"
        for tag in $order; do
            port=$up_port; [ "$tag" = up ] || port=$peer_port
            run_wrk "$tag-1" 64 "http://127.0.0.1:$port/" "$work/up-1.lua"
            run_wrk "$tag-10" 64 "http://127.0.0.1:$port/pipeline" "$work/up-10.lua"
        done
    done
    echo
    echo "Upstash API: medians of $ROUNDS rounds, wrk -t1 -c64; peer: @humanwhocodes/upstash-redis-server $peer_version (Node.js)"
    printf '%-40s %12s %9s %9s %7s %12s %9s %9s %7s %9s\n' scenario "gw req/s" "gw p50" "gw p99" "gw err" "peer req/s" "peer p50" "peer p99" "pr err" "gw/peer"
    up_row() { # up_row LABEL SUFFIX
        local g="up-$2" p="peer-$2"
        printf '%-40s %12s %8sms %8sms %7s %12s %8sms %8sms %7s %9s\n' "$1" \
            "$(median "$g" 1)" "$(median "$g" 2)" "$(median "$g" 3)" "$(sumcol "$g" 4)" \
            "$(median "$p" 1)" "$(median "$p" 2)" "$(median "$p" 3)" "$(sumcol "$p" 4)" \
            "$(ratio "$(median "$g" 1)" "$(median "$p" 1)")"
    }
    up_row "12 POST / [GET ukey], 64 conns" 1
    up_row "13 POST /pipeline, 10 commands, 64" 10
    echo "(a pipeline is one request: commands/s = 10 × req/s)"
fi

# ---- Scenarios 14-16: a 3-master Redis Cluster against one Redis ------------------------------

if [ "$run_cluster" = 1 ]; then
    cluster_ports=()
    for i in 1 2 3; do
        port=$(free_port); bus=$(free_port)
        mkdir -p "$work/cluster-$i"
        redis-server --port "$port" --cluster-port "$bus" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --dir "$work/cluster-$i" --cluster-enabled yes --cluster-config-file nodes.conf \
            >"$work/cluster-$i/redis.log" 2>&1 &
        pids+=($!)
        wait_port "$port"
        cluster_ports+=("$port")
    done
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${cluster_ports[@]}") --cluster-replicas 0 \
        --cluster-yes >"$work/cluster-create.log" 2>&1 || { cat "$work/cluster-create.log" >&2; exit 1; }
    for _ in $(seq 200); do
        ok=0
        for port in "${cluster_ports[@]}"; do
            redis-cli -p "$port" CLUSTER INFO | grep -q cluster_state:ok && ok=$((ok + 1))
        done
        [ "$ok" = 3 ] && break
        sleep 0.1
    done
    [ "$ok" = 3 ] || { echo "the cluster did not form" >&2; exit 1; }
    gc_port=$(free_port)
    "$gateway_bin" --listen "127.0.0.1:$gc_port" \
        --cluster "$(printf '127.0.0.1:%s,' "${cluster_ports[@]}" | sed 's/,$//')" \
        2>"$work/gateway-cluster.log" &
    pids+=($!)
    wait_port "$gc_port"
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gc_port/ck1")" = 404 ] && break
        sleep 0.1
    done
    cvalue=$(printf 'v%.0s' $(seq 64))
    printf 'wrk.method = "PUT"\nwrk.body = "%s"\nrequest = function() return wrk.format(nil, "/ck" .. math.random(1, 1000)) end\n' \
        "$cvalue" >"$work/cluster-put.lua"
    printf 'request = function() return wrk.format("GET", "/ck" .. math.random(1, 1000)) end\n' \
        >"$work/cluster-get.lua"
    echo "cluster: $ROUNDS rounds × ${DURATION}s per wrk run; masters on ports ${cluster_ports[*]}"
    for round in $(seq "$ROUNDS"); do
        echo "cluster round $round/$ROUNDS"
        order="cl one"; [ $((round % 2)) = 1 ] || order="one cl"
        for tag in $order; do
            port=$gc_port; [ "$tag" = cl ] || port=$gw_port
            # PUT first: it writes the 1,000 keys that GET then reads.
            run_wrk "$tag-put" 64 "http://127.0.0.1:$port/" "$work/cluster-put.lua"
            run_wrk "$tag-get" 64 "http://127.0.0.1:$port/" "$work/cluster-get.lua"
        done
        redis-benchmark --cluster -h 127.0.0.1 -p "${cluster_ports[0]}" -c 64 -n 200000 -r 1000 -d 64 -q -t set,get 2>/dev/null |
            tr '\r' '\n' | awk '/requests per second/ {for (i=1;i<=NF;i++) if ($i=="requests") print $(i-1)}' | paste -sd' ' >>"$work/rb-cluster"
        redis-benchmark -p "$redis_port" -c 64 -n 200000 -r 1000 -d 64 -q -t set,get 2>/dev/null |
            tr '\r' '\n' | awk '/requests per second/ {for (i=1;i<=NF;i++) if ($i=="requests") print $(i-1)}' | paste -sd' ' >>"$work/rb-one"
    done
    echo
    echo "Redis Cluster (3 masters, this machine) vs one Redis: medians of $ROUNDS rounds, wrk -t1 -c64, 1,000 random keys"
    printf '%-34s %12s %9s %9s %7s %13s %9s %9s %7s %7s\n' scenario "cluster r/s" "p50" "p99" "err" "one-Redis r/s" "p50" "p99" "err" "cl/one"
    cl_row() { # cl_row LABEL SUFFIX
        printf '%-34s %12s %8sms %8sms %7s %13s %8sms %8sms %7s %7s\n' "$1" \
            "$(median "cl-$2" 1)" "$(median "cl-$2" 2)" "$(median "cl-$2" 3)" "$(sumcol "cl-$2" 4)" \
            "$(median "one-$2" 1)" "$(median "one-$2" 2)" "$(median "one-$2" 3)" "$(sumcol "one-$2" 4)" \
            "$(ratio "$(median "cl-$2" 1)" "$(median "one-$2" 1)")"
    }
    cl_row "14 PUT /ckN (64 B), 64 conns" put
    cl_row "15 GET /ckN, 64 conns" get
    rb_set_cl=$(median rb-cluster 1); rb_get_cl=$(median rb-cluster 2)
    rb_set_one=$(median rb-one 1); rb_get_one=$(median rb-one 2)
    echo "16 redis-benchmark -c 64 -r 1000 -d 64: cluster SET $rb_set_cl GET $rb_get_cl req/s;" \
        "one Redis SET $rb_set_one GET $rb_get_one req/s (cluster/one: SET $(ratio "$rb_set_cl" "$rb_set_one")," \
        "GET $(ratio "$rb_get_cl" "$rb_get_one"))"
    echo "   gateway / redis-benchmark direct: cluster PUT $(ratio "$(median cl-put 1)" "$rb_set_cl")," \
        "GET $(ratio "$(median cl-get 1)" "$rb_get_cl"); one Redis PUT $(ratio "$(median one-put 1)" "$rb_set_one")," \
        "GET $(ratio "$(median one-get 1)" "$rb_get_one")"
fi

if [ "$run_classic" = 1 ]; then
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
fi

# ---- The table of scenarios 8-11, with the targets of issue #12 ---------------------------

# check VALUE OP LIMIT: "yes" or "no" (nan: "?")
check() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN{ if (v == "nan" || v == "" || v == "n/a") print "?"; else if (op == "<=") print (v + 0 <= l + 0 ? "yes" : "no"); else print (v + 0 >= l + 0 ? "yes" : "no") }'; }
both() { if [ "$1" = yes ] && [ "$2" = yes ]; then echo yes; elif [ "$1" = no ] || [ "$2" = no ]; then echo no; else echo "?"; fi; }
fmt() { awk -v v="$1" 'BEGIN{ if (v == "nan" || v == "") print "-"; else if (v + 0 >= 100) printf "%.0f", v; else if (v + 0 >= 10) printf "%.1f", v; else printf "%.2f", v }'; }
# errs FILE: "E/R(A)" — requests lost or answered with an error (summed over rounds), reconnects
# (of which announced with Connection: close); "fail" when a run produced no numbers
errs() {
    local failed
    failed=$(ksum "$1" failed)
    if [ "$failed" != 0 ]; then echo "fail×$failed"; return; fi
    echo "$(ksum "$1" errors)/$(ksum "$1" reconnects)($(ksum "$1" reconnects_announced))"
}

if [ "$run_sparse_ka" = 1 ] || [ "$run_sparse_close" = 1 ]; then
    echo
    echo "Sparse load (tests/bench/sparse.py): medians of $ROUNDS rounds; latency in ms from the moment each request was due."
    echo "err/reconn: requests lost or answered non-2xx (or unanswered, or failed to connect), summed over the rounds / reconnects after the server closed (announced with Connection: close)"
    printf '%-34s %8s %8s %13s %8s %8s %13s %9s %9s  %-28s %s\n' scenario "gw p50" "gw p99" "gw err/reconn" "wd p50" "wd p99" "wd err/reconn" "p50 gw/wd" "p99 gw/wd" "target (gateway)" "met"
    sparse_row() { # sparse_row LABEL KIND CONNS
        local gw="gw-$2-$3" wd="wd-$2-$3" g50 g99 w50="-" w99="-" werr="-" r50="-" r99="-" target met e
        g50=$(kmedian "$gw" p50_ms); g99=$(kmedian "$gw" p99_ms)
        if [ "$GATEWAY_ONLY" = 0 ]; then
            w50=$(kmedian "$wd" p50_ms); w99=$(kmedian "$wd" p99_ms); werr=$(errs "$wd")
            r50=$(ratio "$g50" "$w50"); r99=$(ratio "$g99" "$w99")
            w50=$(fmt "$w50"); w99=$(fmt "$w99")
        fi
        e=$(ksum "$gw" errors)
        [ "$(ksum "$gw" failed)" = 0 ] || e=1
        met=$(check "$e" "<=" 0)
        target="no error"
        if [ "$2" != close ] && [ "$3" = 5000 ]; then
            target="p50 ≤ 1, p99 ≤ 10 ms, no error"
            met=$(both "$met" "$(both "$(check "$g50" "<=" 1)" "$(check "$g99" "<=" 10)")")
        elif [ "$2" != close ] && [ "$3" = 1000 ]; then
            target="p99 ≤ 5 ms, no error"
            met=$(both "$met" "$(check "$g99" "<=" 5)")
        fi
        printf '%-34s %8s %8s %13s %8s %8s %13s %9s %9s  %-28s %s\n' "$1" "$(fmt "$g50")" "$(fmt "$g99")" "$(errs "$gw")" \
            "$w50" "$w99" "$werr" "$r50" "$r99" "$target" "$met"
    }
    for conns in $SPARSE_CONNS; do
        [ "$run_sparse_ka" = 0 ] || sparse_row "8 sparse keep-alive, $conns conns" sparse "$conns"
    done
    for conns in $SPARSE_CONNS; do
        [ "$run_sparse_ka" = 0 ] || sparse_row "8b sparse on demand, $conns conns" lazy "$conns"
    done
    for conns in $SPARSE_CONNS; do
        [ "$run_sparse_close" = 0 ] || sparse_row "9 sparse close-each, $conns conns" close "$conns"
    done
    echo "the client itself (worst round): timer lateness p99 / max in ms, CPU of its busiest process in % of one core"
    for kind in sparse lazy close; do
        for conns in $SPARSE_CONNS; do
            for tag in gw wd; do
                [ -f "$work/$tag-$kind-$conns" ] || continue
                printf '  %-8s %-10s %5s conns: late p99 %s ms, max %s ms; CPU %s%% (%s processes)\n' "$(name_of "$tag")" \
                    "$(case $kind in sparse) echo keep-alive ;; lazy) echo on-demand ;; *) echo close-each ;; esac)" "$conns" \
                    "$(fmt "$(kmax "$tag-$kind-$conns" late_p99_ms)")" "$(fmt "$(kmax "$tag-$kind-$conns" late_max_ms)")" \
                    "$(fmt "$(kmax "$tag-$kind-$conns" client_cpu_max)")" "$(kmax "$tag-$kind-$conns" procs)"
            done
        done
    done
fi

if [ "$run_idle" = 1 ]; then
    echo
    echo "$IDLE_CONNS idle keep-alive connections: medians of $ROUNDS rounds"
    printf '%-44s %12s %12s %9s  %-22s %s\n' scenario gateway webdis "gw/webdis" "target (gateway)" met
    # idle_row LABEL GWVALUE WDVALUE TARGET-OP TARGET-LIMIT TARGET-TEXT [noratio]
    idle_row() {
        local wd="$3" r="-"
        if [ "$GATEWAY_ONLY" = 1 ]; then wd="-"; elif [ -z "${7:-}" ]; then r=$(ratio "$2" "$3"); fi
        printf '%-44s %12s %12s %9s  %-22s %s\n' "$1" "$2" "$wd" "$r" "$6" "$([ -z "$6" ] || check "$2" "$4" "$5")"
    }
    gw_none=$(median gw-busy-none 1); gw_idle=$(median gw-busy-idle 1)
    wd_none=$(median wd-busy-none 1); wd_idle=$(median wd-busy-idle 1)
    gw_keep=$(ratio "$gw_idle" "$gw_none"); wd_keep=$(ratio "$wd_idle" "$wd_none")
    idle_row "10 wrk -c64 GET, none idle: req/s" "$gw_none" "$wd_none" ">=" 0 ""
    idle_row "10 wrk -c64 GET, $IDLE_CONNS idle: req/s" "$gw_idle" "$wd_idle" ">=" 0 ""
    idle_row "10 $IDLE_CONNS idle / none idle (throughput)" "$gw_keep" "$wd_keep" ">=" 0.85 "≥ 0.85×"
    idle_row "10 wrk p99 none idle, ms" "$(median gw-busy-none 3)" "$(median wd-busy-none 3)" ">=" 0 ""
    idle_row "10 wrk p99 with $IDLE_CONNS idle, ms" "$(median gw-busy-idle 3)" "$(median wd-busy-idle 3)" ">=" 0 ""
    colmax() { [ -f "$work/$1" ] || { echo nan; return; }; awk -v c="$2" 'NR == 1 || $c + 0 > m {m = $c + 0} END {print m}' "$work/$1"; }
    idle_row "10 wrk p99 with $IDLE_CONNS idle, worst round, ms" "$(colmax gw-busy-idle 3)" "$(colmax wd-busy-idle 3)" ">=" 0 ""
    gw_err=$(( $(sumcol gw-busy-none 4) + $(sumcol gw-busy-idle 4) ))
    wd_err=$([ "$GATEWAY_ONLY" = 1 ] && echo 0 || echo $(( $(sumcol wd-busy-none 4) + $(sumcol wd-busy-idle 4) )))
    idle_row "10 wrk errors (summed), idle conns opened (min)" "$gw_err, $(sort -g "$work/gw-held" | head -1)" \
        "$wd_err, $([ -f "$work/wd-held" ] && sort -g "$work/wd-held" | head -1)" ">=" 0 "" noratio
    idle_row "11 CPU, nothing connected, % of a core" "$(median gw-cpu-none 1)" "$(median wd-cpu-none 1)" "<=" 0.5 "≤ 0.5 %"
    idle_row "11 CPU, $IDLE_CONNS idle open, % of a core" "$(median gw-cpu-idle 1)" "$(median wd-cpu-idle 1)" "<=" 5 "≤ 5 %"
    gw_rss=$(awk -v k="$(median gw-rss-idle 1)" 'BEGIN{printf "%.1f", k/1024}')
    wd_rss=$([ "$GATEWAY_ONLY" = 1 ] && echo nan || awk -v k="$(median wd-rss-idle 1)" 'BEGIN{printf "%.1f", k/1024}')
    idle_row "11 RSS with $IDLE_CONNS open, MiB" "$gw_rss" "$wd_rss" "<=" 64 "≤ 64 MiB"
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); ulimit -n $nofile;" \
    "load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
