//! Binding listener sockets: one socket per worker per listener, all with SO_REUSEPORT on the
//! same address so the kernel spreads new connections over the workers without a shared
//! accept queue (nginx's `reuseport`).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the kernel keeps per socket before refusing (nginx uses 511).
const BACKLOG: i32 = 1024;

/// Binds `count` sockets to `addr`. With port 0 the first socket picks the port and the
/// others join it, so all of them share one address.
pub(crate) fn bind_reuseport(
    addr: SocketAddr,
    count: usize,
) -> io::Result<Vec<std::net::TcpListener>> {
    let mut sockets = Vec::with_capacity(count);
    let mut addr = addr;
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_tcp_nodelay(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        sockets.push(listener);
    }
    Ok(sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_binds_every_socket_to_one_port() {
        let sockets = bind_reuseport("127.0.0.1:0".parse().expect("addr"), 3).expect("bind");
        let addrs: Vec<_> = sockets
            .iter()
            .map(|s| s.local_addr().expect("addr"))
            .collect();
        assert_eq!(addrs.len(), 3);
        assert_ne!(addrs[0].port(), 0);
        assert!(addrs.iter().all(|a| *a == addrs[0]));
    }

    #[test]
    fn a_taken_port_is_refused() {
        let plain = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let taken = plain.local_addr().expect("addr");
        assert!(bind_reuseport(taken, 1).is_err());
    }
}
