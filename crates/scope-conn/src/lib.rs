//! One nursery per connection, and a server that shuts down losing nothing.
//!
//! A [`Conn`] wraps one transport (anything `AsyncRead + AsyncWrite + Send +
//! Unpin`) and owns a [`scope_core::Nursery`] for the tasks started on the
//! connection's behalf. [`Conn::close`] is AsyncSSH's connection close made
//! explicit: refuse new outside work (spawns, and new requests: the
//! [`Reader`] reports end-of-stream), let the work in flight finish, then
//! flush and shut the transport down, then report. A [`Server`] owns the
//! accept loop for TCP and Unix listeners; every connection's nursery is a
//! child of the server's, so [`Server::shutdown`] waits for the work the
//! connections started, not only for the connections, within a deadline.
//!
//! # Contract
//!
//! The clauses K1–K7 of the workspace contract, in brief:
//!
//! - K1: tasks reach the transport through an owned [`Reader`] and a
//!   cloneable [`Writer`] (a queue drained by the connection's driver), never
//!   through a lock held across `.await`.
//! - K2: [`Conn::spawn`], a cloneable [`ConnSpawner`], and the connection's
//!   cancellation token ([`Conn::token`]).
//! - K3: [`Conn::close`] drains, flushes, shuts down and reports; it is
//!   idempotent, concurrent callers share one [`ConnReport`], it is safe from
//!   inside the connection's tasks, and [`Conn::closed`] waits without
//!   starting it.
//! - K4: [`CloseMode::Join`], [`CloseMode::Detach`], [`CloseMode::Deadline`];
//!   a dropped `Conn` detaches its tasks to its server, or aborts them when it
//!   has none ([`Conn`'s drop](Conn#drop)).
//! - K5: under `FailFast`, a failing task closes its connection, the failure
//!   being the reason ([`CloseReason::Failed`]).
//! - K6: [`Server`] over any [`Listener`]; [`Server::shutdown`] reports
//!   totals ([`ServerReport`]).
//! - K7: [`ServerBuilder::max_connections`], per-connection task limits
//!   ([`ConnBuilder::max_running`], [`ConnBuilder::max_held`]),
//!   [`ConnBuilder::idle_timeout`]; after a close nothing of the connection is
//!   left in the runtime, whatever the peer did.
//!
//! # Choices where the contract is silent
//!
//! - Once a close begins, the [`Reader`] reports end-of-stream: a peer's new
//!   requests are outside work too. A request loop therefore ends on its own
//!   when the connection closes, and a stalled peer cannot hold a close open.
//! - A server connection dropped without a close keeps its transport open for
//!   the tasks still running, and the server shuts it down after them (its
//!   tasks are owned by the server the whole time). An explicit
//!   [`CloseMode::Detach`] shuts the transport at once.
//! - The final flush is bounded ([`ConnBuilder::flush_timeout`], or the
//!   deadline), so a peer that stops reading cannot hold a close forever.
//! - The server's nursery supervises: one connection's failure is counted
//!   there and never cancels the other connections.
//!
//! # Features
//!
//! - `tracing` (default): the core's warnings and spans, plus a warning when
//!   accepting fails.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use scope_conn::Conn;
//! use tokio::io::AsyncReadExt;
//!
//! let (io, mut peer) = tokio::io::duplex(1024);
//! let conn = Conn::new(io);
//! let writer = conn.writer();
//! let spawner = conn.spawner();
//! conn.spawn(async move {
//!     // A request whose handler starts follow-up work.
//!     spawner.spawn(async move { writer.send("follow-up done\n").await.unwrap() }).unwrap();
//! }).unwrap();
//! let report = conn.close().await; // both tasks ended, then the transport shut
//! assert_eq!(report.stats().completed, 2);
//! let mut out = String::new();
//! peer.read_to_string(&mut out).await.unwrap();
//! assert_eq!(out, "follow-up done\n");
//! # }
//! ```

#![forbid(unsafe_code)]

mod builder;
mod close_mode;
mod close_reason;
mod conn;
mod listener;
mod reader;
mod report;
mod server;
mod server_builder;
mod server_report;
mod spawner;
mod writer;

pub use builder::ConnBuilder;
pub use close_mode::CloseMode;
pub use close_reason::CloseReason;
pub use conn::Conn;
pub use listener::Listener;
pub use reader::Reader;
pub use report::ConnReport;
pub use server::Server;
pub use server_builder::ServerBuilder;
pub use server_report::ServerReport;
pub use spawner::ConnSpawner;
pub use writer::Writer;
