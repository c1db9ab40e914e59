//! shoal's own HTTP/1.1 client side: one backend connection, driven inline by the request
//! that uses it — no connection task, no channel, no wake-up between two tasks per request
//! (what a general-purpose client such as hyper's costs on every exchange). Parsing is strict:
//! the backend is untrusted too (reliability.md §2.4).

mod backend_conn;
mod chunked;
mod encode;
mod head_fields;
mod response_body;
mod response_head;
mod token_list;

pub use backend_conn::{BackendConn, ExchangeError};
pub use chunked::{ChunkedDecoder, ChunkedError, Piece};
pub use encode::chunk_size_line;
pub use head_fields::{locate, FieldOffsets, OutOfHead};
pub use response_body::{Release, ResponseBody};
pub use response_head::{
    parse_head, parse_upgrade_head, Framing, HeadError, ResponseHead, MAX_HEAD_BYTES,
};
pub use token_list::{has_token, lists_token};
