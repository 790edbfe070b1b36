//! One nursery per connection, and a server that shuts down losing nothing.
//!
//! A connection is a transport plus a [`scope_core::Nursery`] that owns the
//! tasks started on the connection's behalf. The protocol owns the
//! transport: a handler gets a [`Conn`] (a cheap handle: the nursery's
//! spawner, the close) and an [`Io`] (the transport, direct: hyper, russh,
//! tonic and tokio-util codecs run on it unchanged) and returns the
//! *session*, the protocol's own future. A [`Server`] serves every
//! connection a [`Listener`] accepts that way (TCP and Unix listeners built
//! in); [`ConnBuilder::serve`] serves one.
//!
//! When a connection closes, the work it started is allowed to finish and
//! what it produced reaches the peer (AsyncSSH's promise, made explicit):
//!
//! 1. **Stop new work**: spawns from outside the connection are refused and
//!    [`Conn::closing`] fires, so the protocol takes no new requests
//!    ([`Conn::run`] calls a graceful hook such as hyper's
//!    `graceful_shutdown`). The transport keeps reading and writing.
//! 2. **Drain** the tasks, by the [`CloseMode`].
//! 3. **Goodbye**: [`Conn::drained`] fires; the session finishes its own
//!    ending (the last response, an exit status, a disconnect).
//! 4. **Flush and shut down** the queued [`Writer`], if there is one.
//! 5. **Report** ([`ConnReport`]).
//!
//! Every phase is bounded: a write that makes no progress for the send
//! timeout fails for every writer, the goodbye and the flush have their own
//! timeout, and [`Server::shutdown`] returns within its grace.
//!
//! # Guarantees
//!
//! - **Nothing is lost.** Every task a connection starts is owned by its
//!   nursery, nested in the server's, and counted once in the connection's
//!   report and in the server's totals, whichever way it ended; output the
//!   close could not deliver in time is reported
//!   ([`ConnReport::io_error`]).
//! - **The protocol owns its transport.** No copy, channel or extra task on
//!   the path of a byte. Tasks that write concurrently share a [`Writer`]
//!   whose queue is bounded in bytes; nothing holds a lock across `.await`.
//! - **No peer can hold a shutdown open**: the shutdown's grace bounds it,
//!   and a `Deadline` close bounds one connection's. A peer that stops
//!   reading cannot hold even a `Join` close (the send timeout, the goodbye
//!   timeout); one that reads slowly but steadily can, as long as a task
//!   has something to write to it, which is why the server's shutdown
//!   escalates. A slow peer holds only its own connection;
//!   [`ServerBuilder::max_connections_per_peer`] bounds its share.
//! - **One close per connection.** Closing twice, concurrently, or from
//!   inside the connection's own tasks or session is safe: the first request
//!   decides the mode and the reason, everyone gets the same report (from
//!   inside, at once and not final).
//! - **Failures close the connection** under `FailFast` (the default), with
//!   the failure as the reason ([`CloseReason::Failed`]); under `Supervise`
//!   the connection stays open.
//! - **Every server connection knows its ends** ([`Conn::peer`],
//!   [`Conn::local`]); with the `tracing` feature each one runs in a span
//!   named `conn` with its id and peer.
//!
//! # Choices where tokio is silent
//!
//! - The session is the nursery's body (as in trio): requests in flight when
//!   the close begins may still start their follow-up work, and the nursery
//!   finishes closing only after the session has ended.
//! - A connection ends when its session returns (reason
//!   [`CloseReason::SessionEnded`]): the peer left, or the protocol ended.
//! - A session that panics ends its connection the same way (reason
//!   [`CloseReason::SessionPanicked`], unless another cause came first):
//!   the tasks it started close in the connection's mode, the report is
//!   published and a server's `on_closed` sees it; then the panic resumes
//!   in whoever awaits the connection (under a server, the connection's
//!   task: the server's nursery records the failure). A connection's
//!   future dropped before its close ended drops the panic with it.
//! - Dropping a connection's future before it finished (a standalone
//!   connection; a server's at the end of its grace) aborts the connection's
//!   tasks, like dropping a `JoinSet`: there is nobody left to hand them to.
//!   A server never drops one before its shutdown's grace is spent.
//! - The server's nursery supervises: one connection's failure never
//!   cancels the others.
//!
//! # Features
//!
//! - `tracing` (default): the core's warnings and spans, an `info` span per
//!   connection (`conn`, with `id` and `peer`), and a warning when accepting
//!   fails. Under an `info` filter, an event in a connection's task carries
//!   both its `conn` span and its `child` span (see `scope-core`'s
//!   *Observability*).
//! - `signal`: [`Signals`], SIGINT and SIGTERM as one stream, for a server's
//!   graceful shutdown and its abort on a second signal.
//! - `hyper`: [`serve_http`] (a hyper service as a connection's session:
//!   HTTP/1.1 and h2c, hyper's graceful shutdown as the close's first phase)
//!   and [`HyperExecutor`]
//!   (HTTP/2 streams as the connection's tasks).
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use scope_conn::ConnBuilder;
//! use tokio::io::AsyncReadExt;
//!
//! let (io, mut peer) = tokio::io::duplex(1024);
//! let report = ConnBuilder::new()
//!     .serve(io, |conn, io| async move {
//!         let (_reader, writer) = io.split();
//!         let spawner = conn.spawner().clone();
//!         conn.spawner().spawn(async move {
//!             // A request whose handler starts follow-up work.
//!             spawner.spawn(async move { writer.send("follow-up done\n").await.unwrap() }).unwrap();
//!         }).unwrap();
//!         // The session returns: the close drains both tasks, then flushes.
//!     })
//!     .unwrap()
//!     .await;
//! assert_eq!(report.tasks().stats().completed, 2);
//! let mut out = String::new();
//! peer.read_to_string(&mut out).await.unwrap();
//! assert_eq!(out, "follow-up done\n");
//! # }
//! ```
// Built without a feature, its items are missing: its links point here.
#![cfg_attr(not(feature = "signal"), doc = "\n[`Signals`]: #features")]
#![cfg_attr(
    not(feature = "hyper"),
    doc = "\n[`serve_http`]: #features\n[`HyperExecutor`]: #features"
)]
#![forbid(unsafe_code)]

mod addr;
mod builder;
mod close_mode;
mod close_reason;
mod config_error;
mod conn;
#[cfg(feature = "hyper")]
mod hyper_executor;
mod io;
mod listener;
mod report;
#[cfg(feature = "hyper")]
mod serve_http;
mod server;
mod server_builder;
mod server_report;
#[cfg(feature = "signal")]
mod signals;
mod writer;

pub use addr::Addr;
pub use builder::ConnBuilder;
pub use close_mode::CloseMode;
pub use close_reason::CloseReason;
pub use config_error::ConfigError;
pub use conn::{Conn, Run};
#[cfg(feature = "hyper")]
pub use hyper_executor::HyperExecutor;
pub use io::Io;
pub use listener::{Accepted, Listener};
pub use report::ConnReport;
#[cfg(feature = "hyper")]
pub use serve_http::{ServeHttp, serve_http};
pub use server::Server;
pub use server_builder::ServerBuilder;
pub use server_report::ServerReport;
#[cfg(feature = "signal")]
pub use signals::{Signal, Signals};
pub use writer::Writer;
