//! The close modes, zero and bad settings, and what dropping a standalone
//! connection's future does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scope_conn::{CloseMode, CloseReason, ConnBuilder};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn deadline_close_escalates_drain_then_cancel_then_abort_within_its_duration() {
    let (io, mut peer) = tokio::io::duplex(64);
    let start = tokio::time::Instant::now();
    let report = ConnBuilder::new()
        .serve(io, |conn, _io| async move {
            let s = conn.spawner();
            s.spawn(tokio::time::sleep(Duration::from_secs(1))).unwrap();
            let token = s.token().clone();
            s.spawn(async move { token.cancelled().await }).unwrap();
            s.spawn(std::future::pending::<()>()).unwrap();
            conn.close_with(CloseMode::Deadline(Duration::from_secs(8)))
                .await;
        })
        .unwrap()
        .await;
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(8),
        "three quarters drain, a quarter after the cancel"
    );
    assert_eq!(report.mode(), CloseMode::Deadline(Duration::from_secs(8)));
    assert!(report.is_final());
    let tasks = report.tasks();
    assert_eq!(tasks.ended_in_drain(), 1);
    assert_eq!(tasks.ended_after_cancel(), 1);
    assert_eq!(tasks.stats().aborted, 1);
    let mut rest = Vec::new();
    assert_eq!(
        peer.read_to_end(&mut rest).await.unwrap(),
        0,
        "then the transport is gone"
    );
}

#[tokio::test]
async fn join_close_cancels_nothing() {
    let (io, _peer) = tokio::io::duplex(64);
    let (tx, rx) = oneshot::channel::<()>();
    let cancelled_seen = Arc::new(AtomicBool::new(true));
    let seen = cancelled_seen.clone();
    let served = ConnBuilder::new()
        .serve(io, move |conn, _io| async move {
            let token = conn.spawner().token().clone();
            conn.spawner()
                .spawn(async move {
                    let _ = rx.await;
                    seen.store(token.is_cancelled(), Ordering::SeqCst);
                })
                .unwrap();
        })
        .unwrap();
    let served = tokio::spawn(served);
    tokio::task::yield_now().await;
    tx.send(()).unwrap();
    let report = served.await.unwrap();
    assert!(!cancelled_seen.load(Ordering::SeqCst));
    assert_eq!(report.tasks().stats().completed, 1);
    assert_eq!(report.tasks().stats().cancelled, 0);
}

#[tokio::test]
async fn detach_closes_the_transport_now_and_lets_the_tasks_run() {
    let (io, mut peer) = tokio::io::duplex(64);
    let (release_tx, release) = oneshot::channel::<()>();
    let (done_tx, done) = oneshot::channel::<()>();
    let report = ConnBuilder::new()
        .close_mode(CloseMode::Detach)
        .serve(io, move |conn, _io| async move {
            conn.spawner()
                .spawn(async move {
                    let _ = release.await;
                    done_tx.send(()).unwrap();
                })
                .unwrap();
        })
        .unwrap()
        .await;
    assert_eq!(report.mode(), CloseMode::Detach);
    assert!(!report.is_final(), "the task runs on elsewhere");
    assert_eq!(report.tasks().stats().live, 1);
    let mut rest = Vec::new();
    assert_eq!(
        peer.read_to_end(&mut rest).await.unwrap(),
        0,
        "the transport closed at once"
    );
    release_tx.send(()).unwrap();
    done.await.expect("the detached task finished on its own");
}

#[tokio::test]
async fn dropping_a_connection_future_unfinished_aborts_its_tasks() {
    let (io, _peer) = tokio::io::duplex(64);
    let (conn_tx, conn_rx) = oneshot::channel();
    let aborted = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let flag = Flag(aborted.clone());
    let served = ConnBuilder::new()
        .serve(io, move |conn, _io| {
            conn_tx.send(conn.clone()).unwrap();
            async move {
                conn.spawner()
                    .spawn(async move {
                        let _flag = flag;
                        std::future::pending::<()>().await;
                    })
                    .unwrap();
                std::future::pending::<()>().await;
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    let conn = conn_rx.await.unwrap();
    tokio::task::yield_now().await;
    served.abort();
    let report = conn.closed().await; // published by the dropped driver
    assert!(!report.is_final());
    assert_eq!(report.reason(), CloseReason::Dropped);
    common_until(|| aborted.load(Ordering::SeqCst)).await;
    let after = conn.spawner().stats();
    assert_eq!(after.live, 0);
    assert_eq!(after.aborted, 1);
}

/// A deadline bounds the close as a whole: a task the session starts during
/// its goodbye, after the drain, gets what is left of the deadline and is
/// then aborted, rather than holding the close's last step.
#[tokio::test(start_paused = true)]
async fn a_deadline_bounds_a_task_the_session_starts_during_its_goodbye() {
    let (io, _peer) = tokio::io::duplex(64);
    let start = tokio::time::Instant::now();
    let served = ConnBuilder::new()
        .close_mode(CloseMode::Deadline(Duration::from_millis(200)))
        .goodbye_timeout(Duration::from_millis(500))
        .serve(io, |conn, _io| async move {
            conn.close().await;
            conn.drained().await;
            conn.spawner().spawn(std::future::pending::<()>()).unwrap();
        })
        .unwrap();
    let report = tokio::time::timeout(Duration::from_secs(60), served)
        .await
        .expect("the close ended");
    assert!(
        start.elapsed() <= Duration::from_millis(200),
        "{:?}",
        start.elapsed()
    );
    assert!(report.is_final());
    let stats = report.tasks().stats();
    assert_eq!((stats.aborted, stats.live), (1, 0), "{stats:?}");
}

/// A connection's future dropped before its first poll (a task that never
/// ran: its runtime shut down, or it was aborted at once) still publishes
/// the report: `closed` and `close` return, and the task the handler
/// started is aborted.
#[tokio::test]
async fn a_connection_future_dropped_before_its_first_poll_still_ends_the_connection() {
    let (io, _peer) = tokio::io::duplex(64);
    let (conn_tx, conn_rx) = oneshot::channel();
    let served = ConnBuilder::new()
        .serve(io, move |conn, _io| {
            conn.spawner().spawn(std::future::pending::<()>()).unwrap();
            conn_tx.send(conn.clone()).unwrap();
            async move { conn.closing().await }
        })
        .unwrap();
    let conn = conn_rx.await.unwrap();
    drop(served);
    let closed = tokio::time::timeout(Duration::from_secs(30), conn.closed());
    let report = closed.await.expect("the dropped future published a report");
    assert!(!report.is_final());
    assert_eq!(report.reason(), CloseReason::Dropped);
    assert_eq!(report.mode(), CloseMode::Deadline(Duration::ZERO));
    let again = tokio::time::timeout(Duration::from_secs(30), conn.close());
    assert_eq!(
        again.await.expect("close returns too").reason(),
        CloseReason::Dropped
    );
    common_until(|| conn.spawner().stats().live == 0).await;
    assert_eq!(conn.spawner().stats().aborted, 1);
}

async fn common_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn zero_settings_are_refused_with_a_clear_error() {
    let setups: Vec<(ConnBuilder, &str)> = vec![
        (
            ConnBuilder::new().send_timeout(Duration::ZERO),
            "send_timeout must be greater than zero",
        ),
        (
            ConnBuilder::new().goodbye_timeout(Duration::ZERO),
            "goodbye_timeout must be greater than zero",
        ),
        (
            ConnBuilder::new().idle_timeout(Duration::ZERO),
            "idle_timeout must be greater than zero",
        ),
        (
            ConnBuilder::new().write_queue(0),
            "write_queue must be greater than zero",
        ),
    ];
    for (builder, message) in setups {
        let (io, _peer) = tokio::io::duplex(8);
        let err = builder.serve(io, |_conn, _io| async {}).err().unwrap();
        assert!(err.is_zero());
        assert_eq!(err.to_string(), message);
    }
    let (io, _peer) = tokio::io::duplex(8);
    let err = ConnBuilder::new()
        .nursery(|b| b.max_held(0))
        .serve(io, |_conn, _io| async {})
        .err()
        .unwrap();
    assert!(err.nursery().unwrap().is_zero_limit());
}

#[test]
fn serving_outside_a_runtime_is_an_error_not_a_panic() {
    let (io, _peer) = tokio::io::duplex(8);
    let err = ConnBuilder::new()
        .serve(io, |_conn, _io| async {})
        .err()
        .unwrap();
    assert!(err.nursery().unwrap().is_no_runtime());
}

#[tokio::test(start_paused = true)]
async fn the_nursery_settings_reach_the_connections_nursery() {
    let (io, _peer) = tokio::io::duplex(8);
    let report = ConnBuilder::new()
        .nursery(|b| b.name("conn").max_running(1))
        .serve(io, |conn, _io| async move {
            for _ in 0..3 {
                // The clock starts when the task starts, not when it is queued.
                let task = async { tokio::time::sleep(Duration::from_secs(1)).await };
                conn.spawner().spawn(task).unwrap();
            }
            assert_eq!(conn.spawner().stats().live, 3);
        })
        .unwrap();
    let start = tokio::time::Instant::now();
    let report = report.await;
    assert_eq!(start.elapsed(), Duration::from_secs(3), "one at a time");
    assert_eq!(report.tasks().stats().completed, 3);
    assert_eq!(report.reason(), CloseReason::SessionEnded);
}
