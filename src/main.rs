//! `redis-gateway`: builds the configuration from the command line and runs the server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use redis_gateway::config::{self, Command};
use redis_gateway::{log, server};

/// The glibc malloc setting the gateway runs with (see [`reexec_with_malloc_tuning`]).
const MALLOC_MMAP_THRESHOLD: (&str, &str) = ("MALLOC_MMAP_THRESHOLD_", "65536");

fn main() -> ExitCode {
    let args = std::env::args().skip(1);
    let env = |name: &str| std::env::var(name).ok();
    let cfg = match config::parse_args(args, &env) {
        Ok(Command::Run(cfg)) => *cfg,
        Ok(Command::PrintConfig(cfg)) => {
            print!("{}", cfg.describe());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Help) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("redis-gateway {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("redis-gateway: {e} (see redis-gateway --help)");
            return ExitCode::from(2);
        }
    };
    reexec_with_malloc_tuning();
    log::set_level(cfg.log_level);
    let listen = cfg.listen;
    match server::run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error(format_args!("cannot serve on {listen}: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Re-executes the gateway once with `MALLOC_MMAP_THRESHOLD_=65536` unless that variable is
/// already set (so an operator can choose another value).
///
/// Why: glibc's malloc raises its mmap threshold after a large buffer is freed, so later large
/// buffers (big values, the output queued for clients that read slowly) come from per-thread
/// arenas and stay resident after they are freed. Measured: after 100 clients pipelined 1 MiB
/// answers they never read, RSS stayed at 228 MiB; with the threshold fixed at 64 KiB every such
/// buffer is its own mapping, returned to the OS when freed, and RSS went back to 4 MiB. The
/// threshold can only be set before the process starts, hence the `exec` (same PID, same
/// arguments). Values under 64 KiB are unaffected. If the `exec` fails, the gateway runs as is.
fn reexec_with_malloc_tuning() {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let (name, value) = MALLOC_MMAP_THRESHOLD;
        if std::env::var_os(name).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
        // `exec` returns only when it fails.
        let error = std::process::Command::new(&exe)
            .arg0(arg0)
            .args(args)
            .env(name, value)
            .exec();
        log::warn(format_args!(
            "could not re-execute with {name}={value} ({error}); large buffers may stay resident after use"
        ));
    }
}
