//! Acceptance: a server with 1,000 live connections over loopback TCP, each
//! with work in flight, shuts down within its grace: every task the
//! connections started ends as completed, cancelled or aborted, the totals
//! add up exactly, and the work that finishes within the grace period is
//! never cancelled.
//!
//! The connections are set up in real time; the clock is paused only for the
//! shutdown, whose phases then run on virtual time (nothing in it waits for
//! the network: the request loops end on the close, and the writes are
//! small).

use std::time::Duration;

use scope_conn::{Conn, Io, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

const CONNS: usize = 1_000;

#[tokio::test(flavor = "current_thread")]
async fn a_thousand_connections_shut_down_with_exact_totals() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, released) = watch::channel(false);
    let (ready_tx, mut ready) = mpsc::unbounded_channel();

    let server = Server::builder()
        .max_connections(CONNS)
        .serve(listener, move |conn: Conn, mut io: Io<TcpStream>| {
            let (released, ready_tx) = (released.clone(), ready_tx.clone());
            async move {
                // Request/response: the loop ends when the close begins.
                io.end_reads_on_close();
                let (reader, writer) = io.split();
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(_request)) = lines.next_line().await {
                    let s = conn.spawner();
                    // Work that finishes within the grace once released.
                    let (writer, mut released) = (writer.clone(), released.clone());
                    s.spawn(async move {
                        released.wait_for(|go| *go).await.unwrap();
                        let _ = writer.send("done\n").await;
                    })
                    .unwrap();
                    // Work that ends when the token is cancelled.
                    let token = s.token().clone();
                    s.spawn(async move { token.cancelled().await }).unwrap();
                    // Work that ignores everything: only abort ends it.
                    s.spawn(std::future::pending::<()>()).unwrap();
                    ready_tx.send(()).unwrap();
                }
            }
        })
        .unwrap();

    let mut clients = Vec::with_capacity(CONNS);
    for _ in 0..CONNS {
        let mut client = TcpStream::connect(addr).await.unwrap();
        client.write_all(b"go\n").await.unwrap();
        clients.push(client);
    }
    for _ in 0..CONNS {
        ready.recv().await.unwrap();
    }
    assert_eq!(server.open_connections(), CONNS);

    tokio::time::pause();
    let grace = Duration::from_secs(10);
    let shutdown = server.shutdown(grace);
    let (report, ()) = tokio::join!(shutdown, async {
        // Released once the shutdown has begun: it finishes in the drain.
        tokio::task::yield_now().await;
        release.send(true).unwrap();
    });

    assert!(report.is_final());
    assert_eq!(report.connections(), CONNS as u64);
    let tasks = report.tasks();
    let n = CONNS as u64;
    assert_eq!(tasks.spawned, 3 * n);
    assert_eq!(
        tasks.completed, n,
        "work that finished within the grace was never cancelled"
    );
    assert_eq!(tasks.cancelled, n);
    assert_eq!(tasks.aborted, n);
    assert_eq!(tasks.failed, 0);
    assert_eq!(tasks.live, 0);
    assert_eq!(
        tasks.spawned,
        tasks.completed + tasks.failed + tasks.cancelled + tasks.aborted
    );
    // The server's nursery parented every connection's nursery: the accept
    // loop, one task per connection, and one nested nursery per connection.
    assert_eq!(report.server().stats().spawned, 1 + 2 * n);
    assert_eq!(report.server().stats().live, 0);
    assert_eq!(server.open_connections(), 0);
    drop(clients);
}
