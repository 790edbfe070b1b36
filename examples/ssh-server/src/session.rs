//! One connection's session: russh on the connection's transport, from the
//! version exchange to the goodbye.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use russh::Disconnect;
use russh::keys::PrivateKey;
use russh::server::{Config, Handle, RunningSession};
use scope_conn::{Conn, Io};
use tokio::net::TcpStream;

use crate::counters::Counters;
use crate::handler::ConnHandler;

/// How long a client may take to send its version line.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// The bound on each step of the goodbye: a client that answers nothing
/// cannot hold it, and the next step is still tried.
const GOODBYE_STEP: Duration = Duration::from_secs(1);

/// How long a client that has processed its last channel's close gets to
/// leave by itself before it is sent a disconnect. Its exit is local work
/// (the round trip before it is already done), so this is short; a client
/// that stays (a ControlMaster) pays it once per goodbye.
const LINGER: Duration = Duration::from_millis(250);

/// russh's settings for every connection.
pub(crate) fn config(host_key: PrivateKey) -> Config {
    Config {
        keys: vec![host_key],
        // Every client is let in on its first attempt (`none`): there is
        // no rejection to slow down.
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        // The connection's idle timeout is scope-conn's; russh's own would
        // end the session under the commands' feet.
        inactivity_timeout: None,
        ..Config::default()
    }
}

/// Serves one connection: the session is the connection's body, so the
/// close it belongs to runs around it.
///
/// 1. Open: russh answers the client; commands become the connection's
///    tasks (see [`ConnHandler`]).
/// 2. Closing (a shutdown, the idle timeout): the handler refuses new
///    channels and commands, the session keeps running so that the
///    commands' output, exit statuses and closes reach the client.
/// 3. Drained: every command has ended; say goodbye.
///
/// A client that leaves ends the session at any point; the connection's
/// close then lets its commands run to their end.
pub(crate) async fn serve(
    conn: Conn,
    mut io: Io<TcpStream>,
    config: Arc<Config>,
    counters: Arc<Counters>,
) {
    // SSH sends many small packets, each waited for.
    let _ = io.get_mut().set_nodelay(true);
    let handler = ConnHandler::new(conn.clone(), counters);
    // russh exchanges versions here, then runs the session loop in a task
    // of its own, which owns the transport and the handler.
    let hello = tokio::time::timeout(
        HELLO_TIMEOUT,
        russh::server::run_stream(config, io, handler),
    );
    let running = tokio::select! {
        started = hello => match started {
            Ok(Ok(running)) => running,
            // No SSH client, or too slow to say so.
            _ => return,
        },
        // Closing before the client said hello: no session to keep.
        () = conn.closing() => return,
    };
    let handle = running.handle();
    let mut running = pin!(running);

    tokio::select! {
        _ = &mut running => return,
        () = conn.closing() => {}
    }
    let running_now = conn.spawner().stats().live;
    println!(
        "conn {}: closing, {running_now} command{} running; new channels and commands are refused",
        conn.id(),
        if running_now == 1 { "" } else { "s" },
    );
    tokio::select! {
        _ = &mut running => return,
        () = conn.drained() => {}
    }
    goodbye(&handle, running).await;
}

/// Ends a session whose commands have all ended, politely.
///
/// 1. One round trip: OpenSSH answers the (pointless) request to cancel a
///    forwarding with a failure, and only after it has processed everything
///    sent before it: the last exit statuses, EOFs and closes.
/// 2. A client whose commands are done (`ssh host cmd`) now leaves by
///    itself: a disconnect that reaches it before it has would make it exit
///    255 in place of its command's status, so it gets a moment.
/// 3. A client still there (a ControlMaster, an idle session) is sent a
///    disconnect with the reason, and russh's task ends.
///
/// Each step is bounded: a client that answers nothing cannot hold the
/// goodbye, and the next step is still tried.
async fn goodbye(handle: &Handle, mut running: Pin<&mut RunningSession<ConnHandler>>) {
    let ping = handle.cancel_forward_tcpip(String::new(), 0);
    tokio::select! {
        _ = &mut running => return,
        _ = tokio::time::timeout(GOODBYE_STEP, ping) => {}
    }
    if tokio::time::timeout(LINGER, &mut running).await.is_ok() {
        return;
    }
    let bye = handle.disconnect(
        Disconnect::ByApplication,
        "the server is closing this connection".to_owned(),
        "en".to_owned(),
    );
    tokio::select! {
        _ = &mut running => return,
        _ = tokio::time::timeout(GOODBYE_STEP, bye) => {}
    }
    let _ = tokio::time::timeout(GOODBYE_STEP, running).await;
}
