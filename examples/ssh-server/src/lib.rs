//! An SSH server on russh where every TCP connection is a
//! [`scope_conn::Conn`] and every channel's work (an `exec`, or the echo
//! shell) runs as a task in that connection's nursery, never a detached
//! `tokio::spawn`.
//!
//! ```text
//! ssh-keygen -q -t ed25519 -N '' -f /tmp/scope-ssh-host-key
//! cargo run -p scope-example-ssh -- 127.0.0.1:2222 /tmp/scope-ssh-host-key
//! ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
//!     -p 2222 demo@127.0.0.1 'sleep 2000'
//! ```
//!
//! Built-in commands: `echo WORDS...`, `sleep MS` (answers `slept MS ms`,
//! or `cancelled` when the server's shutdown runs out of patience), `stats`.
//! Without a command (`ssh -T ...`) the shell echoes its input until EOF.
//! Any user is let in without a password or key (the `none` method): this
//! is a loopback demo, not a login service.
//!
//! # What it shows
//!
//! - **Disconnecting lets the work finish** (AsyncSSH's rule). A client
//!   killed mid-command ends its session, and the connection's close waits
//!   for the command's task before it reports.
//! - **Shutdown drains with a deadline.** [`SshServer::shutdown`] closes
//!   every connection, lets commands finish for up to the grace period,
//!   cancels them through their connection's token, then aborts; every
//!   command is counted once, as completed, cancelled or aborted.
//!
//! russh's own examples spawn detached tasks for channel work, and its
//! server does not wait for sessions when it stops. One detached task is
//! left that the example cannot avoid: `russh::server::run_stream` runs the
//! session loop in a `tokio::spawn` of its own. It holds no work of ours,
//! and it ends when the connection's close begins (the connection's reader
//! reports end-of-stream).
//!
//! # Codemap
//!
//! - `ssh_server.rs`: [`SshServer`], the accept loop (a
//!   [`scope_conn::Server`]) and the shutdown.
//! - `handler.rs`: the russh `Handler` of one connection: auth, channels,
//!   `exec` and shell requests spawned into the connection's nursery.
//! - `command.rs`: the built-in commands and the echo shell.
//! - `conn_io.rs`: russh speaks through the `Conn`'s reader and writer.
//! - `ledger.rs`, `ledger_stats.rs`: the example's own counters.
//! - `shutdown_report.rs`: [`ShutdownReport`].

#![forbid(unsafe_code)]

mod command;
#[path = "../../shared/conn_io.rs"]
mod conn_io;
mod handler;
mod ledger;
mod ledger_stats;
mod shutdown_report;
mod ssh_server;

pub use ledger::Ledger;
pub use ledger_stats::LedgerStats;
pub use shutdown_report::ShutdownReport;
pub use ssh_server::SshServer;
