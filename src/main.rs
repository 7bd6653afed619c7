//! `redis-gateway`: builds the configuration from the command line and runs the server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use redis_gateway::config::{self, Command};
use redis_gateway::{log, server};

/// The glibc malloc settings the gateway runs with (see [`reexec_with_malloc_tuning`]): each is
/// set unless the environment already has that variable.
const MALLOC_TUNING: [(&str, &str); 2] = [
    ("MALLOC_MMAP_THRESHOLD_", "65536"),
    (
        "GLIBC_TUNABLES",
        "glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0:glibc.pthread.stack_cache_size=0",
    ),
];

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

/// Re-executes the gateway once with [`MALLOC_TUNING`] (each variable unless already set, so an
/// operator can choose another value).
///
/// Why `MALLOC_MMAP_THRESHOLD_=65536`: glibc's malloc raises its mmap threshold after a large buffer is freed, so later large
/// buffers (big values, the output queued for clients that read slowly) come from per-thread
/// arenas and stay resident after they are freed. Measured: after 100 clients pipelined 1 MiB
/// answers they never read, RSS stayed at 228 MiB; with the threshold fixed at 64 KiB every such
/// buffer is its own mapping, returned to the OS when freed, and RSS went back to 4 MiB. The
/// threshold can only be set before the process starts, hence the `exec` (same PID, same
/// arguments).
///
/// Why `glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0` (in `GLIBC_TUNABLES`): small blocks (under
/// 64 KiB: channel names, confirmations) come from one arena per thread, and glibc gives an
/// arena's memory back only from its top, when the free blocks there have merged. Blocks kept in
/// a thread's cache (tcache) or in the fast bins count as in use and never merge, so a few of
/// them pin everything below. Measured (`tests/bench/subscribe_rounds.py`, 30 WebSocket clients ×
/// 1,024 channels of 1,000 bytes, then gone): with the caches, RSS stayed at 66 MB (arenas of
/// 7 MB each holding 90 KB in use); without them it went back to 6 MB (baseline 4 MB). The cost,
/// measured with `wrk -c64` GETs of 8 KiB: about 5-10 % fewer requests per second.
///
/// Why `glibc.pthread.stack_cache_size=0`: glibc keeps up to 40 MiB of the stacks of ended
/// threads for reuse, each with its top pages resident. After 5,000 watcher threads (see
/// `server/watch.rs`) ended, RSS stayed 11.5 MiB above the baseline; without the cache, 4 MiB.
/// The cost: a thread's stack is mapped when it starts and unmapped when it ends.
///
/// If the `exec` fails, the gateway runs as is.
fn reexec_with_malloc_tuning() {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let missing: Vec<(&str, &str)> = MALLOC_TUNING
            .into_iter()
            .filter(|(name, _)| std::env::var_os(name).is_none())
            .collect();
        if missing.is_empty() {
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
            .envs(missing.iter().copied())
            .exec();
        log::warn(format_args!(
            "could not re-execute with the malloc settings ({error}); freed memory may stay resident"
        ));
    }
}
