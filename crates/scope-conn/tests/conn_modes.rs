//! K4: the close modes, and what dropping a standalone connection does.

use std::time::Duration;

use futures_util::FutureExt;
use scope_conn::{CloseMode, CloseReason, Conn};
use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

#[tokio::test(start_paused = true)]
async fn deadline_close_escalates_drain_then_cancel_then_abort() {
    let (io, mut peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    conn.spawn(tokio::time::sleep(Duration::from_secs(1)))
        .unwrap();
    let token = conn.token().clone();
    conn.spawn(async move { token.cancelled().await }).unwrap();
    conn.spawn(std::future::pending::<()>()).unwrap();

    let report = conn
        .close_with(CloseMode::Deadline(Duration::from_secs(5)))
        .await;

    assert_eq!(report.mode(), CloseMode::Deadline(Duration::from_secs(5)));
    let tasks = report.tasks().unwrap();
    assert!(report.is_final());
    assert_eq!(tasks.ended_in_drain(), 1);
    assert_eq!(tasks.ended_after_cancel(), 1);
    assert_eq!(tasks.aborted(), 1);
    let mut rest = Vec::new();
    assert_eq!(
        peer.read_to_end(&mut rest).await.unwrap(),
        0,
        "the transport is shut after the escalation"
    );
}

#[tokio::test]
async fn join_close_cancels_nothing() {
    let (io, _peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    let token = conn.token().clone();
    let (tx, rx) = oneshot::channel::<()>();
    conn.spawn(async move {
        let _ = rx.await;
        assert!(!token.is_cancelled());
    })
    .unwrap();
    let mut close = Box::pin(conn.close());
    assert!((&mut close).now_or_never().is_none());
    assert!(!conn.token().is_cancelled());
    tx.send(()).unwrap();
    let report = close.await;
    assert_eq!(report.stats().completed, 1);
    assert_eq!(report.stats().cancelled, 0);
}

#[tokio::test]
async fn detach_close_shuts_the_transport_now_and_lets_the_tasks_run() {
    let (io, mut peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    let writer = conn.writer();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel();
    conn.spawn(async move {
        release_rx.await.unwrap();
        // The transport closed under it: its writes fail, it keeps running.
        done_tx
            .send(writer.send("too late").await.is_err())
            .unwrap();
    })
    .unwrap();

    let report = conn.close_with(CloseMode::Detach).await;
    assert_eq!(report.mode(), CloseMode::Detach);
    assert!(!report.is_final(), "the detached task is still running");
    assert!(report.tasks().is_none());
    assert_eq!(report.stats().live, 1);
    let mut rest = Vec::new();
    assert_eq!(
        peer.read_to_end(&mut rest).await.unwrap(),
        0,
        "the transport closed at once"
    );

    drop(conn); // the task is detached: dropping the owner does not abort it
    release_tx.send(()).unwrap();
    assert!(
        done_rx.await.unwrap(),
        "the task ran to its end, its write refused"
    );
}

#[tokio::test]
async fn dropping_a_standalone_conn_aborts_its_tasks_and_drops_the_transport() {
    struct Dropped(Option<oneshot::Sender<()>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.take().unwrap().send(());
        }
    }
    let (io, mut peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    let spawner = conn.spawner();
    let (tx, rx) = oneshot::channel();
    let guard = Dropped(Some(tx));
    conn.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    })
    .unwrap();

    drop(conn);
    rx.await.unwrap(); // the task's future was dropped: aborted
    let report = spawner.closed().await;
    assert!(!report.is_final());
    assert_eq!(report.reason(), CloseReason::Dropped);
    let mut rest = Vec::new();
    assert_eq!(
        peer.read_to_end(&mut rest).await.unwrap(),
        0,
        "the transport is gone"
    );
}

#[tokio::test]
async fn the_first_close_request_decides_the_mode() {
    let (io, _peer) = tokio::io::duplex(64);
    let conn = Conn::new(io);
    let (tx, rx) = oneshot::channel::<()>();
    conn.spawn(async move {
        let _ = rx.await;
    })
    .unwrap();
    let mut joining = Box::pin(conn.close());
    assert!((&mut joining).now_or_never().is_none());
    let mut deadline = Box::pin(conn.close_with(CloseMode::Deadline(Duration::ZERO)));
    assert!(
        (&mut deadline).now_or_never().is_none(),
        "a later request joins the first"
    );
    tx.send(()).unwrap();
    let (a, b) = tokio::join!(joining, deadline);
    assert_eq!(a.mode(), CloseMode::Join);
    assert_eq!(b.mode(), CloseMode::Join);
    assert_eq!(b.stats().completed, 1);
}
