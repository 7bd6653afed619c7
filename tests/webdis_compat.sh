#!/usr/bin/env bash
# Runs webdis's own test scripts (ws-tests.py, basic.py, limits.py from webdis's tests/) against
# the gateway (`--api webdis --websockets on`) and a redis-server of its own, both on free ports,
# and prints, per script, how many tests passed and failed.
#
#   tests/webdis_compat.sh DIR            # DIR holds webdis's test scripts (a webdis checkout's tests/)
#   WEBDIS_COMMIT=<sha> tests/webdis_compat.sh
#                                         # fetches them from raw.githubusercontent.com at that commit
#
# Environment: GATEWAY_BIN (default target/release/redis-gateway, built when missing),
# REDIS_SERVER (default redis-server), PYTHON (default python3). The scripts need the Python
# packages websocket-client (ws-tests.py) and msgpack (basic.py's .msg tests): they are installed
# with pip into a virtualenv in the temporary directory, which is removed at the end.
#
# The gateway runs with a webdis.json that disables DEBUG, as webdis's own webdis.json does (its
# test_acl tests expect that). Differences the README's "Compatibility with webdis" table
# explains are reported as such and do not fail the run: limits.py's test_huge_url (the gateway
# answers 414, RFC 9110 §15.5.15, where webdis answers 400) and test_huge_upload (the gateway
# answers 413 at once, before a 1 GiB body is sent, where webdis sends 100 Continue); and the
# three ws-tests.py tests whose hand-written handshake has no Sec-WebSocket-Version (RFC 6455
# §4.2.1 requires it; the gateway answers 426 saying it is missing, webdis accepts it). Those
# three are then run again from a copy whose handshake sends `Sec-WebSocket-Version: 13` (the
# one line changed), so that what they test (close, ping/pong, unmasked frames) is still
# checked: that run must pass whole. Exit status: 0 when every other test passed.
#
# webdis's sources are not part of this repository; this script only runs them.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scripts=(ws-tests.py basic.py limits.py)
expected_differences=(test_huge_url test_huge_upload
    test_connect_handshake_disconnect test_minimal_ping_pong test_unmasked_redis_ping)

work=$(mktemp -d)
redis_pid=""
gateway_pid=""
cleanup() {
    local code=$?
    set +e
    for pid in $gateway_pid $redis_pid; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$work"
    exit "$code"
}
trap cleanup EXIT

# ----- the test scripts -----
if [ $# -ge 1 ]; then
    src=$(cd "$1" && pwd)
elif [ -n "${WEBDIS_COMMIT:-}" ]; then
    src="$work/webdis-tests"
    mkdir -p "$src"
    for script in "${scripts[@]}"; do
        url="https://raw.githubusercontent.com/nicolasff/webdis/$WEBDIS_COMMIT/tests/$script"
        curl -fsS --max-time 30 -o "$src/$script" "$url" || {
            echo "cannot fetch $url" >&2
            exit 2
        }
    done
else
    echo "usage: $0 DIR   (webdis's tests/ directory), or WEBDIS_COMMIT=<sha> $0" >&2
    exit 2
fi

# ----- Python with the packages the scripts import -----
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet websocket-client msgpack
python="$work/venv/bin/python"

# ----- redis-server and the gateway, on free ports -----
free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
redis_port=$(free_port)
"${REDIS_SERVER:-redis-server}" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$work/redis.log" 2>&1 &
redis_pid=$!

gateway=${GATEWAY_BIN:-$root/target/release/redis-gateway}
if [ ! -x "$gateway" ]; then
    (cd "$root" && cargo build --release --bin redis-gateway)
fi
echo '{"acl":[{"disabled":["DEBUG"]}]}' >"$work/webdis.json"
gateway_port=$(free_port)
"$gateway" --listen "127.0.0.1:$gateway_port" --redis "127.0.0.1:$redis_port" \
    --api webdis --websockets on --webdis-config "$work/webdis.json" >"$work/gateway.log" 2>&1 &
gateway_pid=$!

ready=0
for _ in $(seq 100); do
    if "$python" - "$gateway_port" <<'EOF' 2>/dev/null; then
import sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/PING", timeout=1).read()
sys.exit(0 if b"PONG" in body else 1)
EOF
        ready=1
        break
    fi
    sleep 0.1
done
if [ "$ready" != 1 ]; then
    echo "the gateway did not answer /PING; its log:" >&2
    cat "$work/gateway.log" >&2
    exit 1
fi

# ----- the runs -----
status=0
if [ -f "$src/ws-tests.py" ]; then
    mkdir -p "$work/versioned"
    sed 's|"Sec-WebSocket-Key: %s\\r\\n" + \\|&\n            "Sec-WebSocket-Version: 13\\r\\n" + \\|' \
        "$src/ws-tests.py" >"$work/versioned/ws-tests.py"
    if ! grep -q 'Sec-WebSocket-Version: 13' "$work/versioned/ws-tests.py"; then
        echo "ws-tests.py: its handshake line was not found; the versioned run is skipped" >&2
        status=1
        rm -f "$work/versioned/ws-tests.py"
    fi
fi

run() { # run DIR SCRIPT LABEL KNOWN...
    local dir=$1 script=$2 label=$3
    shift 3
    local known=" $* "
    if [ ! -f "$dir/$script" ]; then
        echo "$script: not found in $dir" >&2
        status=1
        return
    fi
    local log="$work/$label.log" ran skipped failed unexpected nfailed name
    (cd "$dir" && WEBDIS_HOST=127.0.0.1 WEBDIS_PORT=$gateway_port timeout 600 \
        "$python" "$script" -v) >"$log" 2>&1 || true
    ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$log")
    skipped=$(grep -c ' \.\.\. skipped' "$log" || true)
    failed=$(grep -E ' \.\.\. (FAIL|ERROR)$' "$log" | sed 's/ .*//' || true)
    unexpected=""
    for name in $failed; do
        case "$known" in
        *" $name "*) ;;
        *) unexpected="$unexpected $name" ;;
        esac
    done
    nfailed=$(echo "$failed" | grep -c . || true)
    echo "$label: ran ${ran:-0}, passed $(( ${ran:-0} - nfailed - skipped )), failed $nfailed, skipped $skipped"
    for name in $failed; do
        case " $unexpected " in
        *" $name "*) echo "  FAILED $name" ;;
        *) echo "  $name: a documented difference (README, Compatibility with webdis)" ;;
        esac
    done
    if [ -z "$ran" ] || [ -n "$unexpected" ]; then
        status=1
        sed 's/^/    /' "$log" | tail -40
    fi
}

for script in "${scripts[@]}"; do
    run "$src" "$script" "$script" "${expected_differences[@]}"
done
if [ -f "$work/versioned/ws-tests.py" ]; then
    run "$work/versioned" ws-tests.py "ws-tests.py (handshake with Sec-WebSocket-Version: 13)"
fi
exit "$status"
