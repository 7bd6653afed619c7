//! The gateway in front of a real Redis Cluster (`--cluster`): six `redis-server` nodes that the
//! tests form themselves (`redis-cli --cluster create`, three masters with a replica each,
//! `cluster-node-timeout` 1 s). One cluster serves every test, one test at a time (a test that
//! kills or moves things leaves the cluster whole again: every slot served, every node up).

mod support;

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use support::cluster::{RedisCluster, FORM_TIMEOUT};
use support::{expect_status, request, Gateway};

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
