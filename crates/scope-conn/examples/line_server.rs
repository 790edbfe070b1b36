//! A small line-protocol server whose commands start background work, and a
//! client for it (a fresh machine has no `nc` or `telnet`).
//!
//! ```text
//! cargo run -p scope-conn --example line_server -- serve 127.0.0.1:7878
//! cargo run -p scope-conn --example line_server -- client 127.0.0.1:7878
//! cargo run -p scope-conn --example line_server -- client 127.0.0.1:7878 "work 300" "work 100" stats quit
//! ```
//!
//! Commands, one per line (at most 1,024 bytes: a longer line is answered
//! with an error, and the connection closes):
//!
//! - `work <ms>`: starts background work on the connection that answers
//!   `done <n> after <ms> ms` when it ends; the prompt returns at once.
//! - `fail`: starts work that fails: under fail-fast the connection's other
//!   work is cancelled (and says why) and the connection closes, the
//!   failure being the reason unless the session had ended first.
//! - `stats`: the connection's task counters.
//! - `quit`: ends the session: the work in flight finishes and answers
//!   first, then the connection closes.
//!
//! The server drains on SIGINT (Ctrl-C) or SIGTERM: it stops accepting,
//! every connection's work gets the grace (5 s in all) to finish, work still
//! running then is cancelled (and says so), and the totals are printed; a
//! second signal aborts what is left at once, and still prints them.
//!
//! The client sends the commands given on its command line (or, without
//! any, the lines typed on stdin) and prints every answer until the server
//! closes the connection; then it exits, typed input or not.

use std::time::Duration;

use futures_util::StreamExt;
use scope_conn::{Conn, ConnBuilder, Io, Server, Signals};
use scope_core::CancelReason;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The longest command line: a peer cannot make the server buffer more.
const MAX_LINE: usize = 1024;
const GRACE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(1).map_or("127.0.0.1:7878", String::as_str)).await,
        Some("client") => {
            client(
                args.get(1).map_or("127.0.0.1:7878", String::as_str),
                &args[2.min(args.len())..],
            )
            .await
        }
        _ => {
            eprintln!("usage: line_server serve [ADDR] | line_server client [ADDR] [COMMAND...]");
            std::process::exit(2);
        }
    };
    if let Err(e) = run {
        eprintln!("line_server: {e}");
        std::process::exit(1);
    }
    // Not a return: the runtime's drop would wait for tokio's stdin thread,
    // which may still be blocked in a read that cannot be cancelled.
    std::process::exit(0);
}

async fn serve(addr: &str) -> Result<(), BoxError> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let server = Server::builder()
        .max_connections(1_000)
        .max_connections_per_peer(100)
        .conn(
            ConnBuilder::new()
                .nursery(|b| b.max_held(100))
                .idle_timeout(Duration::from_secs(300)),
        )
        .on_closed(|report| {
            let t = report.tasks().stats();
            println!(
                "connection {} from {} closed ({:?}): {} completed, {} failed, {} cancelled, {} aborted",
                report.id(),
                report.peer().map_or_else(|| "?".to_owned(), ToString::to_string),
                report.reason(),
                t.completed,
                t.failed,
                t.cancelled,
                t.aborted
            );
        })
        .serve(listener, session)?;
    println!("listening on {local}; try: line_server client {local}");
    println!("Ctrl-C or SIGTERM drains ({GRACE:?} in all); a second one aborts at once");
    let mut signals = Signals::new()?;
    let first = signals.recv().await;
    println!("{first}: shutting down within {GRACE:?}");
    let report = tokio::select! {
        report = server.shutdown(GRACE) => report,
        second = signals.recv() => {
            println!("{second}: aborting what is left");
            server.shutdown(Duration::ZERO).await
        }
    };
    let t = report.tasks();
    println!(
        "served {} connections; tasks: {} spawned = {} completed + {} failed + {} cancelled + {} aborted; {} running",
        report.connections(),
        t.spawned,
        t.completed,
        t.failed,
        t.cancelled,
        t.aborted,
        t.live
    );
    Ok(())
}

/// One connection: read commands until the peer leaves, `quit`, or the
/// connection begins to close.
async fn session(conn: Conn, io: Io<TcpStream>) {
    let (reader, writer) = io.split();
    let mut lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE));
    let _ = writer
        .send(format!(
            "hello, connection {}: work <ms> | fail | stats | quit\n",
            conn.id()
        ))
        .await;
    let mut jobs = 0u64;
    loop {
        let line = tokio::select! {
            line = lines.next() => line,
            // A line cut short by the close stays unread: not a command.
            () = conn.closing() => break,
        };
        let line = match line {
            Some(Ok(line)) => line,
            Some(Err(LinesCodecError::MaxLineLengthExceeded)) => {
                // The reader stops after an error: answer, and end the
                // session (the work already started still finishes).
                let _ = writer
                    .send(format!(
                        "error: line longer than {MAX_LINE} bytes; closing\n"
                    ))
                    .await;
                break;
            }
            Some(Err(LinesCodecError::Io(_))) | None => break,
        };
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(str::parse::<u64>)) {
            (Some("work"), Some(Ok(ms))) => {
                jobs += 1;
                let n = jobs;
                let (out, spawner) = (writer.clone(), conn.spawner().clone());
                let started = conn.spawner().spawn_named(format!("work-{n}"), async move {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(ms)) => {
                            out.send(format!("done {n} after {ms} ms\n")).await?;
                        }
                        () = spawner.token().cancelled() => {
                            let why = match spawner.cancel_reason() {
                                Some(CancelReason::Failure) => "other work on this connection failed",
                                Some(CancelReason::Parent) => "the server is shutting down",
                                _ => "the connection was cancelled",
                            };
                            let _ = out.send(format!("cancelled {n}: {why}\n")).await;
                        }
                    }
                    Ok(())
                });
                let reply = match started {
                    Ok(_) => format!("started {n}\n"),
                    Err(e) => format!("refused: {e}\n"),
                };
                let _ = writer.send(reply).await;
            }
            (Some("fail"), _) => {
                let reply = match conn.spawner().spawn_named("doomed", async {
                    Err::<(), BoxError>("this work failed".into())
                }) {
                    Ok(_) => "started work that fails: the connection will close\n".to_owned(),
                    Err(e) => format!("refused: {e}\n"),
                };
                let _ = writer.send(reply).await;
            }
            (Some("stats"), _) => {
                let s = conn.spawner().stats();
                let _ = writer
                    .send(format!(
                        "live {} completed {} failed {}\n",
                        s.live, s.completed, s.failed
                    ))
                    .await;
            }
            (Some("quit"), _) => break,
            _ => {
                let _ = writer.send(format!("unknown command: {line}\n")).await;
            }
        }
    }
    let _ = writer.send("bye: your work finishes first\n").await;
}

async fn client(addr: &str, commands: &[String]) -> Result<(), BoxError> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let mut printer = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("{line}");
        }
    });
    if commands.is_empty() {
        let mut stdin = BufReader::new(tokio::io::stdin()).lines();
        loop {
            let line = tokio::select! {
                line = stdin.next_line() => line?,
                // The server closed the connection: nothing more to send.
                done = &mut printer => return Ok(done?),
            };
            let Some(line) = line else { break };
            write.write_all(format!("{line}\n").as_bytes()).await?;
        }
    } else {
        for command in commands {
            write.write_all(format!("{command}\n").as_bytes()).await?;
        }
    }
    // Done sending: the server still answers the work in flight, then closes.
    write.shutdown().await?;
    printer.await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side: sends `input`, reads every line until the server
    /// closes the connection.
    async fn exchange(input: &[u8]) -> Vec<String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::builder().serve(listener, session).unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, mut write) = stream.into_split();
        write.write_all(input).await.unwrap();
        write.shutdown().await.unwrap();
        let mut lines = BufReader::new(read).lines();
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push(line);
        }
        let report = server.shutdown(GRACE).await;
        assert_eq!(report.tasks().live, 0);
        seen
    }

    #[tokio::test]
    async fn an_over_long_line_is_answered_with_an_error_and_the_work_before_it_finishes() {
        // 100 KiB without a newline: the server holds at most the cap.
        let mut input = b"work 20\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100 * MAX_LINE));
        input.extend_from_slice(b"\nstats\n");
        let seen = exchange(&input).await;
        let error = format!("error: line longer than {MAX_LINE} bytes; closing");
        assert!(seen.contains(&error), "{seen:?}");
        assert!(
            !seen.iter().any(|l| l.starts_with("live")),
            "nothing after the long line is served"
        );
        assert!(seen.contains(&"done 1 after 20 ms".to_owned()), "{seen:?}");
        assert_eq!(seen.last().unwrap(), "done 1 after 20 ms");
    }

    #[tokio::test]
    async fn work_cancelled_by_a_failure_says_so() {
        let seen = exchange(b"work 60000\nfail\n").await;
        let cancelled = "cancelled 1: other work on this connection failed".to_owned();
        assert!(seen.contains(&cancelled), "{seen:?}");
    }

    #[tokio::test]
    async fn work_started_before_quit_answers_before_the_connection_closes() {
        let seen = exchange(b"work 50\nwork 10\nquit\n").await;
        assert!(seen.contains(&"started 1".to_owned()) && seen.contains(&"started 2".to_owned()));
        assert!(seen.contains(&"done 1 after 50 ms".to_owned()), "{seen:?}");
        assert!(seen.contains(&"done 2 after 10 ms".to_owned()), "{seen:?}");
    }
}
