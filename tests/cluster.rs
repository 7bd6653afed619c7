//! The gateway in front of a real Redis Cluster (`--cluster`): six `redis-server` nodes that the
//! tests form themselves (`redis-cli --cluster create`, three masters with a replica each,
//! `cluster-node-timeout` 1 s). One cluster serves every test, one test at a time (a test that
//! kills or moves things leaves the cluster whole again: every slot served, every node up).

mod support;

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use support::cluster::{RedisCluster, FORM_TIMEOUT};
use support::{expect_status, request, Gateway, RespReply};

/// The one cluster, and the lock that makes the tests take turns with it.
fn cluster() -> MutexGuard<'static, RedisCluster> {
    static CLUSTER: OnceLock<Mutex<RedisCluster>> = OnceLock::new();
    let guard = CLUSTER
        .get_or_init(|| Mutex::new(RedisCluster::start()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // A test that failed may have left a node down: bring everything back first.
    guard.wait_ok(FORM_TIMEOUT);
    guard
}

/// A key/value gateway in front of the cluster, with `args`.
fn gateway(cluster: &RedisCluster, args: &[&str]) -> Gateway {
    let seeds = cluster.seeds();
    let mut all = vec![
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--cluster",
        &seeds,
    ];
    all.extend_from_slice(args);
    let gateway = Gateway::spawn(&all, &[]);
    gateway.wait_ready();
    gateway
}

#[test]
fn many_keys_land_on_the_master_of_their_slot() {
    let cluster = cluster();
    let gateway = gateway(&cluster, &["--pool-size", "12"]);
    let addr = gateway.addr();
    for i in 0..300 {
        let path = format!("/route-{i}");
        let body = format!("value-{i}");
        expect_status(&request(addr, "PUT", &path, &[], body.as_bytes()), 204);
    }
    for i in 0..300 {
        let key = format!("route-{i}");
        let want = format!("value-{i}");
        let master = cluster.master_of(cluster.keyslot(key.as_bytes()));
        let direct = cluster.node(master).cmd(&[b"GET", key.as_bytes()]);
        assert_eq!(
            direct.bulk(),
            Some(want.clone().into_bytes()),
            "{key} on its master {master}"
        );
        let response = request(addr, "GET", &format!("/{key}"), &[], b"");
        expect_status(&response, 200);
        assert_eq!(response.body, want.as_bytes(), "{key} through the gateway");
        if i % 50 == 0 {
            assert_eq!(
                cluster.cli_get(&key).as_deref(),
                Some(want.as_str()),
                "redis-cli -c GET {key}"
            );
        }
    }
    // The 12 connections of --pool-size are a budget split between the three masters.
    for master in cluster.masters() {
        let seen = cluster
            .node(master)
            .wait_gateway_pool(4, Duration::from_secs(5));
        assert!(
            seen.is_ok(),
            "master {master} has {seen:?} gateway connections, not 4"
        );
    }
}

/// A webdis-API gateway in front of the cluster, the seeds in `seeds`' order.
fn webdis_gateway(seeds: &str, args: &[&str]) -> Gateway {
    let mut all = vec![
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--api",
        "webdis",
        "--cluster",
        seeds,
    ];
    all.extend_from_slice(args);
    let gateway = Gateway::spawn(&all, &[]);
    gateway.wait_ready();
    gateway
}

/// `CLUSTER SETSLOT slot NODE id` on every master (the new owner first); replicas learn it from
/// their masters.
fn assign_slot(cluster: &RedisCluster, slot: u16, owner: u16) {
    let id = cluster.id(owner);
    let slot = slot.to_string();
    let mut ports: Vec<u16> = cluster.masters();
    ports.sort_by_key(|p| *p != owner);
    for port in ports {
        let reply = cluster.node(port).cmd(&[
            b"CLUSTER",
            b"SETSLOT",
            slot.as_bytes(),
            b"NODE",
            id.as_bytes(),
        ]);
        assert_eq!(reply, RespReply::Simple("OK".into()), "SETSLOT on {port}");
    }
}

/// A master other than `port`.
fn other_master(cluster: &RedisCluster, port: u16) -> u16 {
    *cluster
        .masters()
        .iter()
        .find(|p| **p != port)
        .expect("three masters")
}

#[test]
fn a_slot_moved_with_setslot_is_followed_through_moved() {
    let cluster = cluster();
    let gateway = gateway(&cluster, &[]);
    let addr = gateway.addr();
    let key = "moved-key";
    let slot = cluster.keyslot(key.as_bytes());
    let from = cluster.master_of(slot);
    let to = other_master(&cluster, from);
    // The gateway learns the map while `from` serves the slot.
    expect_status(&request(addr, "GET", "/moved-key", &[], b""), 404);
    assign_slot(&cluster, slot, to);
    // Its map still says `from`, which answers MOVED: the write must land on `to`.
    expect_status(&request(addr, "PUT", "/moved-key", &[], b"after-move"), 204);
    let direct = cluster.node(to).cmd(&[b"GET", key.as_bytes()]);
    assert_eq!(
        direct.bulk(),
        Some(b"after-move".to_vec()),
        "the key is on the new owner"
    );
    let response = request(addr, "GET", "/moved-key", &[], b"");
    expect_status(&response, 200);
    assert_eq!(response.body, b"after-move");
    // Leave the cluster as it was.
    cluster.node(to).cmd(&[b"DEL", key.as_bytes()]);
    assign_slot(&cluster, slot, from);
    cluster.wait_ok(FORM_TIMEOUT);
}

#[test]
fn a_slot_being_migrated_is_served_through_ask() {
    let cluster = cluster();
    let gateway = gateway(&cluster, &[]);
    let addr = gateway.addr();
    let slot = cluster.keyslot(b"ask");
    let from = cluster.master_of(slot);
    let to = other_master(&cluster, from);
    expect_status(&request(addr, "PUT", "/%7Bask%7Dmoved", &[], b"first"), 204);
    let slot_text = slot.to_string();
    let (from_id, to_id) = (cluster.id(from), cluster.id(to));
    let importing = cluster.node(to).cmd(&[
        b"CLUSTER",
        b"SETSLOT",
        slot_text.as_bytes(),
        b"IMPORTING",
        from_id.as_bytes(),
    ]);
    assert_eq!(importing, RespReply::Simple("OK".into()));
    let migrating = cluster.node(from).cmd(&[
        b"CLUSTER",
        b"SETSLOT",
        slot_text.as_bytes(),
        b"MIGRATING",
        to_id.as_bytes(),
    ]);
    assert_eq!(migrating, RespReply::Simple("OK".into()));
    let to_port = to.to_string();
    let migrate = cluster.node(from).cmd(&[
        b"MIGRATE",
        b"127.0.0.1",
        to_port.as_bytes(),
        b"{ask}moved",
        b"0",
        b"5000",
    ]);
    assert_eq!(migrate, RespReply::Simple("OK".into()));
    // The migrated key: `from` answers ASK, the gateway asks `to` with ASKING.
    let response = request(addr, "GET", "/%7Bask%7Dmoved", &[], b"");
    expect_status(&response, 200);
    assert_eq!(response.body, b"first");
    // A new key of the slot: `from` has no such key, answers ASK, the write lands on `to`.
    expect_status(&request(addr, "PUT", "/%7Bask%7Dnew", &[], b"second"), 204);
    let on_target = cluster
        .node(to)
        .cmds(&[&[b"ASKING"], &[b"GET", b"{ask}new"]]);
    assert_eq!(
        on_target[1].bulk(),
        Some(b"second".to_vec()),
        "written on the importing node"
    );
    let on_source = cluster.node(from).cmd(&[b"EXISTS", b"{ask}new"]);
    // The migrating node answers ASK for a key it does not have.
    assert!(
        matches!(&on_source, RespReply::Integer(0))
            || matches!(&on_source, RespReply::Error(e) if e.starts_with("ASK")),
        "not on the migrating node: {on_source:?}"
    );
    // Finish the migration, then give the slot back so that the cluster is as it was.
    assign_slot(&cluster, slot, to);
    let response = request(addr, "GET", "/%7Bask%7Dnew", &[], b"");
    expect_status(&response, 200);
    assert_eq!(response.body, b"second");
    cluster.node(to).cmd(&[b"DEL", b"{ask}moved", b"{ask}new"]);
    assign_slot(&cluster, slot, from);
    cluster.wait_ok(FORM_TIMEOUT);
}

#[test]
fn keys_in_several_slots_get_409_unless_split_is_on() {
    let cluster = cluster();
    let gateway = gateway(&cluster, &[]);
    let addr = gateway.addr();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let response = request(addr, "POST", "/", &form, b"xs-a=1&xs-b=2");
    expect_status(&response, 409);
    let text = response.text();
    assert!(
        text.contains("hash slot") && text.contains("{user1}"),
        "{text}"
    );
    assert_eq!(cluster.cli_get("xs-a"), None, "nothing was written");
    let response = request(addr, "POST", "/", &form, b"%7Bxs%7Da=1&%7Bxs%7Db=2");
    expect_status(&response, 200);
    assert_eq!(cluster.cli_get("{xs}b").as_deref(), Some("2"));
    drop(gateway);

    let split = gateway_with_split(&cluster);
    let response = request(split.addr(), "POST", "/", &form, b"xs-a=1&xs-b=2&xs-c=3");
    expect_status(&response, 200);
    for (key, value) in [("xs-a", "1"), ("xs-b", "2"), ("xs-c", "3")] {
        assert_eq!(cluster.cli_get(key).as_deref(), Some(value), "{key}");
    }
    drop(split);

    // The webdis API: fan-out by Redis's tips, refusals with the reason.
    let webdis = webdis_gateway(&cluster.seeds(), &[]);
    let waddr = webdis.addr();
    let mset = request(waddr, "GET", "/MSET/xs-a/1/xs-b/2", &[], b"");
    expect_status(&mset, 409);
    let msetnx = request(waddr, "GET", "/MSETNX/xs-d/1/xs-e/2", &[], b"");
    expect_status(&msetnx, 409);
    let scan = request(waddr, "GET", "/SCAN/0", &[], b"");
    expect_status(&scan, 400);
    let dbsize = request(waddr, "GET", "/DBSIZE", &[], b"");
    expect_status(&dbsize, 200);
    let total: i64 = cluster
        .masters()
        .iter()
        .map(|m| cluster.node(*m).cmd(&[b"DBSIZE"]).integer())
        .sum();
    assert_eq!(
        dbsize.text(),
        format!("{{\"DBSIZE\":{total}}}"),
        "the sum over the masters"
    );
    let db = request(waddr, "GET", "/3/GET/xs-a", &[], b"");
    expect_status(&db, 400);
    assert!(db.text().contains("database 0"), "{}", db.text());
    let eval = request(
        waddr,
        "GET",
        "/EVAL/return%20redis.call('GET'%2CKEYS%5B1%5D)/1/xs-a",
        &[],
        b"",
    );
    expect_status(&eval, 200);
    assert_eq!(eval.text(), "{\"EVAL\":\"1\"}");
    let eval = request(waddr, "GET", "/EVAL/return%201/2/xs-a/xs-b", &[], b"");
    expect_status(&eval, 409);
    drop(webdis);

    // --db other than 0: refused at start, with the reason.
    let run = support::run(
        &["--cluster", &cluster.seeds(), "--db", "3"],
        &[],
        Duration::from_secs(10),
    );
    assert_ne!(run.code(), Some(0));
    assert!(run.stderr.contains("database 0"), "{}", run.stderr);
    for key in ["xs-a", "xs-b", "xs-c", "{xs}a", "{xs}b"] {
        let slot = cluster.keyslot(key.as_bytes());
        cluster
            .node(cluster.master_of(slot))
            .cmd(&[b"DEL", key.as_bytes()]);
    }
}

fn gateway_with_split(cluster: &RedisCluster) -> Gateway {
    gateway(cluster, &["--cluster-split-multi-key", "on"])
}

#[test]
fn a_seed_that_is_down_at_start_is_skipped() {
    let cluster = cluster();
    let dead = support::free_port();
    let seeds = format!("127.0.0.1:{dead},{}", cluster.seeds());
    let all = [
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--cluster",
        &seeds,
    ];
    let gateway = Gateway::spawn(&all, &[]);
    gateway.wait_ready();
    expect_status(&request(gateway.addr(), "PUT", "/seed-key", &[], b"v"), 204);
    let response = request(gateway.addr(), "GET", "/seed-key", &[], b"");
    expect_status(&response, 200);
    assert_eq!(response.body, b"v");
}
