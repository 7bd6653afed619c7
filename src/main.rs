//! `redis-gateway`: builds the configuration from the command line and runs the server.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use redis_gateway::config::{self, Command};
use redis_gateway::{log, server};

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
            print!("{}", config::USAGE);
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
