//! The command line: `--help`, `--version`, usage errors (exit code 2, one line naming the flag), the
//! positional form, database selection and Redis authentication.

mod support;

use support::*;

#[test]
fn help_prints_usage_and_exits_0() {
    let out = run(&["--help"], &[], EXIT_TIMEOUT);
    assert_eq!(out.code(), Some(0), "--help: {out:?}");
    assert!(
        out.stdout.contains("--listen"),
        "--help must document --listen: {out:?}"
    );
    for flag in [
        "--redis",
        "--workers",
        "--pool-size",
        "--max-body-bytes",
        "--idle-timeout",
    ] {
        assert!(
            out.stdout.contains(flag),
            "--help does not mention {flag}: {out:?}"
        );
    }
}

#[test]
fn version_prints_name_and_version() {
    let out = run(&["--version"], &[], EXIT_TIMEOUT);
    assert_eq!(out.code(), Some(0), "--version: {out:?}");
    assert_eq!(
        out.stdout.trim(),
        "redis-gateway 0.1.0",
        "--version: {out:?}"
    );
}

#[track_caller]
fn expect_usage_error(args: &[&str], flag: &str) {
    let out = run(args, &[], EXIT_TIMEOUT);
    assert_eq!(out.code(), Some(2), "{args:?} must exit with 2: {out:?}");
    // "One line naming the flag ... plus a pointer to --help": the line that names the flag comes first;
    // the pointer may share it or follow on a second line (GNU style).
    let lines: Vec<&str> = out.stderr.trim().lines().collect();
    assert!(
        (1..=2).contains(&lines.len()),
        "{args:?}: want one line (plus at most a --help pointer line) on stderr: {out:?}"
    );
    assert!(
        lines[0].contains(flag),
        "{args:?}: the first line must name {flag}: {out:?}"
    );
    assert!(
        out.stderr.contains("--help"),
        "{args:?}: stderr must point to --help: {out:?}"
    );
    assert!(
        !out.stdout.contains("listening on"),
        "{args:?} started serving: {out:?}"
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    expect_usage_error(&["--bogus"], "--bogus");
    expect_usage_error(&["--listen", "127.0.0.1:0", "--bogus=1"], "--bogus");
}

#[test]
fn bad_values_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--workers", "abc"], "--workers"),
        (&["--workers", "0"], "--workers"),
        (&["--workers=-1"], "--workers"),
        (&["--pool-size", "0"], "--pool-size"),
        (&["--listen", "nowhere"], "--listen"),
        (&["--max-body-bytes", "lots"], "--max-body-bytes"),
        (&["--idle-timeout", "soon"], "--idle-timeout"),
        (&["--db", "x"], "--db"),
        (&["--workers"], "--workers"),
        (&["--max-memory", "64mb"], "--max-memory"),
        (&["--max-stream-buffer", "2GiB"], "--max-stream-buffer"),
        // The topologies: one at a time, each whole.
        (
            &[
                "--cluster",
                "127.0.0.1:7000",
                "--sentinel",
                "127.0.0.1:26379",
            ],
            "--sentinel",
        ),
        (&["--sentinel", "127.0.0.1:26379"], "--sentinel"),
        (&["--sentinel-master", "m"], "--sentinel-master"),
        (&["--cluster", "127.0.0.1:7000", "--db", "3"], "--db"),
    ];
    for (args, flag) in cases {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        expect_usage_error(&all, flag);
    }
}

#[test]
fn positional_port_and_redis_address() {
    let redis = RedisServer::start();
    // The chosen port may be taken by another test in the meantime: try a few.
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port();
        let (port_text, redis_port) = (port.to_string(), redis.port().to_string());
        let args = [port_text.as_str(), "127.0.0.1", redis_port.as_str()];
        let out = std::panic::catch_unwind(|| Gateway::spawn(&args, &[]));
        match out {
            Ok(gateway) => {
                assert_eq!(gateway.addr().port(), port, "log:\n{}", gateway.log());
                gateway.wait_ready();
                expect_status(
                    &request(gateway.addr(), "PUT", "/pos", &[], b"itional"),
                    204,
                );
                assert_eq!(
                    redis.cmd(&[b"GET", b"pos"]).bulk(),
                    Some(b"itional".to_vec())
                );
                return;
            }
            Err(_) => last = format!("gateway with {args:?} did not start"),
        }
    }
    panic!("{last}");
}

#[test]
fn redis_url_selects_the_database() {
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}/3", redis.port());
    let gateway = Gateway::spawn(&["--listen", "127.0.0.1:0", "--redis", &url], &[]);
    gateway.wait_ready();
    expect_status(&request(gateway.addr(), "PUT", "/in-three", &[], b"3"), 204);
    let replies = redis.cmds(&[&[b"SELECT", b"3"], &[b"GET", b"in-three"]]);
    assert_eq!(replies[1].bulk(), Some(b"3".to_vec()), "key not in db 3");
    assert_eq!(
        redis.cmd(&[b"EXISTS", b"in-three"]).integer(),
        0,
        "key leaked into db 0"
    );
    // Every pooled connection uses db 3, not just the first.
    for i in 0..50 {
        let get = request(gateway.addr(), "GET", "/in-three", &[], b"");
        assert_eq!(get.status, 200, "GET #{i}:\n{get:?}");
    }
}

#[test]
fn db_flag_selects_the_database() {
    let (redis, gateway) = Gateway::with_redis(&["--db=5"]);
    expect_status(&request(gateway.addr(), "PUT", "/in-five", &[], b"5"), 204);
    let replies = redis.cmds(&[&[b"SELECT", b"5"], &[b"EXISTS", b"in-five"]]);
    assert_eq!(replies[1].integer(), 1, "key not in db 5");
    assert_eq!(
        redis.cmd(&[b"EXISTS", b"in-five"]).integer(),
        0,
        "key leaked into db 0"
    );
}

#[test]
fn password_from_flag_env_and_url() {
    let redis = RedisServer::start_with(&["--requirepass", "secret"]);
    let url = format!("redis://:secret@127.0.0.1:{}", redis.port());
    let redis_addr = format!("127.0.0.1:{}", redis.port());
    let ways: [(&[&str], &[Env]); 3] = [
        (&["--redis", &redis_addr, "--redis-password", "secret"], &[]),
        (&["--redis", &redis_addr], &[("REDIS_PASSWORD", "secret")]),
        (&["--redis", &url], &[]),
    ];
    for (i, (args, env)) in ways.iter().enumerate() {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let gateway = Gateway::spawn(&all, env);
        gateway.wait_ready();
        let key = format!("auth-{i}");
        expect_status(
            &request(gateway.addr(), "PUT", &format!("/{key}"), &[], b"ok"),
            204,
        );
        assert_eq!(
            redis.cmd(&[b"GET", key.as_bytes()]).bulk(),
            Some(b"ok".to_vec()),
            "way {i}: {args:?}"
        );
    }
}

#[test]
fn acl_user_from_flag_and_url() {
    let redis = RedisServer::start_with(&["--user", "alice", "on", ">pw", "~*", "&*", "+@all"]);
    let redis_addr = format!("127.0.0.1:{}", redis.port());
    let url = format!("redis://alice:pw@127.0.0.1:{}", redis.port());
    let ways: [&[&str]; 2] = [
        &[
            "--redis",
            &redis_addr,
            "--redis-user",
            "alice",
            "--redis-password",
            "pw",
        ],
        &["--redis", &url],
    ];
    for args in ways {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let gateway = Gateway::spawn(&all, &[]);
        gateway.wait_ready();
        expect_status(&request(gateway.addr(), "PUT", "/acl", &[], b"x"), 204);
        let mut list = String::new();
        let as_alice = poll_until(START_TIMEOUT, || {
            list = redis.cmd(&[b"CLIENT", b"LIST"]).text();
            let pooled: Vec<&str> = list
                .lines()
                .filter(|l| l.contains("name=redis-gateway "))
                .collect();
            pooled.len() == 40 && pooled.iter().all(|l| l.contains(" user=alice "))
        });
        assert!(
            as_alice,
            "{args:?}: pooled connections are not all user=alice:\n{list}"
        );
    }
    let gateway = Gateway::start(
        &redis,
        &["--redis-user", "alice", "--redis-password", "nope"],
    );
    let response = request(gateway.addr(), "GET", "/acl", &[], b"");
    expect_status(&response, 503);
}

#[test]
fn wrong_or_missing_password_gives_503() {
    let redis = RedisServer::start_with(&["--requirepass", "secret"]);
    for extra in [&["--redis-password", "wrong"][..], &[][..]] {
        let gateway = Gateway::start(&redis, extra);
        for path in ["/k", "/k2"] {
            let response = request(gateway.addr(), "GET", path, &[], b"");
            assert_eq!(response.status, 503, "{extra:?} GET {path}:\n{response:?}");
            assert!(
                response.header("retry-after").is_some(),
                "no Retry-After:\n{response:?}"
            );
        }
        assert_eq!(
            redis.clients_named("redis-gateway"),
            0,
            "{extra:?}: unauthenticated connections pooled"
        );
    }
}
