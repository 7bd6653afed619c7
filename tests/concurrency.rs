//! Many clients at once, and the fixed shape of the process: the main thread (the poll loop), 9
//! workers, 1 Redis maintainer and 1 acceptor thread per listener (`accept`, and `admin-accept`:
//! the support API gives every gateway an admin listener); 40 pooled Redis connections named
//! `redis-gateway`; both sizes follow `--workers` and `--pool-size`.

mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use support::rng::Rng;
use support::*;

/// Waits until the gateway has `count` threads whose names include every one of `names`, then checks
/// the count is exact. Linux keeps 15 bytes of a thread name (`TASK_COMM_LEN` 16 with the NUL), so
/// `redis-maintainer` reads back as `redis-maintaine`. `watcher` threads (one per idle connection,
/// tested in `tests/watchers.rs`) are not counted.
fn expect_threads(gateway: &Gateway, count: usize, names: &[String]) {
    let names: Vec<String> = names.iter().map(|n| n.chars().take(15).collect()).collect();
    let fixed = || -> Vec<String> {
        thread_names(gateway.pid())
            .into_iter()
            .filter(|name| name != "watcher")
            .collect()
    };
    let mut seen = Vec::new();
    let settled = poll_until(START_TIMEOUT, || {
        seen = fixed();
        seen.len() >= count && names.iter().all(|n| seen.contains(n))
    });
    assert!(
        settled,
        "threads {seen:?}: want {count} including {names:?}"
    );
    let seen = fixed();
    assert_eq!(seen.len(), count, "thread count: {seen:?}");
}

#[test]
fn three_hundred_keep_alive_clients_are_all_served() {
    const CLIENTS: usize = 300;
    const REQUESTS: usize = 10;
    let (redis, gateway) = Gateway::with_redis(&[]);
    let (_, seed) = Rng::from_env(0x5EED_0300);
    let addr = gateway.addr();
    // All clients connect first, then all send at once.
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let barrier = Arc::clone(&barrier);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || -> Result<(), String> {
                    let mut rng = Rng::new(seed.wrapping_add(c as u64));
                    // Connected before the barrier, so that all send at once.
                    let mut client = KeepAlive::new(addr);
                    let opened = client.open().map(|_| ());
                    barrier.wait();
                    opened.map_err(|e| format!("client {c}: {e}"))?;
                    for r in 0..REQUESTS {
                        let path = format!("/c{c}-{r}");
                        let len = 1 + rng.below(2_000);
                        let value = rng.bytes(len);
                        let put = client
                            .request("PUT", &path, &[], &value)
                            .map_err(|e| format!("client {c}: {e}"))?;
                        if put.status != 204 {
                            return Err(format!("client {c} PUT {path}:\n{put:?}"));
                        }
                        let got = client
                            .request("GET", &path, &[], b"")
                            .map_err(|e| format!("client {c}: {e}"))?;
                        if got.status != 200 || got.body != value {
                            return Err(format!("client {c} GET {path} (seed {seed}):\n{got:?}"));
                        }
                    }
                    Ok(())
                })
                .expect("spawn client thread")
        })
        .collect();
    let mut failures = Vec::new();
    for client in clients {
        if let Err(e) = client.join().expect("client thread panicked") {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CLIENTS} clients failed; first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(
        redis.cmd(&[b"DBSIZE"]).integer(),
        (CLIENTS * REQUESTS) as i64,
        "every PUT must have landed"
    );
}

#[test]
fn default_process_has_nine_workers_a_maintainer_the_acceptors_and_the_main_thread() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    let mut names: Vec<String> = (1..=9).map(|i| format!("worker-{i}")).collect();
    names.extend(["redis-maintainer", "accept", "admin-accept"].map(String::from));
    expect_threads(&gateway, 13, &names);
    let main = std::fs::read_to_string(format!("/proc/{}/comm", gateway.pid())).expect("comm");
    assert!(
        thread_names(gateway.pid()).contains(&main.trim_end().to_string()),
        "the main thread keeps the process name {main:?}"
    );
}

#[test]
fn default_pool_holds_forty_named_redis_connections() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    gateway.expect_pool(&redis, 40);
}

#[test]
fn workers_and_pool_size_follow_the_options() {
    let (redis, gateway) = Gateway::with_redis(&["--workers", "3", "--pool-size=5"]);
    let names = [
        "worker-1",
        "worker-2",
        "worker-3",
        "redis-maintainer",
        "accept",
        "admin-accept",
    ]
    .map(String::from);
    expect_threads(&gateway, 7, &names);
    assert!(
        !thread_names(gateway.pid()).contains(&"worker-4".to_string()),
        "a 4th worker with --workers 3"
    );
    gateway.expect_pool(&redis, 5);
    // Still serves many clients with so few workers and connections.
    let clients: Vec<_> = (0..20)
        .map(|c| {
            let addr = gateway.addr();
            thread::spawn(move || {
                let mut stream = connect(addr);
                for r in 0..5 {
                    let path = format!("/few-{c}-{r}");
                    let put = request_on(&mut stream, "PUT", &path, &[], path.as_bytes());
                    expect_status(&put, 204);
                    let get = request_on(&mut stream, "GET", &path, &[], b"");
                    expect_status(&get, 200);
                    assert_eq!(get.body, path.as_bytes());
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
}
