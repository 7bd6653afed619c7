"""Interop: the official Python client (PyPI upstash-redis), installed by tests/interop/upstash.sh
into a virtual environment, against the gateway's Upstash API.

Env: UPSTASH_URL, UPSTASH_TOKEN. Prints one line per check and a summary; exits 1 when any fails.
"""

import asyncio
import os
import sys
import traceback

from upstash_redis import Redis
from upstash_redis.asyncio import Redis as AsyncRedis
from upstash_redis.errors import UpstashError

URL = os.environ["UPSTASH_URL"]
TOKEN = os.environ["UPSTASH_TOKEN"]
CLIENT = "upstash-redis (PyPI)"
passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {CLIENT}: {name}")
    except Exception:
        failed += 1
        print(f"FAIL {CLIENT}: {name}: {traceback.format_exc()}")


def raises(fn, fragment):
    try:
        fn()
    except UpstashError as e:
        assert fragment in str(e), f"{fragment!r} not in {e}"
        return
    raise AssertionError(f"no error containing {fragment!r}")


r = Redis(url=URL, token=TOKEN)
plain = Redis(url=URL, token=TOKEN, rest_encoding=None)


def strings():
    assert r.set("py:s", "héllo ✓ 🚀") is True
    assert r.get("py:s") == "héllo ✓ 🚀"
    assert plain.get("py:s") == "héllo ✓ 🚀"


def nil_and_integers():
    r.delete("py:n")
    assert r.get("py:missing") is None
    assert r.incr("py:n") == 1
    assert r.incrby("py:n", 41) == 42


def arrays():
    r.delete("py:l", "py:z")
    r.rpush("py:l", "a", "b", "c")
    assert r.lrange("py:l", 0, -1) == ["a", "b", "c"]
    r.zadd("py:z", {"one": 1, "two": 2.5})
    assert r.zrange("py:z", 0, -1, withscores=True) == [("one", 1.0), ("two", 2.5)]
    cursor, keys = r.scan(0, match="py:z", count=1000)
    assert cursor == 0 and keys == ["py:z"], (cursor, keys)
    r.hset("py:h", values={"f1": "v1", "f2": "2"})
    assert r.hgetall("py:h") == {"f1": "v1", "f2": "2"}


def errors():
    r.set("py:str", "abc")
    raises(lambda: r.incr("py:str"), "not an integer")


def pipeline():
    p = r.pipeline()
    p.set("py:p", "1")
    p.incr("py:p")
    p.get("py:p")
    assert p.exec() == [True, 2, "2"]


def multi_five_at_once():
    r.delete("py:m")

    async def one(client):
        tx = client.multi()
        for _ in range(10):
            tx.incr("py:m")
        return await tx.exec()

    async def all_five():
        client = AsyncRedis(url=URL, token=TOKEN)
        return await asyncio.gather(*(one(client) for _ in range(5)))

    runs = asyncio.run(all_five())
    firsts = sorted(run[0] for run in runs)
    for run in runs:
        assert run == list(range(run[0], run[0] + 10)), run
    assert firsts == [1, 11, 21, 31, 41], firsts


def scripts():
    assert r.eval("return ARGV[1]", [], ["hi"]) == "hi"
    sha = r.script_load("return 7")
    assert r.evalsha(sha) == 7
    raises(lambda: r.evalsha("0" * 40), "NOSCRIPT")


def bad_token():
    bad = Redis(url=URL, token=TOKEN + "x", rest_retries=0)
    raises(lambda: bad.get("py:s"), "Unauthorized")


for name, fn in [
    ("strings and unicode (base64 and plain)", strings),
    ("nil and integers", nil_and_integers),
    ("arrays: lrange, zrange withscores, scan, hgetall", arrays),
    ("errors raise with Redis's text", errors),
    ("pipeline", pipeline),
    ("multi().exec() five at once, each atomic", multi_five_at_once),
    ("EVAL, EVALSHA, NOSCRIPT", scripts),
    ("a bad token is refused", bad_token),
]:
    check(name, fn)

print(f"RESULT {CLIENT}: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
