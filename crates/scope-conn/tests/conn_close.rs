//! The phased close: stop new work, drain, goodbye, flush, report; one
//! close per connection, whoever asks and however often.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::FutureExt;
use scope_conn::{CloseMode, CloseReason, Conn, ConnBuilder};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Notify, oneshot};

use common::tcp_pair;

#[tokio::test]
async fn close_waits_for_follow_up_work_and_its_output_reaches_the_peer() {
    let (io, mut client) = tcp_pair().await;
    let release = Arc::new(Notify::new());
    let (started_tx, started) = oneshot::channel();
    let (conn_tx, conn_rx) = oneshot::channel::<Conn>();
    let served = {
        let release = release.clone();
        ConnBuilder::new()
            .serve(io, move |conn, io| {
                conn_tx.send(conn.clone()).unwrap();
                async move {
                    let (reader, writer) = io.split();
                    let line = BufReader::new(reader)
                        .lines()
                        .next_line()
                        .await
                        .unwrap()
                        .unwrap();
                    let spawner = conn.spawner().clone();
                    // The request's handler starts follow-up work and returns.
                    conn.spawner()
                        .spawn(async move {
                            spawner
                                .spawn(async move {
                                    started_tx.send(()).unwrap();
                                    release.notified().await;
                                    writer.send(format!("done {line}\n")).await.unwrap();
                                })
                                .unwrap();
                        })
                        .unwrap();
                    conn.closing().await;
                }
            })
            .unwrap()
    };
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    client.write_all(b"req\n").await.unwrap();
    started.await.unwrap();

    let mut close = Box::pin(conn.close());
    tokio::task::yield_now().await;
    assert!(
        (&mut close).now_or_never().is_none(),
        "close waits for the follow-up work"
    );
    assert!(conn.spawner().is_closing());
    assert!(
        conn.spawner().spawn(async {}).unwrap_err().is_closed(),
        "work from outside the connection is refused"
    );
    release.notify_one();
    let report = close.await;

    assert!(report.is_final());
    assert_eq!(report.reason(), CloseReason::Requested);
    assert_eq!(report.tasks().stats().completed, 2);
    assert!(report.io_error().is_none());
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap(); // flushed, then EOF
    assert_eq!(out, "done req\n");
    assert_eq!(
        served.await.unwrap().tasks().stats(),
        report.tasks().stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_closers_all_get_the_same_report() {
    let (io, _client) = tcp_pair().await;
    let (conn_tx, conn_rx) = oneshot::channel::<Conn>();
    let served = ConnBuilder::new()
        .serve(io, move |conn, _io| {
            conn_tx.send(conn.clone()).unwrap();
            async move {
                for _ in 0..10 {
                    conn.spawner().spawn(tokio::task::yield_now()).unwrap();
                }
                conn.closing().await;
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    let closers: Vec<_> = (0..50)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let mode = if i % 2 == 0 {
                    CloseMode::Join
                } else {
                    CloseMode::Deadline(Duration::from_secs(60))
                };
                conn.close_with(mode).await
            })
        })
        .collect();
    let served = served.await.unwrap();
    for closer in closers {
        let report = closer.await.unwrap();
        assert!(report.is_final());
        assert_eq!(report.reason(), CloseReason::Requested);
        assert_eq!(
            report.mode(),
            served.mode(),
            "the first request's mode stands"
        );
        assert_eq!(report.tasks().stats(), served.tasks().stats());
    }
    assert_eq!(served.tasks().stats().completed, 10);
}

#[tokio::test]
async fn closed_waits_for_the_end_without_starting_it() {
    let (io, client) = tcp_pair().await;
    let (conn_tx, conn_rx) = oneshot::channel::<Conn>();
    let served = ConnBuilder::new()
        .serve(io, move |conn, mut io| {
            conn_tx.send(conn).unwrap();
            async move {
                let mut buf = Vec::new();
                let _ = io.read_to_end(&mut buf).await;
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    let mut closed = Box::pin(conn.closed());
    tokio::task::yield_now().await;
    assert!((&mut closed).now_or_never().is_none());
    assert!(
        !conn.spawner().is_closing(),
        "closed() does not start the close"
    );
    drop(client); // the peer leaves, the session ends
    let report = closed.await;
    assert_eq!(report.reason(), CloseReason::SessionEnded);
    assert!(report.is_final());
    served.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_first_close_request_decides_the_mode_and_the_reason() {
    let (io, _peer) = tokio::io::duplex(64);
    let report = ConnBuilder::new()
        .serve(io, |conn, _io| async move {
            conn.spawner().spawn(std::future::pending::<()>()).unwrap();
            let first = conn.close_with(CloseMode::Deadline(Duration::from_secs(4)));
            let second = conn.close_with(CloseMode::Detach);
            // From the session: both resolve at once, not final.
            let (first, second) = (first.await, second.await);
            assert!(!first.is_final() && !second.is_final());
            assert_eq!(second.mode(), CloseMode::Deadline(Duration::from_secs(4)));
        })
        .unwrap()
        .await;
    assert_eq!(report.mode(), CloseMode::Deadline(Duration::from_secs(4)));
    assert_eq!(report.reason(), CloseReason::Requested);
    assert_eq!(report.tasks().stats().aborted, 1);
}

#[tokio::test]
async fn close_from_inside_a_task_returns_at_once_and_the_connection_ends() {
    let (io, _client) = tcp_pair().await;
    let inside = Arc::new(AtomicBool::new(false));
    let seen = inside.clone();
    let report = ConnBuilder::new()
        .serve(io, move |conn, _io| async move {
            let handle = conn.clone();
            conn.spawner()
                .spawn(async move {
                    let report = handle.close().await;
                    seen.store(!report.is_final(), Ordering::SeqCst);
                })
                .unwrap();
            conn.closing().await;
        })
        .unwrap()
        .await;
    assert!(
        inside.load(Ordering::SeqCst),
        "the task's close did not wait for itself"
    );
    assert!(report.is_final());
    assert_eq!(report.reason(), CloseReason::Requested);
    assert_eq!(report.tasks().stats().completed, 1);
}

#[tokio::test]
async fn requests_in_flight_may_start_follow_up_work_after_the_close_began() {
    let (io, _client) = tcp_pair().await;
    let outside_refused = Arc::new(AtomicBool::new(false));
    let refused = outside_refused.clone();
    let report = ConnBuilder::new()
        .serve(io, move |conn, _io| async move {
            conn.close().await;
            conn.closing().await;
            // The session is the nursery's body: a request it had in flight
            // may still start its follow-up work...
            conn.spawner().spawn(tokio::task::yield_now()).unwrap();
            // ...while work from outside the connection is refused.
            let spawner = conn.spawner().clone();
            let outside =
                std::thread::spawn(move || spawner.spawn(async {}).unwrap_err().is_closed());
            refused.store(outside.join().unwrap(), Ordering::SeqCst);
        })
        .unwrap()
        .await;
    assert!(outside_refused.load(Ordering::SeqCst));
    assert_eq!(report.tasks().stats().completed, 1);
    assert_eq!(report.tasks().stats().refused, 1);
}

#[tokio::test]
async fn the_session_says_goodbye_once_the_tasks_have_drained() {
    let (io, mut client) = tcp_pair().await;
    let served = ConnBuilder::new()
        .serve(io, |conn, io| async move {
            let (_reader, writer) = io.split();
            for i in 0..3 {
                let writer = writer.clone();
                conn.spawner()
                    .spawn(async move {
                        tokio::task::yield_now().await;
                        writer.send(format!("answer {i}\n")).await.unwrap();
                    })
                    .unwrap();
            }
            conn.close().await;
            conn.drained().await;
            assert_eq!(conn.spawner().stats().live, 0);
            writer.send("bye\n").await.unwrap();
        })
        .unwrap();
    let served = tokio::spawn(served);
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3], "bye", "the goodbye comes after every answer");
    assert!(served.await.unwrap().is_final());
}

#[tokio::test(start_paused = true)]
async fn the_goodbye_timeout_bounds_a_session_that_never_ends() {
    let (io, _peer) = tokio::io::duplex(64);
    let start = tokio::time::Instant::now();
    let report = ConnBuilder::new()
        .goodbye_timeout(Duration::from_secs(3))
        .serve(io, |conn, _io| async move {
            conn.spawner()
                .spawn(tokio::time::sleep(Duration::from_secs(1)))
                .unwrap();
            conn.close().await;
            std::future::pending::<()>().await;
        })
        .unwrap()
        .await;
    // One second of drain, then three of goodbye.
    assert_eq!(start.elapsed(), Duration::from_secs(4));
    assert!(report.is_final());
    assert_eq!(report.tasks().stats().completed, 1);
}

#[tokio::test]
async fn a_session_that_returns_ends_the_connection_and_its_work_still_finishes() {
    let (io, mut client) = tcp_pair().await;
    let release = Arc::new(Notify::new());
    let release2 = release.clone();
    let served = ConnBuilder::new()
        .serve(io, move |conn, io| async move {
            let (_reader, writer) = io.split();
            conn.spawner()
                .spawn(async move {
                    release2.notified().await;
                    writer.send("late answer\n").await.unwrap();
                })
                .unwrap();
            // Returns at once: the connection closes, draining the task.
        })
        .unwrap();
    let served = tokio::spawn(served);
    tokio::task::yield_now().await;
    release.notify_one();
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "late answer\n");
    let report = served.await.unwrap();
    assert_eq!(report.reason(), CloseReason::SessionEnded);
    assert_eq!(report.tasks().stats().completed, 1);
}
