//! An HTTP/1.1 server on hyper where every TCP connection is a
//! [`scope_conn::Conn`], and the work a request starts after its response is
//! a task in that connection's nursery, never a detached `tokio::spawn`.
//!
//! ```text
//! cargo run -p scope-example-http -- 127.0.0.1:8080
//! curl -i 'http://127.0.0.1:8080/work?ms=2000'    # answers at once, works 2 s after
//! curl 'http://127.0.0.1:8080/stats'
//! ```
//!
//! Ctrl-C shuts the server down gracefully and prints how every job ended.
//!
//! # Why not hyper-util's `GracefulShutdown` alone
//!
//! `GracefulShutdown` waits for the hyper connections: the requests in flight.
//! Work a handler hands to `tokio::spawn` after responding is nobody's: the
//! shutdown returns while it runs, and the runtime's drop cuts it off
//! wherever it is. Here the shutdown has two halves:
//!
//! 1. hyper's graceful shutdown: every connection finishes the request in
//!    flight (answering `connection: close`) and stops reading new ones;
//! 2. the nursery drain ([`scope_conn::Server::shutdown`]): the jobs those
//!    requests started finish within the grace period, are then cancelled
//!    through their connection's token, and are aborted last. Every job is
//!    counted in exactly one of those outcomes ([`Ledger`]).
//!
//! # Codemap
//!
//! - `http_server.rs`: [`HttpServer`], the accept loop (a
//!   [`scope_conn::Server`]) and the two-phase shutdown.
//! - `conn_io.rs`: the adapter that lets hyper speak through a `Conn`'s
//!   [`Reader`](scope_conn::Reader) and [`Writer`](scope_conn::Writer).
//! - `service.rs`: the routes (`/`, `/work`, `/slow`, `/stats`) and the jobs.
//! - `ledger.rs`, `ledger_stats.rs`: the example's own counters, kept apart
//!   from the nurseries' so the two can be checked against each other.
//! - `shutdown_report.rs`: [`ShutdownReport`], what the shutdown prints.

#![forbid(unsafe_code)]

#[path = "../../shared/conn_io.rs"]
mod conn_io;
mod http_server;
mod ledger;
mod ledger_stats;
mod service;
mod shutdown_report;

pub use http_server::HttpServer;
pub use ledger::Ledger;
pub use ledger_stats::LedgerStats;
pub use shutdown_report::ShutdownReport;
