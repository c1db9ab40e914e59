//! shoal's own HTTP/1.1 server side, as `shoal-upstream::h1` is its client side: strict
//! parsing of what clients send (`request_head.rs`), request bodies read as the request path
//! polls them (`conn_io.rs`), responses framed for the client (`response_writer.rs`), and
//! the connection loop (`server.rs`). HTTP/2 from clients stays with hyper.

mod conn_io;
mod request_head;
mod response_writer;
mod server;

pub(crate) use conn_io::ConnIo;
pub(crate) use server::{serve, H1Limits, Served, Stop};
