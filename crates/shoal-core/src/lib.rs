//! shoal-core: the small vocabulary every other shoal crate shares.
//!
//! It must not depend on any other shoal crate, nor on hyper, serde or anything that does I/O
//! beyond the tokio `watch` channel behind [`Shutdown`].

mod algorithm;
mod cidr;
mod duration;
mod hash_key;
pub mod loop_clock;
mod shutdown;

pub use algorithm::Algorithm;
pub use cidr::{Cidr, CidrError};
pub use duration::{format_duration, parse_duration, DurationError};
pub use hash_key::{HashKey, HashKeyError};
pub use shutdown::{Shutdown, ShutdownSignal};
