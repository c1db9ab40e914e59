//! The `shoal` command. Thin: parses arguments and hands over to the library's commands.
//! Exit codes: 0 ok, 1 runtime failure, 2 bad config or usage.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Shoal in front of an autoscaled fleet of demo backends (2 to 8), no config needed.
    Demo {
        /// Where shoal listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the admin API listens.
        #[arg(long, default_value = "127.0.0.1:9090")]
        admin: SocketAddr,
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
    /// Send HTTP load: `--rate N` (open loop, latency from the intended send time) or
    /// `--concurrency N` (closed loop); progress on stderr, an HDR summary at the end.
    Load {
        /// An http:// URL.
        url: String,
        /// Requests per second, sent on schedule (open loop).
        #[arg(long, conflicts_with = "concurrency")]
        rate: Option<f64>,
        /// Connections sending back to back (closed loop; the default, with 10).
        #[arg(long)]
        concurrency: Option<usize>,
        /// How long to send, e.g. 30s.
        #[arg(long, default_value = "10s", value_parser = duration)]
        duration: Duration,
        /// A request without a whole answer after this is an error.
        #[arg(long, default_value = "10s", value_parser = duration)]
        timeout: Duration,
        /// Open loop: most requests (connections) in flight at once.
        #[arg(long, default_value_t = 1000)]
        max_connections: usize,
        /// Print the summary as one JSON object (no progress line).
        #[arg(long)]
        json: bool,
    },
    /// Internal: runs PROGRAM so that it dies with shoal (the autoscaler's process
    /// provider starts its instances this way).
    #[command(name = "exec-guarded", hide = true)]
    ExecGuarded {
        /// The pid of the shoal that must outlive PROGRAM.
        #[arg(long)]
        parent: i32,
        /// PROGRAM and its arguments.
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

fn duration(text: &str) -> Result<Duration, String> {
    shoal_core::parse_duration(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::ExecGuarded { parent, argv } = &cli.command {
        // Becomes the program; returns only when that failed.
        let error = shoal_autoscale::child_guard::exec_guarded(*parent, argv);
        eprintln!("shoal exec-guarded: {error}");
        return ExitCode::from(127);
    }
    shoal::logging::init();
    let code = match cli.command {
        Command::Run { config } => shoal::run::run(&config),
        Command::Check { config } => shoal::check::check(&config),
        Command::Demo { listen, admin } => shoal::demo::demo(listen, admin),
        Command::Echo { listen, name } => shoal::echo_cmd::echo(listen, name),
        Command::Ctl(args) => shoal::ctl::ctl(args),
        Command::Load {
            url,
            rate,
            concurrency,
            duration,
            timeout,
            max_connections,
            json,
        } => shoal::load_cmd::load(shoal::load_cmd::LoadArgs {
            url,
            rate,
            concurrency,
            duration,
            timeout,
            max_connections,
            json,
        }),
        Command::ExecGuarded { .. } => shoal::EXIT_FAILURE,
    };
    ExitCode::from(code)
}
