//! No lost and no half-done writes while Redis is killed (-9) and restarted under load.
//!
//! Redis runs with `--appendonly yes --appendfsync always` in its own directory, so every write it
//! acknowledged survives `kill -9` (Redis writes the AOF before it sends the reply). That makes the check
//! sound: every form answered 200 and every PUT answered 204 must be there afterwards, exactly; and a
//! form that was not confirmed (5xx: it may or may not have run) must be all or nothing, because it
//! went out as one `MSET`.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use support::*;

/// Pairs per form.
const PAIRS: usize = 20;
const FORM_CLIENTS: usize = 4;
const PUT_CLIENTS: usize = 2;
/// Kill and restart cycles during the load.
const KILLS: usize = 2;

fn form_key(id: &str, j: usize) -> String {
    format!("lw:{id}:{j}")
}

fn form_value(id: &str, j: usize) -> String {
    format!("form {id} pair {j}")
}

fn form_body(id: &str) -> String {
    (0..PAIRS)
        .map(|j| {
            format!(
                "{}={}",
                percent_encode(form_key(id, j).as_bytes()),
                percent_encode(form_value(id, j).as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn put_value(id: &str) -> Vec<u8> {
    let mut value = format!("put {id} ").into_bytes();
    value.extend((0..=255u8).cycle().take(300));
    value
}

/// What the clients sent and what the gateway confirmed.
#[derive(Default)]
struct Ledger {
    forms_sent: Vec<String>,
    forms_ok: HashSet<String>,
    puts_sent: Vec<String>,
    puts_ok: HashSet<String>,
    problems: Vec<String>,
}

/// One request; `None` when no answer came (the connection broke), which is not a confirmation.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Response> {
    try_request(addr, method, path, headers, body).ok()
}

#[test]
fn writes_confirmed_across_kill_9_are_all_present_and_forms_are_all_or_nothing() {
    let mut redis = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let mut gateway = Gateway::start(&redis, &["--pool-size", "10"]);
    gateway.wait_ready();
    let addr = gateway.addr();
    let baseline = gateway.usage();

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let confirmed = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..FORM_CLIENTS + PUT_CLIENTS {
        let (stop, ledger, confirmed, failed) = (
            Arc::clone(&stop),
            Arc::clone(&ledger),
            Arc::clone(&confirmed),
            Arc::clone(&failed),
        );
        clients.push(thread::spawn(move || {
            let form_type = [("Content-Type", "application/x-www-form-urlencoded")];
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let id = format!("c{c}n{n}");
                let (response, want) = if c < FORM_CLIENTS {
                    ledger.lock().unwrap().forms_sent.push(id.clone());
                    let body = form_body(&id);
                    (send(addr, "POST", "/", &form_type, body.as_bytes()), 200)
                } else {
                    ledger.lock().unwrap().puts_sent.push(id.clone());
                    (
                        send(addr, "PUT", &format!("/lwp:{id}"), &[], &put_value(&id)),
                        204,
                    )
                };
                let mut ledger = ledger.lock().unwrap();
                match response {
                    Some(r) if r.status == want && (want == 204 || r.body == b"OK") => {
                        confirmed.fetch_add(1, Ordering::Relaxed);
                        if c < FORM_CLIENTS {
                            ledger.forms_ok.insert(id);
                        } else {
                            ledger.puts_ok.insert(id);
                        }
                    }
                    Some(r) if (500..=599).contains(&r.status) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(r) => ledger
                        .problems
                        .push(format!("{id}: unexpected answer:\n{r:?}")),
                }
            }
        }));
    }
    let more = |counter: &AtomicUsize, n: usize, what: &str| {
        let from = counter.load(Ordering::Relaxed);
        assert!(
            poll_until(Duration::from_secs(15), || counter.load(Ordering::Relaxed)
                >= from + n),
            "no {n} more {what} within 15 s"
        );
    };
    more(&confirmed, 60, "confirmed writes before the first kill");
    for _ in 0..KILLS {
        redis.kill();
        more(&failed, 30, "failed writes while Redis was dead");
        redis.restart();
        more(&confirmed, 60, "confirmed writes after a restart");
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }

    let ledger = ledger.lock().unwrap();
    assert!(
        ledger.problems.is_empty(),
        "{} unexpected answers, first ones:\n{}",
        ledger.problems.len(),
        ledger.problems[..ledger.problems.len().min(5)].join("\n")
    );
    // Read everything back straight from Redis, one MGET per form.
    let mut form_commands: Vec<Vec<Vec<u8>>> = Vec::new();
    for id in &ledger.forms_sent {
        let mut args = vec![b"MGET".to_vec()];
        args.extend((0..PAIRS).map(|j| form_key(id, j).into_bytes()));
        form_commands.push(args);
    }
    let form_replies = run_all(&redis, &form_commands);
    let mut lost = Vec::new();
    let mut half = Vec::new();
    let mut present_unconfirmed = 0;
    for (id, reply) in ledger.forms_sent.iter().zip(&form_replies) {
        let RespReply::Array(values) = reply else {
            panic!("MGET for form {id}: {reply:?}");
        };
        let present: Vec<usize> = (0..PAIRS)
            .filter(|&j| values[j] == RespReply::Bulk(form_value(id, j).into_bytes()))
            .collect();
        let absent = values.iter().filter(|v| **v == RespReply::Nil).count();
        if present.len() == PAIRS {
            if !ledger.forms_ok.contains(id) {
                present_unconfirmed += 1;
            }
        } else if absent == PAIRS {
            if ledger.forms_ok.contains(id) {
                lost.push(id.clone());
            }
        } else {
            half.push(format!(
                "{id}: exact pairs {present:?}, {absent} absent, values {values:?}"
            ));
        }
    }
    let put_commands: Vec<Vec<Vec<u8>>> = ledger
        .puts_sent
        .iter()
        .map(|id| vec![b"GET".to_vec(), format!("lwp:{id}").into_bytes()])
        .collect();
    let put_replies = run_all(&redis, &put_commands);
    let mut lost_puts = Vec::new();
    let mut wrong_puts = Vec::new();
    for (id, reply) in ledger.puts_sent.iter().zip(&put_replies) {
        match reply {
            RespReply::Bulk(v) if *v == put_value(id) => {}
            RespReply::Nil if !ledger.puts_ok.contains(id) => {}
            RespReply::Nil => lost_puts.push(id.clone()),
            other => wrong_puts.push(format!("{id}: {other:?}")),
        }
    }
    eprintln!(
        "lost writes: {} forms sent, {} confirmed, {present_unconfirmed} present though unconfirmed; \
         {} PUTs sent, {} confirmed",
        ledger.forms_sent.len(),
        ledger.forms_ok.len(),
        ledger.puts_sent.len(),
        ledger.puts_ok.len()
    );
    assert!(half.is_empty(), "half-written forms:\n{}", half.join("\n"));
    assert!(lost.is_empty(), "forms answered 200 but absent: {lost:?}");
    assert!(
        lost_puts.is_empty(),
        "PUTs answered 204 but absent: {lost_puts:?}"
    );
    assert!(
        wrong_puts.is_empty(),
        "PUTs holding a wrong value: {wrong_puts:?}"
    );
    assert!(
        ledger.forms_ok.len() >= 100 && ledger.puts_ok.len() >= 20,
        "too little confirmed to mean anything"
    );
    gateway.expect_survived(baseline, 8, 8 * 1024);
}

/// Runs every command on one connection, in order, and returns the replies.
fn run_all(redis: &RedisServer, commands: &[Vec<Vec<u8>>]) -> Vec<RespReply> {
    let mut replies = Vec::with_capacity(commands.len());
    for chunk in commands.chunks(500) {
        let args: Vec<Vec<&[u8]>> = chunk
            .iter()
            .map(|c| c.iter().map(Vec::as_slice).collect())
            .collect();
        let refs: Vec<&[&[u8]]> = args.iter().map(Vec::as_slice).collect();
        replies.extend(redis.cmds(&refs));
    }
    replies
}
