//! The command line and the environment → a [`Command`].
//!
//! Where a setting may come from, the later winning:
//!
//! 1. the defaults ([`Config::default`]), and the Redis password from `REDIS_PASSWORD`;
//! 2. a `webdis.json` named by `--webdis-config` or `REDIS_GATEWAY_WEBDIS_CONFIG`;
//! 3. the environment: `REDIS_GATEWAY_<NAME>` for each option, in the table's order;
//! 4. the flags, `--name value` or `--name=value`, in the order given;
//! 5. the positional `PORT REDIS_HOST REDIS_PORT` of the seed.
//!
//! Two rules cut across that order: `--db` (or `REDIS_GATEWAY_DB`) wins over a database in a
//! `redis://` URL wherever each is given, and a Redis user needs a password.
//!
//! Which options exist, and how each value is read, is the option table's business
//! (`options.rs`); this file only knows where values come from. It reads the environment through
//! the function it is given, never `std::env` itself, so that tests can give it any environment.

use std::io::Read;
use std::net::SocketAddr;

use super::options::{env_var, find, Opt, OPTIONS};
use super::values::whole;
use super::{webdis_json, ArgError, Command, Config};

/// Parses the process arguments (without the program name) over the environment: every option
/// may also be given as `REDIS_GATEWAY_<NAME>` (`--pool-size` → `REDIS_GATEWAY_POOL_SIZE`), and the
/// Redis password as `REDIS_PASSWORD`. Flags win over the environment, which wins over defaults.
///
/// # Errors
///
/// An [`ArgError`] naming the first bad argument or variable.
pub fn parse_args<I>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Command, ArgError>
where
    I: IntoIterator<Item = String>,
{
    let args: Vec<String> = args.into_iter().collect();
    let mut cfg = Config::default();
    cfg.redis.password = env("REDIS_PASSWORD").filter(|p| !p.is_empty());
    // A webdis.json comes first, so that the environment and flags can override what it says.
    if let Some(path) = webdis_config_path(&args, env) {
        let text =
            read_bounded(&path, crate::json::MAX_BYTES).map_err(|e| ArgError::WebdisConfig {
                path: path.clone(),
                error: e.to_string(),
            })?;
        webdis_json::apply(&text, &mut cfg, env).map_err(|error| ArgError::WebdisConfig {
            path: path.clone(),
            error,
        })?;
        cfg.webdis_config = Some(path);
    }
    // The last database number given by `--db` or `REDIS_GATEWAY_DB`, set again at the end.
    let mut db = None;
    for opt in OPTIONS {
        let var = env_var(opt.flag);
        if let Some(value) = env(&var) {
            set(&mut cfg, &mut db, opt, &value).map_err(|error| ArgError::BadEnv {
                var,
                error: Box::new(error),
            })?;
        }
    }
    let mut positional = Vec::new();
    let mut print_config = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--print-config" => {
                print_config = true;
                continue;
            }
            _ => {}
        }
        if !arg.starts_with("--") || arg == "--" {
            if arg.starts_with('-') && arg != "-" && arg != "--" {
                return Err(ArgError::UnknownFlag(arg));
            }
            positional.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        let opt = find(&name).ok_or(ArgError::UnknownFlag(name))?;
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or(ArgError::MissingValue(opt.flag))?,
        };
        set(&mut cfg, &mut db, opt, &value)?;
    }
    if positional.len() > 3 {
        return Err(ArgError::TooManyPositional(positional.swap_remove(3)));
    }
    if let Some(port) = positional.first() {
        let port = whole(port, 0, 65535).map_err(|expected| bad_value("PORT", port, expected))?;
        cfg.listen = SocketAddr::from(([127, 0, 0, 1], port));
    }
    if let Some(host) = positional.get(1) {
        cfg.redis.host = host.clone();
    }
    if let Some(port) = positional.get(2) {
        cfg.redis.port =
            whole(port, 1, 65535).map_err(|expected| bad_value("REDIS_PORT", port, expected))?;
    }
    if let Some(db) = db {
        // `--db` wins over a database in a `redis://` URL, whatever their order.
        cfg.redis.db = db;
    }
    if cfg.redis.user.is_some() && cfg.redis.password.is_none() {
        return Err(ArgError::BadValue {
            flag: "--redis-user",
            value: cfg.redis.user.clone().unwrap_or_default(),
            expected: "a password too (--redis-password or REDIS_PASSWORD)",
        });
    }
    if !cfg.cluster.seeds.is_empty() && cfg.redis.db != 0 {
        return Err(ArgError::BadValue {
            flag: "--db",
            value: cfg.redis.db.to_string(),
            expected: "0 with --cluster (a Redis Cluster has only database 0)",
        });
    }
    if !cfg.cluster.seeds.is_empty() && !cfg.sentinel.addrs.is_empty() {
        return Err(ArgError::BadValue {
            flag: "--sentinel",
            value: super::values::sentinel_addrs_text(&cfg.sentinel.addrs),
            expected: "no --cluster as well (a cluster fails over by itself: give only --cluster)",
        });
    }
    if !cfg.sentinel.addrs.is_empty() && cfg.sentinel.master.is_none() {
        return Err(ArgError::BadValue {
            flag: "--sentinel",
            value: super::values::sentinel_addrs_text(&cfg.sentinel.addrs),
            expected: "the master's name too (--sentinel-master NAME)",
        });
    }
    if cfg.sentinel.user.is_some() && cfg.sentinel.password.is_none() {
        return Err(ArgError::BadValue {
            flag: "--sentinel-user",
            value: cfg.sentinel.user.clone().unwrap_or_default(),
            expected: "a password too (--sentinel-password or REDIS_GATEWAY_SENTINEL_PASSWORD)",
        });
    }
    if cfg.sentinel.addrs.is_empty() && cfg.sentinel.master.is_some() {
        return Err(ArgError::BadValue {
            flag: "--sentinel-master",
            value: cfg.sentinel.master.clone().unwrap_or_default(),
            expected: "the sentinels too (--sentinel HOST:PORT,...)",
        });
    }
    if cfg.api == super::Api::Upstash && cfg.tokens.full.is_none() {
        return Err(ArgError::BadValue {
            flag: "--api",
            value: "upstash".to_string(),
            expected: "a token too (--token, --token-file or REDIS_GATEWAY_TOKEN)",
        });
    }
    if print_config {
        return Ok(Command::PrintConfig(Box::new(cfg)));
    }
    Ok(Command::Run(Box::new(cfg)))
}

/// Sets one option from a flag or the environment, and remembers a `--db`.
fn set(cfg: &mut Config, db: &mut Option<u32>, opt: &Opt, value: &str) -> Result<(), ArgError> {
    (opt.set)(cfg, value).map_err(|expected| bad_value(opt.flag, value, expected))?;
    if opt.flag == "--db" {
        *db = Some(cfg.redis.db);
    }
    Ok(())
}

fn bad_value(flag: &'static str, value: &str, expected: &'static str) -> ArgError {
    ArgError::BadValue {
        flag,
        value: value.to_string(),
        expected,
    }
}

/// Reads a file of at most `max` bytes (a larger one is an error, found without reading it all).
fn read_bounded(path: &str, max: usize) -> std::io::Result<Vec<u8>> {
    let mut text = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut text)?;
    if text.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(text)
}

/// The `--webdis-config` file named on the command line (last one wins) or in the environment.
fn webdis_config_path(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut path = env(&env_var("--webdis-config")).filter(|p| !p.is_empty());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--webdis-config" {
            path = args.next().cloned();
        } else if let Some(value) = arg.strip_prefix("--webdis-config=") {
            path = Some(value.to_string());
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_QUEUE_SIZE;
    use crate::log::Level;
    use std::time::Duration;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn run(args: &[&str]) -> Result<Config, ArgError> {
        match parse_args(args.iter().map(|s| s.to_string()), &no_env)? {
            Command::Run(cfg) => Ok(*cfg),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn no_arguments_give_the_documented_defaults() {
        let cfg = run(&[]).unwrap();
        assert_eq!(cfg, Config::default());
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
        assert_eq!((cfg.workers, cfg.pool_size), (9, 40));
    }

    #[test]
    fn positional_form_is_the_seed_contract() {
        let cfg = run(&["8081", "10.1.2.3", "6380"]).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(
            (cfg.redis.host.as_str(), cfg.redis.port),
            ("10.1.2.3", 6380)
        );
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let cfg = run(&["--workers", "3", "--pool-size=5", "--idle-timeout=500ms"]).unwrap();
        assert_eq!((cfg.workers, cfg.pool_size), (3, 5));
        assert_eq!(cfg.idle_timeout, Duration::from_millis(500));
    }

    #[test]
    fn redis_url_sets_user_password_host_port_db() {
        let cfg = run(&["--redis", "redis://bob:pw@example.org:6390/3"]).unwrap();
        let r = &cfg.redis;
        assert_eq!(r.host, "example.org");
        assert_eq!(r.port, 6390);
        assert_eq!(r.user.as_deref(), Some("bob"));
        assert_eq!(r.password.as_deref(), Some("pw"));
        assert_eq!(r.db, 3);
        let cfg = run(&["--redis", "redis://:secret@h"]).unwrap();
        assert_eq!(
            (cfg.redis.user, cfg.redis.password),
            (None, Some("secret".into()))
        );
        let cfg = run(&["--redis", "[::1]:7000"]).unwrap();
        assert_eq!((cfg.redis.host.as_str(), cfg.redis.port), ("::1", 7000));
    }

    #[test]
    fn db_flag_wins_over_url_db() {
        let cfg = run(&["--db", "5", "--redis", "redis://h/3"]).unwrap();
        assert_eq!(cfg.redis.db, 5);
    }

    #[test]
    fn env_password_is_used_and_flag_overrides_it() {
        let env = |name: &str| (name == "REDIS_PASSWORD").then(|| "envpw".to_string());
        let cmd = parse_args(Vec::new(), &env).unwrap();
        let Command::Run(cfg) = cmd else { panic!() };
        assert_eq!(cfg.redis.password.as_deref(), Some("envpw"));
        let args = vec!["--redis-password".to_string(), "flagpw".to_string()];
        let Command::Run(cfg) = parse_args(args, &env).unwrap() else {
            panic!()
        };
        assert_eq!(cfg.redis.password.as_deref(), Some("flagpw"));
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--nope"], "--nope"),
            (&["-x"], "-x"),
            (&["--workers"], "--workers"),
            (&["--workers", "abc"], "--workers"),
            (&["--workers", "0"], "--workers"),
            (&["--pool-size=-1"], "--pool-size"),
            (&["--listen", "8080"], "--listen"),
            (&["--redis", "redis://h:0"], "--redis"),
            (&["--redis", "h:99999"], "--redis"),
            (&["--header-timeout", "0"], "--header-timeout"),
            (&["70000"], "PORT"),
            (&["1", "h", "2", "extra"], "extra"),
            (&["--redis-user", "bob"], "--redis-user"),
            (&["--sentinel", "h:26379"], "--sentinel-master"),
            (&["--sentinel-master", "m"], "--sentinel HOST"),
            (
                &[
                    "--sentinel",
                    "h",
                    "--sentinel-master",
                    "m",
                    "--sentinel-user",
                    "u",
                ],
                "--sentinel-user",
            ),
        ];
        for (args, named) in cases {
            let err = run(args).expect_err(&format!("{args:?} should fail"));
            assert!(err.to_string().contains(named), "{args:?}: {err}");
        }
    }

    #[test]
    fn sentinels_and_their_master_name_come_together() {
        let cfg = run(&["--sentinel", "a:1,b", "--sentinel-master", "m"]).unwrap();
        assert_eq!(
            cfg.sentinel.addrs,
            [("a".to_string(), 1), ("b".to_string(), 26379)]
        );
        assert_eq!(cfg.sentinel.master.as_deref(), Some("m"));
        assert_eq!(
            cfg.redis_text(),
            "master 'm' via sentinels a:1,b:26379 db 0"
        );
        assert_eq!(run(&[]).unwrap().redis_text(), "127.0.0.1:6379 db 0");
    }

    #[test]
    fn help_and_version_short_circuit() {
        let help = parse_args(["--workers".into(), "3".into(), "--help".into()], &no_env);
        assert_eq!(help, Ok(Command::Help));
        assert_eq!(
            parse_args(["--version".into()], &no_env),
            Ok(Command::Version)
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let cfg = run(&["--redis-password", "hunter2"]).unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn flags_win_over_environment_which_wins_over_defaults() {
        let env = |name: &str| match name {
            "REDIS_GATEWAY_WORKERS" => Some("4".to_string()),
            "REDIS_GATEWAY_POOL_SIZE" => Some("7".to_string()),
            "REDIS_GATEWAY_IDLE_TIMEOUT" => Some("3s".to_string()),
            _ => None,
        };
        let args = ["--workers".to_string(), "2".to_string()];
        let Command::Run(cfg) = parse_args(args, &env).unwrap() else {
            panic!()
        };
        assert_eq!(cfg.workers, 2, "flag beats environment");
        assert_eq!(cfg.pool_size, 7, "environment beats default");
        assert_eq!(cfg.idle_timeout, Duration::from_secs(3));
        assert_eq!(cfg.queue_size, DEFAULT_QUEUE_SIZE, "default when neither");
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let env = |name: &str| (name == "REDIS_GATEWAY_WORKERS").then(|| "many".to_string());
        let err = parse_args(Vec::new(), &env).unwrap_err();
        assert!(err.to_string().contains("REDIS_GATEWAY_WORKERS"), "{err}");
    }

    #[test]
    fn operability_options_parse() {
        let cfg = run(&[
            "--log-level=debug",
            "--access-log",
            "/var/log/gw.log",
            "--admin",
            "127.0.0.1:9090",
            "--drain-timeout",
            "3s",
        ])
        .unwrap();
        assert_eq!(cfg.log_level, Level::Debug);
        assert_eq!(cfg.access_log.as_deref(), Some("/var/log/gw.log"));
        assert_eq!(
            cfg.admin.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9090")
        );
        assert_eq!(cfg.drain_timeout, Duration::from_secs(3));
        assert!(run(&["--log-level", "loud"]).is_err());
    }

    #[test]
    fn print_config_masks_the_password_and_round_trips_through_the_environment() {
        let args = [
            "--print-config",
            "--redis-password",
            "hunter2",
            "--workers",
            "3",
        ];
        let cmd = parse_args(args.iter().map(|s| s.to_string()), &no_env).unwrap();
        let Command::PrintConfig(cfg) = cmd else {
            panic!("{cmd:?}")
        };
        let text = cfg.describe();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("REDIS_GATEWAY_REDIS_PASSWORD=***\n"),
            "{text}"
        );
        assert!(text.contains("REDIS_GATEWAY_WORKERS=3\n"), "{text}");
        // Every line but the password, fed back as the environment, gives the same config.
        let vars: Vec<(String, String)> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains("PASSWORD"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let Command::Run(again) = parse_args(Vec::new(), &env).unwrap() else {
            panic!()
        };
        let mut expected = (*cfg).clone();
        expected.redis.password = None;
        assert_eq!(*again, expected);
    }
}
