//! A small line-protocol server whose commands start background work, and a
//! client for it (a fresh machine has no `nc` or `telnet`).
//!
//! ```text
//! cargo run -p scope-conn --example line_server -- serve 127.0.0.1:7878
//! cargo run -p scope-conn --example line_server -- client 127.0.0.1:7878
//! cargo run -p scope-conn --example line_server -- client 127.0.0.1:7878 "work 300" "work 100" quit
//! ```
//!
//! Commands, one per line:
//!
//! - `work <ms>`: starts background work on the connection that answers
//!   `done <n> after <ms> ms` when it ends; the prompt returns at once.
//! - `fail`: starts work that fails: under fail-fast the connection closes,
//!   the failure being the reason.
//! - `stats`: the connection's task counters.
//! - `quit`: closes the connection: the work in flight finishes and answers
//!   first, then the connection ends.
//! - `shutdown`: shuts the whole server down (5 s grace): every connection's
//!   work finishes or is cancelled, and the server prints the totals.
//!
//! The client sends the commands given on its command line (or, without
//! any, the lines typed on stdin) and prints every answer until the server
//! closes the connection.

use std::time::Duration;

use scope_conn::{Conn, ConnBuilder, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
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
    }
}

async fn serve(addr: &str) -> Result<(), BoxError> {
    let listener = TcpListener::bind(addr).await?;
    println!(
        "listening on {}; try: line_server client {}",
        listener.local_addr()?,
        listener.local_addr()?
    );
    let stop = std::sync::Arc::new(Notify::new());
    let server = {
        let stop = stop.clone();
        Server::builder()
            .max_connections(1_000)
            .conn(
                ConnBuilder::new()
                    .max_held(100)
                    .idle_timeout(Duration::from_secs(300)),
            )
            .serve(listener, move |conn| session(conn, stop.clone()))?
    };
    stop.notified().await;
    println!("shutting down: waiting up to 5 s for the work in flight");
    let report = server.shutdown(Duration::from_secs(5)).await;
    let t = report.tasks();
    println!(
        "served {} connections; tasks: {} spawned = {} completed + {} failed + {} cancelled + {} aborted",
        report.connections(),
        t.spawned,
        t.completed,
        t.failed,
        t.cancelled,
        t.aborted
    );
    Ok(())
}

/// One connection: read commands until the peer leaves, `quit`, or the
/// connection closes (the reader then reports end-of-stream).
async fn session(mut conn: Conn<TcpStream>, stop: std::sync::Arc<Notify>) {
    let writer = conn.writer();
    let mut reader = BufReader::new(conn.take_reader().expect("first take"));
    let _ = writer
        .send(format!(
            "hello, connection {}: work <ms> | fail | stats | quit | shutdown\n",
            conn.id()
        ))
        .await;
    let mut jobs = 0u64;
    let mut buf = String::new();
    // A line without its newline was cut short (the peer left mid-line, or
    // the connection began closing): it is not a command.
    while reader.read_line(&mut buf).await.is_ok_and(|n| n > 0) && buf.ends_with('\n') {
        let line = std::mem::take(&mut buf);
        let line = line.trim_end();
        let mut words = line.split_whitespace();
        match (words.next(), words.next().map(str::parse::<u64>)) {
            (Some("work"), Some(Ok(ms))) => {
                jobs += 1;
                let (n, out, token) = (jobs, conn.writer(), conn.token().clone());
                let started = conn.spawn_named(format!("work-{n}"), async move {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(ms)) => {
                            out.send(format!("done {n} after {ms} ms\n")).await?;
                        }
                        () = token.cancelled() => {
                            let _ = out.send(format!("cancelled {n}\n")).await;
                        }
                    }
                    Ok(())
                });
                let reply = match started {
                    Ok(()) => format!("started {n}\n"),
                    Err(e) => format!("refused: {e}\n"),
                };
                let _ = writer.send(reply).await;
            }
            (Some("fail"), _) => {
                let _ = conn.spawn_named("doomed", async {
                    Err::<(), BoxError>("this work failed".into())
                });
            }
            (Some("stats"), _) => {
                let s = conn.stats();
                let _ = writer
                    .send(format!(
                        "live {} completed {} failed {}\n",
                        s.live, s.completed, s.failed
                    ))
                    .await;
            }
            (Some("quit"), _) => break,
            (Some("shutdown"), _) => {
                let _ = writer.send("shutting the server down\n").await;
                stop.notify_one();
            }
            _ => {
                let _ = writer.send(format!("unknown command: {line}\n")).await;
            }
        }
    }
    let _ = writer.send("bye: waiting for your work to finish\n").await;
    let report = conn.close().await;
    println!(
        "connection {} closed ({:?}): {:?}",
        conn.id(),
        report.reason(),
        report.stats()
    );
}

async fn client(addr: &str, commands: &[String]) -> Result<(), BoxError> {
    let stream = TcpStream::connect(addr).await?;
    let (read, mut write) = stream.into_split();
    let printer = tokio::spawn(async move {
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            println!("{line}");
        }
    });
    if commands.is_empty() {
        let mut stdin = BufReader::new(tokio::io::stdin()).lines();
        while let Some(line) = stdin.next_line().await? {
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
