//! Pools of other databases (`/7/GET/key` on the webdis API) are made only for databases Redis
//! has, at most `--max-db-pools` at once: no request can make the process grow threads without a
//! bound, and a spray of bad database numbers logs a bounded number of lines.

mod support;

use std::net::SocketAddr;
use support::*;

fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"")
}

/// `/16/PING` … `/400/PING` against a Redis with 16 databases: every one is 400 (the database
/// does not exist), no pool or thread is made for any, and the log does not grow per request.
#[test]
fn a_spray_of_missing_databases_makes_no_threads() {
    let (_redis, gateway) = Gateway::with_redis(&["--api", "webdis", "--max-db", "5000"]);
    let addr = gateway.addr();
    expect_status(&get(addr, "/1/PING"), 200);
    let baseline = gateway.threads_but_watchers();
    let log_lines = gateway.log().lines().count();
    for db in 16..=400 {
        let response = get(addr, &format!("/{db}/PING"));
        assert_eq!(response.status, 400, "/{db}/PING: {response:?}");
    }
    expect_status(&get(addr, "/2/PING"), 200);
    let threads = gateway.threads_but_watchers();
    assert!(
        threads <= baseline + 16,
        "threads grew from {baseline} to {threads} under the spray"
    );
    let grown = gateway.log().lines().count() - log_lines;
    assert!(
        grown <= 3,
        "the spray logged {grown} lines:\n{}",
        gateway.log()
    );
}

/// Where `CONFIG` is renamed away, the first database Redis refuses sets the bound: the pools of
/// the refused databases are closed (their threads end) and higher ones are never made.
#[test]
fn without_config_the_first_refusal_sets_the_bound() {
    let redis = RedisServer::start_with(&["--rename-command", "CONFIG", "\"\""]);
    let gateway = Gateway::start(&redis, &["--api", "webdis", "--max-db", "5000"]);
    let addr = gateway.addr();
    expect_status(&get(addr, "/1/PING"), 200);
    let baseline = gateway.threads_but_watchers();
    let log_lines = gateway.log().lines().count();
    for db in 16..=200 {
        let response = get(addr, &format!("/{db}/PING"));
        assert_eq!(response.status, 400, "/{db}/PING: {response:?}");
    }
    let mut threads = gateway.threads_but_watchers();
    let settled = poll_until(std::time::Duration::from_secs(10), || {
        threads = gateway.threads_but_watchers();
        threads <= baseline + 1
    });
    assert!(settled, "threads grew from {baseline} to {threads}");
    assert!(
        gateway.log().contains("redis refused database 16"),
        "the bound was not learnt from the refusal:\n{}",
        gateway.log()
    );
    let grown = gateway.log().lines().count() - log_lines;
    assert!(
        grown <= 3,
        "the spray logged {grown} lines:\n{}",
        gateway.log()
    );
}

/// With `--max-db-pools 2`, requests to ten databases in turn all succeed (the least recently
/// used idle pool is closed to make room) and at most two pools' threads exist at once.
#[test]
fn at_most_max_db_pools_pools_are_open() {
    let (_redis, gateway) =
        Gateway::with_redis(&["--api", "webdis", "--max-db-pools", "2", "--pool-size", "4"]);
    let addr = gateway.addr();
    let baseline = gateway.threads_but_watchers();
    let mut most = baseline;
    for round in 0..2 {
        for db in 1..=10 {
            let response = get(addr, &format!("/{db}/SET/k/{round}"));
            assert_eq!(response.status, 200, "/{db}/SET: {response:?}");
            let back = get(addr, &format!("/{db}/GET/k"));
            assert_eq!(back.status, 200, "/{db}/GET: {back:?}");
            assert!(back.text().contains(&round.to_string()), "{}", back.text());
            most = most.max(gateway.threads_but_watchers());
        }
    }
    assert!(
        most <= baseline + 2 + 1,
        "threads grew from {baseline} to {most} with --max-db-pools 2"
    );
}
