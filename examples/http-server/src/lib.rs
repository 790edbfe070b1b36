//! An HTTP/1.1 and HTTP/2 server on hyper where every TCP connection is a
//! scope connection: hyper is the connection's session (it owns the
//! transport), HTTP/2 streams are tasks of the connection's nursery, and the
//! work a request starts after its response is a task there too, never a
//! detached `tokio::spawn`.
//!
//! ```text
//! cargo run -p scope-example-http -- 127.0.0.1:8080
//! curl -i 'http://127.0.0.1:8080/work?ms=3000'          # answers at once, works 3 s after
//! curl --http2-prior-knowledge 'http://127.0.0.1:8080/slow?ms=2000&work=1000'
//! curl 'http://127.0.0.1:8080/stats'
//! ```
//!
//! SIGINT or SIGTERM shuts the server down gracefully and prints how every
//! task ended; a second signal aborts what is left at once.
//!
//! # Why not hyper-util's `GracefulShutdown` alone
//!
//! `GracefulShutdown` waits for the hyper connections: the requests in
//! flight. Work a handler hands to `tokio::spawn` after responding is
//! nobody's: the shutdown returns while it runs, and the runtime's drop cuts
//! it off wherever it is. Here a connection's close has hyper's graceful
//! shutdown as its first phase (answer what is in flight, GOAWAY, close idle
//! keep-alive connections), and waits for the connection's jobs, within the
//! grace, before it reports.
//!
//! # Codemap
//!
//! - `http_server.rs`: [`HttpServer`], a [`scope_conn::Server`] whose session
//!   is hyper-util's auto connection (HTTP/1.1 and h2c).
//! - `service.rs`: the routes (`/`, `/work`, `/slow`, `/stats`) and the jobs.
//! - `jobs.rs`: [`Jobs`], how the jobs ended, counted as the nursery counts.
//! - `shutdown_report.rs`: [`ShutdownReport`], what the shutdown prints.

#![forbid(unsafe_code)]

mod http_server;
mod jobs;
mod service;
mod shutdown_report;

pub use http_server::HttpServer;
pub use jobs::{JobCounts, Jobs};
pub use shutdown_report::ShutdownReport;
