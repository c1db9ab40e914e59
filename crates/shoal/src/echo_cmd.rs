//! `shoal echo`: run the demo backend until SIGTERM/SIGINT.

use std::net::SocketAddr;

use shoal_core::Shutdown;

use crate::echo::{EchoOptions, EchoServer};
use crate::signals::{Request, Signals};
use crate::{EXIT_FAILURE, EXIT_OK};

pub fn echo(listen: SocketAddr, name: String) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal echo: cannot start: {e}");
            return EXIT_FAILURE;
        }
    };
    runtime.block_on(async {
        let mut signals = match Signals::new() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("shoal echo: cannot install signal handlers: {e}");
                return EXIT_FAILURE;
            }
        };
        let server = match EchoServer::bind(EchoOptions {
            listen,
            name: name.clone(),
        })
        .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("shoal echo: cannot listen on {listen}: {e}");
                return EXIT_FAILURE;
            }
        };
        // The first line of stdout is the bound address: `shoal demo` (and scripts) read it
        // to learn the port when asked for port 0.
        println!("listening on {}", server.local_addr());
        let (shutdown, signal) = Shutdown::new();
        let serving = tokio::spawn(server.serve(signal));
        while signals.next().await != Request::Stop {}
        shutdown.trigger();
        match serving.await {
            Ok(Ok(())) => EXIT_OK,
            Ok(Err(e)) => {
                eprintln!("shoal echo {name}: {e}");
                EXIT_FAILURE
            }
            Err(_) => EXIT_FAILURE,
        }
    })
}
