//! The transport and the queued writer: the send timeout, end-of-stream on
//! close (opt-in), the idle clock, transport failures, the byte bound.

mod common;

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use scope_conn::{CloseReason, Conn, ConnBuilder, Writer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// A task that streams 16 KiB chunks through `writer` until a send fails,
/// and records how it failed.
async fn stream_until_error(writer: Writer, seen: Arc<Mutex<Option<ErrorKind>>>) {
    let chunk = bytes::Bytes::from(vec![b'x'; 16 * 1024]);
    loop {
        if let Err(e) = writer.send(chunk.clone()).await {
            *seen.lock() = Some(e.kind());
            return;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_cannot_hold_a_join_close() {
    // Default settings: Join mode, a 30 s send timeout.
    let (io, _client_never_reads) = common::tcp_pair().await;
    let seen = Arc::new(Mutex::new(None));
    let (conn_tx, conn_rx) = oneshot::channel::<Conn>();
    let served = {
        let seen = seen.clone();
        ConnBuilder::new()
            .serve(io, move |conn, io| {
                conn_tx.send(conn.clone()).unwrap();
                async move {
                    let (_reader, writer) = io.split();
                    conn.spawner()
                        .spawn(stream_until_error(writer, seen))
                        .unwrap();
                    conn.closing().await;
                }
            })
            .unwrap()
    };
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    let start = tokio::time::Instant::now();
    let report = conn.close().await;
    let took = start.elapsed();

    assert!(took <= Duration::from_secs(31), "the close took {took:?}");
    assert!(report.is_final());
    assert_eq!(report.tasks().stats().live, 0);
    assert_eq!(report.tasks().stats().completed, 1);
    assert_eq!(
        *seen.lock(),
        Some(ErrorKind::TimedOut),
        "the writer learns of it"
    );
    assert_eq!(
        report.io_error().map(std::io::Error::kind),
        Some(ErrorKind::TimedOut)
    );
    assert_eq!(
        report.reason(),
        CloseReason::Requested,
        "the first cause stands"
    );
    served.await.unwrap();
}

/// The goodbye timeout ends the flush with bytes still queued: the report
/// says so, and how many, and the peer got exactly the rest.
#[tokio::test(start_paused = true)]
async fn a_flush_cut_short_by_the_goodbye_timeout_is_reported_with_what_was_left() {
    const TOTAL: usize = 8 << 20;
    let (io, mut client) = common::tcp_pair().await;
    let report = ConnBuilder::new()
        .write_queue(TOTAL)
        .goodbye_timeout(Duration::from_secs(1))
        .serve(io, move |conn, io| {
            let (_reader, writer) = io.split();
            // Queued whole at once; the peer reads nothing until the end.
            conn.spawner()
                .spawn(async move { writer.send(vec![b'x'; TOTAL]).await.unwrap() })
                .unwrap();
            async {}
        })
        .unwrap()
        .await;
    assert_eq!(report.tasks().stats().completed, 1);
    let err = report.io_error().expect("the cut flush is reported");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    let unsent: usize = err
        .to_string()
        .split(", ")
        .nth(1)
        .and_then(|rest| rest.strip_suffix(" bytes unsent"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {err}"));
    assert!(unsent > 0, "{err}");

    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), TOTAL - unsent, "{err}");
}

/// A transport whose shutdown never finishes (a TLS close_notify to a peer
/// that does not read, say).
struct NoShutdown(tokio::io::DuplexStream);

impl tokio::io::AsyncRead for NoShutdown {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for NoShutdown {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

/// Everything queued was written, but the transport's shutdown outlasted
/// the goodbye timeout: reported as that, not as bytes lost.
#[tokio::test(start_paused = true)]
async fn a_transport_shutdown_cut_short_is_reported_as_such() {
    let (io, mut peer) = tokio::io::duplex(1024);
    let report = ConnBuilder::new()
        .goodbye_timeout(Duration::from_secs(1))
        .serve(NoShutdown(io), |_conn, io| async move {
            let (_reader, writer) = io.split();
            writer.send("all of it\n").await.unwrap();
        })
        .unwrap()
        .await;
    let err = report.io_error().expect("the cut shutdown is reported");
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(err.to_string().contains("shutdown"), "{err}");
    assert!(
        err.to_string().contains("everything queued was written"),
        "{err}"
    );
    let mut got = String::new();
    peer.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "all of it\n");
}

#[tokio::test(start_paused = true)]
async fn a_stalled_write_closes_an_open_connection_with_send_timeout() {
    let (io, _client_never_reads) = common::tcp_pair().await;
    let report = ConnBuilder::new()
        .send_timeout(Duration::from_secs(5))
        .serve(io, |_conn, mut io| async move {
            let chunk = vec![b'x'; 64 * 1024];
            let err = loop {
                if let Err(e) = io.write_all(&chunk).await {
                    break e;
                }
            };
            assert_eq!(err.kind(), ErrorKind::TimedOut);
            // Every later write fails the same way, at once.
            assert_eq!(
                io.write(b"x").await.unwrap_err().kind(),
                ErrorKind::TimedOut
            );
        })
        .unwrap()
        .await;
    assert_eq!(report.reason(), CloseReason::SendTimeout);
    assert_eq!(report.io_error().unwrap().kind(), ErrorKind::TimedOut);
}

#[tokio::test]
async fn end_reads_on_close_ends_the_request_loop_though_the_peer_is_open() {
    let (io, mut client) = common::tcp_pair().await;
    let (conn_tx, conn_rx) = oneshot::channel::<Conn>();
    let (read_tx, read_rx) = oneshot::channel();
    let served = ConnBuilder::new()
        .serve(io, move |conn, mut io| {
            conn_tx.send(conn).unwrap();
            async move {
                io.end_reads_on_close();
                let mut request = [0; 7];
                io.read_exact(&mut request).await.unwrap();
                assert_eq!(&request, b"before\n");
                read_tx.send(()).unwrap();
                let mut rest = Vec::new();
                io.read_to_end(&mut rest).await.unwrap();
                assert!(rest.is_empty());
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    client.write_all(b"before\n").await.unwrap();
    read_rx.await.unwrap();
    // The peer stays open, yet the session's read ends.
    let report = conn.close().await;
    assert_eq!(report.reason(), CloseReason::Requested);
    served.await.unwrap();
}

#[tokio::test]
async fn without_the_opt_in_reads_go_on_while_the_connection_closes() {
    let (io, mut client) = common::tcp_pair().await;
    let (conn_tx, conn_rx) = oneshot::channel::<Conn>();
    let served = ConnBuilder::new()
        .serve(io, move |conn, mut io| {
            conn_tx.send(conn.clone()).unwrap();
            async move {
                conn.closing().await;
                let mut buf = Vec::new();
                io.read_to_end(&mut buf).await.unwrap();
                assert_eq!(buf, b"after the close began\n");
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    let closing = tokio::spawn(conn.close());
    conn.closing().await;
    client.write_all(b"after the close began\n").await.unwrap();
    client.shutdown().await.unwrap();
    assert!(closing.await.unwrap().is_final());
    served.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_idle_clock_restarts_on_every_read_and_write() {
    let (io, mut peer) = tokio::io::duplex(64);
    let start = tokio::time::Instant::now();
    let served = ConnBuilder::new()
        .idle_timeout(Duration::from_secs(10))
        .serve(io, |_conn, mut io| async move {
            io.end_reads_on_close();
            let mut buf = [0; 1];
            while io.read_exact(&mut buf).await.is_ok() {
                io.write_all(&buf).await.unwrap();
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    // Five exchanges, 8 s apart: never 10 s without traffic.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(8)).await;
        peer.write_all(b"x").await.unwrap();
        let mut echo = [0; 1];
        peer.read_exact(&mut echo).await.unwrap();
    }
    let report = served.await.unwrap();
    assert_eq!(report.reason(), CloseReason::IdleTimeout);
    assert_eq!(start.elapsed(), Duration::from_secs(50));
}

#[tokio::test]
async fn a_peer_reset_closes_the_connection_with_its_error_and_leaves_no_task() {
    let (io, client) = common::tcp_pair().await;
    client.set_zero_linger().unwrap();
    let report = ConnBuilder::new()
        .serve(io, move |conn, mut io| async move {
            let token = conn.spawner().token().clone();
            conn.spawner()
                .spawn(async move { token.cancelled().await })
                .unwrap();
            drop(client); // a reset
            let mut buf = [0; 16];
            let _ = io.read(&mut buf).await;
            // The session waits to be told; the failure tells it.
            conn.closing().await;
            conn.spawner().token().cancel();
        })
        .unwrap()
        .await;
    assert_eq!(report.reason(), CloseReason::Transport);
    assert_eq!(
        report.io_error().unwrap().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(report.tasks().stats().live, 0);
}

#[tokio::test]
async fn concurrent_senders_never_interleave_their_messages() {
    let (io, mut peer) = tokio::io::duplex(256);
    let served = ConnBuilder::new()
        .write_queue(1024)
        .serve(io, |conn, io| async move {
            let (_reader, writer) = io.split();
            for task in 0..8u8 {
                let writer = writer.clone();
                conn.spawner()
                    .spawn(async move {
                        for _ in 0..20 {
                            let line = vec![b'a' + task; 99]
                                .into_iter()
                                .chain([b'\n'])
                                .collect::<Vec<u8>>();
                            writer.send(line).await.unwrap();
                        }
                    })
                    .unwrap();
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    let mut out = String::new();
    peer.read_to_string(&mut out).await.unwrap();
    assert_eq!(out.lines().count(), 160);
    for line in out.lines() {
        assert_eq!(line.len(), 99);
        assert!(
            line.bytes().all(|b| b == line.as_bytes()[0]),
            "interleaved: {line}"
        );
    }
    served.await.unwrap();
}

#[tokio::test]
async fn a_sender_waits_while_the_queue_holds_its_bound() {
    let (io, mut peer) = tokio::io::duplex(16);
    let sent = Arc::new(AtomicUsize::new(0));
    let (writer_tx, writer_rx) = oneshot::channel::<Writer>();
    let served = {
        let sent = sent.clone();
        ConnBuilder::new()
            .write_queue(100)
            .serve(io, move |conn, io| async move {
                let (_reader, writer) = io.split();
                writer_tx.send(writer.clone()).unwrap();
                conn.spawner()
                    .spawn(async move {
                        for _ in 0..10 {
                            writer.send(vec![b'x'; 40]).await.unwrap();
                            sent.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                    .unwrap();
            })
            .unwrap()
    };
    let served = tokio::spawn(served);
    let writer = writer_rx.await.unwrap();
    // The peer does not read: the pipe takes 16 bytes, the queue 100.
    common::until(|| sent.load(Ordering::SeqCst) >= 2).await;
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(writer.queued() <= 100, "queued {}", writer.queued());
    assert!(
        sent.load(Ordering::SeqCst) < 10,
        "the sender waits for room"
    );
    let mut out = Vec::new();
    peer.read_to_end(&mut out).await.unwrap();
    assert_eq!(out.len(), 400, "nothing lost once the peer reads");
    served.await.unwrap();
}
