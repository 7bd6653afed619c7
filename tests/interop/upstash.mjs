// Interop: the official JavaScript clients (@upstash/redis, @vercel/kv, @upstash/ratelimit),
// installed from npm by tests/interop/upstash.sh, against the gateway's Upstash API.
// Env: UPSTASH_URL, UPSTASH_TOKEN. Prints one line per check and a summary per client; exits 1
// when any check fails.
import { Redis } from "@upstash/redis";
import { createClient } from "@vercel/kv";
import { Ratelimit } from "@upstash/ratelimit";
import assert from "node:assert/strict";

const url = process.env.UPSTASH_URL;
const token = process.env.UPSTASH_TOKEN;
const results = {};
let failed = 0;

async function check(client, name, fn) {
  results[client] ??= { pass: 0, fail: 0 };
  try {
    await fn();
    results[client].pass++;
    console.log(`ok   ${client}: ${name}`);
  } catch (e) {
    results[client].fail++;
    failed++;
    console.log(`FAIL ${client}: ${name}: ${e?.stack ?? e}`);
  }
}

const redis = new Redis({ url, token });
const c = "@upstash/redis";

await check(c, "strings and unicode", async () => {
  assert.equal(await redis.set("js:s", "héllo ✓ 🚀"), "OK");
  assert.equal(await redis.get("js:s"), "héllo ✓ 🚀");
});
await check(c, "JSON values round-trip", async () => {
  await redis.set("js:j", { a: [1, "x"], b: null });
  assert.deepEqual(await redis.get("js:j"), { a: [1, "x"], b: null });
});
await check(c, "nil", async () => {
  assert.equal(await redis.get("js:missing"), null);
});
await check(c, "integers", async () => {
  await redis.del("js:n");
  assert.equal(await redis.incr("js:n"), 1);
  assert.equal(await redis.incrby("js:n", 41), 42);
});
await check(c, "arrays: lrange", async () => {
  await redis.del("js:l");
  await redis.rpush("js:l", "a", "b", "c");
  assert.deepEqual(await redis.lrange("js:l", 0, -1), ["a", "b", "c"]);
});
await check(c, "nested arrays: zrange withScores", async () => {
  await redis.del("js:z");
  await redis.zadd("js:z", { score: 1, member: "one" }, { score: 2.5, member: "two" });
  assert.deepEqual(await redis.zrange("js:z", 0, -1, { withScores: true }), ["one", 1, "two", 2.5]);
});
await check(c, "nested arrays: scan", async () => {
  const [cursor, keys] = await redis.scan(0, { match: "js:z", count: 1000 });
  assert.equal(String(cursor), "0");
  assert.deepEqual(keys, ["js:z"]);
});
await check(c, "hashes", async () => {
  await redis.hset("js:h", { f1: "v1", f2: 2 });
  assert.deepEqual(await redis.hgetall("js:h"), { f1: "v1", f2: 2 });
});
await check(c, "errors throw with Redis's text", async () => {
  await redis.set("js:str", "abc");
  await assert.rejects(redis.incr("js:str"), /not an integer/);
});
await check(c, "pipeline with keepErrors", async () => {
  const p = redis.pipeline();
  p.set("js:p", "1");
  p.incr("js:p");
  p.incr("js:str");
  p.get("js:p");
  const out = await p.exec({ keepErrors: true });
  assert.deepEqual(out[0], { result: "OK", error: undefined });
  assert.equal(out[1].result, 2);
  assert.match(out[2].error, /not an integer/);
  assert.equal(out[3].result, 2);
});
await check(c, "pipeline without keepErrors rejects", async () => {
  const p = redis.pipeline();
  p.get("js:p");
  p.incr("js:str");
  await assert.rejects(p.exec(), /not an integer/);
});
await check(c, "multi().exec() five at once, each atomic", async () => {
  await redis.del("js:m");
  const runs = await Promise.all(
    [0, 1, 2, 3, 4].map(() => {
      const tx = redis.multi();
      for (let i = 0; i < 10; i++) tx.incr("js:m");
      return tx.exec();
    }),
  );
  const firsts = [];
  for (const r of runs) {
    assert.equal(r.length, 10);
    for (let i = 1; i < 10; i++) assert.equal(r[i], r[0] + i);
    firsts.push(r[0]);
  }
  assert.deepEqual(firsts.sort((a, b) => a - b), [1, 11, 21, 31, 41]);
});
await check(c, "auto-pipelining under Promise.all", async () => {
  // The client batches reads and writes into separate /pipeline requests sent at once, so a
  // read in the batch is not ordered after a write in it: the reads here touch a key set before.
  const auto = new Redis({ url, token, enableAutoPipelining: true });
  await auto.del("js:ap");
  await auto.set("js:ap:before", "ready");
  const out = await Promise.all([
    auto.incr("js:ap"),
    auto.incr("js:ap"),
    auto.get("js:ap:before"),
    auto.set("js:ap2", "x"),
    auto.exists("js:ap:before"),
  ]);
  assert.deepEqual(out, [1, 2, "ready", "OK", 1]);
  assert.ok(auto.pipelineCounter >= 1, "auto-pipelining sent a pipeline");
});
await check(c, "EVAL and EVALSHA", async () => {
  assert.equal(await redis.eval("return ARGV[1]", [], ["hi"]), "hi");
  const sha = await redis.scriptLoad("return 7");
  assert.equal(await redis.evalsha(sha, [], []), 7);
  await assert.rejects(redis.evalsha("0".repeat(40), [], []), /NOSCRIPT/);
});
await check(c, "a bad token is refused", async () => {
  const bad = new Redis({ url, token: token + "x", retry: false });
  await assert.rejects(bad.get("js:s"), /Unauthorized/);
});
await check(c, "readYourWrites sends back the sync token", async () => {
  const ryw = new Redis({ url, token, readYourWrites: true });
  await ryw.set("js:ryw", "1");
  assert.equal(await ryw.get("js:ryw"), 1);
  assert.ok(ryw.readYourWritesSyncToken, "the client kept a sync token");
});
await check(c, "SSE subscribe and publish", async () => {
  const sub = redis.subscribe(["js:news"]);
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no message within 10 s")), 10000);
    sub.on("message", (m) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
  const subscribed = new Promise((resolve) => sub.on("subscribe", resolve));
  await Promise.race([subscribed, new Promise((r) => setTimeout(r, 5000))]);
  // Publish until the subscription is in place (the confirmation may race the first publish).
  let m;
  for (let i = 0; i < 50 && m === undefined; i++) {
    await redis.publish("js:news", { hello: "world" });
    m = await Promise.race([got, new Promise((r) => setTimeout(() => r(undefined), 200))]);
  }
  await sub.unsubscribe();
  assert.deepEqual(m, { channel: "js:news", message: { hello: "world" } });
});

const kv = createClient({ url, token });
const k = "@vercel/kv";
await check(k, "set/get with options", async () => {
  assert.equal(await kv.set("kv:a", { n: 1 }, { ex: 100 }), "OK");
  assert.deepEqual(await kv.get("kv:a"), { n: 1 });
  const ttl = await kv.ttl("kv:a");
  assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl}`);
});
await check(k, "hset/hgetall, mget", async () => {
  await kv.hset("kv:h", { x: "1", y: "two" });
  assert.deepEqual(await kv.hgetall("kv:h"), { x: 1, y: "two" });
  await kv.set("kv:b", "bee");
  assert.deepEqual(await kv.mget("kv:b", "kv:none"), ["bee", null]);
});
await check(k, "pipeline and multi", async () => {
  const p = kv.pipeline();
  p.set("kv:c", 1);
  p.incr("kv:c");
  assert.deepEqual(await p.exec(), ["OK", 2]);
  const tx = kv.multi();
  tx.incr("kv:c");
  tx.get("kv:c");
  assert.deepEqual(await tx.exec(), [3, 3]);
});

const r = "@upstash/ratelimit";
await check(r, "slidingWindow: EVALSHA, NOSCRIPT, then EVAL", async () => {
  await redis.scriptFlush();
  const limiter = new Ratelimit({
    redis,
    limiter: Ratelimit.slidingWindow(3, "10 s"),
    prefix: `rl:${Date.now()}`,
    analytics: false,
  });
  const outcomes = [];
  for (let i = 0; i < 5; i++) outcomes.push((await limiter.limit("user")).success);
  assert.deepEqual(outcomes, [true, true, true, false, false]);
});
await check(r, "fixedWindow and getRemaining", async () => {
  const limiter = new Ratelimit({
    redis,
    limiter: Ratelimit.fixedWindow(2, "30 s"),
    prefix: `rlf:${Date.now()}`,
  });
  assert.equal((await limiter.limit("u")).remaining, 1);
  assert.equal((await limiter.limit("u")).remaining, 0);
  assert.equal((await limiter.limit("u")).success, false);
});

for (const [client, { pass, fail }] of Object.entries(results)) {
  console.log(`RESULT ${client}: ${pass} passed, ${fail} failed`);
}
process.exit(failed ? 1 : 0);
