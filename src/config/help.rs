//! What the option table prints: the usage text of `--help` and the lines of `--print-config`.
//!
//! The usage text is free text ([`HEADER`], [`FOOTER`]: what the gateway is, examples, the API)
//! around the option columns, which are written from [`OPTIONS`]: a section heading, then one row
//! per option, `--flag ARG`, its help, and its default in brackets, each in its column:
//!
//! ```text
//!     --pool-size N               pooled Redis connections               [40]
//!     ^ INDENT                    ^ HELP_COLUMN                          ^ DEFAULT_COLUMN
//! ```
//!
//! A help line that reaches the default's column pushes the default one space further; after a
//! help line that is already [`LINE_WIDTH`] wide, the default goes on a line of its own.

use super::options::{env_var, Section, Shown, OPTIONS};
use super::Config;

/// Where each option line starts.
const INDENT: &str = "    ";
/// The column (counted from 0) where an option's help starts.
const HELP_COLUMN: usize = 32;
/// The column where an option's default starts, unless its help is longer.
const DEFAULT_COLUMN: usize = 71;
/// A help line this wide or wider leaves no room for its default.
const LINE_WIDTH: usize = 80;

/// The usage text above the options.
const HEADER: &str = "\
redis-gateway: an HTTP/1.1 gateway to Redis

USAGE:
    redis-gateway [OPTIONS] [PORT [REDIS_HOST [REDIS_PORT]]]

    With no arguments it listens on 127.0.0.1:8080 and uses Redis at 127.0.0.1:6379.
    The positional form listens on 127.0.0.1:PORT. To accept connections from other
    machines, say so: --listen 0.0.0.0:8080.

EXAMPLES:
    redis-gateway                                  # 127.0.0.1:8080 -> redis 127.0.0.1:6379
    redis-gateway 8080 127.0.0.1 6379              # the same, positional form
    redis-gateway --listen 0.0.0.0:8080 --redis redis://:secret@10.0.0.5:6379/2
    curl -X PUT --data-binary @photo.jpg http://127.0.0.1:8080/photo
    curl http://127.0.0.1:8080/photo

";

/// The usage text below the options: the flags that take no value, then the APIs.
const FOOTER: &str = "
    --print-config              print the effective configuration and exit
    --help                      print this text
    --version                   print the version

    Every option can also be set in the environment as REDIS_GATEWAY_<NAME>, e.g.
    REDIS_GATEWAY_POOL_SIZE=20; flags win over the environment.

API:
    GET /KEY       200 value bytes | 404        HEAD /KEY   the same, no body
    PUT /KEY       body = value; ?ex=SECONDS or ?px=MILLISECONDS; 204
    DELETE /KEY    204 | 404
    POST /         form k1=v1&k2=v2 (application/x-www-form-urlencoded), one MSET; 200 OK

  With --api webdis:
    GET /COMMAND/arg0/.../argN[.json|.msg|.raw|.txt|.html|.xml|.png|.jpg]
    GET /7/GET/key                      the same on database 7
    POST / with body COMMAND/arg0/...   PUT /COMMAND/arg0 with the last argument as body
    curl http://127.0.0.1:7379/SET/hello/world      -> {\"SET\":[true,\"OK\"]}
";

/// The text `--help` prints.
pub fn usage() -> String {
    let defaults = Config::default();
    let mut out = String::from(HEADER);
    for (i, section) in Section::ALL.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(section.heading());
        out.push('\n');
        for opt in OPTIONS.iter().filter(|opt| opt.section == section) {
            let default = match opt.default {
                Shown::Value => (opt.show)(&defaults),
                Shown::Stated(text) => text.to_string(),
            };
            let flag = format!("{} {}", opt.flag, opt.arg);
            write_option(&mut out, &flag, opt.help, &default);
        }
    }
    out.push_str(FOOTER);
    out
}

/// Writes one option: `flag`, the lines of `help` in the help column, `[default]` unless empty.
fn write_option(out: &mut String, flag: &str, help: &str, default: &str) {
    let mut lines: Vec<String> = help
        .lines()
        .enumerate()
        .map(|(i, line)| {
            // The space after the flag keeps a long flag apart from its help.
            let left = match i {
                0 => format!("{INDENT}{flag} "),
                _ => String::new(),
            };
            format!("{left:<HELP_COLUMN$}{line}")
        })
        .collect();
    if !default.is_empty() {
        let last = lines.pop().unwrap_or_default();
        if last.chars().count() < LINE_WIDTH {
            lines.push(format!(
                "{last:<width$} [{default}]",
                width = DEFAULT_COLUMN - 1
            ));
        } else {
            lines.push(last);
            lines.push(format!("{:DEFAULT_COLUMN$}[{default}]", ""));
        }
    }
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
}

impl Config {
    /// The configuration as `REDIS_GATEWAY_<NAME>=value` lines, one per option, the password
    /// masked: what `--print-config` prints, usable as a systemd `EnvironmentFile=`.
    pub fn describe(&self) -> String {
        let mut out = String::from("# effective configuration: flags > environment > defaults\n");
        for opt in OPTIONS {
            out.push_str(&format!("{}={}\n", env_var(opt.flag), (opt.show)(self)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lists_every_option_once_at_the_start_of_a_line() {
        let text = usage();
        for opt in OPTIONS {
            let start = format!("{INDENT}{} {} ", opt.flag, opt.arg);
            let rows = text.lines().filter(|l| l.starts_with(&start)).count();
            assert_eq!(rows, 1, "{}:\n{text}", opt.flag);
        }
        for flag in ["--print-config", "--help", "--version"] {
            assert!(text.contains(&format!("\n{INDENT}{flag} ")), "{flag}");
        }
    }

    #[test]
    fn option_rows_are_in_columns_with_their_defaults() {
        let text = usage();
        for line in [
            "    --listen ADDR:PORT          HTTP listen address                    [127.0.0.1:8080]",
            "    --pool-size N               pooled Redis connections               [40]",
            "    --idle-timeout T            keep-alive connection idle; closed     [60s]",
            "    --write-timeout T           client reads none of its response; closed [10s]",
            "    --access-log stderr|PATH    one line per request (Common Log Format + µs) [off]",
            "    --redis-user NAME           ACL user for AUTH (needs a password)",
            "                                variable, which does not show in the process list",
            "                                does not read; beyond: disconnected    [1048576]",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in:\n{text}");
        }
        // A help line too long for its default: the default goes on the next line.
        let redis = "    --redis HOST:PORT|URL       Redis address, or redis://[[user]:password@]host[:port][/db]";
        let default = format!("{}[127.0.0.1:6379]", " ".repeat(DEFAULT_COLUMN));
        assert!(text.contains(&format!("\n{redis}\n{default}\n")), "{text}");
    }

    #[test]
    fn sections_follow_each_other_in_order() {
        let text = usage();
        let mut at = 0;
        for section in Section::ALL {
            let found = text[at..].find(section.heading());
            assert!(found.is_some(), "{section:?} missing or out of order");
            at += found.unwrap_or_default();
        }
        assert!(text.starts_with("redis-gateway: an HTTP/1.1 gateway to Redis\n"));
        assert!(text.ends_with("-> {\"SET\":[true,\"OK\"]}\n"));
    }

    #[test]
    fn describe_prints_every_option_as_an_environment_line() {
        let text = Config::default().describe();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), OPTIONS.len());
        for (line, opt) in lines.iter().zip(OPTIONS) {
            assert!(
                line.starts_with(&format!("{}=", env_var(opt.flag))),
                "{line}"
            );
        }
        assert!(lines.contains(&"REDIS_GATEWAY_POOL_SIZE=40"), "{text}");
        assert!(lines.contains(&"REDIS_GATEWAY_ADMIN="), "{text}");
    }
}
