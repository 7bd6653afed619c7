//! The gateway in front of a real Redis Cluster (`--cluster`): six `redis-server` nodes that the
//! tests form themselves (`redis-cli --cluster create`, three masters with a replica each,
//! `cluster-node-timeout` 1 s). One cluster serves every test, one test at a time (a test that
//! kills or moves things leaves the cluster whole again: every slot served, every node up).

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use support::cluster::{RedisCluster, FORM_TIMEOUT};
use support::{expect_status, request, try_request, Gateway, RespReply};

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
/// Deletes whatever keys another test left in `slot` (the tests share one cluster, and their
/// keys are random): a slot can be given to another node only when its owner holds no key of it.
fn empty_slot(cluster: &RedisCluster, slot: u16) {
    let owner = cluster.node(cluster.master_of(slot));
    let slot = slot.to_string();
    let keys = owner.cmd(&[b"CLUSTER", b"GETKEYSINSLOT", slot.as_bytes(), b"10000"]);
    let RespReply::Array(keys) = keys else {
        panic!("CLUSTER GETKEYSINSLOT {slot}: {keys:?}");
    };
    for key in keys {
        let key = key.bulk().expect("a key name");
        owner.cmd(&[b"DEL", key.as_slice()]);
    }
}

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
    empty_slot(&cluster, slot);
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
    empty_slot(&cluster, slot);
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
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
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
    let dead = support::closed_port();
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

// ----- load: writers and readers that check every answer -----

/// What the load saw.
#[derive(Debug, Default)]
struct Tally {
    /// Requests answered 2xx or 404.
    ok: usize,
    /// Other statuses (and transport failures as 0), with how many.
    failures: std::collections::BTreeMap<u16, usize>,
    /// Answers that were wrong: another key's value, or a value never written.
    wrong: Vec<String>,
    /// Per key: the last write answered 204, and the last write sent.
    keys: Vec<(String, Option<u64>, u64)>,
}

/// Threads that each own some keys, and write then read them in turn until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    threads: Vec<std::thread::JoinHandle<Tally>>,
}

impl Load {
    fn start(addr: SocketAddr, prefix: &str, threads: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let threads = (0..threads)
            .map(|t| {
                let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
                let keys: Vec<String> = (0..20).map(|k| format!("{prefix}-{t}-{k}")).collect();
                std::thread::spawn(move || load_thread(addr, &keys, &stop, &done))
            })
            .collect();
        Load {
            stop,
            done,
            threads,
        }
    }

    /// Waits until `n` more requests were answered (whatever the answer).
    fn wait_progress(&self, n: usize) {
        let from = self.done.load(Ordering::Relaxed);
        assert!(
            support::poll_until(Duration::from_secs(30), || self
                .done
                .load(Ordering::Relaxed)
                >= from + n),
            "the load made no progress"
        );
    }

    fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Tally::default();
        for thread in self.threads {
            let tally = thread.join().expect("a load thread panicked");
            all.ok += tally.ok;
            for (status, n) in tally.failures {
                *all.failures.entry(status).or_default() += n;
            }
            all.wrong.extend(tally.wrong);
            all.keys.extend(tally.keys);
        }
        all
    }
}

fn load_thread(addr: SocketAddr, keys: &[String], stop: &AtomicBool, done: &AtomicUsize) -> Tally {
    let mut tally = Tally {
        keys: keys.iter().map(|k| (k.clone(), None, 0)).collect(),
        ..Tally::default()
    };
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        for entry in tally.keys.iter_mut() {
            let (key, confirmed, attempted) = entry;
            let value = format!("{key}={round}");
            *attempted = round;
            match try_request(addr, "PUT", &format!("/{key}"), &[], value.as_bytes()) {
                Ok(r) if r.status == 204 => {
                    *confirmed = Some(round);
                    tally.ok += 1;
                }
                Ok(r) => *tally.failures.entry(r.status).or_default() += 1,
                Err(_) => *tally.failures.entry(0).or_default() += 1,
            }
            match try_request(addr, "GET", &format!("/{key}"), &[], b"") {
                Ok(r) if r.status == 200 => {
                    tally.ok += 1;
                    let text = r.text();
                    let written = text
                        .strip_prefix(&format!("{key}="))
                        .and_then(|n| n.parse::<u64>().ok());
                    if !written.is_some_and(|n| n <= *attempted) {
                        tally.wrong.push(format!("GET {key} gave {text:?}"));
                    }
                }
                Ok(r) if r.status == 404 => tally.ok += 1,
                Ok(r) => *tally.failures.entry(r.status).or_default() += 1,
                Err(_) => *tally.failures.entry(0).or_default() += 1,
            }
            done.fetch_add(2, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    }
    tally
}

/// What a change of the cluster under load may cost: nothing. No wrong answer, no failed
/// request, no acknowledged write missing afterwards.
#[track_caller]
fn expect_no_error(cluster: &RedisCluster, tally: &Tally, what: &str) {
    assert!(
        tally.wrong.is_empty(),
        "{what}: wrong answers: {:?}",
        tally.wrong
    );
    assert!(
        tally.failures.is_empty(),
        "{what} must cost no error: {:?}",
        tally.failures
    );
    assert_eq!(
        check_final_values(cluster, tally),
        0,
        "{what}: nothing acknowledged is lost"
    );
}

/// Checks each key's final value, read from the cluster directly: written by its own writer, and
/// not newer than the last write sent. Returns how many keys lost an acknowledged write (Redis
/// replicates asynchronously: a write a master acknowledged just before `kill -9` may not have
/// reached the replica that replaces it).
fn check_final_values(cluster: &RedisCluster, tally: &Tally) -> usize {
    let mut lost = 0;
    for (key, confirmed, attempted) in &tally.keys {
        let slot = cluster.keyslot(key.as_bytes());
        let value = cluster
            .node(cluster.master_of(slot))
            .cmd(&[b"GET", key.as_bytes()])
            .bulk();
        let Some(value) = value else {
            lost += usize::from(confirmed.is_some());
            continue;
        };
        let text = String::from_utf8_lossy(&value).into_owned();
        let n = text
            .strip_prefix(&format!("{key}="))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{key} holds {text:?}: not a value written to it"));
        assert!(
            n <= *attempted,
            "{key} holds {text:?}, never written (last sent: {attempted})"
        );
        if confirmed.is_some_and(|c| n < c) {
            lost += 1;
        }
    }
    lost
}

#[test]
fn a_master_killed_under_load_is_replaced_and_no_answer_is_wrong() {
    let mut cluster = cluster();
    let gateway = gateway(&cluster, &["--cluster-retry-deadline", "4s"]);
    let addr = gateway.addr();
    let slot = cluster.keyslot(b"probe-kill");
    let victim = cluster.master_of(slot);
    expect_status(&request(addr, "PUT", "/probe-kill", &[], b"alive"), 204);
    let load = Load::start(addr, "kill", 4);
    load.wait_progress(400);
    cluster.kill(victim);
    let killed = Instant::now();
    // The first GET of a key of the dead master's slots that is answered 200 again.
    let served = support::poll_until(
        Duration::from_secs(20),
        || matches!(try_request(addr, "GET", "/probe-kill", &[], b""), Ok(r) if r.status == 200 && r.body == b"alive"),
    );
    let took = killed.elapsed();
    assert!(
        served,
        "the killed master's slots are not served again; log:\n{}",
        gateway.log()
    );
    // The node the test asks may learn of the promotion a moment after the gateway did.
    let mut promoted = cluster.master_of(slot);
    support::poll_until(FORM_TIMEOUT, || {
        promoted = cluster.master_of(slot);
        promoted != victim
    });
    assert_ne!(promoted, victim, "the nodes still name the killed master");
    load.wait_progress(400);
    let tally = load.finish();
    println!(
        "kill -9 of master {victim}: its slots served again through the gateway after {:.2} s \
         (cluster-node-timeout {} ms; replica {promoted} promoted); load: {} ok, failures {:?}",
        took.as_secs_f64(),
        support::cluster::NODE_TIMEOUT.as_millis(),
        tally.ok,
        tally.failures
    );
    assert!(tally.wrong.is_empty(), "wrong answers: {:?}", tally.wrong);
    assert!(
        tally.failures.keys().all(|s| [502, 503, 504].contains(s)),
        "only 502/503/504 while the master is down: {:?}",
        tally.failures
    );
    let lost = check_final_values(&cluster, &tally);
    println!("kill -9: {lost} of {} keys lost a write acknowledged just before the kill (asynchronous replication)", tally.keys.len());
    assert!(
        took < Duration::from_secs(10),
        "served again only after {took:?}"
    );
    // A gateway that starts while a node is down (and named first among the seeds) serves too.
    let seeds = format!("127.0.0.1:{victim},{}", cluster.seeds());
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--cluster",
        &seeds,
    ];
    let late = Gateway::spawn(&args, &[]);
    late.wait_ready();
    let response = request(late.addr(), "GET", "/probe-kill", &[], b"");
    expect_status(&response, 200);
    assert_eq!(response.body, b"alive");
    drop(late);
    // Bring the node back: it rejoins as a replica of the promoted one.
    cluster.restart(victim);
    cluster.wait_ok(FORM_TIMEOUT);
}

#[test]
fn a_manual_failover_costs_no_error() {
    let cluster = cluster();
    let gateway = gateway(&cluster, &["--cluster-retry-deadline", "4s"]);
    let addr = gateway.addr();
    let slot = cluster.keyslot(b"probe-manual");
    let master = cluster.master_of(slot);
    let replica = cluster.replica_of(master);
    let load = Load::start(addr, "manual", 4);
    load.wait_progress(400);
    let reply = cluster.node(replica).cmd(&[b"CLUSTER", b"FAILOVER"]);
    assert_eq!(reply, RespReply::Simple("OK".into()));
    let switched = support::cluster::time_until(Duration::from_secs(15), || {
        cluster.master_of(slot) == replica
    });
    assert!(switched.is_some(), "the replica did not take over");
    load.wait_progress(400);
    let tally = load.finish();
    println!(
        "CLUSTER FAILOVER {master} → {replica} in {:.2} s; load: {} ok, failures {:?}",
        switched.unwrap_or_default().as_secs_f64(),
        tally.ok,
        tally.failures
    );
    expect_no_error(&cluster, &tally, "a manual failover");
    cluster.wait_ok(FORM_TIMEOUT);
}

#[test]
fn resharding_under_load_gives_no_wrong_answer_and_no_error() {
    let cluster = cluster();
    let gateway = gateway(&cluster, &["--cluster-retry-deadline", "4s"]);
    let addr = gateway.addr();
    let masters = cluster.masters();
    let (from, to) = (masters[0], masters[1]);
    let load = Load::start(addr, "reshard", 4);
    load.wait_progress(400);
    let started = Instant::now();
    let out = std::process::Command::new(support::cluster::redis_cli())
        .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
        .args([
            "--cluster-from",
            &cluster.id(from),
            "--cluster-to",
            &cluster.id(to),
        ])
        .args(["--cluster-slots", "400", "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster reshard");
    assert!(
        out.status.success(),
        "reshard failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let took = started.elapsed();
    load.wait_progress(400);
    let tally = load.finish();
    println!(
        "resharding 400 slots {from} → {to} under load took {:.2} s; load: {} ok, failures {:?}",
        took.as_secs_f64(),
        tally.ok,
        tally.failures
    );
    expect_no_error(&cluster, &tally, "resharding");
    cluster.wait_ok(FORM_TIMEOUT);
}

#[test]
fn subscriptions_survive_the_death_of_their_node() {
    let mut cluster = cluster();
    // The subscriptions start on the first seed: a master, killed below.
    let victim = cluster.masters()[0];
    let others: Vec<String> = cluster
        .nodes
        .iter()
        .filter(|n| n.port() != victim)
        .map(|n| format!("127.0.0.1:{}", n.port()))
        .collect();
    let seeds = format!("127.0.0.1:{victim},{}", others.join(","));
    let gateway = webdis_gateway(&seeds, &["--cluster-retry-deadline", "4s"]);
    let addr = gateway.addr();
    let mut stream = support::connect(addr);
    stream
        .write_all(format!("GET /SUBSCRIBE/news HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .expect("send the subscription");
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("set a read timeout");
    let mut seen = Vec::new();
    let mut read_until = |seen: &mut Vec<u8>,
                          what: &str,
                          within: Duration,
                          mut poke: Box<dyn FnMut() + '_>|
     -> bool {
        support::poll_until(within, || {
            poke();
            let mut buf = [0u8; 4096];
            if let Ok(n) = stream.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(seen).contains(what)
        })
    };
    assert!(
        read_until(
            &mut seen,
            r#"["subscribe","news",1]"#,
            Duration::from_secs(10),
            Box::new(|| {})
        ),
        "no confirmation: {}",
        String::from_utf8_lossy(&seen)
    );
    cluster.kill(victim);
    let killed = Instant::now();
    assert!(
        read_until(
            &mut seen,
            r#""lost","news""#,
            Duration::from_secs(10),
            Box::new(|| {})
        ),
        "no lost event: {}",
        String::from_utf8_lossy(&seen)
    );
    let mut n = 0;
    let delivered = read_until(
        &mut seen,
        r#""message","news","after-"#,
        Duration::from_secs(20),
        Box::new(|| {
            n += 1;
            let _ = try_request(addr, "GET", &format!("/PUBLISH/news/after-{n}"), &[], b"");
        }),
    );
    let text = String::from_utf8_lossy(&seen).into_owned();
    let elections: Vec<String> = cluster
        .running()
        .flat_map(|n| {
            let port = n.port();
            n.log()
                .lines()
                .filter(|l| l.contains("ailover") || l.contains("lection") || l.contains("FAIL"))
                .map(|l| format!("{port}: {l}"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        delivered,
        "no message after node {victim} died (masters now {:?}): {text}\n{}\n{}",
        cluster.masters(),
        gateway.log(),
        elections.join("\n")
    );
    println!(
        "pub/sub: subscriptions on the killed node {victim} delivered again after {:.2} s",
        killed.elapsed().as_secs_f64()
    );
    assert_eq!(
        text.matches(r#"["subscribe","news",1]"#).count(),
        2,
        "confirmed again: {text}"
    );
    drop(stream);
    cluster.restart(victim);
    cluster.wait_ok(FORM_TIMEOUT);
}

#[test]
fn the_upstash_api_pipelines_across_masters_and_keeps_transactions_in_one_slot() {
    let cluster = cluster();
    let seeds = cluster.seeds();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--api",
        "upstash",
        "--token",
        "t0k3n",
        "--cluster",
        &seeds,
    ];
    let gateway = Gateway::spawn(&args, &[]);
    gateway.wait_ready();
    let addr = gateway.addr();
    let post = |path: &str, body: &str| {
        let headers = [
            ("Authorization", "Bearer t0k3n"),
            ("Content-Type", "application/json"),
        ];
        request(addr, "POST", path, &headers, body.as_bytes())
    };
    // foo and bar live on different masters: a pipeline is independent commands, each routed.
    let pipeline = post(
        "/pipeline",
        r#"[["SET","foo","1"],["SET","bar","2"],["MGET","{u}x","{u}y"],["GET","foo"],["GET","bar"]]"#,
    );
    expect_status(&pipeline, 200);
    assert_eq!(
        pipeline.text(),
        r#"[{"result":"OK"},{"result":"OK"},{"result":[null,null]},{"result":"1"},{"result":"2"}]"#
    );
    let one_slot = post(
        "/multi-exec",
        r#"[["SET","{u}x","1"],["INCR","{u}x"],["GET","{u}x"]]"#,
    );
    expect_status(&one_slot, 200);
    assert_eq!(
        one_slot.text(),
        r#"[{"result":"OK"},{"result":2},{"result":"2"}]"#
    );
    let two_slots = post("/multi-exec", r#"[["SET","foo","3"],["SET","bar","4"]]"#);
    expect_status(&two_slots, 409);
    assert!(
        two_slots.text().contains("hash tag"),
        "{}",
        two_slots.text()
    );
    assert_eq!(
        cluster.cli_get("foo").as_deref(),
        Some("1"),
        "nothing of the refused transaction ran"
    );
    for key in ["foo", "bar", "{u}x"] {
        let slot = cluster.keyslot(key.as_bytes());
        cluster
            .node(cluster.master_of(slot))
            .cmd(&[b"DEL", key.as_bytes()]);
    }
}
