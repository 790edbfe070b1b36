//! K7: a peer that resets, half-closes or stalls mid-request leaves no task
//! behind once the connection has closed.
//!
//! Each test counts the runtime's live tasks before and after, on the
//! current-thread runtime, where a task that has signalled its end has also
//! left the runtime by the time the test runs again.

use std::time::Duration;

use scope_conn::{CloseReason, Conn, ConnBuilder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

fn alive() -> usize {
    Handle::current().metrics().num_alive_tasks()
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (client, accepted) = tokio::join!(client, listener.accept());
    (accepted.unwrap().0, client.unwrap())
}

/// A line server on `conn`: each request starts work that answers it; the
/// loop ends on end-of-stream or a read error and then closes from inside.
fn serve_lines<S>(conn: &mut Conn<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let mut reader = BufReader::new(conn.take_reader().unwrap());
    let (spawner, writer) = (conn.spawner(), conn.writer());
    conn.spawn(async move {
        let mut line = String::new();
        // A line without its newline was cut short (by the peer or by the
        // close): it is not a request.
        while reader.read_line(&mut line).await.is_ok_and(|n| n > 0) && line.ends_with('\n') {
            let request = line.trim_end().to_owned();
            line.clear();
            let writer = writer.clone();
            let _ = spawner.spawn(async move {
                tokio::task::yield_now().await;
                let _ = writer.send(format!("re: {request}\n")).await;
            });
        }
        spawner.close().await;
    })
    .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_peer_reset_mid_request_leaves_no_task_behind() {
    let before = alive();
    let (io, client) = tcp_pair().await;
    let mut conn = Conn::new(io);
    serve_lines(&mut conn);
    let mut client = client;
    client.write_all(b"first\nsecond, half wri").await.unwrap();
    let mut line = [0; 10];
    client.read_exact(&mut line).await.unwrap(); // "re: first\n" arrived
    assert!(alive() > before);
    client.set_zero_linger().unwrap();
    drop(client); // RST mid-request

    let report = conn.closed().await;
    assert!(report.is_final());
    drop(conn);
    assert_eq!(alive(), before, "a task outlived the connection");
}

#[tokio::test(flavor = "current_thread")]
async fn a_half_closed_peer_gets_its_answers_and_leaves_no_task_behind() {
    let before = alive();
    let (io, mut client) = tcp_pair().await;
    let mut conn = Conn::new(io);
    serve_lines(&mut conn);
    client.write_all(b"a\nb\nc\n").await.unwrap();
    client.shutdown().await.unwrap(); // half-close: still reading

    let mut answers = String::new();
    client.read_to_string(&mut answers).await.unwrap();
    let mut answers: Vec<_> = answers.lines().collect();
    answers.sort_unstable();
    assert_eq!(answers, ["re: a", "re: b", "re: c"]);
    let report = conn.closed().await;
    assert_eq!(report.stats().completed, 4);
    drop(conn);
    assert_eq!(alive(), before);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_peer_stalled_mid_request_is_closed_by_the_idle_timeout_leaving_nothing() {
    let before = alive();
    let (io, mut peer) = tokio::io::duplex(1024);
    let mut conn: Conn<_> = ConnBuilder::new()
        .idle_timeout(Duration::from_secs(10))
        .build(io)
        .unwrap();
    serve_lines(&mut conn);
    peer.write_all(b"GET /half-a-requ").await.unwrap(); // and then nothing

    let report = conn.closed().await;
    assert_eq!(report.reason(), CloseReason::IdleTimeout);
    assert!(report.is_final());
    // The half request was not served.
    let mut answered = String::new();
    peer.read_to_string(&mut answered).await.unwrap();
    assert_eq!(answered, "");
    assert_eq!(report.stats().spawned, 1, "only the request loop ran");
    drop(conn);
    assert_eq!(alive(), before);
    drop(peer);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_peer_that_stops_reading_cannot_hold_a_deadline_close() {
    let before = alive();
    // A tiny pipe the peer never drains: writes block.
    let (io, peer) = tokio::io::duplex(8);
    let conn: Conn<_> = ConnBuilder::new().write_buffer(1).build(io).unwrap();
    for _ in 0..4 {
        let writer = conn.writer();
        conn.spawn(async move {
            let _ = writer.send(vec![b'x'; 64]).await;
        })
        .unwrap();
    }
    let report = conn
        .close_with(scope_conn::CloseMode::Deadline(Duration::from_secs(1)))
        .await;
    let tasks = report.tasks().unwrap();
    assert_eq!(
        tasks.stats().spawned,
        tasks.stats().completed + tasks.stats().cancelled + tasks.stats().aborted
    );
    assert!(report.io_error().is_some(), "the flush gave up");
    drop(conn);
    assert_eq!(alive(), before);
    drop(peer);
}
