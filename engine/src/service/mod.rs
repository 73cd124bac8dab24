//! The handler side: the contract a user implements ([`handler`]), the [`request`] view and
//! the [`response`] a handler fills, [`dispatch`] (a connection driven by a handler, panics
//! contained, requests timed), and deferred answers with their blocking pool ([`defer`]).

pub mod body;
pub mod defer;
pub mod dispatch;
pub mod handler;
pub mod request;
pub mod response;
pub mod stream;
