//! Running servers: the builder and handles ([`server`]), one epoll event loop per worker
//! (`worker`), the state they share (`shared`), the connection slab and the timer wheel.

pub mod server;
pub(crate) mod shared;
pub(crate) mod slab;
pub(crate) mod timer;
pub(crate) mod worker;
