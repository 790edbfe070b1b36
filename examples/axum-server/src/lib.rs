//! An axum [`Router`](axum::Router) on a [`scope_conn::Server`]: the
//! background work a handler starts is a task of the request's connection,
//! never a detached `tokio::spawn`, so a shutdown drains it and counts it.
//!
//! ```text
//! cargo run -p scope-example-axum -- 127.0.0.1:3000
//! curl -i -X POST 'http://127.0.0.1:3000/jobs?ms=3000'    # 202 at once, the job works 3 s
//! curl --http2-prior-knowledge -X POST 'http://127.0.0.1:3000/jobs?ms=3000'
//! curl 'http://127.0.0.1:3000/stats'
//! ```
//!
//! SIGINT or SIGTERM shuts the server down within the grace (printed as the
//! total it will take) and prints how every task ended; a second signal
//! aborts what is left at once.
//!
//! # The problem
//!
//! ```text
//! async fn start_job(..) -> StatusCode {
//!     tokio::spawn(work());          // nobody owns it
//!     StatusCode::ACCEPTED
//! }
//! axum::serve(listener, router).with_graceful_shutdown(signal).await
//! ```
//!
//! `with_graceful_shutdown` waits for the HTTP connections: the requests in
//! flight. The spawned work is nobody's: `serve` returns while it still
//! runs, `main` returns, and the runtime's drop cuts the work off wherever
//! it is, with no record that it ever started. The contrast test
//! (`tests/contrast.rs`) shows it with the same routes as this example.
//!
//! # Who owns the work: the connection
//!
//! The server puts each request's [`Conn`](scope_conn::Conn) in the
//! request's extensions ([`serve_connection`]); the handler takes
//! `Extension<Conn>` and starts its job with `conn.spawner().spawn(..)`
//! (through [`JobOwner`]). The connection is the owner because:
//!
//! - **a client leaving does not lose the job**: when the client hangs up,
//!   the connection's close waits for its jobs before it reports;
//! - **the connection's close drains it**, and a server shutdown is every
//!   connection's close within one grace: three quarters to finish, then
//!   the connection's token fires (the job stops early, counted
//!   cancelled), then what is left is aborted;
//! - **it is counted in that connection's report** (the `conn N closed`
//!   line) and in the server's totals, which the shutdown prints.
//!
//! The price: a connection whose client has left stays open (it holds its
//! place under `max_connections` and `max_connections_per_peer`) until its
//! jobs are done. The **server** is the better owner for work that outlives the
//! connection that asked for it by far or belongs to no one client: a job a
//! client polls for later on another connection, a cache refresh shared by
//! many requests, a queue of long batch jobs. Give such work to one
//! server-wide [`scope_core::Nursery`] made next to the server and shut it
//! down after the server (scope-conn's `Server` does not lend out its own
//! nursery).
//!
//! # One account
//!
//! The table comes from the nurseries' reports ([`scope_conn::ServerReport`]'s
//! totals of every connection's tasks). The one counter the example adds,
//! [`Jobs`], counts the jobs among those tasks (the rest are HTTP/2 streams)
//! by the nursery's own rule, so its columns mean the same; work still in
//! progress is `running`, and `lost` (tasks started and never accounted
//! for) is 0.
//!
//! # Codemap
//!
//! - `main.rs`: arguments, the signals, the per-connection lines, the table.
//! - `axum_server.rs`: [`AxumServer`], the scope-conn server and its settings.
//! - `serve_connection.rs`: [`serve_connection`], a `Router` as a
//!   connection's session (hyper-util's auto builder, the `Conn` in each
//!   request's extensions, the graceful hook).
//! - `app.rs`: [`app`], the routes, generic over [`JobOwner`].
//! - `job_owner.rs`: [`JobOwner`], the seam the contrast test uses.
//! - `jobs.rs`: [`Jobs`], how the jobs ended.
//! - `shutdown_report.rs`: [`ShutdownReport`], the table.

#![forbid(unsafe_code)]

mod app;
mod axum_server;
mod job_owner;
mod jobs;
mod serve_connection;
mod shutdown_report;

pub use app::app;
pub use axum_server::AxumServer;
pub use job_owner::JobOwner;
pub use jobs::{JobCounts, Jobs};
pub use serve_connection::serve_connection;
pub use shutdown_report::ShutdownReport;
