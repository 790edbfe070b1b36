//! The built-in commands an `exec` request runs, the echo shell, and how a
//! command's result reaches its client.
//!
//! Both run as tasks of their connection's nursery and watch its token,
//! which fires only when a server shutdown runs out of patience: the
//! connection's nursery supervises (a panicking command does not cancel the
//! others) and nothing else cancels it.

use std::sync::Arc;
use std::time::Duration;

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelId, ChannelMsg};
use tokio_util::sync::CancellationToken;

use crate::counters::Counters;

/// What the server prints at start and `help` answers.
pub(crate) const SUMMARY: &str = "echo WORDS... | sleep SECONDS (fractions too) | help; \
     no command (ssh -T): a shell that echoes its input";

/// The longest `sleep` a client may ask for.
const MAX_SLEEP_SECS: f64 = 3600.0;

/// How long a command's result may take to reach the session. russh's
/// `Handle` waits while its queue to the session loop is full (a client
/// that stopped reading): a bound of the command's own, so that it ends.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The exit status of a command cut short: 128 + SIGINT, what a shell
/// reports for a command interrupted by Ctrl-C.
const EXIT_CANCELLED: u32 = 130;

/// SSH's extended-data type for stderr (RFC 4254, section 5.2).
const STDERR: u32 = 1;

/// What a command tells its client.
#[derive(Default)]
struct Reply {
    stdout: String,
    stderr: String,
    status: u32,
}

impl Reply {
    fn out(stdout: impl Into<String>) -> Self {
        Reply {
            stdout: stdout.into(),
            ..Reply::default()
        }
    }

    fn err(stderr: impl Into<String>, status: u32) -> Self {
        Reply {
            stderr: stderr.into(),
            status,
            ..Reply::default()
        }
    }

    fn cancelled() -> Self {
        Reply::err("cancelled: the server is shutting down\n", EXIT_CANCELLED)
    }
}

/// Runs `line` and tells the client on `channel` how it went. Runs to its
/// end when the client is gone (the work is done; its result is then
/// counted undelivered); stops early only when `token` fires.
pub(crate) async fn exec(
    line: String,
    channel: ChannelId,
    out: Handle,
    token: CancellationToken,
    counters: Arc<Counters>,
) {
    let reply = run(&line, &token).await;
    deliver(&out, channel, reply, &counters).await;
}

async fn run(line: &str, token: &CancellationToken) -> Reply {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["echo", rest @ ..] => Reply::out(format!("{}\n", rest.join(" "))),
        ["sleep", secs] => match secs.parse::<f64>() {
            Ok(n) if (0.0..=MAX_SLEEP_SECS).contains(&n) => {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs_f64(n)) => {
                        Reply::out(format!("slept {secs}s\n"))
                    }
                    () = token.cancelled() => Reply::cancelled(),
                }
            }
            _ => Reply::err(
                format!("usage: sleep SECONDS (0 to {MAX_SLEEP_SECS}, fractions too)\n"),
                2,
            ),
        },
        [] | ["help"] => Reply::out(format!("commands: {SUMMARY}\n")),
        _ => Reply::err(
            format!("unknown command: {line}\ncommands: {SUMMARY}\n"),
            127,
        ),
    }
}

/// A shell that echoes what the client sends until it sends EOF (or
/// leaves), then exits 0; cut short by `token`, it exits 130.
pub(crate) async fn echo_shell(
    mut channel: Channel<Msg>,
    out: Handle,
    token: CancellationToken,
    counters: Arc<Counters>,
) {
    let id = channel.id();
    let reply = loop {
        tokio::select! {
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    let echoed = tokio::time::timeout(DELIVERY_TIMEOUT, out.data(id, data)).await;
                    if !matches!(echoed, Ok(Ok(()))) {
                        break Reply::default();
                    }
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break Reply::default(),
                Some(_) => {}
            },
            () = token.cancelled() => break Reply::cancelled(),
        }
    };
    // The channel is not read from here on: drop it, so that what the
    // client still sends cannot fill its queue and stall the session.
    drop(channel);
    deliver(&out, id, reply, &counters).await;
}

/// Hands `reply` to the session: output, exit status, EOF, close, in that
/// order (OpenSSH takes the exit status only before the close). Counts it
/// undelivered if the session took not all of it.
async fn deliver(out: &Handle, channel: ChannelId, reply: Reply, counters: &Counters) {
    let steps = async {
        if !reply.stdout.is_empty() {
            out.data(channel, reply.stdout).await.map_err(drop)?;
        }
        if !reply.stderr.is_empty() {
            out.extended_data(channel, STDERR, reply.stderr)
                .await
                .map_err(drop)?;
        }
        out.exit_status_request(channel, reply.status).await?;
        out.eof(channel).await?;
        out.close(channel).await
    };
    if !matches!(
        tokio::time::timeout(DELIVERY_TIMEOUT, steps).await,
        Ok(Ok(()))
    ) {
        counters.output_undelivered();
    }
}
