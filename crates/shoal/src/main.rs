//! The `shoal` command. Thin: parses arguments and hands over to the library's commands.
//! Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "shoal",
    version,
    about = "A load balancer, API gateway and autoscaler in one binary."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the load balancer from a config file.
    Run {
        /// The TOML config file.
        #[arg(short, long, default_value = "shoal.toml")]
        config: PathBuf,
    },
    /// Validate a config file: a summary when it is good, every problem when not (exit 2).
    Check {
        #[arg(short, long, default_value = "shoal.toml")]
        config: PathBuf,
    },
    /// Start three demo backends and shoal in front of them, no config needed.
    Demo {
        /// Where shoal listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// A small HTTP backend that answers with what it received (for demos and tests).
    Echo {
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: SocketAddr,
        /// The name it reports in its answers and `x-backend` header.
        #[arg(long, default_value = "echo")]
        name: String,
    },
    /// Drive a running shoal through its admin API: status, drain, enable, disable, weight,
    /// reload, events. Exit codes: 0 ok, 1 API error, 2 usage, 3 unreachable, 4 token refused.
    Ctl(shoal::ctl::CtlArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    shoal::logging::init();
    let code = match cli.command {
        Command::Run { config } => shoal::run::run(&config),
        Command::Check { config } => shoal::check::check(&config),
        Command::Demo { listen } => shoal::demo::demo(listen),
        Command::Echo { listen, name } => shoal::echo_cmd::echo(listen, name),
        Command::Ctl(args) => shoal::ctl::ctl(args),
    };
    ExitCode::from(code)
}
