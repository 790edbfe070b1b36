//! The built-in commands an `exec` request runs, and the echo shell.

use std::sync::Arc;
use std::time::Duration;

use russh::server::{Handle, Msg};
use russh::{Channel, ChannelId, ChannelMsg};
use tokio_util::sync::CancellationToken;

use crate::ledger::{Entry, Ledger};

/// Longest `sleep` a client may ask for.
const MAX_MS: u64 = 600_000;

/// Runs `line` for `channel`, writing its output and exit status through
/// `out`. Runs to its end even when the client is gone (delivery is then
/// best effort); stops early only when `token` fires.
pub(crate) async fn run(
    line: String,
    channel: ChannelId,
    out: Handle,
    token: CancellationToken,
    ledger: Arc<Ledger>,
) {
    let entry = Entry::begin(&ledger);
    let words: Vec<&str> = line.split_whitespace().collect();
    let (text, status, cancelled) = match words.as_slice() {
        ["echo", rest @ ..] => (format!("{}\n", rest.join(" ")), 0, false),
        ["sleep", ms] => match ms.parse::<u64>() {
            Ok(ms) => {
                let ms = ms.min(MAX_MS);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(ms)) => {
                        (format!("slept {ms} ms\n"), 0, false)
                    }
                    () = token.cancelled() => ("cancelled: the server is shutting down\n".to_owned(), 130, true),
                }
            }
            Err(_) => ("usage: sleep MS\n".to_owned(), 2, false),
        },
        ["stats"] => (ledger.stats().to_string(), 0, false),
        _ => (
            format!("unknown command: {line}\ncommands: echo WORDS... | sleep MS | stats\n"),
            127,
            false,
        ),
    };
    // The work is done (or given up); now tell the client, if it is there.
    let delivered = out.data(channel, text.into_bytes()).await.is_ok()
        && out.exit_status_request(channel, status).await.is_ok()
        && out.eof(channel).await.is_ok()
        && out.close(channel).await.is_ok();
    if !delivered {
        ledger.output_undelivered();
    }
    if cancelled {
        entry.cancelled();
    } else {
        entry.completed();
    }
}

/// A shell that echoes what the client sends until it sends EOF (or leaves,
/// or the connection's token fires), then exits 0.
pub(crate) async fn echo_shell(
    mut channel: Channel<Msg>,
    token: CancellationToken,
    ledger: Arc<Ledger>,
) {
    let entry = Entry::begin(&ledger);
    let mut cancelled = false;
    loop {
        tokio::select! {
            msg = channel.wait() => match msg {
                Some(ChannelMsg::Data { data }) => {
                    if channel.data_bytes(data).await.is_err() {
                        break;
                    }
                }
                Some(ChannelMsg::Eof | ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
            () = token.cancelled() => {
                cancelled = true;
                break;
            }
        }
    }
    let status = if cancelled { 130 } else { 0 };
    let delivered = channel.exit_status(status).await.is_ok()
        && channel.eof().await.is_ok()
        && channel.close().await.is_ok();
    if !delivered {
        ledger.output_undelivered();
    }
    if cancelled {
        entry.cancelled();
    } else {
        entry.completed();
    }
}
