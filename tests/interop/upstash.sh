#!/usr/bin/env bash
# Interop test of the Upstash API with the official clients, installed fresh from their
# registries: npm @upstash/redis, @vercel/kv, @upstash/ratelimit (tests/interop/upstash.mjs) and
# PyPI upstash-redis (tests/interop/upstash_test.py).
#
# Everything is installed into a temporary directory outside the repository, which is removed at
# the end. The script starts its own redis-server and a release build of the gateway on free
# loopback ports. It never skips: a registry that cannot be reached, a missing tool or a failing
# check is a nonzero exit with a message saying which.
#
# Usage: tests/interop/upstash.sh           (from anywhere; needs node, npm, python3 with venv,
#                                            redis-server, cargo)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

fail() { echo "interop: FAILED: $*" >&2; exit 1; }

for tool in node npm python3 cargo; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' is not installed"
done
redis_server="${REDIS_SERVER:-$(command -v redis-server || true)}"
[ -n "$redis_server" ] || fail "redis-server is not installed (apt-get install redis-server)"

work="$(mktemp -d "${TMPDIR:-/tmp}/upstash-interop.XXXXXX")"
case "$work" in "$repo"/*) fail "temporary directory $work is inside the repository" ;; esac
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "interop: installing the clients into $work"
(
    cd "$work"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --loglevel=error @upstash/redis @vercel/kv @upstash/ratelimit
) >"$work/npm.log" 2>&1 || { cat "$work/npm.log" >&2; fail "npm install from $(npm config get registry) (is the registry reachable?)"; }
python3 -m venv "$work/venv" >"$work/venv.log" 2>&1 \
    || { cat "$work/venv.log" >&2; fail "python3 -m venv (install python3-venv)"; }
"$work/venv/bin/pip" install --quiet --disable-pip-version-check upstash-redis >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log" >&2; fail "pip install upstash-redis (is PyPI reachable?)"; }
versions="$(cd "$work" && node -e '
const fs = require("fs");
for (const p of ["@upstash/redis", "@vercel/kv", "@upstash/ratelimit"])
  console.log(p + " " + JSON.parse(fs.readFileSync("node_modules/" + p + "/package.json")).version)')" \
    || fail "the npm packages did not install"
versions+=$'\n'"upstash-redis $("$work/venv/bin/pip" show upstash-redis | sed -n 's/^Version: //p')"
echo "interop: client versions:"; echo "$versions" | sed 's/^/    /'

echo "interop: building the gateway (cargo build --release)"
(cd "$repo" && cargo build --release --quiet) || fail "cargo build --release"

redis_port="$(free_port)"
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    >"$work/redis.log" 2>&1 &
pids+=($!)
gateway_port="$(free_port)"
token="interop-$RANDOM-$RANDOM"
"$repo/target/release/redis-gateway" --api upstash --token "$token" \
    --listen "127.0.0.1:$gateway_port" --redis "127.0.0.1:$redis_port" >"$work/gateway.log" 2>&1 &
pids+=($!)
url="http://127.0.0.1:$gateway_port"
for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$url/ping" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "$url/ping" \
    || { cat "$work/gateway.log" "$work/redis.log" >&2; fail "the gateway did not answer /ping"; }

status=0
cp "$here/upstash.mjs" "$here/upstash_test.py" "$work/"
echo "interop: JavaScript clients"
(cd "$work" && UPSTASH_URL="$url" UPSTASH_TOKEN="$token" node upstash.mjs) || status=1
echo "interop: Python client"
(cd "$work" && UPSTASH_URL="$url" UPSTASH_TOKEN="$token" "$work/venv/bin/python" upstash_test.py) \
    || status=1
if [ "$status" != 0 ]; then
    echo "----- gateway log -----" >&2; tail -n 50 "$work/gateway.log" >&2
    fail "some client checks failed (see FAIL lines above)"
fi
echo "interop: all client checks passed"
