//! Under fail-fast, a failing task closes its connection, and the failure is
//! the close reason; under supervise, the connection stays open.

mod common;

use std::time::Duration;

use scope_conn::{CloseReason, ConnBuilder};
use scope_core::{Outcome, Policy};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn a_failing_task_closes_its_connection_with_that_error() {
    let (io, mut client) = common::tcp_pair().await;
    let served = ConnBuilder::<std::io::Error>::default()
        .serve(io, |conn, io| async move {
            // A sibling that only ends when the connection's tasks are cancelled.
            let token = conn.spawner().token().clone();
            conn.spawner()
                .spawn(async move {
                    token.cancelled().await;
                    Ok(())
                })
                .unwrap();
            let mut lines = BufReader::new(io).lines();
            loop {
                tokio::select! {
                    line = lines.next_line() => {
                        let Ok(Some(line)) = line else { break };
                        let _ = conn.spawner().spawn(async move {
                            if line == "bad" {
                                return Err(std::io::Error::other("bad request"));
                            }
                            Ok(())
                        });
                    }
                    () = conn.closing() => break,
                }
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    client.write_all(b"good\nbad\n").await.unwrap();

    let report = served.await.unwrap(); // nobody asked: the failure closed it
    assert_eq!(report.reason(), CloseReason::Failed);
    assert!(report.is_final());
    let stats = report.tasks().stats();
    assert_eq!((stats.completed, stats.failed, stats.cancelled), (1, 1, 1));
    assert_eq!(
        report
            .tasks()
            .take_failure()
            .unwrap()
            .into_error()
            .unwrap()
            .to_string(),
        "bad request"
    );
    let mut rest = Vec::new();
    assert_eq!(
        client.read_to_end(&mut rest).await.unwrap(),
        0,
        "the transport was shut"
    );
}

#[tokio::test]
async fn a_panicking_task_closes_its_connection_with_the_panic() {
    let (io, _client) = common::tcp_pair().await;
    let report = ConnBuilder::new()
        .serve(io, |conn, _io| async move {
            conn.spawner()
                .spawn(async { panic!("handler bug") as () })
                .unwrap();
            conn.closing().await;
        })
        .unwrap()
        .await;
    assert_eq!(report.reason(), CloseReason::Failed);
    assert_eq!(report.tasks().outcome(), Outcome::Failed);
    let panic = report.tasks().take_failure().unwrap().into_panic();
    assert_eq!(*panic.downcast::<&str>().unwrap(), "handler bug");
}

#[tokio::test]
async fn a_panicking_session_closes_its_connection_then_resumes_the_panic() {
    let (io, mut client) = common::tcp_pair().await;
    let (go, release) = tokio::sync::oneshot::channel::<()>();
    let (handle, conn) = tokio::sync::oneshot::channel();
    let served = ConnBuilder::new()
        .serve(io, move |conn, io| {
            handle.send(conn.clone()).unwrap();
            async move {
                let (_reader, writer) = io.split();
                // Work in flight when the session panics: it still finishes,
                // and what it writes reaches the peer.
                conn.spawner()
                    .spawn(async move {
                        let _ = release.await;
                        writer.send("done\n").await.unwrap();
                    })
                    .unwrap();
                panic!("session bug");
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    let conn = conn.await.unwrap();
    go.send(()).unwrap();

    let mut out = String::new();
    // Bounded: a connection that kept its transport would hang the test.
    let read = tokio::time::timeout(Duration::from_secs(30), client.read_to_string(&mut out));
    read.await.expect("the transport was shut").unwrap();
    assert_eq!(
        out, "done\n",
        "the task's answer, then the end of the stream"
    );
    let panic = served.await.unwrap_err().into_panic();
    assert_eq!(*panic.downcast::<&str>().unwrap(), "session bug");
    let report = conn.closed().await;
    assert_eq!(report.reason(), CloseReason::SessionPanicked);
    assert!(report.is_final());
    assert_eq!(report.tasks().stats().completed, 1);
}

/// A handler that panics before it returns the session: `serve` still
/// returns the connection's future, the connection closes as a panicking
/// session's does (a task the handler started still finishes), and the
/// panic resumes in whoever awaits it; a `Conn` the handler handed out sees
/// the report.
#[tokio::test]
async fn a_handler_that_panics_closes_its_connection_then_resumes_the_panic() {
    let (io, _client) = common::tcp_pair().await;
    let (handle, conn) = tokio::sync::oneshot::channel();
    let served = ConnBuilder::new()
        .serve(io, move |conn, _io| {
            conn.spawner().spawn(tokio::task::yield_now()).unwrap();
            handle.send(conn.clone()).unwrap();
            panic!("handler bug");
            #[allow(unreachable_code)]
            async {}
        })
        .expect("the panic waits for the connection's future");
    let conn = conn.await.unwrap();
    let panic = tokio::spawn(served).await.unwrap_err().into_panic();
    assert_eq!(*panic.downcast::<&str>().unwrap(), "handler bug");
    let report = tokio::time::timeout(Duration::from_secs(30), conn.closed());
    let report = report.await.expect("the handed-out conn sees the end");
    assert_eq!(report.reason(), CloseReason::SessionPanicked);
    assert!(report.is_final());
    assert_eq!(report.tasks().stats().completed, 1);
}

#[tokio::test]
async fn a_supervised_failure_leaves_the_connection_open() {
    let (io, mut client) = common::tcp_pair().await;
    let served = ConnBuilder::<std::io::Error>::default()
        .nursery(|b| b.policy(Policy::Supervise))
        .serve(io, |conn, io| async move {
            let (reader, writer) = io.split();
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let writer = writer.clone();
                conn.spawner()
                    .spawn(async move {
                        if line == "bad" {
                            return Err(std::io::Error::other("bad request"));
                        }
                        writer.send(format!("ok {line}\n")).await
                    })
                    .unwrap();
            }
        })
        .unwrap();
    let served = tokio::spawn(served);
    client.write_all(b"bad\ngood\n").await.unwrap();
    client.shutdown().await.unwrap();
    let mut out = String::new();
    client.read_to_string(&mut out).await.unwrap();
    assert_eq!(
        out, "ok good\n",
        "the connection served on after the failure"
    );
    let report = served.await.unwrap();
    assert_eq!(report.reason(), CloseReason::SessionEnded);
    assert_eq!(report.tasks().stats().failed, 1);
    assert_eq!(report.tasks().stats().completed, 1);
}
