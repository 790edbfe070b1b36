//! `scope-example-axum [ADDR] [GRACE_SECONDS]`: serves the example's axum
//! routes over HTTP/1.1 and h2c until SIGINT or SIGTERM, then shuts down
//! within the grace (default 5 s, in all) and prints how every task ended;
//! a second signal aborts what is left at once.
//!
//! stdout, one line each: `listening on http://ADDR` once the listener is
//! bound and the signal handlers are installed (tests and scripts wait for
//! it); `conn N (PEER) closed: ...` as each connection's close runs to its
//! end; after a shutdown, the table.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use scope_conn::{CloseReason, ConnReport, Signals};
use scope_core::BoxError;
use scope_example_axum::AxumServer;
use tokio::net::TcpListener;

const USAGE: &str = "\
usage: scope-example-axum [ADDR] [GRACE_SECONDS]
  ADDR           where to listen (default 127.0.0.1:3000; port 0: any free port)
  GRACE_SECONDS  how long a shutdown may take in all (default 5; fractions too)";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
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
    match run(&addr, grace).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scope-example-axum: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(addr: &str, grace: Duration) -> Result<(), BoxError> {
    let server = AxumServer::start(TcpListener::bind(addr).await?, print_closed)?;
    // Listening for the signals before saying we listen: a SIGTERM sent
    // right after that line drains the server instead of killing it.
    let mut signals = Signals::new().map_err(|e| format!("signal handlers: {e}"))?;
    let url = format!("http://{}", server.local_addr());
    println!("listening on {url}");
    println!("try: curl -i -X POST '{url}/jobs?ms=3000'   (or --http2-prior-knowledge)");
    println!(
        "Ctrl-C or SIGTERM: graceful shutdown, {} in all (jobs still running at {} are cancelled); a second signal aborts at once",
        secs(grace),
        secs(grace / 4 * 3),
    );
    let first = signals.recv().await;
    let began = Instant::now();
    println!("{first}: shutting down within {}", secs(grace));
    let report = tokio::select! {
        report = server.shutdown(grace) => report,
        second = signals.recv() => {
            println!("{second}: aborting what is left");
            server.shutdown(Duration::ZERO).await
        }
    };
    print!("{report}");
    println!("shutdown took {:.2?}", began.elapsed());
    Ok(())
}

/// One line per connection, from its report, once its close has run to
/// its end.
fn print_closed(report: &ConnReport<BoxError>) {
    let peer = report
        .peer()
        .map_or_else(|| "?".to_owned(), ToString::to_string);
    let why = match report.reason() {
        CloseReason::SessionEnded => "the client left",
        CloseReason::Shutdown => "server shutdown",
        CloseReason::IdleTimeout => "idle timeout",
        CloseReason::SendTimeout => "send timeout (the client took no data)",
        CloseReason::Transport => "the transport failed",
        CloseReason::SessionPanicked => "the connection's session panicked",
        _ => "closed",
    };
    let s = report.tasks().stats();
    println!(
        "conn {} ({peer}) closed: {why}; tasks {} = {} completed + {} failed + {} cancelled + {} aborted + {} running",
        report.id(),
        s.spawned,
        s.completed,
        s.failed,
        s.cancelled,
        s.aborted,
        s.live
    );
}

/// Seconds, as a user types them (`5s`, `2.5s`).
fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}
