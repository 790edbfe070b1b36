//! K3: `close` drains, then flushes and shuts the transport; idempotent,
//! shared by concurrent callers, safe from inside; `closed` only waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;
use scope_conn::{CloseReason, Conn, ConnBuilder};
use scope_core::Policy;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};

/// A connected pair over real loopback TCP: (server side, client side).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap());
    let (client, accepted) = tokio::join!(client, listener.accept());
    (accepted.unwrap().0, client.unwrap())
}

#[tokio::test]
async fn close_waits_for_follow_up_work_started_by_a_request_over_tcp() {
    let (io, mut client) = tcp_pair().await;
    let mut conn = Conn::new(io);
    let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
    let (spawner, writer) = (conn.spawner(), conn.writer());
    let release = Arc::new(Notify::new());
    let finished = Arc::new(AtomicBool::new(false));
    let (started_tx, mut started) = mpsc::unbounded_channel();
    {
        let (release, finished) = (release.clone(), finished.clone());
        conn.spawn(async move {
            let line = lines.next_line().await.unwrap().unwrap();
            // The request's handler starts follow-up work and returns.
            let follow_up_spawner = spawner.clone();
            spawner
                .spawn(async move {
                    follow_up_spawner
                        .spawn(async move {
                            started_tx.send(()).unwrap();
                            release.notified().await;
                            writer.send(format!("done {line}\n")).await.unwrap();
                            finished.store(true, Ordering::SeqCst);
                        })
                        .unwrap();
                })
                .unwrap();
        })
        .unwrap();
    }
    client.write_all(b"req\n").await.unwrap();
    started.recv().await.unwrap();

    let mut close = Box::pin(conn.close());
    assert!(
        (&mut close).now_or_never().is_none(),
        "close must wait for the follow-up work"
    );
    assert!(conn.is_closing());
    assert!(
        conn.spawn(async {}).unwrap_err().is_closed(),
        "outside work is refused"
    );
    release.notify_one();
    let report = close.await;

    assert!(finished.load(Ordering::SeqCst));
    assert!(report.is_final());
    assert_eq!(report.reason(), CloseReason::Requested);
    assert_eq!(report.stats().completed, 3);
    assert!(report.io_error().is_none());
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap(); // flushed, then EOF
    assert_eq!(out, "done req\n");
}

#[tokio::test]
async fn close_from_inside_a_handler_returns_and_the_connection_ends() {
    let (io, mut client) = tcp_pair().await;
    let mut conn = Conn::new(io);
    let mut lines = BufReader::new(conn.take_reader().unwrap()).lines();
    let spawner = conn.spawner();
    let (tx, mut rx) = mpsc::unbounded_channel();
    conn.spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == "quit" {
                let spawner = spawner.clone();
                let tx = tx.clone();
                spawner
                    .clone()
                    .spawn(async move {
                        let report = spawner.close().await;
                        tx.send(report.is_final()).unwrap();
                    })
                    .unwrap();
            }
        }
    })
    .unwrap();
    client.write_all(b"quit\n").await.unwrap();

    assert!(
        !rx.recv().await.unwrap(),
        "an inside close returns without waiting for itself"
    );
    let report = conn.closed().await;
    assert!(report.is_final());
    assert_eq!(report.reason(), CloseReason::Requested);
    assert_eq!(report.stats().completed, 2);
    let mut rest = Vec::new();
    assert_eq!(
        client.read_to_end(&mut rest).await.unwrap(),
        0,
        "the peer sees the connection end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_closers_all_get_the_same_report() {
    let (io, _client) = tcp_pair().await;
    let conn: Conn<_, String> = ConnBuilder::new()
        .policy(Policy::Supervise)
        .build(io)
        .unwrap();
    let conn = Arc::new(conn);
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    for _ in 0..10 {
        let release = release.clone();
        conn.spawn(async move {
            let _permit = release.acquire().await.unwrap();
            Ok(())
        })
        .unwrap();
    }
    conn.spawn(async { Err("one request failed".to_string()) })
        .unwrap();

    let barrier = Arc::new(tokio::sync::Barrier::new(51));
    let closers: Vec<_> = (0..50)
        .map(|_| {
            let (conn, barrier) = (conn.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                conn.close().await
            })
        })
        .collect();
    barrier.wait().await;
    release.add_permits(1);
    let mut reports = Vec::new();
    for closer in closers {
        reports.push(closer.await.unwrap());
    }

    let first = &reports[0];
    assert!(first.is_final());
    assert_eq!(first.stats().completed, 10);
    assert_eq!(first.stats().failed, 1);
    for report in &reports {
        assert!(report.is_final());
        assert_eq!(report.stats(), first.stats());
        assert_eq!(report.reason(), first.reason());
    }
    // One failure, shared: exactly one of the fifty reports gets to take it.
    let taken = reports
        .iter()
        .filter_map(|r| r.take_failure())
        .collect::<Vec<_>>();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].as_error().unwrap(), "one request failed");
}

#[tokio::test]
async fn closed_waits_for_the_end_without_starting_the_close() {
    let (io, _peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    let mut closed = Box::pin(conn.closed());
    assert!((&mut closed).now_or_never().is_none());
    assert!(!conn.is_closing(), "closed() does not start the close");
    conn.spawn(async {}).unwrap();
    let report = conn.close().await;
    let waited = closed.await;
    assert_eq!(waited.stats(), report.stats());
    assert_eq!(waited.stats().completed, 1);
}

#[tokio::test]
async fn close_is_idempotent() {
    let (io, _peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    conn.spawn(tokio::task::yield_now()).unwrap();
    let first = conn.close().await;
    let second = conn.close().await;
    let third = conn.closed().await;
    assert_eq!(first.stats(), second.stats());
    assert_eq!(second.stats(), third.stats());
    assert!(first.is_final() && second.is_final() && third.is_final());
}

#[tokio::test]
async fn reader_reports_end_of_stream_once_the_close_begins_though_the_peer_is_open() {
    let (io, mut client) = tcp_pair().await;
    let mut conn = Conn::new(io);
    let mut reader = conn.take_reader().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    conn.spawn(async move {
        let mut buf = Vec::new();
        // The peer never sends or closes: only the close ends this read.
        let n = reader.read_to_end(&mut buf).await.unwrap();
        tx.send(n).unwrap();
    })
    .unwrap();
    let report = conn.close().await;
    assert_eq!(rx.await.unwrap(), 0);
    assert_eq!(report.stats().completed, 1);
    let mut rest = Vec::new();
    assert_eq!(client.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test]
async fn writes_queued_by_tasks_are_flushed_before_the_transport_shuts() {
    let (io, mut client) = tcp_pair().await;
    let conn: Conn<_> = ConnBuilder::new().write_buffer(2).build(io).unwrap();
    for i in 0..100 {
        let writer = conn.writer();
        conn.spawn(async move { writer.send(format!("{i:03}\n")).await.unwrap() })
            .unwrap();
    }
    let reader = tokio::spawn(async move {
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        out
    });
    let report = conn.close().await;
    assert!(report.io_error().is_none());
    let out = reader.await.unwrap();
    assert_eq!(out.lines().count(), 100);
}
