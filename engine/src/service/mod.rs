//! The handler side: the contract a user implements ([`handler`]), the [`request`] view and
//! the [`response`] a handler fills, [`dispatch`] (a connection driven by a handler, panics
//! contained, requests timed by the [`clock`]), deferred answers with their blocking pool
//! ([`defer`]), and a JSON string escaper for hand-written JSON bodies ([`json`]).

pub mod body;
pub mod clock;
pub mod defer;
pub mod dispatch;
pub mod handler;
pub mod json;
pub mod request;
pub mod response;
pub mod stream;
