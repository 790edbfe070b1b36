//! K7: caps on a connection's tasks, and the idle timeout.

use std::time::Duration;

use scope_conn::{CloseMode, CloseReason, Conn, ConnBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn max_held_refuses_tasks_past_the_cap_and_hands_them_back() {
    let (io, _peer) = tokio::io::duplex(64);
    let conn: Conn<_> = ConnBuilder::new().max_held(3).build(io).unwrap();
    for _ in 0..3 {
        conn.spawn(std::future::pending::<()>()).unwrap();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let refused = conn.spawn(async move { tx.send(7).unwrap() }).unwrap_err();
    assert!(refused.is_full());
    refused.into_inner().await; // the refused future comes back, unpolled
    assert_eq!(rx.await.unwrap(), 7);
    let report = conn.close_with(CloseMode::Deadline(Duration::ZERO)).await;
    assert_eq!(report.stats().spawned, 3);
    assert_eq!(report.stats().refused, 1);
    assert_eq!(report.stats().aborted, 3);
}

#[tokio::test]
async fn max_running_queues_tasks_past_the_cap() {
    let (io, _peer) = tokio::io::duplex(64);
    let conn: Conn<_> = ConnBuilder::new().max_running(2).build(io).unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..6 {
        let mut rx = rx.clone();
        let (running, peak, started_tx) = (running.clone(), peak.clone(), started_tx.clone());
        conn.spawn(async move {
            let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            started_tx.send(()).unwrap();
            rx.wait_for(|go| *go).await.unwrap();
            running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap();
    }
    assert!(conn.try_spawn(async {}).unwrap_err().is_full());
    started.recv().await.unwrap();
    started.recv().await.unwrap();
    assert_eq!(
        conn.stats().live,
        6,
        "the other four are queued, accepted and owned"
    );
    tx.send(true).unwrap();
    let report = conn.close().await;
    assert_eq!(report.stats().completed, 6);
    assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_a_silent_connection() {
    let (io, mut peer) = tokio::io::duplex(64);
    let conn: Conn<_> = ConnBuilder::new()
        .idle_timeout(Duration::from_secs(30))
        .build(io)
        .unwrap();
    let report = conn.closed().await;
    assert_eq!(report.reason(), CloseReason::IdleTimeout);
    assert!(report.is_final());
    let mut rest = Vec::new();
    assert_eq!(peer.read_to_end(&mut rest).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn reads_and_writes_keep_a_connection_from_idling_out() {
    let (io, mut peer) = tokio::io::duplex(64);
    let mut conn: Conn<_> = ConnBuilder::new()
        .idle_timeout(Duration::from_secs(30))
        .build(io)
        .unwrap();
    let mut reader = conn.take_reader().unwrap();
    let writer = conn.writer();
    conn.spawn(async move {
        let mut buf = [0; 16];
        while reader.read(&mut buf).await.unwrap() > 0 {
            writer.send("ack").await.unwrap();
        }
    })
    .unwrap();
    // Traffic every 20 s for 100 s: never 30 s without a byte.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        peer.write_all(b"ping").await.unwrap();
        let mut ack = [0; 3];
        peer.read_exact(&mut ack).await.unwrap();
        assert!(!conn.is_closing(), "closed while traffic flowed");
    }
    // Then silence: the idle timeout closes it.
    let report = conn.closed().await;
    assert_eq!(report.reason(), CloseReason::IdleTimeout);
    assert_eq!(
        report.stats().completed,
        1,
        "the reader saw end-of-stream and ended"
    );
}
