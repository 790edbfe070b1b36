//! An SSH server on russh where every TCP connection is a
//! [`scope_conn::Conn`] and every command a client runs (an `exec`, or the
//! echo shell) is a task in that connection's nursery, never a detached
//! `tokio::spawn`.
//!
//! ```text
//! scope-example-ssh ADDR HOST_KEY [GRACE_SECONDS]
//! ```
//!
//! Commands: `echo WORDS...`, `sleep SECONDS` (fractions too: `sleep 0.5`),
//! `help`; with no command (`ssh -T`), a shell that echoes its input until
//! EOF. Any user logs in without a password or key (the `none` method): a
//! loopback demo, not a login service.
//!
//! # What it shows
//!
//! - **A client leaving loses no work** (AsyncSSH's rule). When the client
//!   disconnects or is killed, russh's session ends and the connection's
//!   close lets every command run to its end before it reports.
//! - **A shutdown delivers every finished command.** SIGINT or SIGTERM
//!   starts [`Server::shutdown`](scope_conn::Server::shutdown): each
//!   connection refuses new channels and commands (the client is told),
//!   its running commands get three quarters of the grace to finish and
//!   their output and exit status reach the client; the ones still running
//!   then are cancelled and tell their client so (exit status 130); then the
//!   connection ends politely: a client whose commands are done leaves by
//!   itself, one that stays (a ControlMaster) is sent an SSH disconnect
//!   with the reason. A second signal aborts what is left at once. The
//!   grace printed at start is the whole shutdown's.
//! - **One account.** Each connection's line comes from its
//!   [`ConnReport`](scope_conn::ConnReport), the closing table from the
//!   [`ServerReport`](scope_conn::ServerReport)'s totals of every
//!   connection's nursery; the two counters the nurseries cannot see
//!   (channel opens refused, output the client was gone for) count events
//!   of their own.
//!
//! # Output
//!
//! stdout, one line each: `listening on ADDR` once the listener is bound
//! and the signal handlers are installed (tests and scripts wait for it);
//! `conn N: exec "..."` and the refusals as they happen; `conn N: closing,
//! K commands running` when a connection begins to close; `conn N (PEER)
//! closed: ...` when its close has run to its end; after a shutdown, the
//! table.
//!
//! # Codemap
//!
//! - `main.rs`: arguments, the [`scope_conn::Server`], the signals, the
//!   table's printing.
//! - `session.rs`: one connection's session: russh on the connection's
//!   transport, the closing, the goodbye.
//! - `handler.rs`: russh's `Handler`: channels, and `exec` and shell
//!   requests spawned into the connection's nursery, refused once it closes.
//! - `command.rs`: the built-in commands, the echo shell, and how a
//!   command's result reaches the client.
//! - `counters.rs`: the two counts the nurseries do not keep.
//! - `report.rs`: the per-connection line and the table.
//!
//! One detached task per connection is russh's and the example cannot
//! avoid it: `run_stream` runs the session loop in a `tokio::spawn` of its
//! own. It holds the transport and the handler, never a command; it ends
//! when the client leaves, when the goodbye disconnects, and at the latest
//! when the connection's close has run to its end (every read and write of
//! the connection's transport fails from then on).

#![forbid(unsafe_code)]

mod command;
mod counters;
mod handler;
mod report;
mod session;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use scope_conn::{ConnBuilder, Server, Signals};
use scope_core::{BoxError, Policy};
use tokio::net::TcpListener;

use crate::counters::Counters;
use crate::report::Table;

const USAGE: &str = "\
usage: scope-example-ssh ADDR HOST_KEY [GRACE_SECONDS]
  ADDR           where to listen, e.g. 127.0.0.1:2222 (port 0: any free port)
  HOST_KEY       make it with: ssh-keygen -q -t ed25519 -N '' -f HOST_KEY
  GRACE_SECONDS  how long a shutdown may take in all (default 5; fractions too)";

/// A connection with no traffic for this long is closed (its commands
/// still drain first).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a connection whose commands have drained gets to say goodbye.
/// A shutdown's grace bounds it too.
const GOODBYE_TIMEOUT: Duration = Duration::from_secs(5);

/// At most this many commands (tasks) per connection; past it, requests are
/// refused.
const MAX_COMMANDS: usize = 100;

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(key_path)) = (args.next(), args.next()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let grace = match args
        .next()
        .map(|s| s.parse::<f64>().map(Duration::try_from_secs_f64))
    {
        None => Duration::from_secs(5),
        Some(Ok(Ok(grace))) => grace,
        Some(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&addr, &key_path, grace).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scope-example-ssh: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(addr: &str, key_path: &str, grace: Duration) -> Result<(), BoxError> {
    let host_key = russh::keys::load_secret_key(key_path, None)
        .map_err(|e| format!("host key {key_path}: {e}"))?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let config = Arc::new(session::config(host_key));
    let counters = Arc::new(Counters::default());

    let template = ConnBuilder::new()
        // One command's failure (a panic) is that command's business.
        .nursery(|b| b.policy(Policy::Supervise).max_held(MAX_COMMANDS))
        .idle_timeout(IDLE_TIMEOUT)
        .goodbye_timeout(GOODBYE_TIMEOUT);
    let server: Server = {
        let counters = Arc::clone(&counters);
        Server::builder()
            .name("ssh")
            .max_connections(1_000)
            .conn(template)
            .on_closed(report::print_closed)
            .serve(listener, move |conn, io| {
                session::serve(conn, io, Arc::clone(&config), Arc::clone(&counters))
            })?
    };

    // Listening for the signals before saying we listen: a SIGTERM sent
    // right after that line drains the server instead of killing it.
    let mut signals = Signals::new().map_err(|e| format!("signal handlers: {e}"))?;
    // Tests and scripts wait for this line.
    println!("listening on {addr}");
    println!(
        "try: ssh -F /dev/null -o LogLevel=ERROR -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -p {} demo@{} 'sleep 3'",
        addr.port(),
        addr.ip()
    );
    println!("commands: {}", command::SUMMARY);
    println!(
        "Ctrl-C or SIGTERM: graceful shutdown, {} in all (commands still running at {} are cancelled); a second signal aborts at once",
        report::secs(grace),
        report::secs(grace / 4 * 3),
    );
    let first = signals.recv().await;
    println!("{first}: shutting down within {}", report::secs(grace));
    let report = tokio::select! {
        report = server.shutdown(grace) => report,
        second = signals.recv() => {
            println!("{second}: aborting what is left");
            server.shutdown(Duration::ZERO).await
        }
    };
    print!(
        "{}",
        Table {
            report: &report,
            counters: &counters,
            grace,
        }
    );
    Ok(())
}
